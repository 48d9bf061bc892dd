#include "enas/space/rnn.h"

#include <fmt/format.h>

#include "enas/space/arc_text.h"
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
