#include "enas/util/op_cost.h"

#include <algorithm>
#include <functional>
#include <map>
#include <string>

namespace enas {

OpArg OpArg::tensor(std::vector<int64_t> shape, int64_t item_bytes) {
  OpArg a;
  a.kind = Kind::kTensor;
  a.shapes.push_back(std::move(shape));
  a.item_bytes = item_bytes;
  return a;
}

OpArg OpArg::tensors(std::vector<std::vector<int64_t>> shapes, int64_t item_bytes) {
  OpArg a;
  a.kind = Kind::kTensorList;
  a.shapes = std::move(shapes);
  a.item_bytes = item_bytes;
  return a;
}

OpArg OpArg::int_list(std::vector<int64_t> values) {
  OpArg a;
  a.kind = Kind::kInts;
  a.ints = std::move(values);
  return a;
}

OpArg OpArg::integer(int64_t value) {
  OpArg a;
  a.kind = Kind::kInt;
  a.ints = {value};
  return a;
}

OpArg OpArg::none() { return OpArg{}; }

namespace {

using Shape = std::vector<int64_t>;
using Args = std::vector<OpArg>;

double numel(const Shape& s) {
  double n = 1;
  for (int64_t d : s) n *= static_cast<double>(d);
  return n;
}

bool is_tensor(const Args& a, size_t i) {
  return i < a.size() && a[i].kind == OpArg::Kind::kTensor && !a[i].shapes.empty();
}
const Shape& shape(const Args& a, size_t i) { return a[i].shapes[0]; }
double elems(const Args& a, size_t i) { return is_tensor(a, i) ? numel(shape(a, i)) : 0.0; }
double item(const Args& a) { return is_tensor(a, 0) ? static_cast<double>(a[0].item_bytes) : 4.0; }

/// Entry `k` of an int-list argument (a 1-element list applies to both spatial axes), or `dflt`
/// when the list is absent or empty.
int64_t int_at(const Args& a, size_t i, size_t k, int64_t dflt) {
  if (i >= a.size() || a[i].ints.empty()) return dflt;
  const auto& v = a[i].ints;
  return k < v.size() ? v[k] : v.back();
}

bool flag(const Args& a, size_t i, bool dflt) {
  return i < a.size() && !a[i].ints.empty() ? a[i].ints[0] != 0 : dflt;
}

int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil) {
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  int64_t out = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
  // PyTorch's rule: the last window of ceil mode must start inside the input or its left pad.
  if (ceil && (out - 1) * stride >= in + pad) --out;
  return std::max<int64_t>(out, 0);
}

// ---- convolution: input 0, weight 1; stride, padding and dilation at `at`, `at + 1`, `at + 2`.
std::optional<OpCost> conv_forward(const Args& a, size_t at, bool transposed) {
  if (transposed || !is_tensor(a, 0) || !is_tensor(a, 1)) return std::nullopt;
  const Shape& x = shape(a, 0);
  const Shape& w = shape(a, 1);
  if (x.size() != 4 || w.size() != 4) return std::nullopt;
  const int64_t ho = window_out(x[2], w[2], int_at(a, at, 0, 1), int_at(a, at + 1, 0, 0),
                                int_at(a, at + 2, 0, 1), false);
  const int64_t wo = window_out(x[3], w[3], int_at(a, at, 1, 1), int_at(a, at + 1, 1, 0),
                                int_at(a, at + 2, 1, 1), false);
  const double out = static_cast<double>(x[0]) * w[0] * ho * wo;
  const double bias = elems(a, 2);
  return OpCost{2.0 * out * numel(w) / w[0] + (bias > 0 ? out : 0.0),
                (numel(x) + numel(w) + out + bias) * item(a)};
}

// aten::convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation,
// transposed, output_padding, groups, output_mask)
std::optional<OpCost> conv_backward(const Args& a) {
  if (flag(a, 7, false) || !is_tensor(a, 0) || !is_tensor(a, 1) || !is_tensor(a, 2))
    return std::nullopt;
  const Shape& w = shape(a, 2);
  const double gy = elems(a, 0), x = elems(a, 1), nw = numel(w);
  const double macs = gy * nw / w[0];
  bool mask[3] = {true, true, true};
  if (a.size() > 10 && a[10].ints.size() == 3)
    for (int k = 0; k < 3; ++k) mask[k] = a[10].ints[k] != 0;
  OpCost c;
  c.flops = 2.0 * macs * (mask[0] + mask[1]) + (mask[2] ? gy : 0.0);
  const double reads = gy + (mask[0] ? nw : 0.0) + (mask[1] ? x : 0.0);
  const double writes = (mask[0] ? x : 0.0) + (mask[1] ? nw : 0.0) + (mask[2] ? w[0] : 0.0);
  c.bytes = (reads + writes) * item(a);
  return c;
}

// ---- pooling: input 0, kernel 1, stride 2, padding 3; `dil_at` / `ceil_at` where the op has them.
std::optional<OpCost> pool_forward(const Args& a, size_t dil_at, size_t ceil_at, bool indices) {
  if (!is_tensor(a, 0) || shape(a, 0).size() != 4) return std::nullopt;
  const Shape& x = shape(a, 0);
  const bool ceil = flag(a, ceil_at, false);
  int64_t out[2], k[2];
  for (size_t d = 0; d < 2; ++d) {
    k[d] = int_at(a, 1, d, 1);
    const int64_t dil = dil_at ? int_at(a, dil_at, d, 1) : 1;
    out[d] = window_out(x[2 + d], k[d], int_at(a, 2, d, k[d]), int_at(a, 3, d, 0), dil, ceil);
  }
  const double y = static_cast<double>(x[0]) * x[1] * out[0] * out[1];
  return OpCost{y * k[0] * k[1], (numel(x) + y) * item(a) + (indices ? 8.0 * y : 0.0)};
}

// Backward of a pooling: grad_output 0, input 1, kernel 2; max pooling reads its indices.
std::optional<OpCost> pool_backward(const Args& a, bool max) {
  if (!is_tensor(a, 0) || !is_tensor(a, 1)) return std::nullopt;
  const double gy = elems(a, 0), x = elems(a, 1);
  const double taps = max ? 1.0 : static_cast<double>(int_at(a, 2, 0, 1) * int_at(a, 2, 1, 1));
  return OpCost{gy * taps, (gy + x) * item(a) + (max ? 8.0 * gy : 0.0)};
}

// ---- elementwise: `reads` tensors of x's size in, one out, `flops` per element.
std::optional<OpCost> pointwise(const Args& a, double reads, double flops) {
  if (!is_tensor(a, 0)) return std::nullopt;
  const double n = elems(a, 0);
  return OpCost{flops * n, (reads + 1.0) * n * item(a)};
}

// A binary op with broadcasting: self 0, other 1 (a tensor or a scalar).
std::optional<OpCost> binary(const Args& a) {
  if (!is_tensor(a, 0)) return std::nullopt;
  const double out = std::max(elems(a, 0), elems(a, 1));
  return OpCost{out, (elems(a, 0) + elems(a, 1) + out) * item(a)};
}

// A reduction over the dims listed at argument 1 (all of them when absent).
std::optional<OpCost> reduction(const Args& a) {
  if (!is_tensor(a, 0)) return std::nullopt;
  const Shape& x = shape(a, 0);
  double out = numel(x);
  if (a.size() > 1 && a[1].kind == OpArg::Kind::kInts && !a[1].ints.empty()) {
    for (int64_t d : a[1].ints) {
      const int64_t axis = d < 0 ? d + static_cast<int64_t>(x.size()) : d;
      if (axis >= 0 && axis < static_cast<int64_t>(x.size()) && x[axis] > 0) out /= x[axis];
    }
  } else {
    out = 1;
  }
  return OpCost{numel(x), (numel(x) + out) * item(a)};
}

// (M, K) x (K, N) with the operands at `lhs` and `lhs + 1`; `bias` a tensor added to the product.
std::optional<OpCost> matmul(const Args& a, size_t lhs, int bias) {
  if (!is_tensor(a, lhs) || !is_tensor(a, lhs + 1)) return std::nullopt;
  const Shape& l = shape(a, lhs);
  const Shape& r = shape(a, lhs + 1);
  if (l.size() < 2 || r.size() < 2 || l.size() != r.size()) return std::nullopt;
  const double batch = numel(l) / (l[l.size() - 2] * l.back());
  const double m = l[l.size() - 2], k = l.back(), n = r.back();
  const double out = batch * m * n;
  const double b = bias >= 0 ? elems(a, static_cast<size_t>(bias)) : 0.0;
  return OpCost{2.0 * batch * m * k * n + (b > 0 ? out : 0.0),
                (numel(l) + numel(r) + out + b) * item(a)};
}

// aten::linear(input [..., K], weight [N, K], bias [N]?)
std::optional<OpCost> linear(const Args& a) {
  if (!is_tensor(a, 0) || !is_tensor(a, 1) || shape(a, 1).size() != 2) return std::nullopt;
  const double k = shape(a, 1)[1], n = shape(a, 1)[0];
  const double m = elems(a, 0) / k, bias = elems(a, 2);
  return OpCost{2.0 * m * k * n + (bias > 0 ? m * n : 0.0),
                (m * k + n * k + m * n + bias) * item(a)};
}

// A foreach op: every tensor-list argument is read, the first one's size is written.
std::optional<OpCost> foreach_op(const Args& a, double flops_per_element, bool writes) {
  if (a.empty() || a[0].kind != OpArg::Kind::kTensorList) return std::nullopt;
  double n = 0;
  for (const Shape& s : a[0].shapes) n += numel(s);
  double lists = 0;
  for (const OpArg& arg : a) lists += arg.kind == OpArg::Kind::kTensorList;
  return OpCost{flops_per_element * n,
                (lists + (writes ? 1.0 : 0.0)) * n * static_cast<double>(a[0].item_bytes)};
}

using Rule = std::function<std::optional<OpCost>(const Args&)>;

const std::map<std::string_view, Rule>& rules() {
  static const std::map<std::string_view, Rule> r = {
      // convolution(input, weight, bias, stride, padding, dilation, transposed, ...)
      {"aten::convolution", [](const Args& a) { return conv_forward(a, 3, flag(a, 6, false)); }},
      {"aten::conv2d", [](const Args& a) { return conv_forward(a, 3, false); }},
      {"aten::convolution_backward", conv_backward},
      {"enas::depthwise_conv2d", [](const Args& a) { return conv_forward(a, 3, false); }},
      {"enas::depthwise_conv2d_backward", conv_backward},
      // max_pool2d(self, kernel_size, stride, padding, dilation, ceil_mode)
      {"aten::max_pool2d", [](const Args& a) { return pool_forward(a, 4, 5, false); }},
      {"aten::max_pool2d_with_indices", [](const Args& a) { return pool_forward(a, 4, 5, true); }},
      {"aten::max_pool2d_with_indices_backward",
       [](const Args& a) { return pool_backward(a, true); }},
      // avg_pool2d(self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor)
      {"aten::avg_pool2d", [](const Args& a) { return pool_forward(a, 0, 4, false); }},
      {"aten::avg_pool2d_backward", [](const Args& a) { return pool_backward(a, false); }},
      // Batch norm in training: the statistics (sum, sum of squares) and the scale-and-shift;
      // backward: two reductions, then the input's gradient. Reads x (and dy), writes y (dx).
      {"aten::batch_norm",
       [](const Args& a) { return pointwise(a, 1, flag(a, 5, true) ? 4.0 : 2.0); }},
      {"aten::native_batch_norm",
       [](const Args& a) { return pointwise(a, 1, flag(a, 5, true) ? 4.0 : 2.0); }},
      {"enas::batch_norm", [](const Args& a) { return pointwise(a, 1, 4.0); }},
      {"enas::batch_norm_relu", [](const Args& a) { return pointwise(a, 1, 5.0); }},
      {"aten::native_batch_norm_backward", [](const Args& a) { return pointwise(a, 2, 8.0); }},
      {"enas::batch_norm_backward", [](const Args& a) { return pointwise(a, 2, 8.0); }},
      {"enas::batch_norm_relu_backward", [](const Args& a) { return pointwise(a, 2, 10.0); }},
      {"aten::relu", [](const Args& a) { return pointwise(a, 1, 1.0); }},
      {"aten::relu_", [](const Args& a) { return pointwise(a, 1, 1.0); }},
      {"aten::threshold_backward", [](const Args& a) { return pointwise(a, 2, 1.0); }},
      {"aten::add", binary},
      {"aten::add_", binary},
      {"aten::sub", binary},
      {"aten::sub_", binary},
      {"aten::mul", binary},
      {"aten::mul_", binary},
      {"aten::div", binary},
      {"aten::div_", binary},
      {"aten::sum", reduction},
      {"aten::mean", reduction},
      // Softmax rows: max, exp(x - max) and its sum, the normalisation (exp counted as one).
      {"aten::_log_softmax", [](const Args& a) { return pointwise(a, 1, 5.0); }},
      {"aten::_log_softmax_backward_data", [](const Args& a) { return pointwise(a, 2, 3.0); }},
      {"enas::softmax_rows", [](const Args& a) { return pointwise(a, 1, 4.0); }},
      {"enas::softmax_rows_backward", [](const Args& a) { return pointwise(a, 1, 2.0); }},
      {"aten::mm", [](const Args& a) { return matmul(a, 0, -1); }},
      {"aten::bmm", [](const Args& a) { return matmul(a, 0, -1); }},
      {"aten::addmm", [](const Args& a) { return matmul(a, 1, 0); }},
      {"enas::mm", [](const Args& a) { return matmul(a, 0, -1); }},
      {"enas::addmm", [](const Args& a) { return matmul(a, 1, 0); }},
      {"aten::linear", linear},
      // The optimiser's passes over its lists (SGD with momentum and weight decay).
      {"aten::_foreach_add_", [](const Args& a) { return foreach_op(a, 1.0, true); }},
      {"aten::_foreach_mul_", [](const Args& a) { return foreach_op(a, 1.0, true); }},
      {"aten::_foreach_add", [](const Args& a) { return foreach_op(a, 1.0, true); }},
      {"aten::_foreach_mul", [](const Args& a) { return foreach_op(a, 1.0, true); }},
      {"aten::_foreach_norm", [](const Args& a) { return foreach_op(a, 2.0, false); }},
  };
  return r;
}

}  // namespace

std::optional<OpCost> op_cost(std::string_view name, const std::vector<OpArg>& args) {
  const auto& r = rules();
  const auto it = r.find(name);
  if (it == r.end()) return std::nullopt;
  return it->second(args);
}

bool has_op_rule(std::string_view name) { return rules().count(name) > 0; }

double roofline_seconds(const OpCost& cost, const MachineLimits& limits) {
  const double compute = limits.gflop_per_s > 0 ? cost.flops / (limits.gflop_per_s * 1e9) : 0.0;
  const double memory = limits.gb_per_s > 0 ? cost.bytes / (limits.gb_per_s * 1e9) : 0.0;
  return std::max(compute, memory);
}

const char* roofline_bound(const OpCost& cost, const MachineLimits& limits) {
  const double compute = limits.gflop_per_s > 0 ? cost.flops / (limits.gflop_per_s * 1e9) : 0.0;
  const double memory = limits.gb_per_s > 0 ? cost.bytes / (limits.gb_per_s * 1e9) : 0.0;
  return compute >= memory ? "compute" : "memory";
}

}  // namespace enas
