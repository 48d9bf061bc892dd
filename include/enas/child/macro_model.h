#pragma once
/// general_child.py's `_model`, the one skeleton of the macro space: the stem, N layers, every
/// earlier output halved by a factorised reduction after each of the two pooling layers, then
/// global pool (no ReLU before it, as the authors'), dropout and the classifier. What a layer is
/// belongs to the child that fills the skeleton: `_fixed_layer` (MacroFixed, final training) or
/// `_enas_layer` (MacroShared, the search), each built and run through a callback.
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "enas/child/image_child.h"
#include "enas/child/layers.h"

namespace enas {

struct MacroModelOptions {
  TORCH_ARG(ImageShape, input) = {};
  TORCH_ARG(int64_t, num_layers) = 12;      // child_num_layers
  TORCH_ARG(int64_t, out_filters) = 36;     // child_out_filters
  TORCH_ARG(double, keep_prob) = 0.9;       // child_keep_prob: dropout before the FC (training)
  TORCH_ARG(bool, double_at_pools) = true;  // false in search: no `out_filters *= 2`
};

class MacroModel {
 public:
  /// Builds layer `layer` on `filters` channels, registering its modules on the child.
  using BuildLayer = std::function<void(int64_t layer, int64_t filters)>;
  /// Output `slot` (0: the stem, i: layer i-1's) at the reading layer's resolution.
  using Input = std::function<torch::Tensor(int slot)>;
  /// Runs layer `layer`: its op reads input(layer), its skip bit k input(k).
  using RunLayer = std::function<torch::Tensor(int layer, const Input& input)>;

  /// Registers the skeleton's modules on `child` (the stem, the reductions, dropout, the
  /// classifier) in the authors' order, the layers' through `build` in between.
  void build(torch::nn::Module& child, MacroModelOptions options, const BuildLayer& build);
  /// images (B, C, H, W) -> logits (B, classes); no aux logits.
  ChildOutput forward(const torch::Tensor& images, const RunLayer& run);

  /// The layers after which every earlier output is reduced (macro::pool_layers).
  const std::vector<int64_t>& pool_layers() const { return pool_layers_; }

 private:
  bool pools_after(int64_t layer) const;
  /// Slot `slot` at pooling stage `stage`, reducing lazily: only what a layer reads is run.
  torch::Tensor get(std::vector<std::vector<torch::Tensor>>& versions, int slot, int stage);

  MacroModelOptions options_;
  std::vector<int64_t> pool_layers_;
  torch::nn::Conv2d stem_conv_{nullptr};
  BatchNorm stem_bn_{nullptr};
  // reductions_[s][slot]: `pool_at_{layer}/from_{slot}`, the factorised reduction of slot at the
  // s-th pooling. The authors reduce every earlier output; only the ones read are run.
  std::vector<std::vector<FactorizedReduction>> reductions_;
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

}  // namespace enas
