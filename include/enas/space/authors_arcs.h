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

namespace enas {

// google-research enas_lm/README.md: the recurrent cell ENAS found on Penn Treebank,
// `num_layers` pairs (previous node, function).
inline constexpr const char* kRnnEnasArc = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2";

// The same README: the DARTS cell, for comparison.
inline constexpr const char* kRnnDartsArc = "0 2 1 1 1 1 1 3 2 0 5 2 3 0 5 1";

}  // namespace enas
