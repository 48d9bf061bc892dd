#!/usr/bin/env bash
# The authors' scripts/cifar10_macro_final.sh: final training with every value of their script (--data needed).
exec "$(dirname "$0")/../build/enas" train --preset cifar10_macro_final "$@"
