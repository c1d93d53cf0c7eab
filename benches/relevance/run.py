#!/usr/bin/env python3
"""Relevance harness: how well the MCP `search` tool ranks, on SciFact (BEIR) and two question sets.

    benches/relevance/run.py                       # SciFact test split + en + zh question sets
    benches/relevance/run.py --split both          # SciFact test and train splits
    benches/relevance/run.py --only en --failures  # one part; list the questions that missed
    benches/relevance/run.py --check               # CI: non-zero exit below benches/relevance/floors.json
    benches/relevance/run.py --json out.json --keep-index /tmp/dv-relevance
    benches/relevance/run.py --model DIR           # lexical, semantic and hybrid side by side
    benches/relevance/run.py --model DIR --modes hybrid --only para

With --model (a model folder, e.g. the one scripts/fetch-test-model.sh unpacks), each corpus is
served once per mode (DEEPVAULT_SEARCH_MODE) on one index: the first server embeds the corpus
(its time and tokens/s are printed), the others reuse the stored vectors. The paraphrase set
(questions-paraphrase.tsv) runs over eight modules of the Windows Server 2025 PowerShell
reference (PARAPHRASE_MODULES); its questions share few words with their answers, and it is
split into halves a (for tuning) and b, reported separately.

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

# Published dense and hybrid figures on the SciFact test split (BEIR / MTEB leaderboards and the
# issue; recall not published with them).
DENSE_BASELINES = [
    ("bge-small-en-v1.5 dense (published)", "0.713", "-"),
    ("RRF of BM25 and bge-base (published)", "0.744", "-"),
    ("all-MiniLM-L6-v2 dense (published, MTEB)", "0.645", "-"),
]

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
    "para": ("questions-paraphrase.tsv",
             os.path.join("corpora", "windows-powershell-docs", "docset", "winserver2025-ps")),
    # Known-item questions over real PDFs: the PDFs of four TeX Live documentation packages
    # (scripts/texlive-pdfs.sh links them into a folder, installing the packages when missing).
    # Not run by default: it needs that folder, named by $DEEPVAULT_PDF_VAULT.
    "pdf": ("questions-pdf.tsv", os.environ.get("DEEPVAULT_PDF_VAULT", "texlive-pdfs")),
}
# The part of the PowerShell reference the paraphrase set runs over (everything else in the
# folder is excluded): everyday administration, 2.2 MB of text.
PARAPHRASE_MODULES = ("NetAdapter", "NetTCPIP", "DnsClient", "SmbShare", "ScheduledTasks",
                      "Defender", "PrintManagement", "BitsTransfer")
MODES = ("lexical", "semantic", "hybrid")


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


def corpus_env(name, vault):
    """Environment a corpus needs beyond the defaults (the paraphrase set's module subset)."""
    if name != "para":
        return {}
    others = sorted(e for e in os.listdir(vault) if e not in PARAPHRASE_MODULES)
    return {"DEEPVAULT_EXCLUDE": ",".join(f"{e}/**" if os.path.isdir(os.path.join(vault, e)) else e
                                          for e in others)}


class Corpus:
    """One vault served by one `deepvault serve` in one search mode, for a `with` block."""

    def __init__(self, args, name, vault, mode="lexical"):
        self.args, self.name, self.vault, self.mode = args, name, os.path.abspath(vault), mode
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
        env = corpus_env(self.name, self.vault)
        for key in ("DEEPVAULT_EMBEDDING_MODEL", "DEEPVAULT_SEARCH_MODE", "DEEPVAULT_EXCLUDE"):
            os.environ.pop(key, None)
        if self.args.model:
            env["DEEPVAULT_EMBEDDING_MODEL"] = self.args.model
            env["DEEPVAULT_SEARCH_MODE"] = self.mode
        os.environ.update(env)
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
            "documents": (body or {}).get("documents"),
            "skipped": (body or {}).get("skipped"),
        }
        what = "caught up with the kept index" if reused else "indexed"
        kinds = ", ".join(f"{n} {k}" for k, n in (self.index["documents"] or {}).items())
        print(f"[{self.name} {self.mode}] {what} {self.index['notes']} documents ({kinds}; "
              f"{self.index['skipped']} skipped): ready in {ready_s:.2f} s "
              f"(server's start-up reconcile {self.index['reconcile_ms']} ms), port {self.server.port}",
              flush=True)
        if self.args.model:
            self.index["semantic"] = self.wait_embedded()
        self.client = McpHttp("127.0.0.1", self.server.port)
        self.client.initialize()
        return self

    def wait_embedded(self, timeout=4 * 3600):
        """Waits until every note has vectors; the server's figures for the embedding it did."""
        started = time.monotonic()
        last_print = started
        while time.monotonic() - started < timeout:
            if self.server.process.poll() is not None:
                fail(f"deepvault exited with status {self.server.process.returncode}; log: {self.server.log.name}")
            _, body = self.server.readyz()
            semantic = (body or {}).get("semantic") or {}
            if semantic.get("state") == "failed":
                fail(f"semantic search failed: {semantic.get('error')}; log: {self.server.log.name}")
            # Every document the lexical index holds has vectors (a vector count of an older
            # index must not pass for the current one).
            if (semantic.get("state") == "ready" and semantic.get("embedded") == semantic.get("total")
                    and semantic.get("total") == (body or {}).get("notes")):
                break
            if time.monotonic() - last_print > 60:
                last_print = time.monotonic()
                print(f"[{self.name}] embedding: {semantic.get('embedded')} of {semantic.get('total')} notes, "
                      f"{semantic.get('rate')}/s, eta {semantic.get('eta_secs')} s", flush=True)
            time.sleep(0.2)
        else:
            fail(f"the corpus was not embedded within {timeout} s; log: {self.server.log.name}")
        waited = time.monotonic() - started
        self.server.log.flush()
        with open(self.server.log.name, encoding="utf-8", errors="replace") as f:
            log = f.read()
        match = re.search(r"embedding caught up notes=(\d+) chunks=(\d+) tokens=(\d+) embedded=\d+ "
                          r"total=\d+ took_ms=(\d+)", log)
        figures = {"model": semantic.get("model"), "notes": semantic.get("total"),
                   "vectors": semantic.get("vectors"), "waited_s": round(waited, 1)}
        if match:
            notes, chunks, tokens, took = (int(g) for g in match.groups())
            figures.update({"embedded_notes": notes, "chunks": chunks, "tokens": tokens,
                            "embedding_s": round(took / 1000, 1),
                            "tokens_per_s": round(tokens / max(took / 1000, 1e-9))})
            print(f"[{self.name}] embedded {notes} notes ({chunks} chunks, {tokens} tokens) in "
                  f"{took / 1000:.1f} s: {figures['tokens_per_s']} tokens/s", flush=True)
        else:
            figures["embedded_notes"] = 0
            print(f"[{self.name}] every note already had vectors ({semantic.get('vectors')} chunks): "
                  f"nothing embedded", flush=True)
        return figures

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
    result = {"qrels_check": check, "modes": {}}
    for mode in args.modes:
        by_mode = result["modes"][mode] = {}
        with Corpus(args, "scifact", os.path.join(folder, "notes"), mode) as corpus:
            by_mode["index"] = corpus.index
            if corpus.index["notes"] != len(doc_of_note):
                print(f"[scifact] warning: {corpus.index['notes']} notes indexed, mapping.tsv has {len(doc_of_note)}",
                      file=sys.stderr)
            for split in splits:
                queries, qrels = data[split]
                ranked, timing = corpus.run(queries)
                run = {q: [doc_of_note.get(n, n) for n in ids] for q, ids in ranked.items()}
                if args.write_run and split == "test":
                    path = args.write_run if len(args.modes) == 1 else f"{args.write_run}.{mode}"
                    with open(path, "w", encoding="utf-8") as f:
                        for qid, docs in run.items():
                            for rank, did in enumerate(docs, 1):
                                f.write(f"{qid}\t{did}\t{rank}\n")
                m = sanity.evaluate(run, qrels)
                judged = [q for q, r in qrels.items() if any(v > 0 for v in r.values())]
                miss10 = sum(1 for q in judged if not set(run.get(q, [])[:10]) & set(qrels[q]))
                miss100 = sum(1 for q in judged if not set(run.get(q, [])[:100]) & set(qrels[q]))
                by_mode[split] = {
                    "queries": len(queries),
                    "judged_queries": m["queries"],
                    "judgments": sum(len(v) for v in qrels.values()),
                    "ndcg10": round(m["nDCG@10"], 4),
                    "recall100": round(m["R@100"], 4),
                    "no_relevant_in_top10": miss10,
                    "no_relevant_in_top100": miss100,
                    "timing": timing,
                }
                print(timing_line(f"scifact {split} {mode}", timing), flush=True)
            if corpus.errors:
                print(f"[scifact] {len(corpus.errors)} searches returned isError", file=sys.stderr)
            by_mode["search_errors"] = len(corpus.errors)
    # The lexical figures where they always were.
    for key, value in result["modes"].get("lexical", {}).items():
        result.setdefault(key, value)
    out["scifact"] = result
    print_scifact(result, splits, args.modes)


