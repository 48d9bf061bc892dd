#include "enas/space/micro.h"

#include <fmt/format.h>

#include "enas/space/arc_text.h"
#include "enas/util/error.h"

namespace enas::micro {

std::vector<int> Cell::loose_ends() const {
  std::vector<int> used(num_blocks() + 2, 0);
  for (int b = 0; b < num_blocks(); ++b) {
    used[index(b, 0)] = 1;
    used[index(b, 1)] = 1;
  }
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(used.size()); ++i)
    if (!used[i]) out.push_back(i);
  return out;
}

std::string Cell::describe() const {
  std::string s;
  for (int b = 0; b < num_blocks(); ++b) {
    s += fmt::format("{}node {} = {}({}) + {}({})", b ? "; " : "", b + 2, kOpNames[op(b, 0)],
                     index(b, 0), kOpNames[op(b, 1)], index(b, 1));
  }
  return s;
}

std::vector<int> Arc::flat() const {
  std::vector<int> out = normal.code;
  out.insert(out.end(), reduce.code.begin(), reduce.code.end());
  return out;
}

std::string Arc::to_string() const { return join_ints(flat()); }

std::string Arc::describe() const {
  return "normal cell: " + normal.describe() + "\nreduce cell: " + reduce.describe() + "\n";
}

Arc arc_from_flat(const std::vector<int>& flat, int num_cells) {
  const int n = static_cast<int>(flat.size());
  if (num_cells <= 0) {
    require(n > 0 && n % 8 == 0,
            "micro architecture: {} numbers given, not a multiple of 8 (4 per block: index_1 "
            "op_1 index_2 op_2, normal cell then reduction cell)",
            n);
    num_cells = n / 8;
  }
  require(n == 8 * num_cells,
          "micro architecture: {} numbers given, but {} blocks per cell need {} (4 per block: "
          "index_1 op_1 index_2 op_2, normal cell then reduction cell)",
          n, num_cells, 8 * num_cells);
  for (int pos = 0; pos < n; ++pos) {
    const char* cell = pos < 4 * num_cells ? "normal" : "reduction";
    int block = (pos % (4 * num_cells)) / 4;
    int v = flat[pos];
    if (pos % 2 == 0) {
      require(v >= 0 && v <= block + 1,
              "micro architecture: position {} ({} cell, block {}, input index) is {}, allowed "
              "0..{}",
              pos, cell, block, v, block + 1);
    } else {
      require(v >= 0 && v < kNumOps,
              "micro architecture: position {} ({} cell, block {}, op) is {}, allowed 0..{}", pos,
              cell, block, v, kNumOps - 1);
    }
  }
  Arc arc;
  arc.normal.code.assign(flat.begin(), flat.begin() + 4 * num_cells);
  arc.reduce.code.assign(flat.begin() + 4 * num_cells, flat.end());
  return arc;
}

Arc parse_arc(const std::string& text, int num_cells) {
  return arc_from_flat(parse_int_list(text, "micro architecture"), num_cells);
}

}  // namespace enas::micro
