#pragma once
/// The micro-space child for a fixed architecture (final training), structure for structure as
/// the authors' micro_child.py fixed-arc path: `_fixed_layer`, `_maybe_calibrate_size`,
/// `_fixed_combine` and `_apply_drop_path` here, `_fixed_conv` in the op table (ops.h), `_model`
/// and the aux head in the skeleton (micro_model.h).
#include <torch/torch.h>

#include "enas/child/layers.h"
#include "enas/child/micro_model.h"
#include "enas/child/ops.h"
#include "enas/space/micro.h"

namespace enas {

struct MicroFixedOptions {
  explicit MicroFixedOptions(micro::Arc arc) : arc_(std::move(arc)) {}
  TORCH_ARG(micro::Arc, arc);
  TORCH_ARG(ImageShape, input) = {};
  TORCH_ARG(int64_t, num_layers) = 15;   // child_num_layers: N normal layers, N + 2 cells built
  TORCH_ARG(int64_t, out_filters) = 36;  // child_out_filters: channels of the first cells
  TORCH_ARG(double, keep_prob) = 0.8;    // child_keep_prob: dropout before the FC layer
  TORCH_ARG(double, drop_path_keep_prob) = 0.6;  // child_drop_path_keep_prob; 1 = off
  TORCH_ARG(bool, use_aux_heads) = true;         // child_use_aux_heads
};

/// One cell (a "layer" in the authors' code): calibrate both inputs, `layer_base`, the blocks,
/// then concatenate the loose ends.
class MicroFixedCellImpl : public torch::nn::Module {
 public:
  /// in0, in1: (channels, height) of the two inputs (in0 may be twice in1's size).
  MicroFixedCellImpl(const micro::Cell& cell, std::pair<int64_t, int64_t> in0,
                     std::pair<int64_t, int64_t> in1, int64_t out_filters, int64_t stride);
  /// keep: drop-path keep probability, or <= 0 for none.
  torch::Tensor forward(const torch::Tensor& s0, const torch::Tensor& s1, double keep);
  int64_t out_channels() const { return out_channels_; }
  int64_t out_size() const { return out_size_; }

 private:
  micro::Cell cell_;
  torch::nn::AnyModule calib_x_, calib_y_;
  ReluConvBn base_{nullptr};
  std::vector<torch::nn::AnyModule> ops_;      // 2 per block
  std::vector<int> loose_;                     // nodes concatenated at the output
  std::vector<torch::nn::AnyModule> combine_;  // per loose node: identity or reduction
  int64_t out_channels_ = 0, out_size_ = 0;
};
TORCH_MODULE(MicroFixedCell);

class MicroFixedImpl : public ImageChildImpl {
 public:
  explicit MicroFixedImpl(MicroFixedOptions options);
  ChildOutput forward(const torch::Tensor& images) override;
  std::string summary() const override;
  const MicroFixedOptions& options() const { return options_; }
  /// Drop-path keep probability of cell `layer_id` at the current step (1 = none).
  double drop_path_keep(int64_t layer_id) const;

 private:
  MicroFixedOptions options_;
  MicroModel model_;
  std::vector<MicroFixedCell> cells_;
};
TORCH_MODULE(MicroFixed);

}  // namespace enas
