#!/usr/bin/env python3
"""Interop check: MCP Inspector 2.12 CLI against a running deepvault server.

Runs, checking each exit code and the JSON printed with `--format json`:
  * tools/list and a `search` call over streamable HTTP in the default (legacy-era) mode,
  * the same with `--protocol-era modern` (2026-07-28),
  * a `fetch` call with `--transport sse` against the legacy HTTP+SSE endpoint `/sse`,
  * a `fetch` of an unknown id, which must exit 5 (the Inspector's code for `isError: true`).
The HTTP runs go through tap_proxy.py, which records the requests, so the check also proves
which protocol revision each mode really spoke (a silent fallback would make it vacuous).

Usage: inspector_check.py --inspector PATH/inspector --port PORT
Needs Node >= 22 on PATH. Standard library only. Exits 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT = 60


class CheckFailed(AssertionError):
    pass


class Tap:
    """tap_proxy.py in front of the server: a fresh log per use."""

    def __init__(self, port: int, log: Path):
        self.log = log
        log.write_bytes(b"")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "tap_proxy.py"), str(port), str(log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def sent(self) -> str:
        return self.log.read_text(errors="replace").lower()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def inspector(exe: str, env: dict, target: str, *args: str, want_rc: int = 0) -> dict:
    cmd = [exe, "--cli", target, *args, "--format", "json", "--connect-timeout", "15000"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise CheckFailed(f"{' '.join(cmd)}: no exit within {TIMEOUT} s; stdout: {e.stdout!r}; stderr: {e.stderr!r}")
    shown = f"\n    command: {' '.join(cmd)}\n    exit: {p.returncode}\n    stdout: {p.stdout[:3000]}\n    stderr: {p.stderr[-3000:]}"
    if p.returncode != want_rc:
        raise CheckFailed(f"exit code {p.returncode}, want {want_rc}{shown}")
    out = p.stdout.strip() or p.stderr.strip()
    try:
        return json.loads(out)
    except ValueError:
        raise CheckFailed(f"the output is not one JSON object{shown}") from None


def result_of(doc: dict, what: str) -> dict:
    if not isinstance(doc.get("result"), dict):
        raise CheckFailed(f"{what}: no result object: {json.dumps(doc)[:3000]}")
    return doc["result"]


def check_tools(doc: dict, what: str) -> None:
    tools = result_of(doc, what).get("tools") or []
    names = sorted(t.get("name") for t in tools)
    if names != ["fetch", "search"]:
        raise CheckFailed(f"{what}: tools are {names}, want fetch and search")
    for t in tools:
        ann = t.get("annotations") or {}
        if (ann.get("readOnlyHint"), ann.get("destructiveHint"), ann.get("openWorldHint")) != (True, False, False):
            raise CheckFailed(f"{what}: {t['name']} annotations are {ann}")


def tool_body(doc: dict, what: str) -> dict:
    res = result_of(doc, what)
    if res.get("isError"):
        raise CheckFailed(f"{what}: isError: {json.dumps(res)[:3000]}")
    content = res.get("content") or []
    if len(content) != 1 or content[0].get("type") != "text":
        raise CheckFailed(f"{what}: want exactly one text item: {json.dumps(res)[:3000]}")
    body = json.loads(content[0]["text"])
    if body != res.get("structuredContent"):
        raise CheckFailed(f"{what}: text JSON differs from structuredContent: {json.dumps(res)[:3000]}")
    return body


def check_search(doc: dict, what: str, top_id: str) -> int:
    hits = tool_body(doc, what).get("results") or []
    ids = [h.get("id") for h in hits]
    if not hits or ids[0] != top_id:
        raise CheckFailed(f"{what}: top hit should be {top_id!r}, got ids {ids}")
    if not all(isinstance(h.get("url"), str) and h["url"] for h in hits):
        raise CheckFailed(f"{what}: a hit has no url: {hits}")
    return len(hits)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inspector", required=True)
    ap.add_argument("--port", required=True, type=int)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dv-inspector-"))
    env = dict(os.environ)
    env["HOME"] = str(tmp / "home")  # the Inspector writes ~/.mcp-inspector
    env["MCP_CATALOG_PATH"] = str(tmp / "catalog.json")
    Path(env["HOME"]).mkdir()
    failed = 0

    def step(name: str, fn) -> None:
        nonlocal failed
        try:
            note = fn()
            print(f"  inspector {name}: ok{f' ({note})' if note else ''}", flush=True)
        except (CheckFailed, ValueError, KeyError) as e:
            failed += 1
            print(f"  inspector {name}: FAIL: {e}", flush=True)

    def era_run(era_args: list[str], query: str, top_id: str, want_sent: list[str]):
        def run() -> str:
            tap = Tap(a.port, tmp / "tap.log")
            try:
                url = f"http://127.0.0.1:{tap.port}/mcp"
                check_tools(inspector(a.inspector, env, url, *era_args, "--method", "tools/list"), "tools/list")
                n = check_search(
                    inspector(
                        a.inspector, env, url, *era_args,
                        "--method", "tools/call", "--tool-name", "search", "--tool-arg", f"query={query}",
                    ),
                    f"search {query!r}",
                    top_id,
                )
            finally:
                tap.close()
            sent = tap.sent()
            for needle in want_sent:
                if needle not in sent:
                    raise CheckFailed(f"the client never sent {needle!r}; it sent:\n{sent[:4000]}")
            return f"tools/list + search, {n} hits"
        return run

    step(
        "http (default era)",
        era_run([], "tomato blight", "Garden/Tomato blight.md", ['"method":"initialize"']),
    )
    step(
        "http --protocol-era modern",
        era_run(
            ["--protocol-era", "modern"],
            "pour over ratio",
            "Coffee/Pour over ratio.md",
            ["mcp-protocol-version: 2026-07-28", "mcp-method: tools/call", "mcp-name: search"],
        ),
    )

    def sse_fetch() -> str:
        doc = inspector(
            a.inspector, env, f"http://127.0.0.1:{a.port}/sse", "--transport", "sse",
            "--method", "tools/call", "--tool-name", "fetch", "--tool-arg", "id=Garden/Tomato blight.md",
        )
        body = tool_body(doc, "sse fetch")
        if sorted(body) != ["id", "metadata", "text", "title", "url"] or body["id"] != "Garden/Tomato blight.md":
            raise CheckFailed(f"sse fetch: want id/title/text/url/metadata of the note, got keys {sorted(body)}, id {body.get('id')!r}")
        if not body["url"]:
            raise CheckFailed("sse fetch: empty url")
        return f"{len(body['text'])} chars of Markdown"

    step("sse fetch", sse_fetch)

    def unknown_id() -> str:
        doc = inspector(
            a.inspector, env, f"http://127.0.0.1:{a.port}/mcp",
            "--method", "tools/call", "--tool-name", "fetch", "--tool-arg", "id=No/such note.md",
            want_rc=5,
        )
        res = result_of(doc, "unknown id")
        text = " ".join(c.get("text", "") for c in res.get("content") or [])
        if res.get("isError") is not True or "no note with id" not in text:
            raise CheckFailed(f"unknown id: want isError true and 'no note with id', got {json.dumps(doc)[:2000]}")
        return "exit 5, isError true"

    step("fetch unknown id", unknown_id)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
