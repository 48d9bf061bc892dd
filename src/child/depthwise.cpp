#include "enas/child/depthwise.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <vector>

#include "enas/child/depthwise_rows.h"
#include "enas/util/error.h"

namespace enas {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace dw = depthwise_rows;

constexpr auto kLast = torch::MemoryFormat::ChannelsLast;

/// Rows per task: each call of a row kernel sets up scratch, so a task takes a few rows.
int64_t grain(int64_t cols, int64_t c) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols * c));
}

/// The (C, 1, k, k) filter as the kernels take it: [k * k][C], tap-major.
Tensor taps(const Tensor& w) {
  return w.detach().reshape({w.size(0), w.size(2) * w.size(3)}).t().contiguous();
}

/// The IValues the profiler's cost rules read (util/op_cost.h), in aten::convolution's order.
std::vector<c10::IValue> conv_args(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad) {
  return {x,
          w,
          c10::IValue(),
          std::vector<int64_t>{stride, stride},
          std::vector<int64_t>{pad, pad},
          std::vector<int64_t>{1, 1}};
}

class DepthwiseFunction : public torch::autograd::Function<DepthwiseFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& input, const Tensor& w, int64_t stride,
                        int64_t pad) {
    const Tensor x = input.contiguous(kLast);
    // oneDNN's forward is the faster one here (3.0 ms a call at [160, 20, 32, 32], 5x5, against
    // 3.9 for a forward pass of our kernel; the step 4% faster in alternating runs): its
    // backward is the slow part, so only the backward is ours.
    Tensor y = torch::conv2d(x, w, {}, stride, pad, 1, x.size(1));
    ctx->save_for_backward({x, w});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["pad"] = pad;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt();
    const int64_t pad = ctx->saved_data["pad"].toInt();
    const bool want_x = ctx->needs_input_grad(0), want_w = ctx->needs_input_grad(1);
    std::vector<c10::IValue> args = conv_args(x, w, stride, pad);
    args.insert(args.begin(), grads[0]);
    args.insert(args.end(), {c10::IValue(false), std::vector<int64_t>{0, 0}, c10::IValue(x.size(1)),
                             std::vector<int64_t>{want_x, want_w, 0}});
    RECORD_FUNCTION("enas::depthwise_conv2d_backward", args);  // for --profile
    const Tensor gy = grads[0].contiguous(kLast);
    const dw::Geometry g{x.size(0), x.size(2), x.size(3), x.size(1), w.size(2), stride, pad};
    const float* gp = gy.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    Tensor gx, gw;
    if (want_x) {
      gx = torch::empty_like(x, kLast);
      const Tensor wt = taps(w);
      const float* wp = wt.data_ptr<float>();
      float* op = gx.data_ptr<float>();
      at::parallel_for(0, g.n * g.h, grain(g.w, g.c),
                       [&](int64_t r0, int64_t r1) { dw::backward_input(g, gp, wp, op, r0, r1); });
    }
    if (want_w) {
      // One double buffer per range, the ranges fixed by the rows and the thread count, and
      // summed in order: the same gradient at every run.
      const int64_t rows = g.n * g.ho(), taps_c = g.k * g.k * g.c;
      const int64_t ranges = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
      std::vector<double> partial(ranges * taps_c, 0.0);
      at::parallel_for(0, ranges, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          dw::backward_weight(g, gp, xp, partial.data() + i * taps_c, rows * i / ranges,
                              rows * (i + 1) / ranges);
        }
      });
      for (int64_t i = 1; i < ranges; ++i)
        for (int64_t j = 0; j < taps_c; ++j) partial[j] += partial[i * taps_c + j];
      // [k * k][C] in double -> the filter's (C, 1, k, k) in float.
      gw = torch::from_blob(partial.data(), {g.k * g.k, g.c}, torch::kDouble)
               .t()
               .to(torch::kFloat)
               .reshape(w.sizes())
               .contiguous();
    }
    return {gx, gw, Tensor(), Tensor()};
  }
};

}  // namespace

bool own_depthwise_kernel(const torch::Tensor& x, const torch::Tensor& w) {
  return x.device().is_cpu() && w.device().is_cpu() && x.scalar_type() == torch::kFloat &&
         w.scalar_type() == torch::kFloat && x.dim() == 4 && w.dim() == 4 &&
         w.size(0) == x.size(1) && w.size(1) == 1 && w.size(2) == w.size(3) && !x.is_contiguous() &&
         x.is_contiguous(kLast);
}

torch::Tensor depthwise_conv2d(const torch::Tensor& x, const torch::Tensor& w, int64_t stride,
                               int64_t pad) {
  require(x.dim() == 4 && w.dim() == 4 && w.size(0) == x.size(1) && w.size(1) == 1,
          "depthwise_conv2d: x {} and w {} must be (B, C, H, W) and (C, 1, k, k)",
          c10::str(x.sizes()), c10::str(w.sizes()));
  require(stride >= 1 && pad >= 0, "depthwise_conv2d: stride {} and pad {}", stride, pad);
  if (!own_depthwise_kernel(x, w)) {
    return torch::nn::functional::conv2d(
        x, w,
        torch::nn::functional::Conv2dFuncOptions().stride(stride).padding(pad).groups(x.size(1)));
  }
  RECORD_FUNCTION("enas::depthwise_conv2d", conv_args(x, w, stride, pad));  // for --profile
  return DepthwiseFunction::apply(x, w, stride, pad);
}

torch::Tensor depthwise_forward(torch::nn::Conv2d& conv, const torch::Tensor& x, int64_t pad) {
  const auto& o = conv->options;
  const auto k = o.kernel_size();
  const auto s = o.stride();
  const auto d = o.dilation();
  const bool depthwise = o.groups() == o.in_channels() && o.out_channels() == o.in_channels() &&
                         !o.bias() && (*k)[0] == (*k)[1] && (*s)[0] == (*s)[1] && (*d)[0] == 1 &&
                         (*d)[1] == 1;
  if (!depthwise || !own_depthwise_kernel(x, conv->weight)) return conv->forward(x);
  return depthwise_conv2d(x, conv->weight, (*s)[0], pad);
}

}  // namespace enas
