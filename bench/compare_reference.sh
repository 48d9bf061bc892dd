#!/usr/bin/env bash
# Runs `enas bench` and the PyTorch reference children (../shared/reference, or
# $ENAS_REFERENCE_DIR) side by side with equal threads and batch sizes, and prints one JSON object
# with both throughputs and their ratios. Needs Debian's python3-torch (/usr/bin/python3).
#   bash bench/compare_reference.sh [--threads N] [--steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); steps=5; warmup=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
ref=${ENAS_REFERENCE_DIR:-../shared/reference}
[ -f "$ref/micro_fixed.py" ] || { echo "no reference scripts in $ref (set ENAS_REFERENCE_DIR)" >&2; exit 1; }
py=/usr/bin/python3
arc12=$($py -c "import sys; sys.path.insert(0,'$ref'); import macro_fixed as m; print(' '.join(m.MACRO_FINAL_ARC.split()[:78]))")
ours_micro=$(./build/enas bench --only micro --threads "$threads" --steps "$steps" --warmup "$warmup" 2>/dev/null | tail -1)
ours_macro=$(./build/enas bench --only macro --threads "$threads" --steps "$steps" --warmup "$warmup" 2>/dev/null | tail -1)
ours_shared=$(./build/enas bench --only shared --threads "$threads" --steps "$steps" --warmup "$warmup" 2>/dev/null | tail -1)
common="--bench --threads $threads --steps $steps --warmup $warmup"
ref_micro=$($py "$ref/micro_fixed.py" $common --layers 6 --filters 20 --batch 160 --keep-prob 0.9 --l2 1e-4)
ref_micro_cl=$($py "$ref/micro_fixed.py" $common --layers 6 --filters 20 --batch 160 --keep-prob 0.9 --l2 1e-4 --channels-last)
ref_macro=$($py "$ref/macro_fixed.py" $common --layers 12 --filters 36 --batch 128 --keep-prob 0.9 --l2 2.5e-4 --arc "$arc12")
ref_macro_cl=$($py "$ref/macro_fixed.py" $common --layers 12 --filters 36 --batch 128 --keep-prob 0.9 --l2 2.5e-4 --arc "$arc12" --channels-last)
$py - "$ours_shared" "$ours_micro" "$ours_macro" "$ref_micro" "$ref_micro_cl" "$ref_macro" "$ref_macro_cl" <<'PY'
import json, sys
sh, om, oM, rm, rmc, rM, rMc = (json.loads(a) for a in sys.argv[1:])
out = {"threads": om["threads"], "torch": om["torch"], "blas": om["blas"],
       "micro": {"enas_images_per_s": om["micro"]["images_per_s"],
                 "reference_images_per_s": rm["images_per_s"],
                 "reference_channels_last_images_per_s": rmc["images_per_s"]},
       "macro": {"enas_images_per_s": oM["macro"]["images_per_s"],
                 "reference_images_per_s": rM["images_per_s"],
                 "reference_channels_last_images_per_s": rMc["images_per_s"]}}
# The shared children run a freshly sampled architecture per step; the reference runs the
# fixed child of the same size (the same kind of path), so the ratio compares a search step.
out["shared_micro"] = {"enas_images_per_s": sh["shared"]["micro"]["images_per_s"],
                       "reference_images_per_s": rm["images_per_s"],
                       "reference_channels_last_images_per_s": rmc["images_per_s"]}
out["shared_macro"] = {"enas_images_per_s": sh["shared"]["macro"]["images_per_s"],
                       "reference_images_per_s": rM["images_per_s"],
                       "reference_channels_last_images_per_s": rMc["images_per_s"]}
for k in ("micro", "macro", "shared_micro", "shared_macro"):
    d = out[k]
    d["ratio"] = round(d["enas_images_per_s"] / d["reference_images_per_s"], 3)
    d["ratio_vs_channels_last"] = round(d["enas_images_per_s"] / d["reference_channels_last_images_per_s"], 3)
print(json.dumps(out))
PY
