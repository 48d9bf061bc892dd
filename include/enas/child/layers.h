#pragma once
/// Building blocks shared by the fixed and shared-weight CIFAR-10 children: bias-free convs with
/// the authors' he-normal initialisation, their batch-norm and factorised reduction (the ops
/// themselves: child/ops.h).
#include <torch/torch.h>

#include "enas/child/batch_norm.h"

namespace enas {

/// `create_weight()` of the authors: keras he_normal, a normal truncated at two standard
/// deviations with std sqrt(2 / fan_in). fan_in is counted on the TF weight shape [kh, kw, in,
/// out], so a depthwise [k, k, C, 1] weight has fan_in k*k*C.
void he_normal_(torch::Tensor weight, int64_t tf_fan_in);

/// Bias-free conv with symmetric padding k/2 ("SAME" for odd k at stride 1), he-normal init.
torch::nn::Conv2d make_conv(int64_t cin, int64_t cout, int64_t k, int64_t stride = 1,
                            int64_t groups = 1);

/// image_ops.batch_norm: scale and offset trainable, decay 0.9 (momentum 0.1), eps 1e-5.
BatchNorm make_bn(int64_t channels, bool affine = true, bool track_stats = true);

/// ReLU -> 1x1 conv -> BN: the micro child's calibration (`pool_x`, `pool_y`) and `layer_base`.
/// `track_stats = false` makes the BN use batch statistics in eval mode too (the micro search).
class ReluConvBnImpl : public torch::nn::Module {
 public:
  ReluConvBnImpl(int64_t cin, int64_t cout, bool track_stats = true);
  torch::Tensor forward(const torch::Tensor& x);  // (B, cin, H, W) -> (B, cout, H, W)

 private:
  torch::nn::Conv2d conv_{nullptr};
  BatchNorm bn_{nullptr};
};
TORCH_MODULE(ReluConvBn);

/// `_factorized_reduction(stride=2)`: halves H and W without dropping pixels. Two 1x1 convs of
/// cout/2 each, one on x[::2, ::2] and one on x shifted by one pixel (TF pads bottom/right and
/// drops the first row and column), concatenated, then BN. `relu_first` adds the ReLU the callers
/// put in front of it for calibration; `track_stats` as for ReluConvBn.
class FactorizedReductionImpl : public torch::nn::Module {
 public:
  FactorizedReductionImpl(int64_t cin, int64_t cout, bool relu_first = false,
                          bool track_stats = true);
  torch::Tensor forward(const torch::Tensor& x);  // (B, cin, H, W) -> (B, cout, ceil(H/2), ...)

 private:
  bool relu_first_;
  torch::nn::Conv2d path1_{nullptr}, path2_{nullptr};
  BatchNorm bn_{nullptr};
};
TORCH_MODULE(FactorizedReduction);

/// image_ops.drop_path: keeps each example with probability `keep` and scales it by 1/keep.
torch::Tensor drop_path(const torch::Tensor& x, double keep);

/// TF "SAME" 3x3 pooling at stride 1 or 2. Average pooling counts only valid pixels, as TF does.
torch::Tensor pool3x3(const torch::Tensor& x, bool average, int64_t stride);

/// Total number of elements of the given parameters.
int64_t count_params(const std::vector<torch::Tensor>& params);

/// Moves every 4-d parameter and buffer of `module` to channels-last (NHWC) memory, the layout
/// oneDNN's CPU convolutions are fastest in (25-35% on dense, ~5x on depthwise convs here).
void to_channels_last(torch::nn::Module& module);

}  // namespace enas
