#!/usr/bin/env python3
"""Relevance harness: how well the MCP `search` tool ranks, on SciFact (BEIR) and two question sets.

    benches/relevance/run.py                       # SciFact test split + en + zh question sets
    benches/relevance/run.py --split both          # SciFact test and train splits
    benches/relevance/run.py --only en --failures  # one part; list the questions that missed
    benches/relevance/run.py --check               # CI: non-zero exit below benches/relevance/floors.json
    benches/relevance/run.py --json out.json --keep-index /tmp/dv-relevance

Every query goes through the real server path: `deepvault serve VAULT --listen 127.0.0.1:0
--index-dir DIR` (with DEEPVAULT_MAX_RESULTS=100) and the MCP `search` tool over HTTP, one
server per corpus, stopped at the end (also on failure or Ctrl-C).

Data is read at run time from ../shared/eval (relative to the repository root), never copied:

- SciFact: beir-scifact/notes is the vault; the test split is queries.tsv + qrels.tsv; the train
  split is built from source/scifact.zip (claims_train.csv): queries are the claims, qrels are
  every (claim id, cited doc id) pair with grade 1 -- the same construction applied to
  claims_validation.csv reproduces the shipped test qrels.tsv exactly (checked on every run).
  nDCG@10 and R@100 come from bm25_sanity.py's own functions (imported, not copied).
- Question sets: questions-en.tsv over corpora/obsidian-help/en, questions-zh.tsv over
  corpora/pkmer-docs-zh; columns kind, query, answer (several ids separated by " | ").
  success@3 = an answer in the top 3; MRR@10 = mean of 1/rank of the first answer in the top 10.
  A question's id is its file's short name and line number, e.g. en:12.

Tuning happens on the SciFact train split; the test split is for reporting.
"""

import argparse
import csv
import datetime
import importlib.util
import io
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.request
import zipfile

sys.dont_write_bytecode = True      # no __pycache__ in scripts/ or ../shared/eval
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from mcp_http import McpHttp, Server, percentile  # noqa: E402

EVAL = os.environ.get("DEEPVAULT_EVAL_DIR", os.path.join(ROOT, "..", "shared", "eval"))
FLOORS = os.path.join(HERE, "floors.json")
MAX_RESULTS = 100
KINDS = ("natural", "keywords", "typo", "absent", "long")

# Published BM25 figures on the SciFact test split (../shared/eval/README.md, section 2), and
# qmd's figure as reported in its issue tracker. None = not published.
# Kept as strings: printed with the precision they were published with.
BASELINES = [
    ("Anserini BM25 flat (Lucene, k1=0.9 b=0.4)", "0.6789", "0.9253"),
    ("Anserini BM25 multifield", "0.6647", "0.9076"),
    ("BEIR paper BM25 (Elasticsearch)", "0.665", "-"),
    ("qmd BM25 (per the qmd issue)", "0.047", "-"),
]

QUESTION_SETS = {
    "en": ("questions-en.tsv", os.path.join("corpora", "obsidian-help", "en")),
    "zh": ("questions-zh.tsv", os.path.join("corpora", "pkmer-docs-zh")),
}


def fail(message):
    raise SystemExit(f"run.py: {message}")


# --- the metric code of bm25_sanity.py, imported from ../shared/eval -------------------------

