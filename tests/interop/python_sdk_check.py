#!/usr/bin/env python3
"""Interop check: the official Python MCP SDK (`mcp` 2.3.0) against deepvault.

Runs the same assertions over two transports:
  * streamable HTTP (`streamable_http_client` + `ClientSession`) against a running server,
  * stdio (`stdio_client`), which starts `$DEEPVAULT_BIN serve --stdio VAULT` itself.

Usage: python_sdk_check.py --url http://127.0.0.1:PORT/mcp --vault corpus.example
Exits 0 when every check passed, 1 otherwise (printing what failed and what came back).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds for each transport's whole session
EXPECTED_ANNOTATIONS = {"read_only_hint": True, "destructive_hint": False, "open_world_hint": False}
QUERY, TOP_ID = "tomato blight", "Garden/Tomato blight.md"


class CheckFailed(AssertionError):
    pass


def check(cond: bool, what: str, got: object = None) -> None:
    if not cond:
        detail = "" if got is None else f"\n    got: {got!r}"[:4000]
        raise CheckFailed(f"{what}{detail}")


def dump(result: object) -> str:
    try:
        return result.model_dump_json(by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
    except Exception:
        return repr(result)


def single_json_text(result, what: str) -> dict:
    """The tool result must hold exactly one text item whose JSON equals structuredContent."""
    check(len(result.content) == 1, f"{what}: exactly one content item", dump(result))
    item = result.content[0]
    check(item.type == "text", f"{what}: the content item is text", dump(result))
    try:
        parsed = json.loads(item.text)
    except ValueError as e:
        raise CheckFailed(f"{what}: the text item is not JSON ({e}): {item.text[:500]!r}")
    check(result.structured_content is not None, f"{what}: structuredContent is present", dump(result))
    check(parsed == result.structured_content, f"{what}: text JSON == structuredContent", dump(result))
    return parsed


async def exercise(session: ClientSession, label: str) -> None:
    init = await session.initialize()
    check(init.server_info.name == "deepvault", f"{label}: serverInfo.name", init.server_info)
    check(init.capabilities.tools is not None, f"{label}: tools capability", init.capabilities)

    # tools/list: exactly search and fetch, annotated, with a required string argument.
    listed = await session.list_tools()
    tools = {t.name: t for t in listed.tools}
    check(set(tools) == {"search", "fetch"}, f"{label}: tool names are exactly search, fetch", sorted(tools))
    for name, arg in (("search", "query"), ("fetch", "id")):
        tool = tools[name]
        ann = tool.annotations
        check(ann is not None, f"{label}: {name} has annotations", dump(tool))
        for field, want in EXPECTED_ANNOTATIONS.items():
            check(getattr(ann, field) is want, f"{label}: {name} annotation {field} is {want}", dump(ann))
        schema = tool.input_schema
        check(schema.get("type") == "object", f"{label}: {name} inputSchema type object", schema)
        check(arg in schema.get("required", []), f"{label}: {name} requires {arg!r}", schema)
        prop = schema.get("properties", {}).get(arg, {})
        check(prop.get("type") == "string", f"{label}: {name}.{arg} is a string", schema)

    # search: one text item == structuredContent, non-empty results with non-empty urls.
    res = await session.call_tool("search", {"query": QUERY})
    check(res.is_error is False, f"{label}: search is not an error", dump(res))
    body = single_json_text(res, f"{label}: search")
    check(set(body) == {"results"}, f"{label}: search returns {{results}}", body)
    results = body["results"]
    check(isinstance(results, list) and results, f"{label}: search results non-empty", body)
    for hit in results:
        check(set(hit) == {"id", "title", "url", "text"}, f"{label}: hit has id/title/url/text", hit)
        check(isinstance(hit["url"], str) and hit["url"], f"{label}: hit url is a non-empty string", hit)
        check(isinstance(hit["id"], str) and hit["id"], f"{label}: hit id is a non-empty string", hit)
    check(results[0]["id"] == TOP_ID, f"{label}: top hit for {QUERY!r} is {TOP_ID!r}", [h["id"] for h in results])

    # fetch of the top id.
    top = results[0]["id"]
    res = await session.call_tool("fetch", {"id": top})
    check(res.is_error is False, f"{label}: fetch is not an error", dump(res))
    doc = single_json_text(res, f"{label}: fetch")
    check(set(doc) == {"id", "title", "text", "url", "metadata"}, f"{label}: fetch returns id/title/text/url/metadata", sorted(doc))
    check(doc["id"] == top, f"{label}: fetch id echoes the search id", doc["id"])
    check(isinstance(doc["url"], str) and doc["url"], f"{label}: fetch url is a non-empty string", doc["url"])
    check(isinstance(doc["text"], str) and doc["text"], f"{label}: fetch text is non-empty", doc["text"])
    check(isinstance(doc["metadata"], dict), f"{label}: fetch metadata is an object", doc["metadata"])

    # fetch of an unknown id: a tool error, not a protocol error.
    res = await session.call_tool("fetch", {"id": "No/such note.md"})
    check(res.is_error is True, f"{label}: fetch of an unknown id has isError true", dump(res))
    texts = " ".join(getattr(c, "text", "") for c in res.content)
    check("no note with id" in texts, f"{label}: unknown-id error says 'no note with id'", dump(res))

    # a blank query finds nothing and is not an error.
    res = await session.call_tool("search", {"query": "   "})
    check(res.is_error is False, f"{label}: blank search is not an error", dump(res))
    body = single_json_text(res, f"{label}: blank search")
    check(body == {"results": []}, f"{label}: blank search returns {{'results': []}}", body)


async def over_http(url: str) -> None:
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            await exercise(session, "http")


async def over_stdio(binary: str, vault: str) -> None:
    index_dir = tempfile.mkdtemp(prefix="dv-pysdk-stdio-")
    try:
        params = StdioServerParameters(
            command=binary,
            args=["serve", "--stdio", vault, "--index-dir", index_dir, "--listen", "127.0.0.1:0"],
        )
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session, "stdio")
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)


def leaf_exceptions(e: BaseException):
    """The leaves of a (possibly nested) exception group: anyio wraps a failed check in groups."""
    if isinstance(e, BaseExceptionGroup):
        for sub in e.exceptions:
            yield from leaf_exceptions(sub)
    else:
        yield e


async def run_one(label: str, fn, *args) -> bool:
    try:
        with anyio.fail_after(TIMEOUT):
            await fn(*args)
    except BaseException as e:  # noqa: BLE001 - report anything (timeouts, exception groups)
        leaves = list(leaf_exceptions(e))
        failed = [x for x in leaves if isinstance(x, CheckFailed)]
        if failed:
            for x in failed:
                print(f"  python-sdk {label}: FAIL: {x}", flush=True)
            return False
        print(f"  python-sdk {label}: FAIL: {type(e).__name__}: {e}", flush=True)
        traceback.print_exc()
        return False
    print(f"  python-sdk {label}: ok", flush=True)
    return True


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the running server's /mcp URL")
    ap.add_argument("--vault", default=str(REPO / "corpus.example"))
    ap.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", str(REPO / "target/release/deepvault")))
    a = ap.parse_args()
    ok_http = await run_one("http", over_http, a.url)
    ok_stdio = await run_one("stdio", over_stdio, a.bin, a.vault)
    return 0 if ok_http and ok_stdio else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
