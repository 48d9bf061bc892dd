#pragma once
/// micro_child.py's `_model`, the one skeleton of the micro space: the stem, N + 2 layers (a
/// reduction, channels doubled, at the plan's two reduction layers), the auxiliary head after
/// the layer that follows the second one, then ReLU, global pool, dropout and the classifier.
/// What a layer is belongs to the child that fills the skeleton: `_fixed_layer` (MicroFixed, final
/// training) or `_enas_layer` (MicroShared, the search), each built and run through a callback.
#include <torch/torch.h>

#include <functional>
#include <utility>

#include "enas/child/image_child.h"
#include "enas/child/layers.h"
#include "enas/space/micro.h"

namespace enas {

/// `aux_head` of micro_child.py: ReLU, 5x5/3 average pool, 1x1 conv 128 + BN + ReLU, a conv the
/// size of the pooled map to 768 (TF "SAME" padding) + BN + ReLU, global pool, bias-free FC.
class AuxHeadImpl : public torch::nn::Module {
 public:
  AuxHeadImpl(int64_t in_channels, int64_t in_size, int64_t num_classes);
  torch::Tensor forward(const torch::Tensor& x);  // (B, C, H, W) -> (B, num_classes)

 private:
  int64_t pad_lo_ = 0, pad_hi_ = 0;
  torch::nn::Conv2d proj_{nullptr}, conv_{nullptr};
  BatchNorm proj_bn_{nullptr}, bn_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(AuxHead);

struct MicroModelOptions {
  TORCH_ARG(ImageShape, input) = {};
  TORCH_ARG(int64_t, num_layers) = 6;     // child_num_layers: N normal layers, N + 2 built
  TORCH_ARG(int64_t, out_filters) = 20;   // child_out_filters, doubled at each reduction
  TORCH_ARG(double, keep_prob) = 0.9;     // child_keep_prob: dropout before the FC (training)
  TORCH_ARG(bool, use_aux_heads) = true;  // child_use_aux_heads (training mode only)
  TORCH_ARG(bool, stem_stats) = true;     // false: the stem's BN uses batch statistics only
};

class MicroModel {
 public:
  using Shape = std::pair<int64_t, int64_t>;  // (channels, height)
  /// Builds layer `layer` (a reduction when `reduce`, `filters` already doubled there) on inputs
  /// of shapes prev and cur, registering its modules on the child; it may move the inputs (the
  /// search reduces cur first: `layers = [layers[-1], x]`). Returns its output's shape.
  using BuildLayer =
      std::function<Shape(int64_t layer, bool reduce, int64_t filters, Shape& prev, Shape& cur)>;
  /// Runs layer `layer` on s0 and s1, moving them as its build moved the shapes.
  using RunLayer =
      std::function<torch::Tensor(int64_t layer, torch::Tensor& s0, torch::Tensor& s1)>;

  MicroModel() : plan_(0) {}
  /// Registers the skeleton's modules on `child` (the stem, the aux head, dropout, the
  /// classifier) in the authors' order, the layers' through `build` in between.
  void build(torch::nn::Module& child, MicroModelOptions options, const BuildLayer& build);
  /// images (B, C, H, W) -> logits (B, classes), and aux logits in training.
  ChildOutput forward(const torch::Tensor& images, bool training, const RunLayer& run);

  const micro::Plan& plan() const { return plan_; }
  /// The layer the aux head reads, or -1 without one.
  int64_t aux_index() const { return aux_index_; }

 private:
  MicroModelOptions options_;
  micro::Plan plan_;
  int64_t aux_index_ = -1;
  torch::nn::Conv2d stem_conv_{nullptr};
  BatchNorm stem_bn_{nullptr};
  AuxHead aux_head_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

}  // namespace enas
