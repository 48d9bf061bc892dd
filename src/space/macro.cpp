#include "enas/space/macro.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "enas/space/arc_text.h"
#include "enas/space/drawing.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "image_header.h"

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
    s += fmt::format("layer {:2d} {:<8s} skips from", i, kOps[ops[i]].name);
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

Drawing drawing(const Arc& arc) {
  using Look = Drawing::Look;
  const int n = arc.num_layers();
  bool shaped = static_cast<int>(arc.skips.size()) == n;
  for (int i = 0; shaped && i < n; ++i) shaped = static_cast<int>(arc.skips[i].size()) == i;
  require(shaped, "macro architecture: layer i must have i skip bits ({} layers given)", n);
  arc_from_flat(arc.flat(), n);
  Drawing d;
  d.title = fmt::format("macro network, {} layers", n);
  d.left_to_right = false;  // 24 layers stay one readable column, the skips curving beside it
  auto layer = [](int i) { return fmt::format("layer_{}", i); };
  d.box("input", "image", Look::kInput);
  d.box("stem", "stem\nconv3x3", Look::kInput);
  d.arrow("input", "stem");
  for (int i = 0; i < n; ++i)
    d.box(layer(i), fmt::format("{}: {}", i, kOps[arc.ops[i]].name), Look::kInner);
  const std::vector<int64_t> pools = pool_layers(n);
  std::string prev = "stem";
  for (int i = 0; i < n; ++i) {
    d.arrow(prev, layer(i));
    prev = layer(i);
    // general_child.py halves every earlier output after these layers (factorised reduction)
    // and doubles the channels: drawn on the chain, the skips that cross it are reduced too.
    if (std::find(pools.begin(), pools.end(), i) != pools.end() && i + 1 < n) {
      const std::string pool = fmt::format("pool_{}", i);
      d.box(pool, "factorised reduction\nstride 2, channels x2", Look::kNote);
      d.arrow(prev, pool);
      prev = pool;
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < i; ++k) {
      // Skip bit k: the stem (k = 0) or layer k-1, added to layer i's op output.
      if (arc.skips[i][k]) d.arrow(k == 0 ? "stem" : layer(k - 1), layer(i), "", Look::kSkip);
    }
  }
  d.box("output", "global avgpool\nfc, softmax", Look::kOutput);
  d.arrow(prev, "output");
  return d;
}

}  // namespace enas::macro

namespace enas::macro {

namespace {

/// Whether flat position `pos` of a macro architecture is a layer's op (else a skip bit).
bool is_op_position(int pos) {
  int start = 0;
  for (int layer = 0; start <= pos; ++layer) {
    if (pos == start) return true;
    start += layer + 1;
  }
  return false;
}

class MacroSpace : public Space {
 public:
  SpaceKind kind() const override { return SpaceKind::kMacro; }
  const char* name() const override { return kMacroSpace; }
  bool language() const override { return false; }
  int num_ops() const override { return kNumOps; }
  const char* op_name(int op) const override { return kOps.at(op).name; }
  int arc_length(const SpaceSizes& s) const override { return macro::arc_length(s.num_layers); }
  int choices_at(const SpaceSizes& s, int pos) const override {
    return is_op_position(pos) ? s.num_branches : 2;
  }
  bool has_skips() const override { return true; }
  bool is_skip(const SpaceSizes&, int pos) const override { return !is_op_position(pos); }
  std::vector<int> check(const std::vector<int>& flat, const SpaceSizes& s) const override {
    return arc_from_flat(flat, s.num_layers).flat();
  }
  std::string lines(const std::vector<int>& arc) const override {
    // The authors print one layer per line: its op, then its skip bits.
    std::string s;
    size_t start = 0;
    for (int layer = 0; start < arc.size(); ++layer) {
      const size_t end = std::min(arc.size(), start + layer + 1);
      s += (s.empty() ? "[" : "\n[") +
           join_ints(std::vector<int>(arc.begin() + start, arc.begin() + end)) + "]";
      start = end;
    }
    return s;
  }
  std::string describe(const std::vector<int>& arc) const override {
    return arc_from_flat(arc).describe();
  }
  std::string arc_header(const SpaceSizes& s, const std::string& dataset,
                         const std::string& score_name, double score) const override {
    return image_arc_header(*this, s, dataset, score_name, score);
  }
  bool fixes_num_layers() const override { return true; }
  Drawing drawing(const std::vector<int>& arc) const override {
    return macro::drawing(arc_from_flat(arc));
  }
};

}  // namespace

const Space& space() {
  static const MacroSpace instance;
  return instance;
}

}  // namespace enas::macro
