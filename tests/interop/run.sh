#!/usr/bin/env bash
# The interop suite: real third-party MCP clients against the deepvault release binary.
#
#   bash tests/interop/run.sh            # DEEPVAULT_BIN overrides target/release/deepvault
#
# Installs the pinned clients into .tools/ when missing (install.sh; nothing is built), starts one
# `deepvault serve` on corpus.example on a free loopback port with a fresh index folder, waits for
# /readyz, and runs each client check:
#
#   python-sdk   mcp 2.3.0: streamable HTTP and stdio          (python_sdk_check.py)
#   inspector    MCP Inspector 2.12 CLI: HTTP, modern era, SSE  (inspector_check.py)
#   conformance  conformance 0.1.16, the four meaningful server scenarios (conformance_check.py)
#   codex        Codex CLI 0.169 app-server, HTTP and stdio     (codex_check.py)
#   python-sdk-oauth  mcp 2.3.0 OAuthClientProvider against the built-in OAuth server: discovery,
#                DCR, authorize + PKCE, consent, token, search, fetch, refresh (python_sdk_oauth_check.py)
#   codex-oauth  `codex mcp add/login` with DCR against the built-in OAuth server, consent driven
#                by the check, then the tools listed with the token      (codex_oauth_check.py)
#
# The two OAuth checks start their own `deepvault serve --auth builtin` (oauth_server.py: passphrase
# set with `deepvault auth passphrase`, fresh index folder), so the shared server stays open.
#
# One PASS/FAIL line per client with its duration, then "N passed, N failed". Every client is a
# test: a client that fails, or a tool that cannot be installed, fails the run (no skips).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${DEEPVAULT_TOOLS_DIR:-$root/.tools}
bin=${DEEPVAULT_BIN:-$root/target/release/deepvault}
[[ "$bin" == /* ]] || bin=$PWD/$bin
export DEEPVAULT_BIN=$bin
vault=$root/corpus.example

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }

if [[ ! -x "$bin" ]]; then
    echo "FAIL  interop: no deepvault binary at $bin (build it with cargo build --release, or set DEEPVAULT_BIN)"
    exit 1
fi

work=$(mktemp -d -t dv-interop.XXXXXX)
index=$(mktemp -d -t dv-interop-index.XXXXXX)
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work" "$index"
}
trap cleanup EXIT

# Tools ----------------------------------------------------------------------------------------
t0=$(now)
if ! bash "$here/install.sh"; then
    echo "FAIL  install ($(secs "$t0" "$(now)")): the pinned clients could not be installed"
    exit 1
fi
echo "install took $(secs "$t0" "$(now)")"
export PATH="$tools/node22/node_modules/.bin:$PATH"
npm_bin=$tools/npm/node_modules/.bin
py=$tools/venv/bin/python

# Server ---------------------------------------------------------------------------------------
# The vault is only read; the index goes to a fresh temp folder. Port 0: the OS picks a free port
# and the start-up line names it.
"$bin" serve "$vault" --listen 127.0.0.1:0 --index-dir "$index" 2>"$work/server.log" &
server_pid=$!
port=$(python3 - "$work/server.log" "$server_pid" <<'EOF'
import os, re, sys, time
log, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    m = re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/mcp", open(log, errors="replace").read())
    if m:
        print(m.group(1)); sys.exit(0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("the server exited before it served")
    time.sleep(0.05)
sys.exit("no 'serving ... at http://127.0.0.1:PORT/mcp' line within 60 s")
EOF
) || { echo "FAIL  server start"; cat "$work/server.log"; exit 1; }
base=http://127.0.0.1:$port

python3 - "$base" <<'EOF' || { echo "FAIL  server readiness"; cat "$work/server.log"; exit 1; }
import sys, time, urllib.error, urllib.request
base = sys.argv[1]
deadline = time.monotonic() + 120
status = None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError as e:
        status = repr(e)
    if status == 200:
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            assert r.status == 200, r.status
        sys.exit(0)
    time.sleep(0.1)
sys.exit(f"/readyz never answered 200 within 120 s (last: {status})")
EOF
echo "deepvault serving at $base/mcp (pid $server_pid), ready"

# Clients --------------------------------------------------------------------------------------
passed=0 failed=0
summary=()
check() { # check NAME COMMAND...: run one client check, time it, keep its output
    local name=$1; shift
    local start rc=0
    start=$(now)
    echo "--- $name"
    timeout 600 "$@" >"$work/$name.log" 2>&1 || rc=$?
    cat "$work/$name.log"
    local line
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1)); line="PASS  $name ($(secs "$start" "$(now)"))"
    else
        failed=$((failed + 1)); line="FAIL  $name ($(secs "$start" "$(now)"), exit $rc)"
    fi
    echo "$line"
    summary+=("$line")
}

check python-sdk "$py" "$here/python_sdk_check.py" --url "$base/mcp" --vault "$vault" --bin "$bin"
check inspector python3 "$here/inspector_check.py" --inspector "$npm_bin/inspector" --port "$port"
check conformance python3 "$here/conformance_check.py" --conformance "$npm_bin/conformance" --url "$base/mcp"
check codex python3 "$here/codex_check.py" --codex "$npm_bin/codex" --http-url "$base/mcp" --stdio --vault "$vault" --bin "$bin"
check python-sdk-oauth "$py" "$here/python_sdk_oauth_check.py" --bin "$bin" --vault "$vault"
check codex-oauth python3 "$here/codex_oauth_check.py" --codex "$npm_bin/codex" --bin "$bin" --vault "$vault"

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "FAIL  server: deepvault exited during the run"
    failed=$((failed + 1))
fi

echo
echo "=== interop summary"
printf '%s\n' "${summary[@]}"
echo "interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
