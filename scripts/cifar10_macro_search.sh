#!/usr/bin/env bash
# The authors' scripts/cifar10_macro_search.sh: ENAS search with every value of their script (--data needed).
exec "$(dirname "$0")/../build/enas" search --preset cifar10_macro_search "$@"
