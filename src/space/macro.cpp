#include "enas/space/macro.h"

#include <fmt/format.h>

#include <cmath>

#include "enas/space/arc_text.h"
#include "enas/util/error.h"

namespace enas::macro {

std::vector<int> Arc::flat() const {
  std::vector<int> out;
  for (int i = 0; i < num_layers(); ++i) {
    out.push_back(ops[i]);
    out.insert(out.end(), skips[i].begin(), skips[i].end());
  }
  return out;
}

std::string Arc::to_string() const { return join_ints(flat()); }

std::string Arc::describe() const {
  std::string s;
  for (int i = 0; i < num_layers(); ++i) {
    s += fmt::format("layer {:2d} {:<8s} skips from", i, kOpNames[ops[i]]);
    bool any = false;
    for (int k = 0; k < i; ++k) {
      if (!skips[i][k]) continue;
      s += k == 0 ? std::string(" stem") : fmt::format(" {}", k - 1);
      any = true;
    }
    if (!any) s += " -";
    s += '\n';
  }
  return s;
}

Arc arc_from_flat(const std::vector<int>& flat, int num_layers) {
  const int n = static_cast<int>(flat.size());
  if (num_layers <= 0) {
    // Infer N from N (N + 1) / 2 = n.
    int guess = static_cast<int>(std::lround((std::sqrt(8.0 * n + 1) - 1) / 2));
    require(guess > 0 && arc_length(guess) == n,
            "macro architecture: {} numbers is not N(N+1)/2 for any number of layers N "
            "(per layer i: one op, then i skip bits)",
            n);
    num_layers = guess;
  }
  require(n == arc_length(num_layers),
          "macro architecture: {} numbers given, but {} layers need {} (per layer i: one op, "
          "then i skip bits)",
          n, num_layers, arc_length(num_layers));
  Arc arc;
  int pos = 0;
  for (int i = 0; i < num_layers; ++i) {
    int op = flat[pos];
    require(op >= 0 && op < kNumOps,
            "macro architecture: position {} (layer {} op) is {}, allowed 0..{}", pos, i, op,
            kNumOps - 1);
    arc.ops.push_back(op);
    ++pos;
    std::vector<int> bits;
    for (int k = 0; k < i; ++k, ++pos) {
      require(flat[pos] == 0 || flat[pos] == 1,
              "macro architecture: position {} (layer {} skip bit {}) is {}, allowed 0..1", pos, i,
              k, flat[pos]);
      bits.push_back(flat[pos]);
    }
    arc.skips.push_back(std::move(bits));
  }
  return arc;
}

Arc parse_arc(const std::string& text, int num_layers) {
  return arc_from_flat(parse_int_list(text, "macro architecture"), num_layers);
}

}  // namespace enas::macro
