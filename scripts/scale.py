#!/usr/bin/env python3
"""Scale run: index a large vault and measure what grows with it.

    scripts/scale.py VAULT [--index-dir DIR] [--queries 200] [--edits 5] [--json OUT]

VAULT is typically made by scripts/gen-vault.py (for example 1,000,000 notes). Measures, in order:

1. a full `deepvault index` into an empty index directory: wall time, CPU, peak RSS;
2. the index size on disk;
3. a no-op `deepvault index` (nothing changed): wall time and peak RSS;
4. `deepvault serve` restart-to-ready (start to /readyz 200, the start-up reconcile included),
   median of 3, and the server's resident memory once ready;
5. MCP `search` latency over HTTP at concurrency 1 (one kept-alive connection): p50/p95/p99 over
   --queries requests, half known-item queries (a random note's name; the script also counts how
   often that note is in the top 10) and half two-word topic queries, plus the server CPU per
   request;
6. edit-to-searchable: append a unique word to a random note and time until `search` finds it,
   --edits times;
7. the server's peak resident memory over the whole session.

Prints a Markdown table and, with --json, writes the figures. Standard library only; needs GNU
time (`/usr/bin/time`, Debian package `time`).
"""

import argparse
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_http import McpHttp, Server, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOPIC_WORDS = """index search query ranking latency cache database schema migration backup release
pipeline garden coffee recipe travel budget meeting review project design research study
health sleep exercise music history language market customer service energy water""".split()


def timed(cmd):
    """Runs cmd under GNU time; returns (wall s, cpu s, peak RSS MB, stderr)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.monotonic()
        done = subprocess.run(["/usr/bin/time", "-v", "-o", report.name, *cmd], capture_output=True, text=True)
        wall = time.monotonic() - start
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        text = report.read()
    field = lambda name: float(re.search(rf"{name}: ([0-9.]+)", text).group(1))  # noqa: E731
    cpu = field(r"User time \(seconds\)") + field(r"System time \(seconds\)")
    rss = field(r"Maximum resident set size \(kbytes\)") / 1024
    return wall, cpu, rss, done.stderr


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_notes(vault, count, rng):
    """`count` random note ids (reservoir sampling over one walk)."""
    picked, seen = [], 0
    for folder, dirs, files in os.walk(vault):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.endswith(".md"):
                continue
            seen += 1
            note = os.path.relpath(os.path.join(folder, name), vault).replace(os.sep, "/")
            if len(picked) < count:
                picked.append(note)
            elif rng.random() < count / seen:
                picked[rng.randrange(count)] = note
    return picked, seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vault")
    parser.add_argument("--index-dir", help="default: a temporary directory, removed at the end")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse-index", action="store_true",
                        help="keep the index in --index-dir: skip the full and no-op index runs")
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault")))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vault = os.path.abspath(args.vault)
    work = tempfile.mkdtemp(prefix="dv-scale-")
    index = os.path.abspath(args.index_dir) if args.index_dir else os.path.join(work, "index")
    if args.reuse_index and not args.index_dir:
        sys.exit("--reuse-index needs --index-dir")
    if not args.reuse_index:
        shutil.rmtree(index, ignore_errors=True)
    figures = {"vault": vault, "machine": f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB"}
    try:
        print(f"sampling notes of {vault} …", file=sys.stderr)
        sample, notes = sample_notes(vault, max(args.queries, args.edits), rng)
        figures["notes"] = notes
        figures["vault_mb"] = round(dir_bytes(vault) / 1e6, 1)

        if args.reuse_index:
            figures["index_mb"] = round(dir_bytes(index) / 1e6, 1)
        else:
            full_and_noop(args, vault, index, figures)
        serve_and_search(args, vault, index, figures, sample, rng)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")


def full_and_noop(args, vault, index, figures):
    print("full index …", file=sys.stderr)
    wall, cpu, rss, log = timed([args.bin, "index", vault, "--index-dir", index])
    summary = [line for line in log.splitlines() if line.startswith("indexed ")]
    figures.update(full_index_s=round(wall, 1), full_index_cpu_s=round(cpu, 1), full_index_rss_mb=round(rss),
                   full_index_summary=summary[-1] if summary else "")
    figures["index_mb"] = round(dir_bytes(index) / 1e6, 1)

    print("no-op index …", file=sys.stderr)
    wall, cpu, rss, _ = timed([args.bin, "index", vault, "--index-dir", index])
    figures.update(noop_index_s=round(wall, 2), noop_index_rss_mb=round(rss))



def serve_and_search(args, vault, index, figures, sample, rng):
    print("restarts …", file=sys.stderr)
    restarts = []
    for _ in range(2):
        server = Server(args.bin, vault, index)
        restarts.append(server.wait_ready(timeout=3600))
        server.stop()
    server = Server(args.bin, vault, index)
    restarts.append(server.wait_ready(timeout=3600))
    figures["restart_to_ready_s"] = round(percentile(restarts, 50), 2)
    figures["restart_to_ready_runs_s"] = [round(t, 2) for t in restarts]
    figures["server_rss_ready_mb"] = round(proc_status(server.process.pid, "VmRSS"))
    # After the start-up reconcile the server takes one more look at the vault (files created
    # while its folder watches were being set up); measure searches once that is done, i.e.
    # once the server's CPU use has dropped to almost nothing for a second.
    settle_start = time.monotonic()
    while time.monotonic() - settle_start < 600:
        before = cpu_seconds(server.process.pid)
        time.sleep(1)
        if cpu_seconds(server.process.pid) - before < 0.05:
            break
    figures["settle_after_ready_s"] = round(time.monotonic() - settle_start - 1, 1)
    try:
        client = McpHttp("127.0.0.1", server.port)
        client.initialize()
        queries = []
        for i in range(args.queries):
            if i % 2 == 0:
                note = sample[i % len(sample)]
                queries.append((os.path.splitext(os.path.basename(note))[0], note))
            else:
                queries.append((" ".join(rng.sample(TOPIC_WORDS, 2)), None))
        client.search_ids(queries[0][0])  # warm the connection
        cpu0, times, found, known = cpu_seconds(server.process.pid), [], 0, 0
        for query, note in queries:
            start = time.perf_counter()
            ids = client.search_ids(query)
            times.append((time.perf_counter() - start) * 1000)
            if note is not None:
                known += 1
                found += note in ids
        cpu = cpu_seconds(server.process.pid) - cpu0
        figures.update(
            search_requests=len(times),
            search_p50_ms=round(percentile(times, 50), 2),
            search_p95_ms=round(percentile(times, 95), 2),
            search_p99_ms=round(percentile(times, 99), 2),
            search_server_cpu_ms=round(cpu * 1000 / len(times), 2),
            known_item_top10=f"{found}/{known}",
        )

        edits = []
        for i in range(args.edits):
            note = sample[-1 - i]
            # Unique per run (not from the seeded generator): a word an earlier run appended
            # would be found at once.
            word = f"scaleprobe{secrets.token_hex(6)}x{i}"
            with open(os.path.join(vault, note), "a", encoding="utf-8") as f:
                f.write(f"\n{word}\n")
            start = time.monotonic()
            while note not in client.search_ids(word):
                if time.monotonic() - start > 60:
                    sys.exit(f"edit of {note} not searchable after 60 s")
                time.sleep(0.005)
            edits.append((time.monotonic() - start) * 1000)
        if edits:
            figures["edit_to_searchable_ms_median"] = round(percentile(edits, 50))
            figures["edit_to_searchable_ms_max"] = round(max(edits))
        figures["server_peak_rss_mb"] = round(proc_status(server.process.pid, "VmHWM"))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
