#pragma once
/// What an operator must do at least: its floating-point operations and the bytes it must read
/// and write, from the shapes it runs at. The roofline figures of `enas bench` and the
/// GFLOP/s and GB/s columns of `--profile` come from these rules; docs/performance.md states them.
///
/// Counted are the operators an architecture needs (convolutions, batch norm, ReLU, pooling,
/// elementwise sums and products, matrix products, the fused softmax, the optimiser's passes),
/// forward and backward. Copies, fills, concatenations and layout changes get no rule: a perfect
/// implementation would not run them, so their time is overhead, not work.
///
/// Bytes are compulsory traffic: every tensor an operator reads counts once and every tensor it
/// writes counts once, as if caches held nothing between operators and everything within one.
/// Torch-free, so that the rules are tested on plain shapes.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace enas {

/// One input of an operator, as a rule sees it.
struct OpArg {
  enum class Kind { kNone, kTensor, kTensorList, kInts, kInt, kBool, kOther };
  Kind kind = Kind::kNone;
  std::vector<std::vector<int64_t>> shapes;  // kTensor: one shape; kTensorList: one per tensor
  std::vector<int64_t> ints;                 // kInts: the list; kInt / kBool: one value
  int64_t item_bytes = 4;                    // the element size of a tensor or list

  static OpArg tensor(std::vector<int64_t> shape, int64_t item_bytes = 4);
  static OpArg tensors(std::vector<std::vector<int64_t>> shapes, int64_t item_bytes = 4);
  static OpArg int_list(std::vector<int64_t> values);
  static OpArg integer(int64_t value);
  static OpArg none();
};

struct OpCost {
  double flops = 0;  // floating-point operations (a multiply-add is 2)
  double bytes = 0;  // compulsory bytes read plus written

  OpCost& operator+=(const OpCost& o) {
    flops += o.flops;
    bytes += o.bytes;
    return *this;
  }
};

/// The cost of one call of `name` (an ATen operator such as "aten::convolution", or one of this
/// project's "enas::" operators) with these inputs; nullopt when no rule covers it.
std::optional<OpCost> op_cost(std::string_view name, const std::vector<OpArg>& args);

/// Whether `name` has a rule: the profiler converts an operator's inputs only then.
bool has_op_rule(std::string_view name);

/// What the machine can do at most: measured by `enas bench --only machine`.
struct MachineLimits {
  double gflop_per_s = 0;  // the faster of SGEMM and oneDNN's 1x1 convolution, configured threads
  double gb_per_s = 0;     // a triad, a[i] = b[i] + s * c[i], at the configured threads
};

/// The least time `cost` can take on `limits`: max(flops / peak, bytes / bandwidth), seconds.
double roofline_seconds(const OpCost& cost, const MachineLimits& limits);

/// Which roof binds: "compute" or "memory".
const char* roofline_bound(const OpCost& cost, const MachineLimits& limits);

}  // namespace enas
