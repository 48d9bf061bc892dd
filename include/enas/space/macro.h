#pragma once
/// The macro (whole-network) search space of ENAS: N layers, each an op plus skip bits.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "enas/space/ops.h"

namespace enas {
class Space;
struct Drawing;
}  // namespace enas

namespace enas::macro {

/// The op catalogue, numbered as the authors' `--child_fixed_arc` (general_child.py): the one
/// table the fixed and the shared child build ops from. A search samples the first
/// child_num_branches of them.
inline constexpr std::array<OpSpec, 6> kOps = {{{"conv3x3", OpFamily::kConv, 3},
                                                {"sep3x3", OpFamily::kSepConv, 3},
                                                {"conv5x5", OpFamily::kConv, 5},
                                                {"sep5x5", OpFamily::kSepConv, 5},
                                                {"avgpool", OpFamily::kAvgPool, 3},
                                                {"maxpool", OpFamily::kMaxPool, 3}}};
inline constexpr int kNumOps = static_cast<int>(kOps.size());

/// A macro architecture: for layer i, one op and i skip bits. Skip bit k of layer i selects the
/// authors' `prev_layers[k]`: bit 0 is the stem, bit k >= 1 is layer k-1. Layer i-1, the op's
/// input, has no bit.
struct Arc {
  std::vector<int> ops;                 // (num_layers)
  std::vector<std::vector<int>> skips;  // skips[i] has i entries, each 0 or 1

  int num_layers() const { return static_cast<int>(ops.size()); }
  /// Flat list in the authors' order: op of layer 0, op of layer 1 and its 1 bit, ...
  std::vector<int> flat() const;
  /// The authors' format: integers separated by single spaces.
  std::string to_string() const;
  /// One line per layer ("layer  3 conv5x5   skips 0 1 1"), for logs.
  std::string describe() const;
  bool operator==(const Arc& other) const { return ops == other.ops && skips == other.skips; }
};

/// Number of integers an architecture of `num_layers` layers has: n (n + 1) / 2.
inline int arc_length(int num_layers) { return num_layers * (num_layers + 1) / 2; }

/// The network plan (general_child.py `_model`): the layers after which the map is halved
/// (factorised reduction of every earlier output) and the channels doubled.
inline std::vector<int64_t> pool_layers(int64_t num_layers) {
  const int64_t distance = num_layers / 3;
  return {distance - 1, 2 * distance - 1};
}

/// The architecture's picture (space/drawing.h); validates it first (errors as arc_from_flat's).
enas::Drawing drawing(const Arc& arc);

/// The space's descriptor (space.h).
const enas::Space& space();

/// Parses and validates the authors' format. `num_layers` must match the string's length
/// (0: infer it). Ops are checked against the whole catalogue (0..5), whatever num_branches a
/// search would use. Errors name the position, the layer and the allowed range.
Arc parse_arc(const std::string& text, int num_layers = 0);

/// Builds from a flat list (validated as parse_arc does).
Arc arc_from_flat(const std::vector<int>& flat, int num_layers = 0);

}  // namespace enas::macro
