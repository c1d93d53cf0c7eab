#!/usr/bin/env bash
# A folder of real PDFs that nobody here wrote: the PDFs of four Debian TeX Live documentation
# packages (1,712 files, 641 MB, 38k pages from pdfTeX, LuaTeX, XeTeX, Ghostscript, Distiller,
# Word, cairo, …). Installs the packages with apt-get when they are missing, then hard-links
# (or copies) their PDFs into DIR, keeping the paths below /usr/share/doc/texlive-doc, so that
# benches/relevance/questions-pdf.tsv names them as `latex/dramatist/dramatist.pdf`. Prints DIR.
#
#   scripts/texlive-pdfs.sh [DIR]             # default DIR: target/texlive-pdfs
#   scripts/texlive-pdfs.sh --gigabyte [DIR]  # default DIR: target/texlive-pdfs-1gb
#
# --gigabyte adds texlive-latex-extra-doc (about 1.3 GB more to download) and its PDFs in
# `dpkg -L` order while the total stays within 1 GiB: 3,688 PDFs, 1,074 MB, 67,518 pages, the
# vault of the issue's memory target (scripts/pdf-bench.py --check: at most 500 MB RSS).
#
# Used by .ci/run (DEEPVAULT_PDF_VAULT=$(scripts/texlive-pdfs.sh) benches/relevance/run.py
# --only pdf) and scripts/pdf-bench.py. `cargo test` never needs it: its tests write their PDFs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gigabyte=false
if [ "${1:-}" = --gigabyte ]; then
  gigabyte=true
  shift
fi
packages=(texlive-latex-base-doc texlive-publishers-doc texlive-humanities-doc texlive-pictures-doc)
extra=()
if $gigabyte; then
  dest=${1:-$root/target/texlive-pdfs-1gb}
  extra=(texlive-latex-extra-doc)
else
  dest=${1:-$root/target/texlive-pdfs}
fi
missing=()
for package in "${packages[@]}" "${extra[@]}"; do
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
total=0
limit=$((1 << 30))
link() {  # FILE: link it under $dest unless it is not a regular PDF or the total would pass 1 GiB
  local file=$1 relative size
  case "$file" in "$base"/*.pdf) ;; *) return 0 ;; esac
  [ -f "$file" ] && [ ! -L "$file" ] || return 0
  size=$(stat -c %s "$file")
  [ $((total + size)) -le $limit ] || return 1
  relative=${file#"$base"/}
  mkdir -p "$dest/$(dirname "$relative")"
  ln "$file" "$dest/$relative" 2>/dev/null || cp "$file" "$dest/$relative"
  count=$((count + 1))
  total=$((total + size))
}
while IFS= read -r file; do
  link "$file"
done < <(dpkg -L "${packages[@]}" | sort -u)
if $gigabyte; then
  while IFS= read -r file; do
    link "$file" || break
  done < <(dpkg -L "${extra[@]}")
fi
echo "linked $count PDFs ($(du -sh "$dest" | cut -f1)) into $dest" >&2
echo "$dest"