def load_bm25_sanity():
    path = os.path.join(EVAL, "bm25_sanity.py")
    if not os.path.isfile(path):
        fail(f"{path} not found (the eval data lives in ../shared/eval; set DEEPVAULT_EVAL_DIR to move it)")
    spec = importlib.util.spec_from_file_location("bm25_sanity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)     # module level is stdlib only; bm25s is imported in main()
    return module


# --- the server --------------------------------------------------------------------------------

class Deepvault(Server):
    """mcp_http.Server that never leaves its process behind, even when start-up fails."""

    def _port(self):
        try:
            return super()._port()
        except BaseException:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.log.close()
            raise

    def readyz(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, None
        except OSError:
            return None, None

    def wait_until_ready(self, timeout=1800):
        """Seconds from spawning the process to /readyz 200 (polled every 20 ms, to leave the CPU
        to the indexer), and the /readyz body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                fail(f"deepvault exited with status {self.process.returncode}; log: {self.log.name}")
            status, body = self.readyz()
            if status == 200:
                return time.monotonic() - self.started, body
            time.sleep(0.02)
        fail(f"deepvault was not ready after {timeout} s; log: {self.log.name}")

    def reconcile_ms(self):
        """The server's own figure for the start-up index (its `start-up reconcile done` line)."""
        self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            match = re.search(r"start-up reconcile done .*?took_ms=(\d+)", f.read())
        return int(match.group(1)) if match else None


class Corpus:
    """One vault served by one `deepvault serve`, for the length of a `with` block."""

    def __init__(self, args, name, vault):
        self.args, self.name, self.vault = args, name, os.path.abspath(vault)
        if not os.path.isdir(self.vault):
            fail(f"vault {self.vault} not found")
        self.server = None
        self.errors = []

    def __enter__(self):
        work = os.path.join(self.args.work_dir, self.name)
        index = os.path.join(work, "index")
        reused = os.path.isdir(index) and bool(os.listdir(index))
        os.makedirs(index, exist_ok=True)     # Server writes its log next to the index dir
        os.environ["DEEPVAULT_MAX_RESULTS"] = str(MAX_RESULTS)
        self.server = Deepvault(self.args.bin, self.vault, index)
        try:
            return self._start(reused)
        except BaseException as e:        # __exit__ does not run when __enter__ raises
            self.__exit__(type(e), e, None)
            raise

    def _start(self, reused):
        ready_s, body = self.server.wait_until_ready()
        self.index = {
            "reused_index": reused,
            "ready_s": round(ready_s, 3),
            "reconcile_ms": self.server.reconcile_ms(),
            "notes": (body or {}).get("notes"),
            "skipped": (body or {}).get("skipped"),
        }
        what = "caught up with the kept index" if reused else "indexed"
        print(f"[{self.name}] {what} {self.index['notes']} notes: ready in {ready_s:.2f} s "
              f"(server's start-up reconcile {self.index['reconcile_ms']} ms), port {self.server.port}",
              flush=True)
        self.client = McpHttp("127.0.0.1", self.server.port)
        self.client.initialize()
        return self

    def __exit__(self, kind, value, traceback):
        if self.server is not None:
            log = self.server.log.name
            self.server.stop()
            if kind is None and self.args.keep_index:
                os.remove(log)       # a clean run leaves nothing but the index behind
            elif kind is not None and kind is not KeyboardInterrupt:
                with open(log, encoding="utf-8", errors="replace") as f:
                    tail = f.read().splitlines()[-20:]
                print(f"[{self.name}] the server's log ended with:", *tail, sep="\n  ", file=sys.stderr)
        return False

    def search(self, query):
        result = self.client.call_tool("search", {"query": query})
        if result.get("isError"):
            self.errors.append((query, result.get("content")))
            return []
        return [hit["id"] for hit in result["structuredContent"]["results"]]

    def run(self, queries):
        """queries: [(qid, text)] -> ({qid: [note id, ...]}, timing)."""
        ranked, latencies = {}, []
        start = time.monotonic()
        for qid, text in queries:
            t = time.monotonic()
            ranked[qid] = self.search(text)
            latencies.append(time.monotonic() - t)
        wall = time.monotonic() - start
        timing = {
            "queries": len(queries),
            "seconds": round(wall, 3),
            "qps": round(len(queries) / wall, 1) if wall else None,
            "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        }
        return ranked, timing


def timing_line(name, t):
    return (f"[{name}] {t['queries']} queries in {t['seconds']:.2f} s: {t['qps']} queries/s "
            f"(p50 {t['p50_ms']} ms, p95 {t['p95_ms']} ms, one at a time)")


# --- SciFact ------------------------------------------------------------------------------------

def read_zip_csv(zpath, member):
    with zipfile.ZipFile(zpath) as z, z.open(member) as f:
        return list(csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", newline="")))


def claims_to_split(rows):
    """BEIR's construction: one query per claim id (its claim text), and a grade-1 judgment for
    every doc in cited_doc_ids (a numpy-printed list, e.g. "[ 5152028 11705328]")."""
    queries, qrels = {}, {}
    for row in rows:
        qid = row["id"]
        queries.setdefault(qid, row["claim"])
        for did in re.findall(r"\d+", row["cited_doc_ids"]):
            qrels.setdefault(qid, {})[did] = 1
    return list(queries.items()), qrels


def qrels_pairs(qrels):
    return {(q, d, r) for q, docs in qrels.items() for d, r in docs.items()}


def scifact_data(folder, sanity, splits):
    zpath = os.path.join(folder, "source", "scifact.zip")
    shipped = sanity.load_qrels(os.path.join(folder, "qrels.tsv"))
    # The train qrels are trusted because the same construction on the validation claims (BEIR's
    # "test" split) gives the shipped qrels.tsv exactly; the evidence_doc_id column does not.
    validation = read_zip_csv(zpath, "claims_validation.csv")
    _, rebuilt = claims_to_split(validation)
    evidence_only = {(r["id"], r["evidence_doc_id"], 1) for r in validation if r["evidence_doc_id"].strip()}
    check = {
        "shipped_pairs": len(qrels_pairs(shipped)),
        "cited_doc_ids_pairs": len(qrels_pairs(rebuilt)),
        "cited_doc_ids_identical": qrels_pairs(rebuilt) == qrels_pairs(shipped),
        "evidence_doc_id_pairs": len(evidence_only),
        "evidence_doc_id_identical": evidence_only == qrels_pairs(shipped),
    }
    if not check["cited_doc_ids_identical"]:
        fail("qrels rebuilt from claims_validation.csv (cited_doc_ids) differ from qrels.tsv; "
             "the train qrels cannot be trusted")
    data = {}
    if "test" in splits:
        queries = [l.rstrip("\n").split("\t", 1) for l in open(os.path.join(folder, "queries.tsv"), encoding="utf-8")]
        data["test"] = ([tuple(q) for q in queries], shipped)
    if "train" in splits:
        data["train"] = claims_to_split(read_zip_csv(zpath, "claims_train.csv"))
    return data, check


def run_scifact(args, sanity, out):
    folder = os.path.join(EVAL, "beir-scifact")
    splits = ["test", "train"] if args.split == "both" else [args.split]
    data, check = scifact_data(folder, sanity, splits)
    print(f"[scifact] qrels check: cited_doc_ids of claims_validation.csv -> {check['cited_doc_ids_pairs']} "
          f"pairs, identical to qrels.tsv ({check['shipped_pairs']}); evidence_doc_id alone -> "
          f"{check['evidence_doc_id_pairs']} pairs ({'' if check['evidence_doc_id_identical'] else 'not '}identical)",
          flush=True)
    doc_of_note = {}
    for line in open(os.path.join(folder, "mapping.tsv"), encoding="utf-8"):
        did, rel = line.rstrip("\n").split("\t")
        doc_of_note[rel[len("notes/"):] if rel.startswith("notes/") else rel] = did
    result = {"qrels_check": check}
    with Corpus(args, "scifact", os.path.join(folder, "notes")) as corpus:
        result["index"] = corpus.index
        if corpus.index["notes"] != len(doc_of_note):
            print(f"[scifact] warning: {corpus.index['notes']} notes indexed, mapping.tsv has {len(doc_of_note)}",
                  file=sys.stderr)
        for split in splits:
            queries, qrels = data[split]
            ranked, timing = corpus.run(queries)
            run = {q: [doc_of_note.get(n, n) for n in ids] for q, ids in ranked.items()}
            if args.write_run and split == "test":
                with open(args.write_run, "w", encoding="utf-8") as f:
                    for qid, docs in run.items():
                        for rank, did in enumerate(docs, 1):
                            f.write(f"{qid}\t{did}\t{rank}\n")
            m = sanity.evaluate(run, qrels)
            judged = [q for q, r in qrels.items() if any(v > 0 for v in r.values())]
            miss10 = sum(1 for q in judged if not set(run.get(q, [])[:10]) & set(qrels[q]))
            miss100 = sum(1 for q in judged if not set(run.get(q, [])[:100]) & set(qrels[q]))
            result[split] = {
                "queries": len(queries),
                "judged_queries": m["queries"],
                "judgments": sum(len(v) for v in qrels.values()),
                "ndcg10": round(m["nDCG@10"], 4),
                "recall100": round(m["R@100"], 4),
                "no_relevant_in_top10": miss10,
                "no_relevant_in_top100": miss100,
                "timing": timing,
            }
            print(timing_line(f"scifact {split}", timing), flush=True)
        if corpus.errors:
            print(f"[scifact] {len(corpus.errors)} searches returned isError", file=sys.stderr)
        result["search_errors"] = len(corpus.errors)
    out["scifact"] = result
    print_scifact(result, splits)


def print_scifact(result, splits):
    for split in splits:
        r = result[split]
        print(f"\nSciFact (BEIR v1.0.0), {split} split: {r['queries']} queries, {r['judgments']} judgments"
              f"{'' if split == 'test' else ' (built from claims_train.csv; for tuning)'}")
        rows = [("deepvault (this run, via MCP search)", f"{r['ndcg10']:.4f}", f"{r['recall100']:.4f}")]
        if split == "test":
            rows += BASELINES
        print(f"  {'system':<44} {'nDCG@10':>8} {'R@100':>8}")
        for name, ndcg, rec in rows:
            print(f"  {name:<44} {ndcg:>8} {rec:>8}")
        print(f"  queries with no relevant doc in the top 10: {r['no_relevant_in_top10']}, "
              f"in the top 100: {r['no_relevant_in_top100']}")
        if split != "test":
            print("  (the published baselines are for the test split only)")


# --- question sets ------------------------------------------------------------------------------

def nfc(s):
    return unicodedata.normalize("NFC", s)


def load_questions(name):
    fname, _ = QUESTION_SETS[name]
    questions = []
    with open(os.path.join(HERE, fname), encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for line, row in enumerate(reader, 2):
            answers = [nfc(a.strip()) for a in row["answer"].split(" | ") if a.strip()]
            questions.append({"id": f"{name}:{line}", "kind": row["kind"], "query": row["query"], "answers": answers})
    return questions


def score_questions(questions, ranked):
    per_q = []
    for q in questions:
        ids = [nfc(i) for i in ranked[q["id"]]]
        rank = next((i + 1 for i, d in enumerate(ids) if d in q["answers"]), None)
        per_q.append({**q, "rank": rank, "top3": ids[:3],
                      "success3": rank is not None and rank <= 3,
                      "rr10": 1 / rank if rank is not None and rank <= 10 else 0.0})

    def summary(items):
        n = len(items)
        return {"questions": n,
                "success3": round(sum(i["success3"] for i in items) / n, 4) if n else None,
                "mrr10": round(sum(i["rr10"] for i in items) / n, 4) if n else None}

    kinds = [k for k in KINDS if any(i["kind"] == k for i in per_q)]
    kinds += sorted({i["kind"] for i in per_q} - set(kinds))
    return per_q, summary(per_q), {k: summary([i for i in per_q if i["kind"] == k]) for k in kinds}


def run_questions(args, name, out):
    fname, vault = QUESTION_SETS[name]
    questions = load_questions(name)
    with Corpus(args, name, os.path.join(EVAL, vault)) as corpus:
        ranked, timing = corpus.run([(q["id"], q["query"]) for q in questions])
        index = corpus.index
        errors = len(corpus.errors)
    print(timing_line(name, timing), flush=True)
    per_q, overall, by_kind = score_questions(questions, ranked)
    failures = [{"id": q["id"], "kind": q["kind"], "query": q["query"], "answers": q["answers"],
                 "rank": q["rank"], "top3": q["top3"]} for q in per_q if not q["success3"]]
    out[name] = {"questions_file": fname, "vault": vault, "index": index, "timing": timing,
                 "search_errors": errors, "overall": overall, "by_kind": by_kind, "failures": failures}
    print(f"\nQuestions {name} ({fname} over ../shared/eval/{vault}): {overall['questions']} questions")
    print(f"  {'kind':<10} {'n':>3} {'success@3':>10} {'MRR@10':>8}")
    for k, s in list(by_kind.items()) + [("overall", overall)]:
        print(f"  {k:<10} {s['questions']:>3} {s['success3']:>10.3f} {s['mrr10']:>8.3f}")
    if args.failures:
        print(f"  not in the top 3 ({len(failures)}):")
        for f in failures:
            rank = f"rank {f['rank']}" if f["rank"] else f"not in the top {MAX_RESULTS}"
            query = f["query"] if len(f["query"]) <= 90 else f["query"][:87] + "..."
            print(f"  - {f['id']} [{f['kind']}] {query}")
            print(f"      expected {' | '.join(f['answers'])}: {rank}")
            for i, hit in enumerate(f["top3"], 1):
                print(f"      {i}. {hit}")


# --- floors -------------------------------------------------------------------------------------

def check_floors(out):
    try:
        with open(FLOORS, encoding="utf-8") as f:
            floors = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {FLOORS}: {e}")
    checks = []
    if "scifact" in out:
        checks.append(("SciFact test nDCG@10", out["scifact"]["test"]["ndcg10"], floors["scifact_ndcg10"]))
    if "en" in out:
        checks.append(("en success@3", out["en"]["overall"]["success3"], floors["en_success3"]))
    if "zh" in out:
        checks.append(("zh success@3", out["zh"]["overall"]["success3"], floors["zh_success3"]))
    below = [(name, value, floor) for name, value, floor in checks if value < floor]
    print()
    for name, value, floor in checks:
        print(f"check: {name} {value:.4f} {'<' if value < floor else '>='} floor {floor} "
              f"{'FAIL' if value < floor else 'ok'}")
    out["check"] = {"floors": floors, "failed": [n for n, _, _ in below]}
    return below


# --- main ---------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--only", choices=["scifact", "en", "zh"], help="run one part only")
    parser.add_argument("--split", choices=["test", "train", "both"], default="test",
                        help="SciFact split(s): test (report), train (tune) or both; default test")
    parser.add_argument("--failures", action="store_true", help="list the questions whose answer is not in the top 3")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a figure is below benches/relevance/floors.json (SciFact on the test split)")
    parser.add_argument("--json", metavar="FILE", help="write all figures to FILE")
    parser.add_argument("--keep-index", metavar="DIR",
                        help="keep the indexes in DIR/<corpus>/index and reuse them next time (default: a fresh temp dir)")
    parser.add_argument("--write-run", metavar="FILE",
                        help="write the SciFact test run (query-id, doc-id, rank) for bm25_sanity.py --score-run")
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target", "release", "deepvault")),
                        help="the deepvault binary (default: $DEEPVAULT_BIN, else target/release/deepvault)")
    args = parser.parse_args()
    if args.check and args.split == "train":
        args.split = "both"            # the floor is on the test split
    if not os.access(args.bin, os.X_OK):
        fail(f"no deepvault binary at {args.bin} (build it with cargo build --release, or set DEEPVAULT_BIN)")
    parts = [args.only] if args.only else ["scifact", "en", "zh"]

    # SIGTERM (e.g. from CI) unwinds like Ctrl-C, so every server is stopped.
    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    temp = None
    if args.keep_index:
        args.work_dir = os.path.abspath(args.keep_index)
        os.makedirs(args.work_dir, exist_ok=True)
    else:
        temp = args.work_dir = tempfile.mkdtemp(prefix="deepvault-relevance-")

    version = (subprocess.run([args.bin, "--version"], capture_output=True, text=True).stdout.strip().splitlines() or ["?"])[0]
    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "binary": os.path.abspath(args.bin),
        "binary_version": version,
        "binary_mtime": datetime.datetime.fromtimestamp(os.path.getmtime(args.bin), datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "max_results": MAX_RESULTS,
    }
    print(f"{version} ({args.bin}); eval data {os.path.normpath(EVAL)}; work dir {args.work_dir}", flush=True)
    started = time.monotonic()
    try:
        sanity = load_bm25_sanity()
        for part in parts:
            if part == "scifact":
                run_scifact(args, sanity, out)
            else:
                run_questions(args, part, out)
            print(flush=True)
        below = check_floors(out) if args.check else []
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    out["total_seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=2)
            f.write("\n")
    print(f"total {out['total_seconds']} s")
    if below:
        for name, value, floor in below:
            print(f"relevance check failed: {name} is {value:.4f}, below the floor {floor} "
                  f"in {os.path.relpath(FLOORS, ROOT)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
