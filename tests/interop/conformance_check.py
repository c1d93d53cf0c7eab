#!/usr/bin/env python3
"""Interop check: the MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16).

The server suite targets the SDKs' "everything" server; on a search/fetch server only these
scenarios are meaningful (shared/PROTOCOL.md §5.1), and each must pass:
server-initialize, ping, tools-list, dns-rebinding-protection.
A scenario passes when the runner exits 0 AND its checks.json holds at least one check, all SUCCESS.

Usage: conformance_check.py --conformance PATH/conformance --url http://127.0.0.1:PORT/mcp
Needs Node >= 22 on PATH. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SCENARIOS = ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"]
TIMEOUT = 120


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conformance", required=True)
    ap.add_argument("--url", required=True)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dv-conformance-"))
    env = dict(os.environ, HOME=str(tmp / "home"))
    Path(env["HOME"]).mkdir()
    failed = 0
    for scenario in SCENARIOS:
        out = tmp / scenario
        cmd = [a.conformance, "server", "--url", a.url, "--scenario", scenario, "-o", str(out)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT)
            rc, log = p.returncode, p.stdout + p.stderr
        except subprocess.TimeoutExpired as e:
            rc, log = None, f"no exit within {TIMEOUT} s: {e.stdout!r} {e.stderr!r}"
        checks: list[dict] = []
        for f in sorted(out.glob("*/checks.json")):
            checks.extend(json.loads(f.read_text()))
        bad = [c for c in checks if c.get("status") != "SUCCESS"]
        if rc == 0 and checks and not bad:
            print(f"  conformance {scenario}: ok ({len(checks)} checks)", flush=True)
            continue
        failed += 1
        print(f"  conformance {scenario}: FAIL: exit {rc}, {len(checks)} checks, {len(bad)} not SUCCESS", flush=True)
        print(f"    command: {' '.join(cmd)}", flush=True)
        for c in bad:
            print(f"    {c.get('id')}: {c.get('status')}: {json.dumps(c.get('details'))[:2000]} {c.get('errorMessage', '')}", flush=True)
        print("    output:\n" + "\n".join("      " + line for line in log.strip().splitlines()[-40:]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
