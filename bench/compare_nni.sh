#!/usr/bin/env bash
# Runs our shared micro search step (`enas bench --only shared`) and NNI's ENAS micro search child
# step (bench/nni_enas_micro.py on an NNI v2.8 source checkout: --nni DIR or $ENAS_NNI_DIR) with
# equal threads, batch and sizes, and prints one JSON object with every run, the medians and
# ratio = enas median / NNI's better median (contiguous or channels_last). Rounds alternate the
# programs so that drift in machine load hits both. Needs Debian's python3-torch (/usr/bin/python3).
#   bash bench/compare_nni.sh --nni DIR [--threads N] [--steps N] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
nni=${ENAS_NNI_DIR:-}; threads=$(nproc); steps=5; rounds=3; warmup=1
while [ $# -gt 0 ]; do
  case "$1" in
    --nni) nni=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$nni" ] || { echo "no NNI checkout: pass --nni DIR or set ENAS_NNI_DIR (NNI v2.8 source)" >&2; exit 1; }
[ -f "$nni/examples/nas/oneshot/enas/micro.py" ] || { echo "$nni has no examples/nas/oneshot/enas/micro.py" >&2; exit 1; }
py=/usr/bin/python3
common="--nni $nni --threads $threads --steps $steps --warmup $warmup --batch 160 --layers 6 --nodes 5 --filters 20"
runs=()
for ((r = 0; r < rounds; r++)); do
  runs+=("$(./build/enas bench --only shared --threads "$threads" --steps "$steps" --warmup "$warmup" 2>/dev/null | tail -1)")
  runs+=("$($py bench/nni_enas_micro.py $common)")
  runs+=("$($py bench/nni_enas_micro.py $common --channels-last)")
done
$py - "$threads" "$steps" "${runs[@]}" <<'PY'
import json, statistics, sys
threads, steps = int(sys.argv[1]), int(sys.argv[2])
runs = [json.loads(a) for a in sys.argv[3:]]
enas = [r["shared"]["micro"]["images_per_s"] for r in runs[0::3]]
nni, nni_cl = runs[1::3], runs[2::3]
out = {"threads": threads, "steps": steps, "rounds": len(enas),
       "torch": runs[0].get("torch"), "nni_version": nni[0]["nni_version"],
       "nni_config": nni[0]["config"],
       "enas_images_per_s": enas,
       "nni_images_per_s": [r["images_per_s"] for r in nni],
       "nni_channels_last_images_per_s": [r["images_per_s"] for r in nni_cl]}
med = {k: statistics.median(out[k + "_images_per_s"]) for k in ("enas", "nni", "nni_channels_last")}
out["medians"] = med
# NNI is credited with whichever memory format served it better.
out["ratio"] = round(med["enas"] / max(med["nni"], med["nni_channels_last"]), 3)
print(json.dumps(out))
PY
