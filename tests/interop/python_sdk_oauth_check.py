#!/usr/bin/env python3
"""Interop check: the official Python MCP SDK's OAuth client (`mcp` 2.3.0,
`mcp.client.auth.OAuthClientProvider`) against deepvault's built-in authorization server.

Starts its own `deepvault serve --auth builtin` (oauth_server.py: passphrase set with
`deepvault auth passphrase`, fresh index) and lets the SDK do everything a ChatGPT-like client does:
discovery (401 -> RFC 9728 protected-resource metadata -> RFC 8414 metadata), dynamic client
registration (RFC 7591), /authorize with PKCE S256 and `resource`, consent (the redirect handler
behaves like a browser: GET the page, read the CSRF field, POST the passphrase, take the code from
the 303), the token exchange, `search` and `fetch`, then a refresh (forced by marking the token
expired) that rotates both tokens, and a search with the refreshed token.

Usage: python_sdk_oauth_check.py --bin target/release/deepvault --vault corpus.example
Exits 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oauth_server  # noqa: E402

REDIRECT = "http://127.0.0.1:53682/callback"  # never listened on: the test reads the 303 itself
QUERY, TOP_ID = "tomato blight", "Garden/Tomato blight.md"
TIMEOUT = 120


class Memory:
    """The SDK's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, info):
        self.client = info


def check(cond: bool, what: str, got: object = None) -> None:
    if not cond:
        raise AssertionError(what + ("" if got is None else f"\n    got: {got!r}"[:3000]))


def payload(result, what: str) -> dict:
    check(not result.is_error, f"{what}: not an error", result)
    check(result.structured_content is not None, f"{what}: structuredContent", result)
    return json.loads(result.content[0].text)


async def flow(base: str) -> list[str]:
    seen: list[str] = []
    codes: list[AuthorizationCodeResult] = []
    authorize_urls: list[str] = []

    async def redirect_handler(url: str) -> None:
        authorize_urls.append(url)
        location = await anyio.to_thread.run_sync(oauth_server.approve, url)
        check(location.startswith(REDIRECT + "?"), "the consent redirects to the registered redirect_uri", location)
        q = oauth_server.query(location)
        check(q.get("iss") == base, "the redirect carries iss (RFC 9207)", q)
        codes.append(AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss")))

    async def callback_handler() -> AuthorizationCodeResult:
        return codes.pop()

    storage = Memory()
    provider = OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=OAuthClientMetadata(client_name="python-sdk-interop", redirect_uris=[REDIRECT]),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )

    async def log(request: httpx2.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    async with httpx2.AsyncClient(auth=provider, event_hooks={"request": [log]}, timeout=30) as http:
        async with streamable_http_client(f"{base}/mcp", http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                names = sorted(t.name for t in tools.tools)
                check(names == ["fetch", "search"], "tools/list: exactly search and fetch", names)

                found = payload(await session.call_tool("search", {"query": QUERY}), "search")
                ids = [r["id"] for r in found["results"]]
                check(ids and ids[0] == TOP_ID, f"search {QUERY!r}: {TOP_ID!r} first", ids)
                note = payload(await session.call_tool("fetch", {"id": TOP_ID}), "fetch")
                check(note["id"] == TOP_ID and "blight" in note["text"].lower(), "fetch returns the note", note)

                first = storage.tokens
                check(first is not None and first.refresh_token, "a refresh token was issued", first)
                check(first.scope == "vault:read", "no scope asked: the read scope", first)
                check(first.access_token.startswith("dv_at_"), "an opaque access token", first.token_type)

                # The SDK refreshes before a request once the token looks expired.
                provider.context.token_expiry_time = time.time() - 1
                again = payload(await session.call_tool("search", {"query": QUERY}), "search after refresh")
                check([r["id"] for r in again["results"]][:1] == [TOP_ID], "search after refresh", again)
                second = storage.tokens
                check(second.access_token != first.access_token, "the access token was refreshed")
                check(second.refresh_token != first.refresh_token, "the refresh token rotated")

    check(len(authorize_urls) == 1, "one trip through the consent page", authorize_urls)
    q = oauth_server.query(authorize_urls[0])
    check(q.get("code_challenge_method") == "S256" and q.get("code_challenge"), "PKCE S256", q)
    check(q.get("resource") == f"{base}/mcp", "resource names this server's /mcp (RFC 8707)", q)
    check(q.get("client_id", "").startswith("dvc_"), "a dynamically registered client id", q)
    for step in ("GET /.well-known/oauth-protected-resource", "GET /.well-known/oauth-authorization-server",
                 "POST /register", "POST /token"):
        check(any(s.startswith(step) for s in seen), f"the SDK made {step}", seen)
    check(seen.count("POST /token") == 2, "two token requests: the code, then the refresh", seen)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--vault", required=True)
    args = parser.parse_args()
    server = oauth_server.start(args.bin, args.vault)
    try:
        seen = anyio.run(_with_timeout, server.base)
        print("PASS python-sdk oauth (dcr): " + ", ".join(dict.fromkeys(seen)))
        return 0
    except Exception:  # noqa: BLE001 - report everything, with the server's log
        traceback.print_exc()
        print("--- server log ---\n" + server.log()[-4000:])
        print("FAIL python-sdk oauth (dcr)")
        return 1
    finally:
        server.stop()


async def _with_timeout(base: str) -> list[str]:
    with anyio.fail_after(TIMEOUT):
        return await flow(base)


if __name__ == "__main__":
    sys.exit(main())
