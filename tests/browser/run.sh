#!/usr/bin/env bash
# The browser test: drives Debian's Chromium through the web pages of a running deepvault
# (tests/browser/check.mjs) and keeps screenshots in target/browser-artifacts/.
#
# Installs only what is missing, so a re-run costs a second or two:
#   /usr/bin/chromium   Debian's `chromium` package (apt-get; needs root). Playwright never
#                       downloads a browser of its own.
#   .tools/browser      playwright-core 1.65.1 from package-lock.json (npm ci), under the
#                       machine's Node (>= 20). A stamp (hash of the pinned inputs and the Node
#                       version) marks a complete install; any other content is replaced.
#
# Then starts two `deepvault serve corpus.example` on free ports with throwaway indexes: one for the
# note and search pages and a PDF citation (Chromium's viewer must open it at the cited page), one with built-in OAuth (`--auth builtin`, its passphrase set with
# `deepvault auth passphrase`) for the consent page. Waits for /readyz, runs the check and stops
# the servers. Exits non-zero if any check fails.
#
#   DEEPVAULT_BIN        the binary (default target/release/deepvault)
#   DEEPVAULT_TOOLS_DIR  where the tools go (default .tools)
#   BROWSER_TIMEOUT      seconds the whole check may take (default 180)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${DEEPVAULT_TOOLS_DIR:-$root/.tools}
bin=${DEEPVAULT_BIN:-$root/target/release/deepvault}
artifacts=$root/target/browser-artifacts
chromium=/usr/bin/chromium
PLAYWRIGHT_VERSION=1.65.1

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
quietly() { # run a command with its output in a log, shown only if it fails
    local log=$1; shift
    if ! "$@" >"$log" 2>&1; then
        echo "install: command failed: $*" >&2
        tail -n 60 "$log" >&2
        return 1
    fi
}
# A registry can drop a connection now and then (one CI run lost `npm ci` that way), so installs
# from it get three attempts, with the failing output shown each time.
with_retries() {
    local attempt
    for attempt in 1 2 3; do
        "$@" && return 0
        [[ $attempt == 3 ]] || { echo "install: attempt $attempt failed; retrying in $((attempt * 10)) s" >&2; sleep $((attempt * 10)); }
    done
    return 1
}