def print_scifact(result, splits, modes):
    for split in splits:
        first = result["modes"][modes[0]][split]
        print(f"\nSciFact (BEIR v1.0.0), {split} split: {first['queries']} queries, {first['judgments']} judgments"
              f"{'' if split == 'test' else ' (built from claims_train.csv; for tuning)'}")
        rows = [(f"deepvault {mode} (this run, via MCP search)", f"{r['ndcg10']:.4f}", f"{r['recall100']:.4f}")
                for mode, r in ((m, result["modes"][m][split]) for m in modes)]
        if split == "test":
            rows += BASELINES
            if len(modes) > 1 or modes[0] != "lexical":
                rows += DENSE_BASELINES
        print(f"  {'system':<48} {'nDCG@10':>8} {'R@100':>8}")
        for name, ndcg, rec in rows:
            print(f"  {name:<48} {ndcg:>8} {rec:>8}")
        for mode in modes:
            r = result["modes"][mode][split]
            print(f"  {mode}: queries with no relevant doc in the top 10: {r['no_relevant_in_top10']}, "
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
            questions.append({"id": f"{name}:{line}", "kind": row["kind"], "query": row["query"],
                              "answers": answers, "half": row.get("half")})
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
    groups = {k: summary([i for i in per_q if i["kind"] == k]) for k in kinds}
    for half in sorted({i["half"] for i in per_q if i.get("half")}):
        groups[f"half {half}"] = summary([i for i in per_q if i.get("half") == half])
    return per_q, summary(per_q), groups


def run_questions(args, name, out):
    fname, vault = QUESTION_SETS[name]
    questions = load_questions(name)
    result = out[name] = {"questions_file": fname, "vault": vault, "modes": {}}
    per_mode = {}
    for mode in args.modes:
        with Corpus(args, name, os.path.join(EVAL, vault), mode) as corpus:
            ranked, timing = corpus.run([(q["id"], q["query"]) for q in questions])
            index = corpus.index
            errors = len(corpus.errors)
        print(timing_line(f"{name} {mode}", timing), flush=True)
        per_q, overall, by_kind = score_questions(questions, ranked)
        per_mode[mode] = per_q
        failures = [{"id": q["id"], "kind": q["kind"], "query": q["query"], "answers": q["answers"],
                     "rank": q["rank"], "top3": q["top3"]} for q in per_q if not q["success3"]]
        result["modes"][mode] = {"index": index, "timing": timing, "search_errors": errors,
                                 "overall": overall, "by_kind": by_kind, "failures": failures}
    for key, value in result["modes"].get("lexical", {}).items():
        result.setdefault(key, value)
    # Questions a mode answers in the top 3 that lexical does not, and the other way round.
    if "lexical" in per_mode:
        base = {q["id"]: q["success3"] for q in per_mode["lexical"]}
        for mode, per_q in per_mode.items():
            if mode != "lexical":
                result["modes"][mode]["gained"] = [q["id"] for q in per_q if q["success3"] and not base[q["id"]]]
                result["modes"][mode]["lost"] = [q["id"] for q in per_q if not q["success3"] and base[q["id"]]]
    where = vault if os.path.isabs(vault) else f"../shared/eval/{vault}"
    print(f"\nQuestions {name} ({fname} over {where}): {len(questions)} questions")
    header = "".join(f" {m + ' s@3':>14} {m + ' MRR':>14}" for m in args.modes)
    print(f"  {'kind':<10} {'n':>3}{header}")
    first = result["modes"][args.modes[0]]
    for k in list(first["by_kind"]) + ["overall"]:
        n = (first["overall"] if k == "overall" else first["by_kind"][k])["questions"]
        cells = ""
        for m in args.modes:
            s_ = result["modes"][m]["overall"] if k == "overall" else result["modes"][m]["by_kind"][k]
            cells += f" {s_['success3']:>14.3f} {s_['mrr10']:>14.3f}"
        print(f"  {k:<10} {n:>3}{cells}")
    for mode in args.modes:
        r = result["modes"][mode]
        if "gained" in r:
            print(f"  {mode} against lexical: {len(r['gained'])} questions gained {r['gained']}, "
                  f"{len(r['lost'])} lost {r['lost']}")
    if args.failures:
        for mode in args.modes:
            failures = result["modes"][mode]["failures"]
            print(f"  {mode}: not in the top 3 ({len(failures)}):")
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
    for mode in MODES:
        prefix = "" if mode == "lexical" else f"{mode}_"
        label = "" if mode == "lexical" else f" ({mode})"
        scifact = out.get("scifact", {}).get("modes", {}).get(mode, {})
        if "test" in scifact and f"scifact_{prefix}ndcg10" in floors:
            checks.append((f"SciFact test nDCG@10{label}", scifact["test"]["ndcg10"], floors[f"scifact_{prefix}ndcg10"]))
        for name in QUESTION_SETS:
            r = out.get(name, {}).get("modes", {}).get(mode)
            if r and f"{name}_{prefix}success3" in floors:
                checks.append((f"{name} success@3{label}", r["overall"]["success3"], floors[f"{name}_{prefix}success3"]))
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
    parser.add_argument("--only", help=f"comma-separated parts to run: scifact, {', '.join(QUESTION_SETS)}")
    parser.add_argument("--model", metavar="DIR", default=os.environ.get("DEEPVAULT_TEST_MODEL"),
                        help="an embedding model folder: semantic and hybrid search too "
                             "(default: $DEEPVAULT_TEST_MODEL; scripts/fetch-test-model.sh makes one)")
    parser.add_argument("--modes", default=None,
                        help="comma-separated search modes to run (default: lexical,semantic,hybrid with "
                             "--model, else lexical)")
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
    parts = args.only.split(",") if args.only else ["scifact", "en", "zh", "para"]
    if any(p not in ("scifact", *QUESTION_SETS) for p in parts):
        fail(f"--only takes scifact, {', '.join(QUESTION_SETS)}")
    if args.model:
        args.model = os.path.abspath(args.model)
        if not os.path.isfile(os.path.join(args.model, "config.json")):
            fail(f"{args.model} is not a model folder (no config.json); scripts/fetch-test-model.sh makes one")
    args.modes = (args.modes.split(",") if args.modes else list(MODES) if args.model else ["lexical"])
    if any(m not in MODES for m in args.modes):
        fail(f"--modes takes {', '.join(MODES)}")
    if any(m != "lexical" for m in args.modes) and not args.model:
        fail("semantic and hybrid modes need --model DIR (or DEEPVAULT_TEST_MODEL)")

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
        "model": args.model,
        "modes": args.modes,
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
