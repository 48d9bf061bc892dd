#pragma once
/// The architectures the authors published with their final-training scripts.

namespace enas {

// scripts/cifar10_macro_final.sh: layer i's op, then its i skip bits.
inline constexpr const char* kMacroFinalArc =
    "0 "
    "3 0 "
    "0 1 0 "
    "2 0 0 1 "
    "2 0 0 0 0 "
    "3 1 1 0 1 0 "
    "2 0 0 0 0 0 1 "
    "2 0 1 1 0 1 1 1 "
    "1 0 1 1 1 0 1 0 1 "
    "0 0 0 0 0 0 0 0 0 0 "
    "2 0 0 0 0 0 1 0 0 0 0 "
    "0 1 0 0 1 1 0 0 0 0 1 1 "
    "2 0 1 0 0 0 0 0 1 0 1 1 0 "
    "1 0 0 1 0 0 0 1 1 1 0 1 0 1 "
    "0 1 1 0 1 0 1 0 0 0 0 0 1 0 0 "
    "2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1 "
    "2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0 "
    "2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1 "
    "3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0 "
    "3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1 "
    "0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0 "
    "3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0 "
    "0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0 "
    "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0";

// scripts/cifar10_micro_final.sh: the normal cell's 20 numbers, then the reduction cell's.
inline constexpr const char* kMicroFinalArc =
    "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 "
    "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1";

}  // namespace enas
