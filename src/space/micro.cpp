#include "enas/space/micro.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/space/arc_text.h"
#include "enas/space/drawing.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "image_header.h"

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
    s += fmt::format("{}node {} = {}({}) + {}({})", b ? "; " : "", b + 2, kOps[op(b, 0)].name,
                     index(b, 0), kOps[op(b, 1)].name, index(b, 1));
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

namespace {

/// One cell as a framed group; box ids are `<prefix>_<index>` and `<prefix>_out`.
void draw_cell(Drawing& d, const Cell& cell, const std::string& prefix, const std::string& title) {
  using Look = Drawing::Look;
  auto id = [&](int index) { return fmt::format("{}_{}", prefix, index); };
  d.group("cluster_" + prefix, title);
  d.box(id(0), "c_{k-2}", Look::kInput);
  d.box(id(1), "c_{k-1}", Look::kInput);
  for (int b = 0; b < cell.num_blocks(); ++b) d.box(id(b + 2), std::to_string(b + 2), Look::kInner);
  for (int b = 0; b < cell.num_blocks(); ++b) {
    for (int side = 0; side < 2; ++side) {
      d.arrow(id(cell.index(b, side)), id(b + 2), kOps[cell.op(b, side)].name);
    }
  }
  // The authors' cell output concatenates, along channels, every node that no block reads.
  d.box(prefix + "_out", "c_{k}\n(concat)", Look::kOutput);
  for (int loose : cell.loose_ends()) d.arrow(id(loose), prefix + "_out", "", Look::kFaint);
}

}  // namespace

Drawing drawing(const Arc& arc) {
  const int blocks = arc.normal.num_blocks();
  require(arc.normal.code.size() == arc.reduce.code.size() && arc.normal.code.size() % 4 == 0,
          "micro architecture: cells of {} and {} numbers, expected equal multiples of 4",
          arc.normal.code.size(), arc.reduce.code.size());
  arc_from_flat(arc.flat(), blocks);  // the validation's errors name the position
  Drawing d;
  d.title = fmt::format("micro cells, {} blocks each", blocks);
  // Left to right, dot stacks disconnected clusters bottom-up in the order written: the
  // reduction cell first puts the normal cell on top, where a reader looks first.
  draw_cell(d, arc.reduce, "reduce", "reduction cell");
  draw_cell(d, arc.normal, "normal", "normal cell");
  return d;
}

}  // namespace enas::micro

namespace enas::micro {

Plan::Plan(int64_t num_layers) : num_cells_built(num_layers + 2) {
  const int64_t distance = num_layers / 3;
  reduction_layers = {distance, 2 * distance + 1};
  aux_after = reduction_layers.back() + 1;
}

bool Plan::reduces(int64_t layer) const {
  return std::find(reduction_layers.begin(), reduction_layers.end(), layer) !=
         reduction_layers.end();
}

namespace {

class MicroSpace : public Space {
 public:
  SpaceKind kind() const override { return SpaceKind::kMicro; }
  const char* name() const override { return kMicroSpace; }
  bool language() const override { return false; }
  int num_ops() const override { return kNumOps; }
  const char* op_name(int op) const override { return kOps.at(op).name; }
  int arc_length(const SpaceSizes& s) const override { return 8 * s.num_cells; }
  int choices_at(const SpaceSizes& s, int pos) const override {
    // index_1 op_1 index_2 op_2 per block: block b reads one of its b + 2 inputs.
    const int in_cell = pos % (4 * s.num_cells);
    return in_cell % 2 == 0 ? in_cell / 4 + 2 : s.num_branches;
  }
  std::vector<int> check(const std::vector<int>& flat, const SpaceSizes& s) const override {
    return arc_from_flat(flat, s.num_cells).flat();
  }
  std::string lines(const std::vector<int>& arc) const override {
    // The authors print the normal cell, then the reduction cell.
    const auto half = arc.begin() + arc.size() / 2;
    return "[" + join_ints(std::vector<int>(arc.begin(), half)) + "]\n[" +
           join_ints(std::vector<int>(half, arc.end())) + "]";
  }
  std::string describe(const std::vector<int>& arc) const override {
    return arc_from_flat(arc).describe();
  }
  std::string arc_header(const SpaceSizes& s, const std::string& dataset,
                         const std::string& score_name, double score) const override {
    return image_arc_header(*this, s, dataset, score_name, score);
  }
  bool fixes_num_layers() const override { return false; }  // only the cell
  Drawing drawing(const std::vector<int>& arc) const override {
    return micro::drawing(arc_from_flat(arc));
  }
};

}  // namespace

const Space& space() {
  static const MicroSpace instance;
  return instance;
}

}  // namespace enas::micro
