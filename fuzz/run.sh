#!/usr/bin/env bash
# Fuzzes the document parser (notes, Excalidraw drawings, canvases; and the page renderer), the
# query parser, and the secret boundary (a secret planted in arbitrary Markdown never leaves:
# parse → index → tool response → page) with cargo-fuzz.
#
#   fuzz/run.sh [SECONDS]      # each target for SECONDS (default 30: the CI smoke run)
#
# Installs cargo-fuzz (pinned) when missing. cargo-fuzz needs nightly features; this machine has
# only a stable toolchain, so RUSTC_BOOTSTRAP=1 enables them. Seeds come from corpus.example and
# the relevance question sets; findings land in fuzz/artifacts/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -q '0\.13\.2'; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

mkdir -p corpus/parse_note corpus/query corpus/secret_boundary
# parse_note reads its first byte as the document kind (0 Markdown, 1 Excalidraw, 2 Canvas).
find ../corpus.example \( -name '*.md' -o -name '*.canvas' \) -print0 | while IFS= read -r -d '' f; do
    case $f in *.canvas) kind='\x02' ;; *.excalidraw.md) kind='\x01' ;; *) kind='\x00' ;; esac
    { printf "$kind"; cat "$f"; } > "corpus/parse_note/$(basename "$f")"
done
# The first three bytes choose the secret's kind, separator and place; the rest is the note.
find ../corpus.example -name '*.md' | while IFS= read -r note; do
    { printf '\x01\x01\x20'; cat "$note"; } > "corpus/secret_boundary/$(basename "$note")"
done
for tsv in ../benches/relevance/questions-en.tsv ../benches/relevance/questions-zh.tsv; do
    awk -F'\t' 'NR > 1 && NR <= 41 { print $2 }' "$tsv" | while IFS= read -r line; do
        printf '%s' "$line" > "corpus/query/$(printf '%s' "$line" | sha1sum | cut -c1-16)"
    done
done

cargo fuzz build -O
# secret_boundary keeps its vault and index in a temporary folder: this one, removed afterwards.
export TMPDIR=$(mktemp -d)
trap 'rm -rf "$TMPDIR"' EXIT
for target in parse_note query secret_boundary; do
    echo "==> fuzzing $target for ${seconds}s"
    cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=262144 2>&1 \
        | grep -E '^(#[0-9]+ +(DONE|INITED)|==[0-9]+==|SUMMARY|Done [0-9]+ runs)' || true
    if compgen -G "artifacts/$target/*" > /dev/null; then
        echo "FAIL: fuzzing $target found crashes:"; ls "artifacts/$target"
        exit 1
    fi
done
echo "fuzz: no findings"
