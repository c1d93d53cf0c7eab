#!/usr/bin/env python3
"""MCP `search` latency at concurrency 1, with or without semantic search, and while notes are
being embedded in the background.

    scripts/search-latency.py --vault VAULT --queries FILE [--model DIR] [--mode hybrid]
                              [--phase idle|embedding] [--requests 600] [--index-dir DIR]

Starts `deepvault serve VAULT` (a fresh index unless --index-dir is given; with --model, the
model's vectors are kept in that index too), waits for /readyz, and then:

- `--phase idle` (default): waits until every note has vectors (with --model), then measures;
- `--phase embedding`: measures at once, while the first embedding still runs; the figures are
  kept only if embedding was still running when the last request finished (else the script
  says so and exits 1: use a bigger vault).

Queries (one per line; a TSV line's last column is used) are sent one at a time over one
kept-alive connection, cycling through the file, after 50 warm-up requests. Prints one JSON line:
p50/p95/p99 and mean in ms, the server's CPU per request, and the semantic state at start and
end. Only the Python standard library.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_http import McpHttp, Server, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readyz(server):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}")
    except OSError:
        return {}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_queries(path):
    queries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip():
                queries.append(line.split("\t")[-1])
    return queries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vault", required=True)
    parser.add_argument("--queries", required=True, help="one query per line (a TSV's last column)")
    parser.add_argument("--model", help="an embedding model folder (semantic search on)")
    parser.add_argument("--mode", choices=["lexical", "semantic", "hybrid"], help="DEEPVAULT_SEARCH_MODE")
    parser.add_argument("--phase", choices=["idle", "embedding"], default="idle")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--index-dir", help="keep the index (and vectors) here and reuse them")
    parser.add_argument("--exclude", help="DEEPVAULT_EXCLUDE for the vault")
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault")))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    queries = load_queries(args.queries)
    if not queries:
        sys.exit("no queries")
    for key in ("DEEPVAULT_EMBEDDING_MODEL", "DEEPVAULT_SEARCH_MODE", "DEEPVAULT_EXCLUDE"):
        os.environ.pop(key, None)
    if args.model:
        os.environ["DEEPVAULT_EMBEDDING_MODEL"] = os.path.abspath(args.model)
    if args.mode:
        os.environ["DEEPVAULT_SEARCH_MODE"] = args.mode
    if args.exclude:
        os.environ["DEEPVAULT_EXCLUDE"] = args.exclude
    work = None
    if args.index_dir:
        index = os.path.abspath(args.index_dir)
        os.makedirs(index, exist_ok=True)
    else:
        work = tempfile.mkdtemp(prefix="dv-search-latency-")
        index = os.path.join(work, "index")
        os.mkdir(index)
    server = Server(args.bin, os.path.abspath(args.vault), index)
    try:
        ready = server.wait_ready(timeout=3600)
        print(f"ready in {ready:.2f} s", file=sys.stderr)
        if args.model and args.phase == "idle":
            started = time.monotonic()
            while True:
                s = readyz(server).get("semantic") or {}
                if s.get("state") == "ready" and s.get("embedded") == s.get("total"):
                    break
                if s.get("state") == "failed":
                    sys.exit(f"semantic search failed: {s.get('error')}")
                time.sleep(0.5)
            print(f"embedded in {time.monotonic() - started:.1f} s more", file=sys.stderr)
        client = McpHttp("127.0.0.1", server.port)
        client.initialize()
        for i in range(50):
            client.call_tool("search", {"query": queries[i % len(queries)]})
        start_state = (readyz(server).get("semantic") or {})
        cpu_before = cpu_seconds(server.process.pid)
        latencies = []
        wall = time.monotonic()
        for i in range(args.requests):
            t = time.monotonic()
            result = client.call_tool("search", {"query": queries[(i + 50) % len(queries)]})
            latencies.append((time.monotonic() - t) * 1000)
            if result.get("isError"):
                sys.exit(f"search failed: {result}")
        wall = time.monotonic() - wall
        cpu = cpu_seconds(server.process.pid) - cpu_before
        end_state = (readyz(server).get("semantic") or {})
        figures = {
            "vault": os.path.abspath(args.vault),
            "model": args.model and os.path.basename(os.path.abspath(args.model)),
            "mode": args.mode or ("hybrid" if args.model else "lexical"),
            "phase": args.phase,
            "requests": len(latencies),
            "p50_ms": round(percentile(latencies, 50), 2),
            "p95_ms": round(percentile(latencies, 95), 2),
            "p99_ms": round(percentile(latencies, 99), 2),
            "mean_ms": round(sum(latencies) / len(latencies), 2),
            "server_cpu_ms_per_request": round(cpu * 1000 / len(latencies), 2),
            "server_cpu_busy_cores": round(cpu / wall, 2),
            "semantic_at_start": {k: start_state.get(k) for k in ("state", "embedded", "total")},
            "semantic_at_end": {k: end_state.get(k) for k in ("state", "embedded", "total")},
            "loadavg": os.getloadavg(),
        }
        print(json.dumps(figures))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
        if args.phase == "embedding" and end_state.get("state") != "embedding":
            sys.exit("embedding finished before the measurement did: use a bigger vault")
    finally:
        server.stop()
        if work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
