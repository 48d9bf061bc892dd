#!/usr/bin/env bash
# Installs the Debian packages enas needs (only when one is missing) and builds it in ./build.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev          # libtorch 1.13 (CPU), found by find_package(Torch)
  libopenblas-dev       # the BLAS torch must use: the reference BLAS is ~15x slower at matmul
  libcli11-dev libfmt-dev nlohmann-json3-dev zlib1g-dev
  libgtest-dev googletest
  libgloo-dev           # the headers of c10d's Gloo process group (distributed runs)
  libturbojpeg0-dev libpng-dev  # JPEG and PNG decoding of --dataset folder
  libonnx-dev libprotobuf-dev   # enas export: the ONNX graph built and checked by ONNX's library
  dataset-fashion-mnist # the embedded default data set
  graphviz              # `dot`: drawings of architectures (enas draw, best_arc.svg)
  gnuplot-nox           # the curves of report.html
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "setup: packages installed in $(($(date +%s) - started)) s"
fi

# OpenBLAS must be the BLAS libtorch resolves to.
if command -v update-alternatives >/dev/null; then
  blas=$(update-alternatives --query "libblas.so.3-$(gcc -dumpmachine)" 2>/dev/null |
    awk '/^Value:/ {print $2}')
  case "$blas" in
    *openblas*|"") ;;
    *) echo "setup: warning: libblas.so.3 points to $blas, not OpenBLAS" >&2 ;;
  esac
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target enas  # the tests are built by scripts/test.sh
echo "setup: built ./build/enas ($(($(date +%s) - started)) s in all)"
