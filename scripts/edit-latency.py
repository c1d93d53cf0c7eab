#!/usr/bin/env python3
"""Edit -> searchable latency through MCP `search`, on a copy of a real vault.

    scripts/edit-latency.py [--vault ../shared/eval/corpora/obsidian-help] [--edits 120]
    scripts/edit-latency.py --model DIR [--mode lexical|hybrid]   # while notes are embedded
    scripts/edit-latency.py --model DIR --semantic                 # edit -> found by meaning

Copies the vault to a temporary folder (the original is never touched), starts
`deepvault serve` on it with a fresh index, waits for /readyz, then repeats: append a line with a
new unique word to a random note, and poll `search` for that word until the note is the top hit.
The latency of one edit is from just before the write to the response that shows it. Prints
p50, p95 and max in milliseconds. Targets on the 2-core machine: p50 <= 200 ms, p95 <= 500 ms.

With --model the server embeds the vault in the background (from the moment it starts; on a
large vault that lasts the whole run), so the figures show what embedding costs the lexical
path. With --semantic the server searches by meaning only (search_mode = semantic), and each
edit rewrites a random note as `# Note K` and a new sentence; the edit counts as searchable once
`search` for exactly that text (what the note's one chunk is embedded from) returns the note
first: the time from the write to its re-embedded vectors being searched.
"""

import argparse
import json
import os
import random
import shutil
import string
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_http import McpHttp, Server, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vault", default=os.path.join(ROOT, "../shared/eval/corpora/obsidian-help"))
    parser.add_argument("--edits", type=int, default=120)
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault")))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--model", help="an embedding model folder: semantic search on")
    parser.add_argument("--mode", choices=["lexical", "semantic", "hybrid"], help="DEEPVAULT_SEARCH_MODE")
    parser.add_argument("--semantic", action="store_true",
                        help="measure edit -> found by meaning (needs --model; search_mode = semantic)")
    args = parser.parse_args()
    for key in ("DEEPVAULT_EMBEDDING_MODEL", "DEEPVAULT_SEARCH_MODE"):
        os.environ.pop(key, None)
    if args.semantic and not args.model:
        sys.exit("--semantic needs --model")
    if args.model:
        os.environ["DEEPVAULT_EMBEDDING_MODEL"] = os.path.abspath(args.model)
    if args.semantic:
        args.mode = "semantic"
    if args.mode:
        os.environ["DEEPVAULT_SEARCH_MODE"] = args.mode
    words = ["river", "lantern", "copper", "meadow", "violin", "harbor", "glacier", "orchard",
             "pepper", "saddle", "thunder", "velvet", "walnut", "canyon", "marble", "falcon"]

    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="dv-edit-latency-")
    try:
        vault = os.path.join(work, "vault")
        shutil.copytree(args.vault, vault, symlinks=True)
        index = os.path.join(work, "index")
        os.mkdir(index)
        notes = []
        for folder, dirs, files in os.walk(vault):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            notes += [os.path.join(folder, f) for f in files if f.endswith(".md") and not f.startswith(".")]
        server = Server(args.bin, vault, index)
        ready = server.wait_ready()
        print(f"{len(notes)} notes, first index ready in {ready:.2f} s", file=sys.stderr)
        client = McpHttp("127.0.0.1", server.port)
        client.initialize()
        latencies = []
        semantic_state = None
        for edit in range(args.edits):
            path = rng.choice(notes)
            note_id = os.path.relpath(path, vault).replace(os.sep, "/")
            if args.semantic:
                sentence = " ".join(rng.choice(words) for _ in range(8)) + "."
                query = f"Note {edit}\n{sentence}"
                start = time.monotonic()
                with open(path, "w", encoding="utf-8") as f:
                    f.write(f"# Note {edit}\n{sentence}\n")
            else:
                query = "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(10))
                start = time.monotonic()
                with open(path, "a", encoding="utf-8") as f:
                    f.write(f"\nEdited line {edit}: {query}\n")
            while True:
                ids = client.search_ids(query)
                if ids[:1] == [note_id]:
                    break
                if time.monotonic() - start > 60:
                    sys.exit(f"edit {edit} of {note_id} not searchable after 60 s")
            latencies.append((time.monotonic() - start) * 1000)
        if args.model:
            import urllib.request
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=5) as r:
                semantic_state = json.loads(r.read()).get("semantic")
        server.stop()
        figures = {
            "notes": len(notes),
            "edits": len(latencies),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "max_ms": round(max(latencies), 1),
            "model": args.model and os.path.basename(os.path.abspath(args.model)),
            "mode": args.mode,
            "what": "found by meaning (semantic search)" if args.semantic else "found by a new word",
            "semantic_at_end": semantic_state and {k: semantic_state.get(k) for k in ("state", "embedded", "total")},
            "loadavg": os.getloadavg(),
        }
        print(json.dumps(figures))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
