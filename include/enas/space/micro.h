#pragma once
/// The micro (cell) search space of ENAS: a normal and a reduction cell of B blocks each.
#include <array>
#include <string>
#include <vector>

namespace enas::micro {

/// Op catalogue, numbered as the authors' micro_child.py / micro_controller.py.
enum Op : int { kSep3x3 = 0, kSep5x5 = 1, kAvgPool = 2, kMaxPool = 3, kIdentity = 4 };
inline constexpr int kNumOps = 5;
inline constexpr std::array<const char*, kNumOps> kOpNames = {"sep3x3", "sep5x5", "avgpool",
                                                              "maxpool", "identity"};

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

}  // namespace enas::micro
