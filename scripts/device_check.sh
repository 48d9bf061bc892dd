#!/usr/bin/env bash
# The GPU check (docs/gpu.md): builds enas against the libtorch of the machine's PyTorch (CUDA),
# with the Debian build dependencies that scripts/device_bundle.sh downloaded unpacked into a
# private prefix, then runs, phase by phase and within a time budget, what proves the CUDA path:
# the unit tests, a tiny train and search on the device, `enas bench`, and a timed probe of the
# authors' micro search and final at full size. Everything lands in one folder, summary.json
# first, rewritten after every phase, so a run cut short still says what it saw.
#
#   bash scripts/device_check.sh [OUTDIR] [--rehearse] [--budget SECONDS] [--bundle DIR]
#                                [--until PHASE] [--smoke]
#
# OUTDIR defaults to $OUT (the device machine's) or ./device-check. It receives summary.json and
# check.tar.gz (every phase's log, the JUnit files, the benchmark's and probes' JSON), both
# rewritten after every phase: the device tool brings back only a few files. Outside $OUT the
# files are also left unpacked in OUTDIR/files. --rehearse runs the same
# phases here, against Debian's libtorch on the CPU, so that a missing file or a wrong path fails
# here and not on the GPU machine. --budget (default 450 s) bounds the whole check: a phase
# still running at its end is ended (status timed_out), a phase that would start after it is
# skipped and said so; so is every phase after --until's. --smoke builds, instead of everything,
# one object that reads each dependency of the prefix (torch's, fmt's and nlohmann's headers in
# the precompiled one, zlib, CLI11) and GoogleTest from the bundle's sources: what CI rehearses
# (about a minute; the whole build would be a second 15-minute build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

out=${OUT:-$root/device-check}; rehearse=0; budget=450; bundle=$root/.device/debs; until=
smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) rehearse=1; shift ;;
    --budget) budget=$2; shift 2 ;;
    --bundle) bundle=$2; shift 2 ;;
    --until) until=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -*) echo "device_check: unknown flag $1" >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
all_phases=" unpack configure build cuda_tests unit_tests synthetic_data e2e_train e2e_search bench \
probe_micro_search probe_micro_final "
if [ -n "$until" ] && [[ "$all_phases" != *" $until "* ]]; then
  echo "device_check: --until $until: the phases are$all_phases" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=$out/files
[ -n "${OUT:-}" ] && [ "$out" = "$(cd "$OUT" && pwd)" ] && files=$work/files
mkdir -p "$files"

# ---------------------------------------------------------------- the summary
phases=()  # one JSON object per phase
summary() {
  local IFS=,
  printf '{"rehearse": %s, "smoke": %s, "budget_s": %s, "elapsed_s": %s, "device": "%s", "phases": [%s]}\n' \
    "$([ $rehearse = 1 ] && echo true || echo false)" \
    "$([ $smoke = 1 ] && echo true || echo false)" "$budget" "$(($(date +%s) - start))" \
    "$device" "${phases[*]}" >"$out/summary.json.tmp"
  mv "$out/summary.json.tmp" "$out/summary.json"
  cp "$out/summary.json" "$files/summary.json"
  tar -czf "$out/check.tar.gz.tmp" -C "$files" . && mv "$out/check.tar.gz.tmp" "$out/check.tar.gz"
}
# phase NAME CMD...: runs CMD (its output into NAME.log) unless the budget is spent; records it.
failed=0
past_until=0
phase() {
  local name=$1; shift
  local t0 rc=0 why=""
  t0=$(date +%s)
  if ((past_until)); then
    why="after --until $until"
  elif ((t0 - start >= budget)); then
    why="budget of $budget s spent"
  fi
  [ "$name" = "$until" ] && past_until=1
  if [ -n "$why" ]; then
    phases+=("{\"name\": \"$name\", \"status\": \"skipped\", \"why\": \"$why\"}")
    echo "device_check: $name skipped ($why)"
    summary
    return 0
  fi
  # A phase runs as its own process group with a watchdog at the budget's end: a phase that
  # hangs or runs long is ended there (its group, ninja's and ctest's children included), and the
  # summary still gets written before the device tool's own limit ends everything.
  local left=$((budget - (t0 - start))) dog
  echo "device_check: $name ... (at most $left s)"
  set -m
  "$@" >"$files/$name.log" 2>&1 &
  local pid=$!
  (
    sleep "$left"
    touch "$work/timed_out.$name"
    kill -TERM -- "-$pid" 2>/dev/null
    sleep 10
    kill -KILL -- "-$pid" 2>/dev/null
  ) >/dev/null 2>&1 &
  dog=$!
  set +m
  wait "$pid" || rc=$?
  kill -- "-$dog" 2>/dev/null || true
  wait "$dog" 2>/dev/null || true
  local status=passed
  if [ -e "$work/timed_out.$name" ]; then
    status=timed_out
    echo "ended at the budget's end ($left s)" >>"$files/$name.log"
  fi
  if ((rc != 0)); then
    [ "$status" = passed ] && status=failed
    failed=1
  fi
  phases+=("{\"name\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $(($(date +%s) - t0))}")
  echo "device_check: $name $status ($(($(date +%s) - t0)) s)"
  summary
}

device=cuda
[ $rehearse = 1 ] && device=cpu
summary

