#!/usr/bin/env bash
# Downloads, without installing, the Debian packages of enas's build dependencies that the GPU
# machine lacks (docs/gpu.md) into one git-ignored folder (default .device/debs): they travel
# with a device run, and scripts/device_check.sh unpacks them into a private prefix there.
# Headers and sources only, plus libz.a: nothing of Debian's is loaded at run time there.
#   bash scripts/device_bundle.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.device/debs}
packages=(
  libcli11-dev        # the command line (header-only)
  libfmt-dev libfmt9  # formatting, used header-only; libfmt9 only satisfies fmt's CMake file
  nlohmann-json3-dev  # JSON (header-only)
  googletest          # GoogleTest's sources, built with the project
  libgloo-dev         # the headers c10d's Gloo process group includes
  zlib1g-dev          # zlib.h and libz.a (the checkpoint archive's CRC-32)
  libturbojpeg0-dev libpng-dev  # turbojpeg.h, png.h and their static libraries (--dataset folder)
)
mkdir -p "$dest"
rm -f "$dest"/*.deb
download() { (cd "$dest" && apt-get download -q "${packages[@]}"); }
if ! download; then
  # No package lists yet (a fresh machine): fetch them, then try again.
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  download
fi
echo "device_bundle: $(ls "$dest"/*.deb | wc -l) packages, $(du -sh "$dest" | cut -f1) in $dest"
