#!/usr/bin/env bash
# Penn Treebank throughput: `enas bench --only lm` beside bench/ptb_reference.py (the
# straightforward PyTorch version of the same cell) at equal threads, one JSON object with both
# and their ratios. Needs Debian's python3-torch (/usr/bin/python3). The reference runs three
# times: as written (torch.set_num_threads(N)); with one OpenMP thread while OpenBLAS keeps N (its
# best setting on few cores, where OpenMP's workers otherwise wait on OpenBLAS's spinning ones);
# that with enas's malloc settings (util/runtime.h) given through GLIBC_TUNABLES; and, on a CPU
# with AVX-512, that with OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS 0.3.21 takes an AMD EPYC
# for a Haswell and runs AVX2 kernels). ratio_vs_best divides by the best of them.
#   bash bench/compare_ptb_reference.sh [--threads N] [--steps N]
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
py=/usr/bin/python3
ours=$(./build/enas bench --only lm --threads "$threads" --steps "$steps" --warmup "$warmup" 2>/dev/null | tail -1)
common="--threads $threads --steps $steps --warmup $warmup"
export OPENBLAS_NUM_THREADS=$threads
ref_shared=$($py bench/ptb_reference.py --mode shared $common 2>/dev/null | tail -1)
ref_final=$($py bench/ptb_reference.py --mode final $common 2>/dev/null | tail -1)
one="--threads 1 --steps $steps --warmup $warmup"
ref1_shared=$($py bench/ptb_reference.py --mode shared $one 2>/dev/null | tail -1)
ref1_final=$($py bench/ptb_reference.py --mode final $one 2>/dev/null | tail -1)
tunables=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967295:glibc.malloc.top_pad=67108864
reft_shared=$(GLIBC_TUNABLES=$tunables $py bench/ptb_reference.py --mode shared $one 2>/dev/null | tail -1)
reft_final=$(GLIBC_TUNABLES=$tunables $py bench/ptb_reference.py --mode final $one 2>/dev/null | tail -1)
refx_shared=null; refx_final=null
if grep -qw avx512f /proc/cpuinfo; then
  refx_shared=$(OPENBLAS_CORETYPE=SkylakeX GLIBC_TUNABLES=$tunables $py bench/ptb_reference.py --mode shared $one 2>/dev/null | tail -1)
  refx_final=$(OPENBLAS_CORETYPE=SkylakeX GLIBC_TUNABLES=$tunables $py bench/ptb_reference.py --mode final $one 2>/dev/null | tail -1)
fi
$py - "$ours" "$ref_shared" "$ref_final" "$ref1_shared" "$ref1_final" "$reft_shared" "$reft_final" "$refx_shared" "$refx_final" <<'PY'
import json, sys
ours, rs, rf, rs1, rf1, rst, rft, rsx, rfx = (json.loads(a) for a in sys.argv[1:])
out = {"threads": ours["threads"], "torch": ours["torch"], "blas": ours["blas"]}
for key, ref, ref1, reft, refx in (("lm_shared", rs, rs1, rst, rsx), ("lm_final", rf, rf1, rft, rfx)):
    e = ours[key]["tokens_per_s"]
    out[key] = {"hidden": ours[key]["hidden"], "batch": ours[key]["batch"],
                "enas_tokens_per_s": round(e, 1),
                "reference_tokens_per_s": round(ref["tokens_per_s"], 1),
                "ratio": round(e / ref["tokens_per_s"], 3),
                "reference_one_openmp_thread_tokens_per_s": round(ref1["tokens_per_s"], 1),
                "ratio_vs_one_openmp_thread": round(e / ref1["tokens_per_s"], 3),
                "reference_tuned_tokens_per_s": round(reft["tokens_per_s"], 1),
                "ratio_vs_tuned": round(e / reft["tokens_per_s"], 3)}
    best = max(r["tokens_per_s"] for r in (ref, ref1, reft, refx) if r)
    if refx:
        out[key]["reference_tuned_avx512_blas_tokens_per_s"] = round(refx["tokens_per_s"], 1)
    out[key]["reference_best_tokens_per_s"] = round(best, 1)
    out[key]["ratio_vs_best"] = round(e / best, 3)
c = ours["lm_controller"]
out["lm_controller"] = {"samples_per_s": round(c["samples_per_s"], 1),
                        "batched_samples_per_s": round(c["batched_samples_per_s"], 1),
                        "update_ms": round(c["update_ms"], 2)}
print(json.dumps(out))
PY
