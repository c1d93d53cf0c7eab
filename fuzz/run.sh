#!/usr/bin/env bash
# Fuzzes the document parser (notes, Excalidraw drawings, canvases; and the page renderer), the
# query parser, the secret boundary (a secret planted in arbitrary Markdown never leaves:
# parse → index → tool response → page) and the PDF extractor wrapper (extraction, metadata
# heuristics, worker replies) with cargo-fuzz.
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

mkdir -p corpus/parse_note corpus/query corpus/secret_boundary corpus/extract_pdf
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

# extract_pdf: a one-page PDF with Info metadata (its xref offsets are not exact: the extractor
# rebuilds them by scanning, which is worth fuzzing too), and a PDF date and a title as text.
printf '%s\n' '%PDF-1.4' '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj' \
    '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 612 792] >> endobj' \
    '3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >> endobj' \
    '4 0 obj << /Length 60 >> stream' 'BT /F1 18 Tf 72 720 Td (Observations on Lichens) Tj ET' 'endstream endobj' \
    '5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj' \
    "6 0 obj << /Title (A Study) /Author (Ada) /CreationDate (D:20240131235959+01'00') >> endobj" \
    'xref' '0 7' 'trailer << /Size 7 /Root 1 0 R /Info 6 0 R >>' 'startxref' '0' '%%EOF' \
    > corpus/extract_pdf/one-page.pdf
printf '%s' "D:20240131235959+01'00'" > corpus/extract_pdf/date
printf '%s' 'Microsoft Word - draft3.docx' > corpus/extract_pdf/title

# No sanitizer: every line of deepvault is safe Rust (`forbid(unsafe_code)`), so AddressSanitizer
# could only find faults in dependencies' unsafe code, while a panic, an overflow, a hang or a
# memory blow-up (what these targets look for) is caught without it. Without it the smoke
# build took 12m20s instead of 14m58s, and each target runs faster.
cargo fuzz build -O -s none
# secret_boundary keeps its vault and index in a temporary folder: this one, removed afterwards.
export TMPDIR=$(mktemp -d)
trap 'rm -rf "$TMPDIR"' EXIT
# extract_pdf: the worker's decompression bound (vault::pdf::Limits, 64 MiB by default; 16 here
# keeps each run small), which pdf_oxide reads from its environment.
export PDF_OXIDE_MAX_DECOMPRESS_MB=16
for target in parse_note query secret_boundary extract_pdf; do
    echo "==> fuzzing $target for ${seconds}s"
    cargo fuzz run -O -s none "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=262144 2>&1 \
        | grep -E '^(#[0-9]+ +(DONE|INITED)|==[0-9]+==|SUMMARY|Done [0-9]+ runs)' || true
    if compgen -G "artifacts/$target/*" > /dev/null; then
        echo "FAIL: fuzzing $target found crashes:"; ls "artifacts/$target"
        exit 1
    fi
done
echo "fuzz: no findings"
