#!/usr/bin/env python3
"""No-op restart: time from starting `deepvault serve` on an already indexed vault to /readyz 200.

    scripts/restart-latency.py [--runs 5] [VAULT ...]

With no VAULT, builds one vault of tldr-pages plus windows-powershell-docs (52k files) out of
hard links (nothing is copied or modified), indexes it once, then restarts the server --runs
times. "Ready" means the start-up reconcile has walked the vault, compared every file with the
index and found nothing to do. Prints the median and the spread. Target: <= 0.3 s.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_http import Server, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPORA = os.path.join(ROOT, "../shared/eval/corpora")


def link_tree(source, target):
    try:
        subprocess.run(["cp", "-al", source, target], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        shutil.copytree(source, target)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vaults", nargs="*")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault")))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="dv-restart-")
    try:
        vault = os.path.join(work, "vault")
        os.mkdir(vault)
        sources = args.vaults or [os.path.join(CORPORA, "tldr-pages"), os.path.join(CORPORA, "windows-powershell-docs")]
        for source in sources:
            link_tree(os.path.abspath(source), os.path.join(vault, os.path.basename(os.path.abspath(source))))
        index = os.path.join(work, "index")
        subprocess.run([args.bin, "index", vault, "--index-dir", index], check=True, capture_output=True)
        times = []
        for _ in range(args.runs):
            server = Server(args.bin, vault, index)
            times.append(server.wait_ready())
            server.stop()
        figures = {
            "vault": "+".join(os.path.basename(os.path.abspath(s)) for s in sources),
            "runs": len(times),
            "median_s": round(percentile(times, 50), 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
        }
        print(json.dumps(figures))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
