#!/usr/bin/env bash
# Digests of tiny runs of every command, for changes that must leave results bit-identical
# (a refactor): run it before and after, and compare the two outputs line by line.
#   bash scripts/digests.sh [--enas build/enas] [--data DIR] [--out DIR] > digests.txt
# Each line is "<name> <sha256>": the run's metrics.jsonl, arcs.jsonl, best_arc.txt and
# result.json with the fields that measure time (seconds, rates, the run folder's path) left
# out, so that only what was learnt and decided counts. One thread, so that sums are ordered.
# Needs jq, CIFAR-10 and Penn Treebank ($ENAS_DATA_DIR or ../shared/data) and Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
enas=build/enas
data="${ENAS_DATA_DIR:-}"
out=""
while (($#)); do
  case "$1" in
    --enas) enas="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "digests: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$data" ] || data="$(cd ../shared/data && pwd)"
[ -n "$out" ] || out="$(mktemp -d)"
mkdir -p "$out"
enas="$(realpath "$enas")"
command -v jq >/dev/null || { echo "digests: needs jq (apt-get install jq)" >&2; exit 2; }

# Fields whose values depend on the clock or the folder, never on the numbers learnt.
timeless='walk(if type == "object" then with_entries(select(.key | test(
  "seconds|_per_s$|^mins$|^time$|^eta|run_dir|_file$|^path$|^dir$|^checkpoint$|^started|^date") | not))
  else . end)'

digest() {  # digest NAME RUN_FOLDER
  local name="$1" dir="$2" f
  {
    for f in metrics.jsonl arcs.jsonl result.json best_arc.json; do
      if [ -f "$dir/$f" ]; then jq -cS "$timeless" "$dir/$f"; fi
    done
    if [ -f "$dir/best_arc.txt" ]; then cat "$dir/best_arc.txt"; fi
  } | sha256sum | cut -c1-16 | sed "s/^/$name /"
}

run() {  # run NAME ARGS...: runs enas ARGS, then prints NAME's digest of --out
  local name="$1"
  shift
  "$enas" "$@" --threads 1 --noreport --out "$out/$name" >"$out/$name.log" 2>&1 ||
    { echo "digests: $name failed, see $out/$name.log" >&2; tail -5 "$out/$name.log" >&2; exit 1; }
  digest "$name" "$out/$name"
}

cifar=(--data "$data/cifar10" --train_limit 256 --test_limit 128 --batch_size 32)
micro=(--child_num_layers 2 --child_num_cells 2 --child_out_filters 8)
macro=(--child_num_layers 3 --child_out_filters 8)
run micro_train train --preset cifar10_micro_final "${cifar[@]}" "${micro[@]}" \
  --child_fixed_arc "0 2 0 0 1 4 0 1 1 2 0 1 0 0 1 3" --num_epochs 2
run macro_train train --preset cifar10_macro_final "${cifar[@]}" "${macro[@]}" \
  --child_fixed_arc "1 3 0 5 1 1" --num_epochs 2
run micro_search search --preset cifar10_micro_search "${cifar[@]}" "${micro[@]}" \
  --num_valids 64 --num_epochs 2 --derive_samples 4 --controller_train_steps 3
run macro_search search --preset cifar10_macro_search "${cifar[@]}" "${macro[@]}" \
  --num_valids 64 --num_epochs 2 --derive_samples 4 --controller_train_steps 3
run random_search search --preset cifar10_micro_search "${cifar[@]}" "${micro[@]}" \
  --num_valids 64 --num_epochs 1 --derive_samples 4 --controller_type random
"$enas" derive --checkpoint "$out/micro_search/ckpt-2.pt" --derive_samples 3 --threads 1 \
  >"$out/micro_derive.log" 2>&1
digest micro_derive "$out/micro_search"
run micro_from_search train --from_search "$out/micro_search" --data "$data/cifar10" \
  --train_limit 128 --test_limit 64 --num_epochs 1 --batch_size 32 --child_out_filters 8
run fashion_train train --dataset fashion_mnist --search_for micro "${micro[@]}" \
  --child_fixed_arc "0 2 0 0 1 4 0 1 1 2 0 1 0 0 1 3" --train_limit 256 --test_limit 128 \
  --batch_size 32 --num_epochs 1

ptb=(--data "$data/ptb" --train_limit 3000 --test_limit 800 --child_hidden_size 32 --batch_size 8
  --child_bptt_steps 12)
run ptb_train train --preset ptb_final "${ptb[@]}" --num_epochs 2
run ptb_search search --preset ptb_search "${ptb[@]}" --num_epochs 2 --derive_samples 3 \
  --controller_train_steps 3
"$enas" derive --checkpoint "$out/ptb_search/ckpt-2.pt" --derive_samples 2 --threads 1 \
  >"$out/ptb_derive.log" 2>&1
digest ptb_derive "$out/ptb_search"

# Two processes (enas launch, Gloo on 127.0.0.1): sync batch norm, sharded batches, rank 0's writes.
run dist_micro_train launch --nproc_per_node 2 -- train --preset cifar10_micro_final "${cifar[@]}" \
  "${micro[@]}" --child_fixed_arc "0 2 0 0 1 4 0 1 1 2 0 1 0 0 1 3" --num_epochs 1
run dist_macro_search launch --nproc_per_node 2 -- search --preset cifar10_macro_search \
  "${cifar[@]}" "${macro[@]}" --num_valids 64 --num_epochs 1 --derive_samples 4 \
  --controller_train_steps 2
run dist_ptb_train launch --nproc_per_node 2 -- train --preset ptb_final "${ptb[@]}" --num_epochs 1