# ---------------------------------------------------------------- 1. the prefix
# Inside the build folder, at the same path every run: CMake's cache remembers the paths it found.
build=$root/build-device
prefix=$build/deps
unpack() {
  rm -rf "$prefix"
  mkdir -p "$prefix"
  shopt -s nullglob
  local debs=("$bundle"/*.deb)
  ((${#debs[@]})) || { echo "no .deb files in $bundle: run scripts/device_bundle.sh" >&2; return 1; }
  for d in "${debs[@]}"; do dpkg-deb -x "$d" "$prefix" && echo "unpacked $(basename "$d")"; done
  # What the build reads from the prefix, so that a package missing from the bundle fails here
  # even where the system has it.
  local f
  for f in include/CLI/CLI.hpp include/fmt/format.h include/nlohmann/json.hpp include/zlib.h \
    include/gloo/algorithm.h src/googletest/CMakeLists.txt share/cmake/CLI11/CLI11Config.cmake \
    share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake; do
    [ -e "$prefix/usr/$f" ] || { echo "the bundle lacks usr/$f" >&2; return 1; }
  done
}
phase unpack unpack

# ---------------------------------------------------------------- 2. configure and build
configure() {
  local torch_args
  if [ $rehearse = 1 ]; then
    # Debian's libtorch, found through its own config file and nothing else of the system's.
    local cfg
    cfg=$(dpkg -L libtorch-dev | grep '/TorchConfig.cmake$' | head -n 1)
    torch_args=(-DTorch_DIR="$(dirname "$cfg")")
  else
    local tp nccl
    tp=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
    # nccl.h comes with the wheel's nvidia-nccl package, not with torch itself.
    nccl=$(python3 -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "include"))' \
      2>/dev/null || true)
    torch_args=(-DCMAKE_PREFIX_PATH="$tp" -DENAS_WITH_NCCL=ON -DENAS_NCCL_INCLUDE_DIR="$nccl")
  fi
  # One CTest entry per unit test: the unit_tests phase leaves out the Cuda ones by name. No ONNX
  # export there (docs/gpu.md): the wheel's libtorch carries its own protobuf, and the export is
  # the CPU build's.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DENAS_DEPS_PREFIX="$prefix" \
    -DENAS_UNIT_TESTS_PER_PROCESS=ON -DENAS_WITH_ONNX=OFF "${torch_args[@]}"
}
phase configure configure
targets=(enas enas_unit_tests)
((smoke)) && targets=(CMakeFiles/enas_core.dir/src/util/zip_verify.cpp.o
  CMakeFiles/enas.dir/tools/enas/main.cpp.o gtest gtest_main)
phase build cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
enas=$build/enas

# ---------------------------------------------------------------- 3. tests
# The CUDA tests first (they compare CUDA with the CPU; without a GPU they report skipped, and
# the rehearsal runs them against a second CPU copy to check their logic), then every unit test,
# one per core.
[ $rehearse = 1 ] && export ENAS_TEST_DEVICE=cpu
phase cuda_tests "$build/tests/enas_unit_tests" --gtest_filter='Cuda.*' \
  --gtest_output="xml:$files/cuda.xml"
phase unit_tests ctest --test-dir "$build" -L unit -E '^Cuda[.]' -j"$(nproc)" \
  --output-junit "$files/unit.xml"

# CIFAR-shaped data (random pixels, labels 0..9 in turn): the real data set is too large to carry.
synth=$work/cifar
make_synth() {
  mkdir -p "$synth"
  local f
  for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    LC_ALL=C awk -v n=1000 -v seed="${#f}$RANDOM" 'BEGIN { srand(seed)
      for (i = 0; i < n; i++) { printf "%c", i % 10; for (j = 0; j < 3072; j++) printf "%c", int(rand() * 256) } }' \
      >"$synth/$f.bin"
  done
}
phase synthetic_data make_synth

tiny=(--dataset cifar10 --data "$synth" --device "$device" --num_epochs 1 --train_limit 256
      --test_limit 128 --batch_size 32 --child_out_filters 8 --log_every 1 --json)
phase e2e_train "$enas" train "${tiny[@]}" --child_num_layers 1 --child_num_cells 2 \
  "--child_fixed_arc=0 2 1 4 0 0 2 3 0 1 1 4 2 3 0 2" --out "$work/train"
phase e2e_search "$enas" search "${tiny[@]}" --search_for micro --child_num_layers 1 \
  --child_num_cells 2 --child_num_branches 5 --num_valids 64 --controller_train_steps 2 \
  --controller_num_aggregate 2 --controller_train_every 1 --derive_samples 2 --out "$work/search"

# ---------------------------------------------------------------- 4. benchmarks
# The rehearsal's CPU would take minutes per benchmark at full size: one step each there.
bench_steps=(--steps 5 --warmup 2)
[ $rehearse = 1 ] && bench_steps=(--steps 1 --warmup 0)
bench() { "$enas" bench --device "$device" "${bench_steps[@]}" --data "$synth" "$@"; }
phase bench bench
tail -n 1 "$files/bench.log" >"$files/bench.json" 2>/dev/null || true

# ---------------------------------------------------------------- 5. the full-size probe
# The first steps of the authors' micro search and micro final at full size, timed (result.json's
# seconds and steps); docs/gpu.md projects the full runs' hours from them.
probe() {
  local preset=$1 batch=$2 steps=$3 command=$4; shift 4
  "$enas" "$command" --preset "$preset" --data "$synth" --device "$device" --num_epochs 1 \
    --train_limit $((batch * steps)) --test_limit "$batch" --log_every 1 --json \
    --out "$work/$preset" "$@"
}
probe_steps=10
[ $rehearse = 1 ] && probe_steps=2
phase probe_micro_search probe cifar10_micro_search 160 $((probe_steps + 1)) search \
  --nocontroller_training --num_valids 160 --derive_samples 1
phase probe_micro_final probe cifar10_micro_final 144 "$probe_steps" train
for p in cifar10_micro_search cifar10_micro_final; do
  [ -f "$work/$p/result.json" ] && cp "$work/$p/result.json" "$files/probe_$p.json"
done

summary
echo "device_check: done in $(($(date +%s) - start)) s; $out/summary.json"
exit $failed
