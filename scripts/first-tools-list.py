#!/usr/bin/env python3
"""How soon does a freshly started `deepvault serve` answer MCP, and how soon is its first index done?

For each run: spawn `deepvault serve VAULT --listen 127.0.0.1:0 --index-dir <fresh empty dir>`,
then measure from the spawn to
  * tools/list: the first successful `tools/list` answer over HTTP (initialize, initialized,
    tools/list as plain POSTs to /mcp, sent as soon as the port answers; the port is polled
    every 5 ms), and
  * /readyz: the first 200 from /readyz, i.e. the full first index of the vault.
Prints each run and the median of each over the runs. Standard library only.

  scripts/first-tools-list.py [--bin target/release/deepvault] [--runs 5] [VAULT]

The binary defaults to $DEEPVAULT_BIN, else target/release/deepvault in the repository; the vault
to ../shared/eval/corpora/windows-powershell-docs beside the repository.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VAULT = REPO.parent / "shared/eval/corpora/windows-powershell-docs"
PORT_POLL = 0.005  # seconds between attempts to reach the port / get tools/list
READY_POLL = 0.02  # seconds between /readyz polls (each one is a request to the busy server)
TIMEOUT = 600.0  # seconds for one run, start to /readyz 200
SERVING = re.compile(r"serving .* at http://127\.0\.0\.1:(\d+)/mcp")
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def post(port: int, body: dict, protocol: str | None = None) -> tuple[int, list[dict]]:
    """POST one JSON-RPC message to /mcp; returns the status and the JSON messages of the body."""
    headers = dict(HEADERS)
    if protocol:
        headers["MCP-Protocol-Version"] = protocol
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/mcp", json.dumps(body), headers)
        resp = conn.getresponse()
        raw = resp.read().decode("utf-8", "replace")
        ctype = resp.getheader("Content-Type", "")
    finally:
        conn.close()
    if not raw.strip():
        return resp.status, []
    if ctype.startswith("text/event-stream"):
        msgs = []
        for line in raw.splitlines():
            if line.startswith("data:") and line[5:].strip():
                try:
                    msgs.append(json.loads(line[5:]))
                except ValueError:
                    pass  # a priming event without JSON
        return resp.status, msgs
    return resp.status, [json.loads(raw)]


def readyz(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def first_tools_list(port: int) -> list[str]:
    """initialize → notifications/initialized → tools/list; the tool names, or raise."""
    status, msgs = post(port, {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "first-tools-list", "version": "0"}},
    })
    init = next((m for m in msgs if m.get("id") == 1), None)
    if status != 200 or not init or "result" not in init:
        raise RuntimeError(f"initialize: HTTP {status} {msgs}")
    version = init["result"]["protocolVersion"]
    post(port, {"jsonrpc": "2.0", "method": "notifications/initialized"}, version)
    status, msgs = post(port, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, version)
    listed = next((m for m in msgs if m.get("id") == 2), None)
    if status != 200 or not listed or "result" not in listed:
        raise RuntimeError(f"tools/list: HTTP {status} {msgs}")
    return sorted(t["name"] for t in listed["result"]["tools"])


def one_run(binary: str, vault: str) -> tuple[float, float, list[str]]:
    index_dir = tempfile.mkdtemp(prefix="dv-first-tools-list-")
    port_box: list[int] = []
    got_port = threading.Event()
    log: list[str] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [binary, "serve", vault, "--listen", "127.0.0.1:0", "--index-dir", index_dir],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )

    def drain() -> None:  # read stderr to the end, so the server never blocks on a full pipe
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace")
            log.append(line)
            m = SERVING.search(line)
            if m and not got_port.is_set():
                port_box.append(int(m.group(1)))
                got_port.set()
        got_port.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        # With --listen 127.0.0.1:0 only the start-up line tells the port; wait for it in 5 ms steps.
        while not got_port.wait(PORT_POLL):
            if time.perf_counter() - t0 > TIMEOUT:
                raise RuntimeError("no start-up line")
        if not port_box:
            raise RuntimeError(f"the server exited (code {proc.wait()}):\n{''.join(log)[-3000:]}")
        port = port_box[0]
        tools: list[str] = []
        while True:
            try:
                tools = first_tools_list(port)
                t_tools = time.perf_counter() - t0
                break
            except (OSError, http.client.HTTPException):
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited (code {proc.returncode}):\n{''.join(log)[-3000:]}")
                if time.perf_counter() - t0 > TIMEOUT:
                    raise
                time.sleep(PORT_POLL)
        while True:
            try:
                if readyz(port) == 200:
                    t_ready = time.perf_counter() - t0
                    break
            except (OSError, http.client.HTTPException):
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited (code {proc.returncode}):\n{''.join(log)[-3000:]}")
            if time.perf_counter() - t0 > TIMEOUT:
                raise RuntimeError(f"/readyz not 200 within {TIMEOUT:.0f} s")
            time.sleep(READY_POLL)
        return t_tools, t_ready, tools
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(index_dir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("vault", nargs="?", default=str(DEFAULT_VAULT))
    ap.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", str(REPO / "target/release/deepvault")))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if not Path(a.bin).is_file():
        sys.exit(f"no deepvault binary at {a.bin} (set DEEPVAULT_BIN or pass --bin)")
    if not Path(a.vault).is_dir():
        sys.exit(f"no vault folder at {a.vault}")
    print(f"{a.bin} serve {a.vault} (fresh index each run, {a.runs} runs)")
    tools_times, ready_times = [], []
    for i in range(1, a.runs + 1):
        t_tools, t_ready, tools = one_run(a.bin, a.vault)
        if tools != ["fetch", "search"]:
            sys.exit(f"run {i}: tools/list gave {tools}, want fetch and search")
        tools_times.append(t_tools)
        ready_times.append(t_ready)
        print(f"run {i}: first tools/list {t_tools * 1000:8.1f} ms   /readyz 200 {t_ready * 1000:9.1f} ms", flush=True)
    print(f"median:  first tools/list {statistics.median(tools_times) * 1000:8.1f} ms   "
          f"/readyz 200 {statistics.median(ready_times) * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
