#!/usr/bin/env bash
# Data-parallel scaling on this machine (docs/distributed.md): the same `enas train` run, or the
# shared child's pass of the same `enas search` (a *_search preset: one epoch, the controller
# not trained, 2 architectures derived), as 1 process x N threads and as N processes x 1 thread
# (enas launch, Gloo on loopback); images/s (tokens/s for a Penn Treebank preset) of each from
# result.json, and their ratio (the scaling efficiency; 1.0 is linear). Needs CIFAR-10 under $ENAS_DATA_DIR/cifar10, or PTB under
# $ENAS_DATA_DIR/ptb (or --data).
#   bash bench/dist_scaling.sh [--preset P] [--steps N] [--procs N] [--data DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=cifar10_micro_final; steps=10; procs=$(nproc)
data=""
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
read -r batch dataset bptt < <(./build/enas presets "$preset" --json 2>/dev/null | tail -n 1 |
  /usr/bin/python3 -c "import json,sys; c=json.load(sys.stdin)
print(c['batch_size'], c['dataset'], c['child_bptt_steps'])" 2>/dev/null || echo 0 none 0)
[ "$batch" -gt 0 ] || { echo "cannot read the batch size of preset $preset" >&2; exit 1; }
if [ "$dataset" = ptb ]; then
  sub=ptb; unit=tokens_per_s
  # A step reads batch x ~bptt tokens; validation needs more than one segment.
  train_limit=$((batch * bptt * steps)); test_limit=$((batch * bptt * 2))
else
  sub=cifar10; unit=images_per_s
  train_limit=$((batch * steps)); test_limit=$batch
fi
[ -n "$data" ] || data=${ENAS_DATA_DIR:+$ENAS_DATA_DIR/$sub}
[ -n "$data" ] && [ -d "$data" ] || { echo "no $sub folder: set ENAS_DATA_DIR or pass --data" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=(--preset "$preset" --data "$data" --train_limit "$train_limit" --test_limit "$test_limit"
        --num_epochs 1 --log_every 1000000 --json)
case "$preset" in
  *_search)
    [ "$dataset" != ptb ] || { echo "the search scaling runs the image presets" >&2; exit 1; }
    # The rewards' and derivation's validation split: one batch.
    common=(search "${common[@]}" --nocontroller_training --derive_samples 2 --num_valids "$batch")
    unit=child_images_per_s ;;
  *) common=(train "${common[@]}") ;;
esac
./build/enas "${common[@]}" --threads "$procs" --out "$tmp/one" >/dev/null 2>"$tmp/one.err" \
  || { cat "$tmp/one.err" >&2; exit 1; }
./build/enas launch --nproc_per_node "$procs" -- "${common[@]}" --threads 1 --out "$tmp/many" \
  >/dev/null 2>"$tmp/many.err" || { cat "$tmp/many.err" >&2; exit 1; }
/usr/bin/python3 - "$tmp/one/result.json" "$tmp/many/result.json" "$preset" "$procs" "$steps" \
  "$unit" <<'PY'
import json, sys
one, many = (json.load(open(p)) for p in sys.argv[1:3])
preset, procs, steps, unit = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
print(json.dumps({"preset": preset, "steps": steps,
                  "one_process": {"threads": procs, unit: round(one[unit], 2)},
                  "processes": {"count": procs, "threads_each": 1, unit: round(many[unit], 2)},
                  "scaling_efficiency": round(many[unit] / one[unit], 3)}))
PY
