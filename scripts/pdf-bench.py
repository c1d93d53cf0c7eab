#!/usr/bin/env python3
"""Indexes a folder of PDFs with `deepvault index` and reports extraction throughput and memory.

    python3 scripts/pdf-bench.py VAULT [--index-dir DIR] [--check] [--max-rss-mb 500]

Throughput is the PDFs' bytes and pages over the wall time of the whole `index` run (walk,
extraction in the worker processes, indexing, commit), so it is what a user waits for. Peak RSS
is the largest sum of the resident memory of deepvault and every process below it (the PDF
workers), sampled every 20 ms from /proc. `--check` exits 1 when the peak is above
`--max-rss-mb` (the issue's target: 500 MB for a vault with 1 GB of PDFs) or when no PDF was
indexed. The index is left in `--index-dir` (default: a temporary folder, removed), so that
benches/relevance/run.py --keep-index can reuse it.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def children(pid):
    """Every process below pid (Linux: /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                found += kids
                todo += kids
        except OSError:
            pass
    return found


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vault")
    parser.add_argument("--index-dir")
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target", "release", "deepvault")))
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--max-rss-mb", type=float, default=500)
    args = parser.parse_args()
    vault = os.path.abspath(args.vault)
    pdf_bytes = pdf_files = 0
    for folder, _, files in os.walk(vault):
        for name in files:
            if name.lower().endswith(".pdf"):
                pdf_files += 1
                pdf_bytes += os.path.getsize(os.path.join(folder, name))
    temp = None
    index_dir = args.index_dir or (temp := tempfile.mkdtemp(prefix="deepvault-pdf-bench-"))
    shutil.rmtree(index_dir, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(index_dir)), exist_ok=True)
    started = time.monotonic()
    cpu_before = os.times()
    process = subprocess.Popen([args.bin, "index", vault, "--index-dir", index_dir],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_kb = peak_parent_kb = workers_seen = 0
    seen = set()
    while process.poll() is None:
        kids = children(process.pid)
        seen.update(kids)
        parent = rss_kb(process.pid)
        peak_parent_kb = max(peak_parent_kb, parent)
        peak_kb = max(peak_kb, parent + sum(rss_kb(k) for k in kids))
        time.sleep(0.02)
    output = process.stdout.read()
    wall = time.monotonic() - started
    cpu_after = os.times()
    cpu = (cpu_after.children_user - cpu_before.children_user) + (cpu_after.children_system - cpu_before.children_system)
    workers_seen = len(seen)
    if temp:
        shutil.rmtree(temp, ignore_errors=True)
    print(output.rstrip())
    if process.returncode != 0:
        sys.exit(f"pdf-bench: deepvault index exited with {process.returncode}")
    pages = re.search(r"([\d,]+) PDF pages", output)
    pages = int(pages.group(1).replace(",", "")) if pages else None
    indexed = re.search(r"([\d,]+) PDFs?\b", output)
    indexed = int(indexed.group(1).replace(",", "")) if indexed else 0
    mb = pdf_bytes / 1e6
    print(f"\npdf-bench: {pdf_files} PDFs, {mb:.0f} MB in {vault}; {os.cpu_count()} cores")
    print(f"  indexed {indexed} PDFs in {wall:.1f} s wall, {cpu:.1f} s CPU (deepvault and its workers)")
    print(f"  throughput {mb / wall:.2f} MB/s" + (f", {pages / wall:.0f} pages/s ({pages} pages)" if pages else ""))
    print(f"  peak RSS {peak_kb / 1024:.0f} MB (deepvault and its PDF workers together; deepvault alone "
          f"{peak_parent_kb / 1024:.0f} MB; {workers_seen} worker processes seen)")
    if args.check:
        problems = []
        if peak_kb / 1024 > args.max_rss_mb:
            problems.append(f"peak RSS {peak_kb / 1024:.0f} MB is above {args.max_rss_mb:.0f} MB")
        if indexed == 0:
            problems.append("no PDF was indexed")
        for problem in problems:
            print(f"check: {problem} FAIL")
        if problems:
            sys.exit(1)
        print(f"check: peak RSS {peak_kb / 1024:.0f} MB <= {args.max_rss_mb:.0f} MB ok")


if __name__ == "__main__":
    main()
