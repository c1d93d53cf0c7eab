"""A `deepvault serve --auth builtin` of its own for the OAuth interop checks (stdlib only).

`start(bin, vault)` sets the owner passphrase with `deepvault auth passphrase` (piped on stdin, as a
script would), serves VAULT on a free loopback port with a fresh index folder, waits for /readyz and
returns an `OAuthServer`. On loopback the issuer and the resource are the bound address:
`http://127.0.0.1:PORT` and `http://127.0.0.1:PORT/mcp`.

`approve(authorize_url)` is the owner's browser: GET the consent page, read its CSRF field, POST
the passphrase with the headers a browser sends (Origin, form content type), and return the 303's
Location without following it.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PASSPHRASE = "correct horse battery staple"


class OAuthServer:
    def __init__(self, proc: subprocess.Popen, base: str, work: Path) -> None:
        self.proc, self.base, self.work = proc, base, work

    def log(self) -> str:
        return (self.work / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def start(binary: str, vault: str) -> OAuthServer:
    work = Path(tempfile.mkdtemp(prefix="dv-oauth-"))
    index = work / "index"
    passphrase = subprocess.run(
        [binary, "auth", "passphrase", vault, "--index-dir", str(index)],
        input=PASSPHRASE + "\n", capture_output=True, text=True, timeout=60,
    )
    if passphrase.returncode != 0:
        raise RuntimeError(f"deepvault auth passphrase failed: {passphrase.stderr}")
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [binary, "serve", vault, "--listen", "127.0.0.1:0", "--index-dir", str(index), "--auth", "builtin"],
        stdout=subprocess.DEVNULL, stderr=log,
    )
    server = OAuthServer(proc, "", work)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"serving .* at (http://127\.0\.0\.1:\d+)/mcp", server.log())
        if found:
            server.base = found.group(1)
            break
        if proc.poll() is not None:
            raise RuntimeError("deepvault exited during start-up:\n" + server.log())
        time.sleep(0.05)
    else:
        server.stop()
        raise RuntimeError("no 'serving ... at http://127.0.0.1:PORT/mcp' line within 60 s")
    if "built-in OAuth" not in server.log():
        server.stop()
        raise RuntimeError("the start-up banner does not name the built-in OAuth auth mode:\n" + server.log())
    while time.monotonic() < deadline + 60:
        try:
            with urllib.request.urlopen(server.base + "/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("/readyz never answered 200")


def _request(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """One HTTP request, redirects not followed: (status, headers, body text)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, path, body=body, headers=headers or {})
    answer = conn.getresponse()
    text = answer.read().decode(errors="replace")
    conn.close()
    return answer.status, answer.headers, text


def approve(authorize_url: str, passphrase: str = PASSPHRASE) -> str:
    """Approves on the consent page like a browser; returns where the 303 sends the browser."""
    status, headers, page = _request("GET", authorize_url, headers={"Accept": "text/html"})
    if status != 200:
        raise AssertionError(f"the consent page answered {status}: {page[:500]}")
    csp = headers.get("Content-Security-Policy", "")
    if "frame-ancestors 'none'" not in csp or headers.get("Cache-Control") != "no-store":
        raise AssertionError(f"the consent page lacks its strict headers: {dict(headers)}")
    if 'name="passphrase"' not in page:
        raise AssertionError(f"the consent page has no passphrase field: {page[:800]}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not csrf:
        raise AssertionError(f"the consent page has no csrf_token field: {page[:800]}")
    parts = urllib.parse.urlsplit(authorize_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    form = urllib.parse.urlencode({"csrf_token": csrf.group(1), "passphrase": passphrase, "action": "approve"})
    status, headers, text = _request(
        "POST", f"{origin}{parts.path}", body=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": origin, "Accept": "text/html"},
    )
    if status != 303:
        raise AssertionError(f"the consent form answered {status}, not 303: {text[:500]}")
    return headers["Location"]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def env_without_proxy() -> dict:
    """The environment for clients: loopback must not go through a proxy."""
    env = dict(os.environ)
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(key, None)
    return env
