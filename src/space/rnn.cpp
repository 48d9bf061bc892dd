#include "enas/space/rnn.h"

#include <fmt/format.h>

#include "enas/space/arc_text.h"
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
  std::vector<int> parse(const std::string& text, const SpaceSizes& s) const override {
    return parse_arc(text, s.num_layers).code;
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
};

}  // namespace

const Space& space() {
  static const RnnSpace instance;
  return instance;
}

}  // namespace enas::rnn
