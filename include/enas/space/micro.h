#pragma once
/// The micro (cell) search space of ENAS: a normal and a reduction cell of B blocks each.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "enas/space/ops.h"

namespace enas {
class Space;
struct Drawing;
}  // namespace enas

namespace enas::micro {

/// The op catalogue, numbered as the authors' micro_child.py / micro_controller.py: the one table
/// the fixed and the shared child build ops from. A search samples the first
/// child_num_branches of them.
inline constexpr std::array<OpSpec, 5> kOps = {{{"sep3x3", OpFamily::kSepConv, 3},
                                                {"sep5x5", OpFamily::kSepConv, 5},
                                                {"avgpool", OpFamily::kAvgPool, 3},
                                                {"maxpool", OpFamily::kMaxPool, 3},
                                                {"identity", OpFamily::kIdentity, 0}}};
inline constexpr int kNumOps = static_cast<int>(kOps.size());

/// One cell: for block b, `index_1 op_1 index_2 op_2` with indices in 0..b+1 (0 and 1 are the
/// cell's two inputs, 2 + j is block j's output).
struct Cell {
  std::vector<int> code;  // (4 * num_blocks)

  int num_blocks() const { return static_cast<int>(code.size()) / 4; }
  int index(int block, int side) const { return code[4 * block + 2 * side]; }
  int op(int block, int side) const { return code[4 * block + 2 * side + 1]; }
  /// Nodes (0..B+1) that no block reads: the cell's output concatenates them.
  std::vector<int> loose_ends() const;
  std::string describe() const;
  bool operator==(const Cell& o) const { return code == o.code; }
};

/// An architecture: the normal cell's 4B numbers followed by the reduction cell's.
struct Arc {
  Cell normal;
  Cell reduce;

  int num_blocks() const { return normal.num_blocks(); }
  std::vector<int> flat() const;
  /// The authors' format: integers separated by single spaces.
  std::string to_string() const;
  std::string describe() const;
  bool operator==(const Arc& o) const { return normal == o.normal && reduce == o.reduce; }
};

/// Parses and validates the authors' format. `num_cells` (blocks per cell, the authors'
/// `child_num_cells`) must match the length 8 * num_cells (0: infer it). Errors name the
/// position, the cell, the block and the allowed range.
Arc parse_arc(const std::string& text, int num_cells = 0);

Arc arc_from_flat(const std::vector<int>& flat, int num_cells = 0);

/// The network plan (micro_child.py `_model`): N normal cells per stage, N + 2 cells built; a
/// reduction cell (stride 2, channels doubled) at `reduction_layers`; the auxiliary head after
/// the cell that follows the second reduction.
struct Plan {
  int64_t num_cells_built = 0;
  std::vector<int64_t> reduction_layers;  // (2)
  int64_t aux_after = 0;                  // the cell the auxiliary head reads

  explicit Plan(int64_t num_layers);
  bool reduces(int64_t layer) const;
};

/// The architecture's picture (space/drawing.h); validates it first (errors as arc_from_flat's).
enas::Drawing drawing(const Arc& arc);

/// The space's descriptor (space.h).
const enas::Space& space();

}  // namespace enas::micro
