#!/usr/bin/env bash
# A folder of real PDFs that nobody here wrote: the PDFs of four Debian TeX Live documentation
# packages (1,712 files, 641 MB, 38k pages from pdfTeX, LuaTeX, XeTeX, Ghostscript, Distiller,
# Word, cairo, …). Installs the packages with apt-get when they are missing, then hard-links
# (or copies) their PDFs into DIR, keeping the paths below /usr/share/doc/texlive-doc, so that
# benches/relevance/questions-pdf.tsv names them as `latex/dramatist/dramatist.pdf`. Prints DIR.
#
#   scripts/texlive-pdfs.sh [DIR]     # default DIR: target/texlive-pdfs
#
# Used by .ci/run (DEEPVAULT_PDF_VAULT=$(scripts/texlive-pdfs.sh) benches/relevance/run.py
# --only pdf) and scripts/pdf-bench.py. `cargo test` never needs it: its tests write their PDFs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/target/texlive-pdfs}
packages=(texlive-latex-base-doc texlive-publishers-doc texlive-humanities-doc texlive-pictures-doc)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]} (about 560 MB to download)" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
base=/usr/share/doc/texlive-doc
rm -rf "$dest"
mkdir -p "$dest"
count=0
while IFS= read -r file; do
  case "$file" in "$base"/*.pdf) ;; *) continue ;; esac
  [ -f "$file" ] && [ ! -L "$file" ] || continue
  relative=${file#"$base"/}
  mkdir -p "$dest/$(dirname "$relative")"
  ln "$file" "$dest/$relative" 2>/dev/null || cp "$file" "$dest/$relative"
  count=$((count + 1))
done < <(dpkg -L "${packages[@]}" | sort -u)
echo "linked $count PDFs ($(du -sh "$dest" | cut -f1)) into $dest" >&2
echo "$dest"
