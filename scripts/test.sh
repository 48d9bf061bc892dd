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
