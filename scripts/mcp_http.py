"""A minimal MCP client over streamable HTTP for the benchmark scripts (standard library only).

deepvault serves MCP statelessly, so every POST is independent: `call_tool` sends one
`tools/call` and reads the one JSON-RPC response from the SSE (or JSON) body.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


class McpHttp:
    def __init__(self, host, port, path="/mcp"):
        self.host, self.port, self.path = host, port, path
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.next_id = 0

    def request(self, method, params):
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2025-06-18",
        }
        try:
            self.conn.request("POST", self.path, body, headers)
            response = self.conn.getresponse()
            data = response.read().decode("utf-8", "replace")
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            raise
        if response.status != 200:
            raise RuntimeError(f"{method}: HTTP {response.status}: {data[:300]}")
        for line in data.splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload:
                    message = json.loads(payload)
                    if message.get("id") == self.next_id:
                        return message
        if data.lstrip().startswith("{"):
            return json.loads(data)
        raise RuntimeError(f"{method}: no response in body: {data[:300]}")

    def initialize(self):
        return self.request(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
        )

    def call_tool(self, name, arguments):
        message = self.request("tools/call", {"name": name, "arguments": arguments})
        if "error" in message:
            raise RuntimeError(f"{name}: {message['error']}")
        return message["result"]

    def search_ids(self, query):
        result = self.call_tool("search", {"query": query})
        if result.get("isError"):
            return []
        return [hit["id"] for hit in result["structuredContent"]["results"]]


class Server:
    """`deepvault serve VAULT --listen 127.0.0.1:0`, with the port read from its start-up line."""

    def __init__(self, binary, vault, index_dir, extra=()):
        self.started = time.monotonic()
        self.log = open(os.path.join(index_dir, "..", f"serve-{os.getpid()}-{time.time_ns()}.log"), "w+")
        env = dict(os.environ, DEEPVAULT_LOG=os.environ.get("DEEPVAULT_LOG", "deepvault=info"))
        # Benchmarks fire hundreds of requests a second from one client: no rate limit.
        env.setdefault("DEEPVAULT_RATE_LIMIT_PER_MINUTE", "0")
        self.process = subprocess.Popen(
            [binary, "serve", vault, "--listen", "127.0.0.1:0", "--index-dir", index_dir, *extra],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=env,
        )
        self.port = self._port()

    def _port(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.log.seek(0)
            match = re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/mcp", self.log.read())
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                self.log.seek(0)
                sys.exit(f"deepvault exited: {self.log.read()}")
            time.sleep(0.002)
        # Say what it was doing: its log so far, and where each of its threads waits.
        self.log.seek(0)
        log = self.log.read()[-4000:]
        stacks = ""
        try:
            for task in sorted(os.listdir(f"/proc/{self.process.pid}/task")):
                with open(f"/proc/{self.process.pid}/task/{task}/comm") as f:
                    name = f.read().strip()
                with open(f"/proc/{self.process.pid}/task/{task}/wchan") as f:
                    stacks += f"  {task} {name}: {f.read().strip() or 'running'}\n"
        except OSError:
            pass
        self.process.kill()
        sys.exit(f"deepvault did not start within 60 s; its log so far:\n{log}\nits threads:\n{stacks}")

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as r:
                return r.status == 200
        except urllib.error.HTTPError:
            return False
        except OSError:
            return False

    def wait_ready(self, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return time.monotonic() - self.started
            time.sleep(0.002)
        sys.exit("deepvault never became ready")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)
