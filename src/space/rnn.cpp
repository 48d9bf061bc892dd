#include "enas/space/rnn.h"

#include <fmt/format.h>

#include "enas/space/arc_text.h"
#include "enas/space/drawing.h"
#include "enas/space/space.h"
#include "enas/util/error.h"

namespace enas::rnn {

std::string Arc::to_string() const { return join_ints(code); }

std::string Arc::describe() const {
  std::string s;
  for (int k = 0; k < num_nodes(); ++k) {
    s += fmt::format("node {} = {}(node {})\n", k + 1, kFuncNames[func(k)], prev(k));
  }
  return s + fmt::format("output = mean(node 1..{})\n", num_nodes());
}

Arc arc_from_flat(const std::vector<int>& flat, int num_nodes) {
  const int n = static_cast<int>(flat.size());
  require(n > 0 && n % 2 == 0,
          "rnn architecture: {} numbers given, expected pairs (prev_index function), one per node",
          n);
  require(num_nodes <= 0 || n == 2 * num_nodes,
          "rnn architecture: {} numbers given, but {} nodes need {} (prev_index function per node)",
          n, num_nodes, 2 * num_nodes);
  for (int pos = 0; pos < n; ++pos) {
    const int node = pos / 2, v = flat[pos];
    if (pos % 2 == 0) {
      require(v >= 0 && v <= node,
              "rnn architecture: position {} (node {}, previous index) is {}, allowed 0..{}", pos,
              node + 1, v, node);
    } else {
      require(v >= 0 && v < kNumFuncs,
              "rnn architecture: position {} (node {}, function) is {}, allowed 0..{} (tanh, "
              "relu, sigmoid, identity)",
              pos, node + 1, v, kNumFuncs - 1);
    }
  }
  return Arc{flat};
}

Arc parse_arc(const std::string& text, int num_nodes) {
  return arc_from_flat(parse_int_list(text, "rnn architecture"), num_nodes);
}

Drawing drawing(const Arc& arc) {
  using Look = Drawing::Look;
  arc_from_flat(arc.code);
  const int n = arc.num_nodes();
  Drawing d;
  d.title = fmt::format("recurrent cell, {} nodes", n);
  auto id = [](int k) { return fmt::format("node_{}", k); };
  d.box("x_t", "x_{t}", Look::kInput);
  d.box("h_prev", "h_{t-1}", Look::kInput);
  for (int k = 0; k <= n; ++k) d.box(id(k), std::to_string(k), Look::kInner);
  // Node 0 is enas_lm's first highway step, tanh of [x_t, h_{t-1}]: not a choice of the arc.
  d.arrow("x_t", id(0), "tanh");
  d.arrow("h_prev", id(0), "tanh");
  for (int k = 1; k <= n; ++k) d.arrow(id(arc.prev(k - 1)), id(k), kFuncNames[arc.func(k - 1)]);
  // enas_lm averages every node 1..N (not only the loose ends, as the TF release's first
  // language model did): child/rnn_cell.cpp.
  d.box("h_t", fmt::format("h_{{t}}\n(mean of 1..{})", n), Look::kOutput);
  for (int k = 1; k <= n; ++k) d.arrow(id(k), "h_t", "", Look::kFaint);
  return d;
}

}  // namespace enas::rnn

namespace enas::rnn {

namespace {

class RnnSpace : public Space {
 public:
  SpaceKind kind() const override { return SpaceKind::kRnn; }
  const char* name() const override { return kRnnSpace; }
  bool language() const override { return true; }
  int num_ops() const override { return kNumFuncs; }
  const char* op_name(int op) const override { return kFuncNames.at(op); }
  int arc_length(const SpaceSizes& s) const override { return 2 * s.num_layers; }
  int choices_at(const SpaceSizes&, int pos) const override {
    // (previous node, function) per node: node k reads one of nodes 0..k.
    return pos % 2 == 0 ? pos / 2 + 1 : kNumFuncs;
  }
  std::vector<int> check(const std::vector<int>& flat, const SpaceSizes& s) const override {
    return arc_from_flat(flat, s.num_layers).code;
  }
  std::string lines(const std::vector<int>& arc) const override { return join_ints(arc); }
  std::string describe(const std::vector<int>& arc) const override {
    return arc_from_flat(arc).describe();
  }
  std::string arc_header(const SpaceSizes& s, const std::string& dataset,
                         const std::string& score_name, double score) const override {
    return fmt::format("# enas search_for={} dataset={} child_num_layers={} {}={:.2f}", name(),
                       dataset, s.num_layers, score_name, score);
  }
  bool fixes_num_layers() const override { return false; }  // the arc's length gives the nodes
  Drawing drawing(const std::vector<int>& arc) const override {
    return rnn::drawing(arc_from_flat(arc));
  }
};

}  // namespace

const Space& space() {
  static const RnnSpace instance;
  return instance;
}

}  // namespace enas::rnn
