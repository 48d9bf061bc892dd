#pragma once
/// The recurrent-cell search space of ENAS on Penn Treebank, as google-research enas_lm defines
/// it: node 0 is a highway step from [x_t, h_{t-1}]; each further node is a highway step from one
/// earlier node through one of four functions; the cell's output averages nodes 1..N.
#include <array>
#include <string>
#include <vector>

namespace enas {
class Space;
struct Drawing;
}  // namespace enas

namespace enas::rnn {

/// Function catalogue, numbered as enas_lm's child.py / controller.py.
enum Func : int { kTanh = 0, kRelu = 1, kSigmoid = 2, kIdentity = 3 };
inline constexpr int kNumFuncs = 4;
inline constexpr std::array<const char*, kNumFuncs> kFuncNames = {"tanh", "relu", "sigmoid",
                                                                  "identity"};

/// An architecture: for node k = 1..N (stored 0-based), the node it reads (0..k-1, 0 being the
/// highway step from the input) and its function.
struct Arc {
  std::vector<int> code;  // (2 * N): prev_index, func, prev_index, func, ...

  int num_nodes() const { return static_cast<int>(code.size()) / 2; }
  int prev(int node) const { return code[2 * node]; }
  int func(int node) const { return code[2 * node + 1]; }
  /// The enas_lm format: integers separated by single spaces.
  std::string to_string() const;
  /// One line per node, "node 3 = relu(node 1)".
  std::string describe() const;
  bool operator==(const Arc& o) const { return code == o.code; }
};

/// Validates a flat architecture. `num_nodes` > 0 requires that many nodes (0: any). Errors name
/// the position, the node and the allowed range.
Arc arc_from_flat(const std::vector<int>& flat, int num_nodes = 0);

/// Parses the enas_lm format ("0 2 1 0 ...").
Arc parse_arc(const std::string& text, int num_nodes = 0);

/// The architecture's picture (space/drawing.h); validates it first (errors as arc_from_flat's).
enas::Drawing drawing(const Arc& arc);

/// The space's descriptor (space.h).
const enas::Space& space();

}  // namespace enas::rnn
