#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test, the slow end-to-end ones included: what CI runs.
# Tests that need the real data sets read $ENAS_DATA_DIR; when it is unset, the shared data beside
# the checkout (../shared/data) is used if present, else those tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --build build -j"$(nproc)"  # the test suites (setup.sh builds the enas command only)
# Tests only (enas never needs them): headless Chromium renders the run reports in the browser
# test; Debian's torchrun (python3-torch) starts enas processes in the torchrun test.
test_packages=()
command -v chromium >/dev/null || test_packages+=(chromium)
/usr/bin/python3 -c 'import torch.distributed.run' 2>/dev/null || test_packages+=(python3-torch)
# The export test: ONNX's own Python checker, and node + npm for ONNX Runtime (below).
/usr/bin/python3 -c 'import onnx.checker' 2>/dev/null || test_packages+=(python3-onnx)
command -v node >/dev/null || test_packages+=(nodejs)
command -v npm >/dev/null || test_packages+=(npm)
if [ ${#test_packages[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    "${test_packages[@]}"
fi
if [ -z "${ENAS_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  ENAS_DATA_DIR="$(cd ../shared/data && pwd)"
  export ENAS_DATA_DIR
fi
echo "test: ENAS_DATA_DIR=${ENAS_DATA_DIR:-<unset>}"
# ONNX Runtime, the outside runtime the export test checks models with: npm's onnxruntime-node
# (its native CPU runtime is in the package; --ignore-scripts skips its install script, which
# fetches GPU binaries), in a cache folder outside the checkout, installed once.
if [ -z "${ENAS_ORT_DIR:-}" ]; then
  ENAS_ORT_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/enas/onnxruntime-node"
  if [ ! -d "$ENAS_ORT_DIR/node_modules/onnxruntime-node" ]; then
    mkdir -p "$ENAS_ORT_DIR"
    (cd "$ENAS_ORT_DIR" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
      onnxruntime-node@1) || {
      echo "test: npm install onnxruntime-node@1 failed (no npm registry?); set ENAS_ORT_DIR to" \
        "a folder where it is installed" >&2
      exit 1
    }
  fi
  export ENAS_ORT_DIR
fi
echo "test: ENAS_ORT_DIR=$ENAS_ORT_DIR"
# One test per core: the tests run single-threaded, and CI has 2 cores (30 min for build and tests).
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
if [ $# -eq 0 ]; then
  # The GPU check's rehearsal (docs/gpu.md) up to a smoke build: the bundle downloads, holds
  # every file the build reads, CMake finds the dependencies in it alone, and one object per
  # dependency compiles against them (~90 s). The whole rehearsal would be a second whole build:
  # `bash scripts/device_check.sh --rehearse`.
  bash scripts/device_bundle.sh build/device-debs
  bash scripts/device_check.sh --rehearse --until build --smoke --bundle build/device-debs \
    build/device-check
fi
