#!/usr/bin/env python3
"""Interop check: Codex CLI (`codex app-server`) lists and calls deepvault's tools, no model, no key.

Codex's app server speaks JSONL JSON-RPC on stdio (`"jsonrpc"` omitted). With a throwaway
CODEX_HOME whose config.toml has `[mcp_servers.vault]`, this drives exactly the exchange of
shared/PROTOCOL.md §2.3:

  initialize → initialized → mcpServerStatus/list (search and fetch listed)
  → thread/start (ephemeral) → mcpServer/tool/call search → content text JSON with results

Usage:
  codex_check.py --codex PATH/codex --http-url http://127.0.0.1:PORT/mcp   # HTTP variant
  codex_check.py --codex PATH/codex --stdio                             # Codex starts deepvault
Both variants run when both are given. Standard library only. Exits 0 when all passed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READ_TIMEOUT = 60.0  # seconds to wait for any one answer
QUERY, TOP_ID = "tomato blight", "Garden/Tomato blight.md"


class CheckFailed(AssertionError):
    pass


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string for these paths


class AppServer:
    """`codex app-server` as a child process, with timed reads of its JSONL stdout."""

    def __init__(self, codex: str, codex_home: Path, cwd: Path):
        env = dict(os.environ)
        env["CODEX_HOME"] = str(codex_home)
        env["HOME"] = str(codex_home.parent)  # keep Codex away from the real ~/.codex
        env.pop("OPENAI_API_KEY", None)
        env.pop("CODEX_API_KEY", None)
        env.setdefault("RUST_LOG", "warn")
        self.stderr_path = codex_home / "app-server.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [codex, "app-server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=cwd,
            env=env,
        )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.seen: list[str] = []  # everything received, for failure reports
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, msg: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def request(self, id_: int, method: str, params: dict | None = None) -> dict:
        msg: dict = {"method": method, "id": id_}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        deadline = time.monotonic() + READ_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"{method}: no answer within {READ_TIMEOUT:.0f} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                raise CheckFailed(f"{method}: no answer within {READ_TIMEOUT:.0f} s") from None
            if line is None:
                raise CheckFailed(f"{method}: codex app-server closed its stdout (exit {self.proc.poll()})")
            text = line.decode(errors="replace").strip()
            if not text:
                continue
            self.seen.append(text)
            try:
                msg = json.loads(text)
            except ValueError:
                continue
            if msg.get("id") == id_ and ("result" in msg or "error" in msg):
                if "error" in msg:
                    raise CheckFailed(f"{method}: error answer: {json.dumps(msg['error'])}")
                return msg["result"]
            # Notifications and server-initiated requests are recorded and otherwise ignored.

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def report(self) -> str:
        tail = "\n".join(s[:2000] for s in self.seen[-20:])
        try:
            err = self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            err = ""
        return f"--- received from codex app-server (last 20 lines) ---\n{tail}\n--- its stderr (tail) ---\n{err}"


def exercise(app: AppServer, cwd: Path) -> str:
    init = app.request(0, "initialize", {"clientInfo": {"name": "deepvault-interop", "version": "0.0.1"}})
    app.send({"method": "initialized"})

    status = app.request(1, "mcpServerStatus/list", {"detail": "toolsAndAuthOnly"})
    servers = {s.get("name"): s for s in status.get("data", [])}
    if "vault" not in servers:
        raise CheckFailed(f"mcpServerStatus/list has no server 'vault': {json.dumps(status)[:3000]}")
    vault = servers["vault"]
    tools = vault.get("tools") or {}
    if set(tools) != {"search", "fetch"}:
        raise CheckFailed(
            f"mcpServerStatus/list: vault tools are {sorted(tools)}, want search and fetch; "
            f"toolsError={vault.get('toolsError')!r}: {json.dumps(vault)[:3000]}"
        )
    for name, tool in tools.items():
        ann = tool.get("annotations") or {}
        if ann.get("readOnlyHint") is not True:
            raise CheckFailed(f"mcpServerStatus/list: {name} is not readOnlyHint true: {json.dumps(tool)[:2000]}")

    thread = app.request(2, "thread/start", {"ephemeral": True, "cwd": str(cwd)})
    thread_id = (thread.get("thread") or {}).get("id") or thread.get("threadId")
    if not thread_id:
        raise CheckFailed(f"thread/start: no thread id in {json.dumps(thread)[:2000]}")

    call = app.request(
        3,
        "mcpServer/tool/call",
        {"threadId": thread_id, "server": "vault", "tool": "search", "arguments": {"query": QUERY}},
    )
    if call.get("isError"):
        raise CheckFailed(f"mcpServer/tool/call search: isError: {json.dumps(call)[:3000]}")
    content = call.get("content") or []
    if len(content) != 1 or content[0].get("type") != "text":
        raise CheckFailed(f"mcpServer/tool/call search: want one text item: {json.dumps(call)[:3000]}")
    body = json.loads(content[0]["text"])
    results = body.get("results")
    if not results:
        raise CheckFailed(f"mcpServer/tool/call search: no results: {json.dumps(call)[:3000]}")
    if results[0].get("id") != TOP_ID or not results[0].get("url"):
        raise CheckFailed(f"mcpServer/tool/call search: top hit is not {TOP_ID!r} with a url: {results[0]}")
    if call.get("structuredContent") not in (None, body):
        raise CheckFailed(f"mcpServer/tool/call search: structuredContent differs from the text: {json.dumps(call)[:3000]}")
    ua = (init.get("userAgent") or "").split(" ")[0]
    return f"{ua}; tools {sorted(tools)}; {len(results)} results"


def run_variant(label: str, codex: str, server_toml: str) -> bool:
    root = Path(tempfile.mkdtemp(prefix=f"dv-codex-{label}-"))
    try:
        home = root / "codex-home"
        work = root / "work"
        home.mkdir()
        work.mkdir()
        (home / "config.toml").write_text(server_toml.replace("@WORK@", str(root)))
        app = AppServer(codex, home, work)
        try:
            summary = exercise(app, work)
        except (CheckFailed, ValueError, KeyError, OSError) as e:
            print(f"  codex {label}: FAIL: {type(e).__name__}: {e}", flush=True)
            app.close()
            print(app.report(), flush=True)
            print(f"--- config.toml ---\n{(home / 'config.toml').read_text()}", flush=True)
            return False
        app.close()
        print(f"  codex {label}: ok ({summary})", flush=True)
        return True
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--codex", required=True, help="the codex executable")
    ap.add_argument("--http-url", help="the running deepvault server's /mcp URL")
    ap.add_argument("--stdio", action="store_true", help="also let Codex start `deepvault serve --stdio`")
    ap.add_argument("--vault", default=str(REPO / "corpus.example"))
    ap.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", str(REPO / "target/release/deepvault")))
    a = ap.parse_args()
    if not a.http_url and not a.stdio:
        ap.error("give --http-url, --stdio or both")

    ok = True
    if a.http_url:
        ok &= run_variant(
            "http",
            a.codex,
            f"[mcp_servers.vault]\nurl = {toml_str(a.http_url)}\nstartup_timeout_sec = 30\n",
        )
    if a.stdio:
        args = ["serve", "--stdio", str(Path(a.vault).resolve()), "--index-dir", "@WORK@/index", "--listen", "127.0.0.1:0"]
        ok &= run_variant(
            "stdio",
            a.codex,
            "[mcp_servers.vault]\n"
            f"command = {toml_str(str(Path(a.bin).resolve()))}\n"
            f"args = [{', '.join(toml_str(x) for x in args)}]\n"
            "startup_timeout_sec = 30\n",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
