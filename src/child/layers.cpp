#include "enas/child/layers.h"

#include <cmath>

#include "enas/child/depthwise.h"

namespace enas {

namespace F = torch::nn::functional;

void he_normal_(torch::Tensor weight, int64_t tf_fan_in) {
  torch::NoGradGuard guard;
  const double std = std::sqrt(2.0 / static_cast<double>(tf_fan_in));
  // Inverse-CDF sampling of a normal truncated to [-2 std, 2 std]: uniform in [Phi(-2), Phi(2)],
  // mapped back through erfinv.
  const double lo = 0.5 * (1.0 + std::erf(-2.0 / std::sqrt(2.0)));
  const double hi = 0.5 * (1.0 + std::erf(2.0 / std::sqrt(2.0)));
  weight.uniform_(2.0 * lo - 1.0, 2.0 * hi - 1.0);
  weight.erfinv_().mul_(std * std::sqrt(2.0));
  weight.clamp_(-2.0 * std, 2.0 * std);
}

torch::nn::Conv2d make_conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t groups) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(cin, cout, k)
                             .stride(stride)
                             .padding(k / 2)
                             .groups(groups)
                             .bias(false));
  // TF's weight shape is [k, k, cin, cout] (depthwise: [k, k, C, 1]), fan_in k*k*cin either way.
  he_normal_(conv->weight, k * k * cin);
  return conv;
}

BatchNorm make_bn(int64_t channels, bool affine, bool track_stats) {
  return BatchNorm(torch::nn::BatchNorm2dOptions(channels)
                       .eps(1e-5)
                       .momentum(0.1)
                       .affine(affine)
                       .track_running_stats(track_stats));
}

ReluConvBnImpl::ReluConvBnImpl(int64_t cin, int64_t cout, bool track_stats) {
  conv_ = register_module("conv", make_conv(cin, cout, 1));
  bn_ = register_module("bn", make_bn(cout, true, track_stats));
}

torch::Tensor ReluConvBnImpl::forward(const torch::Tensor& x) {
  return bn_->forward(conv_->forward(torch::relu(x)));
}

FactorizedReductionImpl::FactorizedReductionImpl(int64_t cin, int64_t cout, bool relu_first,
                                                 bool track_stats)
    : relu_first_(relu_first) {
  TORCH_CHECK(cout % 2 == 0, "factorized reduction needs an even number of filters, got ", cout);
  // A 1x1 conv at stride 2 equals TF's 1x1 average pool at stride 2 followed by a 1x1 conv.
  path1_ = register_module("path1", make_conv(cin, cout / 2, 1, 2));
  path2_ = register_module("path2", make_conv(cin, cout / 2, 1, 2));
  bn_ = register_module("bn", make_bn(cout, true, track_stats));
}

torch::Tensor FactorizedReductionImpl::forward(const torch::Tensor& input) {
  torch::Tensor x = relu_first_ ? torch::relu(input) : input;
  // Path 1 reads pixels (2i, 2j), path 2 pixels (2i+1, 2j+1) (TF pads bottom/right by one, drops
  // the first row and column, then subsamples). Both are one 2x2 stride-2 conv whose kernel holds
  // path 1's weights at tap (0, 0) and path 2's at tap (1, 1): no slicing, no concatenation (their
  // backward zero-filled whole activations and cost ~10% of a micro step).
  if (x.size(2) % 2 != 0 || x.size(3) % 2 != 0) {
    x = F::pad(x, F::PadFuncOptions({0, x.size(3) % 2, 0, x.size(2) % 2}));
  }
  auto w1 = F::pad(path1_->weight, F::PadFuncOptions({0, 1, 0, 1}));  // (cout/2, cin, 2, 2)
  auto w2 = F::pad(path2_->weight, F::PadFuncOptions({1, 0, 1, 0}));
  auto w = torch::cat({w1, w2}, 0).contiguous(x.suggest_memory_format());
  return bn_->forward(F::conv2d(x, w, F::Conv2dFuncOptions().stride(2)));
}

torch::Tensor drop_path(const torch::Tensor& x, double keep) {
  // floor(keep + U[0,1)) is 1 with probability keep.
  auto mask = torch::floor(keep + torch::rand({x.size(0), 1, 1, 1}, x.options()));
  return x * (mask / keep);  // one pass over x instead of two
}

torch::Tensor pool3x3(const torch::Tensor& x, bool average, int64_t stride) {
  if (average) {
    return F::avg_pool2d(
        x, F::AvgPool2dFuncOptions(3).stride(stride).padding(1).count_include_pad(false));
  }
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(stride).padding(1));
}

int64_t count_params(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard guard;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

}  // namespace enas
