#!/usr/bin/env python3
"""Memory under hostile queries: 256 random words per search, one at a time and 32 clients at once.

    scripts/hostile-load.py [--vault ../shared/eval/beir-scifact/notes] [--bin target/release/deepvault]
    scripts/hostile-load.py --check        # CI: non-zero exit above the targets (10 MB, 300 MB)

Issue 13 #1: every query word the index does not know used to become three fuzzy automata at
distance 2, for up to 256 words; 16 clients sending such queries took the server to 5.2 GB. This
starts `deepvault serve` on the vault with a fresh index and no rate limit (the limiter would hide
the cost of a query, not bound it), then measures through MCP `search`:

- one query: the server's peak RSS during one query of 256 random 8-letter words, minus its RSS
  before it (the kernel's peak is reset first through /proc/PID/clear_refs), over --single
  queries; prints the median and the maximum (memory the allocator kept from an earlier query
  is reused, so the maximum is the honest cost of one), and the RSS growth over the series.
  Target: < 10 MB.
- the same for a query of 32 random words: the most words that are still expanded (3 of them),
  the worst case of the fuzzy budget.
- 32 clients: --clients threads each sending such queries (new words every time) for --seconds,
  --rounds times (3 of 8 s); the server's peak RSS of each round (VmHWM), and its RSS 5 s after the round.
  Target: < 300 MB. A round is cut short when the RSS passes --max-rss-mb (default 4000), so an
  unbounded binary cannot take the machine down; the figure is then a lower bound.

Linux only (/proc). Every query is different, so no cache helps. Prints a JSON summary last.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import string
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_http import McpHttp, Server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL = os.environ.get("DEEPVAULT_EVAL_DIR", os.path.join(ROOT, "..", "shared", "eval"))
SINGLE_TARGET_MB = 10
CLIENTS_TARGET_MB = 300


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise SystemExit(f"hostile-load.py: no {key} in /proc/{pid}/status")


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0, needs to own the process)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def random_query(rng, words=256):
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(8)) for _ in range(words))


def mb(kb):
    return kb / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vault", default=os.path.join(EVAL, "beir-scifact", "notes"))
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target", "release", "deepvault")))
    parser.add_argument("--single", type=int, default=15, help="single queries measured (default 15)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one round of concurrent clients")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-rss-mb", type=float, default=4000, help="cut a round short above this RSS")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--check", action="store_true", help="exit non-zero above the targets")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not os.path.isdir(args.vault):
        raise SystemExit(f"hostile-load.py: no vault at {args.vault} (set --vault or DEEPVAULT_EVAL_DIR)")
    if not os.path.isfile(args.bin):
        raise SystemExit(f"hostile-load.py: no binary at {args.bin} (cargo build --release, or --bin)")

    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="dv-hostile-load-")
    index = os.path.join(work, "index")
    os.mkdir(index)
    server = Server(args.bin, args.vault, index)
    try:
        ready = server.wait_ready()
        pid = server.process.pid
        client = McpHttp("127.0.0.1", server.port)
        client.initialize()
        # Warm up: the searcher, the term dictionaries in the page cache, the allocator's arenas.
        for query in ["protein folding", "vaccine efficacy trial", random_query(rng, 8)]:
            client.call_tool("search", {"query": query})
        idle_kb = status_kb(pid, "VmRSS")
        print(f"{args.vault}: ready in {ready:.1f} s, RSS {mb(idle_kb):.1f} MB idle", file=sys.stderr)

        def one_query(words):
            extra, took = [], []
            for _ in range(args.single):
                query = random_query(rng, words)
                before = status_kb(pid, "VmRSS")
                reset_peak(pid)
                started = time.monotonic()
                result = client.call_tool("search", {"query": query})
                took.append((time.monotonic() - started) * 1000)
                if result.get("isError"):
                    raise SystemExit(f"hostile-load.py: search failed: {result}")
                extra.append(mb(status_kb(pid, "VmHWM") - before))
            print(
                f"one {words}-word query: extra peak RSS median {statistics.median(extra):.1f} MB, "
                f"max {max(extra):.1f} MB; latency median {statistics.median(took):.0f} ms "
                f"({args.single} queries)",
                file=sys.stderr,
            )
            return extra, took

        single, single_ms = one_query(256)
        series_growth = mb(status_kb(pid, "VmRSS") - idle_kb)
        print(f"RSS after them: +{series_growth:.1f} MB over idle", file=sys.stderr)
        single32, single32_ms = one_query(32)

        rounds = []
        for round_no in range(args.rounds):
            reset_peak(pid)
            stop = time.monotonic() + args.seconds
            counts = [0] * args.clients
            errors = []

            def run(i):
                local = random.Random(args.seed * 1000 + round_no * 100 + i)
                c = McpHttp("127.0.0.1", server.port)
                while time.monotonic() < stop:
                    try:
                        c.call_tool("search", {"query": random_query(local)})
                        counts[i] += 1
                    except Exception as err:  # noqa: BLE001 -- counted and reported
                        errors.append(str(err)[:200])

            capped = []

            def watch():
                while time.monotonic() < stop:
                    if mb(status_kb(pid, "VmRSS")) > args.max_rss_mb:
                        capped.append(time.monotonic() - (stop - args.seconds))
                        return
                    time.sleep(0.05)

            watchdog = threading.Thread(target=watch)
            watchdog.start()
            threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
            for t in threads:
                t.start()
            watchdog.join()
            if capped:
                stop = time.monotonic()  # the clients finish the search they are in
            for t in threads:
                t.join()
            peak = status_kb(pid, "VmHWM")
            time.sleep(5)
            after = status_kb(pid, "VmRSS")
            rounds.append({
                "peak_rss_mb": round(mb(peak), 1),
                "rss_5s_after_mb": round(mb(after), 1),
                "requests": sum(counts),
                "errors": len(errors),
                "cut_short_after_s": round(capped[0], 1) if capped else None,
            })
            print(
                f"round {round_no + 1}: {args.clients} clients for {args.seconds:.0f} s: "
                f"{sum(counts)} searches, {len(errors)} errors, peak RSS {mb(peak):.1f} MB, "
                f"{mb(after):.1f} MB 5 s later"
                + (f" (cut short after {capped[0]:.1f} s above {args.max_rss_mb:.0f} MB)" if capped else ""),
                file=sys.stderr,
            )
            if errors:
                print(f"  first error: {errors[0]}", file=sys.stderr)
            if capped:
                break  # the memory stays resident: later rounds would start above the cap
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    summary = {
        "binary": os.path.abspath(args.bin),
        "vault": os.path.abspath(args.vault),
        "idle_rss_mb": round(mb(idle_kb), 1),
        "single_extra_mb_median": round(statistics.median(single), 1),
        "single_extra_mb_max": round(max(single), 1),
        "single_latency_ms_median": round(statistics.median(single_ms), 1),
        "single_series_growth_mb": round(series_growth, 1),
        "single32_extra_mb_median": round(statistics.median(single32), 1),
        "single32_extra_mb_max": round(max(single32), 1),
        "single32_latency_ms_median": round(statistics.median(single32_ms), 1),
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": rounds,
        "clients_peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in rounds),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    if args.check:
        failed = []
        if summary["single_extra_mb_max"] >= SINGLE_TARGET_MB:
            failed.append(f"one query: {summary['single_extra_mb_max']} MB >= {SINGLE_TARGET_MB} MB")
        if summary["clients_peak_rss_mb_median"] >= CLIENTS_TARGET_MB:
            failed.append(f"{args.clients} clients: {summary['clients_peak_rss_mb_median']} MB >= {CLIENTS_TARGET_MB} MB")
        if summary["single32_extra_mb_max"] >= SINGLE_TARGET_MB:
            failed.append(f"one 32-word query: {summary['single32_extra_mb_max']} MB >= {SINGLE_TARGET_MB} MB")
        if any(r["errors"] for r in rounds):
            failed.append("some searches failed")
        if any(r["cut_short_after_s"] is not None for r in rounds):
            failed.append(f"a round was cut short above {args.max_rss_mb:.0f} MB")
        if failed:
            raise SystemExit("hostile-load.py: " + "; ".join(failed))
        print("check: within the targets", file=sys.stderr)


if __name__ == "__main__":
    main()
