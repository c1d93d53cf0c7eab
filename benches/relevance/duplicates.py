#!/usr/bin/env python3
"""How much of the top 10 near-identical copies take, with and without collapsing them.

    benches/relevance/duplicates.py [--keep-index DIR]

The PowerShell reference docs (../shared/eval/corpora/windows-powershell-docs) repeat most pages
for four Windows Server versions (docset/winserver2016-ps/... to winserver2025-ps/...), differing
only in frontmatter. For the 50 queries of benches/peers/queries-powershell.txt, it runs MCP
`search` twice through the real server: with copies collapsed (the default, SimHash within 6
bits) and with every copy kept (DEEPVAULT_RANKING='{"duplicate_bits": -1}'). It reports the
share of top-10 slots taken by a second (third, fourth) copy of a page already listed, and the
number of distinct pages per top 10.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from mcp_http import McpHttp, Server  # noqa: E402

VAULT = os.path.join(ROOT, "..", "shared", "eval", "corpora", "windows-powershell-docs")
QUERIES = os.path.join(ROOT, "benches", "peers", "queries-powershell.txt")


def page(note_id):
    """The page a copy is of: the path without its version folder."""
    return re.sub(r"winserver\d+(?:r2)?-ps/", "", note_id)


def measure(binary, index, ranking, queries):
    os.environ["DEEPVAULT_RANKING"] = ranking
    server = Server(binary, VAULT, index)
    try:
        server.wait_ready()
        client = McpHttp("127.0.0.1", server.port)
        client.initialize()
        copies, distinct = [], []
        for query in queries:
            ids = client.search_ids(query)[:10]
            pages = [page(i) for i in ids]
            copies.append(len(pages) - len(set(pages)))
            distinct.append(len(set(pages)))
        return copies, distinct
    finally:
        server.stop()
        os.environ.pop("DEEPVAULT_RANKING", None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-index", help="index folder to reuse")
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault")))
    args = parser.parse_args()
    queries = [q.strip() for q in open(QUERIES, encoding="utf-8") if q.strip() and not q.startswith("#")]
    work = tempfile.mkdtemp(prefix="dv-duplicates-")
    index = args.keep_index or os.path.join(work, "index")
    os.makedirs(index, exist_ok=True)
    try:
        results = {}
        for name, ranking in (("kept", '{"duplicate_bits": -1}'), ("collapsed", "")):
            copies, distinct = measure(args.bin, index, ranking, queries)
            results[name] = {
                "queries": len(queries),
                "copy_slots_share": round(sum(copies) / (10 * len(queries)), 3),
                "queries_with_copies": sum(1 for c in copies if c),
                "distinct_pages_per_top10_mean": round(statistics.mean(distinct), 2),
            }
        print(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
