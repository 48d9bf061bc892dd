#pragma once
/// The macro-space shared-weight child of the search, after the authors' general_child.py with
/// fixed_arc None and whole_channels: `_enas_layer` in the skeleton of `_model` (macro_model.h),
/// `_conv_branch` and `_pool_branch` from the op table (ops.h; start_idx 0, count out_filters).
/// Only the sampled op of each layer runs (the authors build every branch and pick one with
/// tf.case).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "enas/child/layers.h"
#include "enas/child/macro_model.h"
#include "enas/child/ops.h"
#include "enas/child/shared_child.h"
#include "enas/space/macro.h"

namespace enas {

struct MacroSharedOptions {
  TORCH_ARG(ImageShape, input) = {};
  TORCH_ARG(int64_t, num_layers) = 12;   // child_num_layers
  TORCH_ARG(int64_t, out_filters) = 36;  // child_out_filters: constant, no doubling in search
  TORCH_ARG(int64_t, num_branches) = 6;  // child_num_branches: ops 0..num_branches-1 are built
  TORCH_ARG(double, keep_prob) = 0.9;    // child_keep_prob: dropout before the FC (training)
};

class MacroSharedImpl : public SharedChildImpl {
 public:
  explicit MacroSharedImpl(MacroSharedOptions options);
  /// flat: macro::Arc::flat() of num_layers layers; ops must be < num_branches.
  void set_arc(const std::vector<int>& flat) override;
  int64_t arc_length() const override { return macro::arc_length(options_.num_layers()); }
  const macro::Arc& arc() const { return arc_; }
  /// The logits; aux_logits is always undefined. Training-mode BN uses batch statistics and
  /// updates the running ones, eval mode uses the running ones (the authors' valid graph).
  ChildOutput forward(const torch::Tensor& images) override;
  std::string summary() const override;
  const MacroSharedOptions& options() const { return options_; }

 private:
  MacroSharedOptions options_;
  MacroModel model_;
  macro::Arc arc_;
  std::vector<std::vector<MacroBranch>> branches_;  // [layer][op]
  std::vector<BatchNorm> skip_bn_;                  // [layer], undefined for layer 0
};
TORCH_MODULE(MacroShared);

}  // namespace enas
