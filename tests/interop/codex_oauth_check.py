#!/usr/bin/env python3
"""Interop check: Codex CLI (`@openai/codex` 0.169.0) logs in to deepvault's built-in
authorization server with dynamic client registration, offline, and then uses the token.

Starts its own `deepvault serve --auth builtin` (oauth_server.py), then with a throwaway CODEX_HOME:

  1. `codex mcp add vault --url BASE/mcp --oauth-client-registration dcr`, which sees that the
     server wants OAuth and logs in at once, then 2. `codex mcp login vault`. Each time Codex
     discovers the server (RFC 9728, RFC 8414), registers (POST /register) and prints the
     /authorize URL. This script is the owner's browser: it opens the
     consent page, posts the passphrase with the CSRF field, and delivers the 303 to Codex's own
     loopback callback listener, as the browser's redirect would. Codex exchanges the code and
     must say it logged in;
  3. `codex app-server` lists the server's tools with the stored token (mcpServerStatus/list; no
     model, no API key): search and fetch, which proves the token works against /mcp.

Codex's other path, `--oauth-client-registration cimd` (also what `auto`, the default, picks
against deepvault, which advertises Client ID Metadata Documents), cannot work offline: Codex sends
`client_id=https://chatgpt.com/oauth/codex/client.json`, a document OpenAI hosts, not Codex, and an
authorization server must fetch it before it may show a consent page. Offline that fetch fails, so
deepvault refuses the client id with an error page (never a redirect). The server's CIMD path is
covered by the in-process test in src/server/http/oauth/mod.rs, on a fake network.

Usage: codex_oauth_check.py --codex PATH/codex --bin target/release/deepvault --vault corpus.example
Standard library only. Exits 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oauth_server  # noqa: E402

STEP_TIMEOUT = 90  # seconds for each Codex command


def check(cond: bool, what: str, got: object = None) -> None:
    if not cond:
        raise AssertionError(what + ("" if got is None else f"\n    got: {got!r}"[:4000]))


def codex_env(home: Path) -> dict:
    env = oauth_server.env_without_proxy()
    env["CODEX_HOME"] = str(home)
    env["HOME"] = str(home.parent)  # keep Codex away from the real ~/.codex
    env["NO_COLOR"] = "1"
    env.pop("OPENAI_API_KEY", None)
    env.pop("CODEX_API_KEY", None)
    env.setdefault("RUST_LOG", "warn")
    return env


def login(argv: list[str], env: dict, base: str) -> tuple[str, str]:
    """Runs a Codex command that logs in, approves the authorize URL it prints like the owner's
    browser, and returns (its output, verdict)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    out, verdict = "", "Codex printed no authorize URL"
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + STEP_TIMEOUT
    pattern = re.compile(re.escape(base) + r"/authorize\?\S+")
    approved = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode(errors="replace")
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
        found = pattern.search(out)
        if found and not approved:
            approved = True
            verdict = approve_and_callback(found.group(0), base)
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))  # its output closes just before it exits
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait()
        verdict += "; Codex did not finish in time"
    try:
        out += os.read(fd, 65536).decode(errors="replace")
    except (BlockingIOError, OSError):
        pass
    return out, verdict


def proc_ok(verdict: str) -> bool:
    return "did not finish" not in verdict


def approve_and_callback(url: str, base: str) -> str:
    q = oauth_server.query(url)
    check(q.get("client_id", "").startswith("dvc_"), "Codex registered dynamically (dvc_ client id)", q)
    check(q.get("code_challenge_method") == "S256", "Codex uses PKCE S256", q)
    check(q.get("resource") in (None, f"{base}/mcp"), "resource, when sent, names /mcp", q)
    location = oauth_server.approve(url)
    redirect = q["redirect_uri"]
    check(location.startswith(redirect + "?"), "the consent redirects to Codex's redirect_uri", location)
    check("code=" in location, "the redirect carries a code", location)
    try:
        with urllib.request.urlopen(location, timeout=30) as answer:
            said = answer.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        said = f"{e.code} {e.read().decode(errors='replace')}"
    return f"approved; Codex's callback said {re.sub(r'<[^>]+>', ' ', said).strip()[:120]!r}"


def app_server_tools(codex: str, env: dict) -> dict:
    proc = subprocess.Popen([codex, "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        for line in (
            {"method": "initialize", "id": 0, "params": {"clientInfo": {"name": "oauth-check", "version": "0.0.1"}}},
            {"method": "initialized"},
            {"method": "mcpServerStatus/list", "id": 1, "params": {}},
        ):
            proc.stdin.write(json.dumps(line) + "\n")
        proc.stdin.flush()
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if not ready:
                continue
            line = proc.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            if message.get("id") == 1:
                check("result" in message, "mcpServerStatus/list answered", message)
                return {d["name"]: d for d in message["result"].get("data", [])}
        raise AssertionError("codex app-server did not answer mcpServerStatus/list")
    finally:
        proc.terminate()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codex", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--vault", required=True)
    args = parser.parse_args()
    server = oauth_server.start(args.bin, args.vault)
    home = Path(tempfile.mkdtemp(prefix="dv-codex-oauth-")) / "codex"
    home.mkdir()
    # Credentials in a file under CODEX_HOME: there is no keyring on a CI machine.
    (home / "config.toml").write_text('mcp_oauth_credentials_store = "file"\n')
    env = codex_env(home)
    try:
        # `mcp add` sees the server asks for OAuth and logs in at once; `mcp login` logs in again
        # (a second registration and grant), as a user does after `codex mcp logout`. The flag
        # is not stored by `mcp add`, so `login` needs it too.
        for label, argv in (
            ("codex mcp add", [args.codex, "mcp", "add", "vault", "--url", f"{server.base}/mcp",
                               "--oauth-client-registration", "dcr"]),
            # Without the flag, `login` picks CIMD (the server advertises it): see above.
            ("codex mcp login", [args.codex, "mcp", "login", "vault", "--oauth-client-registration", "dcr"]),
        ):
            out, verdict = login(argv, env, server.base)
            print(f"{label}: {verdict}")
            print("    codex said: " + " / ".join(out.strip().splitlines()[-3:])[:400])
            check(verdict.startswith("approved"), f"{label}: Codex asked for consent and was approved", out)
            check(proc_ok(verdict), f"{label}: Codex finished", verdict)
            check("Successfully logged in" in out, f"{label}: Codex reports a successful login", out)
        servers = app_server_tools(args.codex, env)
        vault = servers.get("vault", {})
        tools = sorted((vault.get("tools") or {}).keys())
        print(f"codex app-server: vault tools={tools} authStatus={vault.get('authStatus')}")
        check(tools == ["fetch", "search"], "Codex lists search and fetch with its OAuth token", vault)
        print("PASS codex oauth login (dcr)")
        return 0
    except Exception:  # noqa: BLE001 - report everything, with the server's log
        traceback.print_exc()
        print("--- server log ---\n" + server.log()[-4000:])
        print("FAIL codex oauth login (dcr)")
        return 1
    finally:
        server.stop()
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