mkdir -p "$tools" "$artifacts"
rm -f "$artifacts"/*.png # this run's screenshots only

# Chromium -------------------------------------------------------------------------------------
start=$(now)
if [[ -x $chromium ]]; then
    echo "install: $($chromium --version 2>/dev/null || echo chromium) present ($(took "$start"))"
else
    if [[ $(id -u) -ne 0 ]]; then
        echo "install: $chromium is missing and installing Debian's chromium needs root" >&2
        exit 1
    fi
    echo "install: chromium (apt-get) ..."
    export DEBIAN_FRONTEND=noninteractive
    with_retries quietly "$tools/browser-apt.log" apt-get update
    with_retries quietly "$tools/browser-apt.log" apt-get install -y chromium
    [[ -x $chromium ]] || { echo "install: apt-get installed chromium but $chromium is missing" >&2; exit 1; }
    echo "install: $($chromium --version) installed ($(took "$start"))"
fi

# playwright-core --------------------------------------------------------------------------------
start=$(now)
command -v node >/dev/null || { echo "install: node (>= 20) is needed on PATH" >&2; exit 1; }
dir=$tools/browser
want=$(cat "$here/package.json" "$here/package-lock.json" <(node --version) | sha256sum | cut -d' ' -f1)
if [[ -f $dir/.stamp && "$(cat "$dir/.stamp")" == "$want" ]]; then
    echo "install: playwright-core $PLAYWRIGHT_VERSION present ($(took "$start"))"
else
    echo "install: playwright-core $PLAYWRIGHT_VERSION (npm ci under node $(node --version)) ..."
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$here/package.json" "$here/package-lock.json" "$dir/"
    # playwright-core has no install script and bundles no browser; the variable is a guard.
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 with_retries quietly "$tools/browser-npm.log" \
        npm ci --no-audit --no-fund)
    got=$(node -p "require('$dir/node_modules/playwright-core/package.json').version")
    [[ $got == "$PLAYWRIGHT_VERSION" ]] || { echo "install: got playwright-core $got, want $PLAYWRIGHT_VERSION" >&2; exit 1; }
    echo "$want" >"$dir/.stamp"
    echo "install: playwright-core $got installed ($(took "$start"))"
fi

# deepvault --------------------------------------------------------------------------------------
[[ -x $bin ]] || { echo "browser: no deepvault binary at $bin (build it, or set DEEPVAULT_BIN)" >&2; exit 1; }
work=$(mktemp -d)
servers=()
cleanup() {
    local pid
    for pid in "${servers[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_log() { echo "--- server log ($1) ---" >&2; tail -n 40 "$2" >&2; }
# start_server NAME ARGS...: `deepvault serve corpus.example ARGS` on a free port with its own
# index folder; waits for its address and /readyz and sets $base and $pid.
start_server() {
    local name=$1; shift
    local log=$work/$name.log
    : >"$log" # exists before the server (started in the background) opens it
    "$bin" serve "$root/corpus.example" --listen 127.0.0.1:0 --index-dir "$work/$name-index" "$@" \
        2>>"$log" &
    pid=$!
    servers+=("$pid")
    base=
    local deadline=$((SECONDS + 30)) # for the "serving ... at http://127.0.0.1:PORT/mcp" line
    while ((SECONDS < deadline)); do
        base=$(sed -n 's|.* serving .* at \(http://127\.0\.0\.1:[0-9][0-9]*\)/mcp.*|\1|p' "$log" | head -n 1 || true)
        [[ -n $base ]] && break
        kill -0 "$pid" 2>/dev/null || { echo "browser: deepvault ($name) exited during start-up" >&2; server_log "$name" "$log"; exit 1; }
        sleep 0.1
    done
    [[ -n $base ]] || { echo "browser: deepvault ($name) did not report its address within 30 s" >&2; server_log "$name" "$log"; exit 1; }
    # /readyz, asked with Node's fetch (curl is not on every fresh machine)
    local probe='fetch(process.argv[1], {signal: AbortSignal.timeout(2000)}).then(r => console.log(r.status), () => console.log(0))'
    local ready= code
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        code=$(node -e "$probe" "$base/readyz" || true)
        [[ $code == 200 ]] && { ready=1; break; }
        kill -0 "$pid" 2>/dev/null || { echo "browser: deepvault ($name) exited before it was ready" >&2; server_log "$name" "$log"; exit 1; }
        sleep 0.1
    done
    [[ -n $ready ]] || { echo "browser: $base/readyz ($name) did not answer 200 within 30 s" >&2; server_log "$name" "$log"; exit 1; }
    echo "browser: deepvault ($name) ready at $base"
}

# The note and search pages: no auth on loopback.
start_server pages
pages_base=$base
# The consent page: built-in OAuth, its passphrase set as a person would (piped here).
passphrase="correct horse battery staple"
printf '%s\n' "$passphrase" | "$bin" auth passphrase "$root/corpus.example" --index-dir "$work/oauth-index" \
    >/dev/null 2>"$work/passphrase.log" || { echo "browser: deepvault auth passphrase failed" >&2; cat "$work/passphrase.log" >&2; exit 1; }
start_server oauth --auth builtin
oauth_base=$base

status=0
BASE_URL=$pages_base OAUTH_BASE_URL=$oauth_base OAUTH_PASSPHRASE=$passphrase PLAYWRIGHT_DIR=$dir CHROMIUM=$chromium ARTIFACTS=$artifacts PROFILE_ROOT=$work \
    timeout --kill-after=10 "${BROWSER_TIMEOUT:-180}" node "$here/check.mjs" || status=$?
if [[ $status -ne 0 ]]; then
    [[ $status -eq 124 ]] && echo "browser: the check did not finish within ${BROWSER_TIMEOUT:-180} s" >&2
    server_log pages "$work/pages.log"
    server_log oauth "$work/oauth.log"
    echo "browser: FAILED" >&2
    exit "$status"
fi
echo "browser: all checks passed"
