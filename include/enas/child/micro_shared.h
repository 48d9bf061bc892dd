#pragma once
/// The micro-space shared-weight child of the search, after the authors' micro_child.py with
/// fixed_arc None: `_enas_layer`, `_enas_cell`, `_maybe_calibrate_size` and the reduction before
/// a reduction cell here, `_enas_conv` in the op table (ops.h), `_model` and the aux head in the
/// skeleton (micro_model.h). Only the sampled ops run.
///
/// Every batch norm of the search path uses batch statistics, in eval mode too: the authors set
/// `is_training = True` whenever fixed_arc is None, so their validation (the controller's
/// reward) normalises with the batch's statistics. Dropout before the FC layer, which they also
/// leave on at validation, is on in training mode only here.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "enas/child/layers.h"
#include "enas/child/micro_model.h"
#include "enas/child/ops.h"
#include "enas/child/shared_child.h"
#include "enas/space/micro.h"

namespace enas {

struct MicroSharedOptions {
  TORCH_ARG(ImageShape, input) = {};
  TORCH_ARG(int64_t, num_layers) = 6;     // child_num_layers: N normal layers, N + 2 built
  TORCH_ARG(int64_t, num_cells) = 5;      // child_num_cells: blocks per cell
  TORCH_ARG(int64_t, out_filters) = 20;   // child_out_filters, doubled at each reduction
  TORCH_ARG(double, keep_prob) = 0.9;     // child_keep_prob: dropout before the FC (training)
  TORCH_ARG(bool, use_aux_heads) = true;  // child_use_aux_heads (training mode only)
};

/// `_enas_layer`: calibrate both inputs (`_maybe_calibrate_size`, no `layer_base` in search),
/// the blocks of the cell given to forward, then ReLU -> 1x1 conv over the concatenated loose
/// ends (rows of a weight stacked over all num_cells + 2 nodes) -> BN.
class MicroSharedLayerImpl : public torch::nn::Module {
 public:
  /// in0, in1: (channels, height) of the two inputs (in0 may be twice in1's size).
  MicroSharedLayerImpl(std::pair<int64_t, int64_t> in0, std::pair<int64_t, int64_t> in1,
                       int64_t out_filters, int64_t num_cells);
  /// loose: cell.loose_ends(). Returns (B, out_filters, H1, W1).
  torch::Tensor forward(const torch::Tensor& s0, const torch::Tensor& s1, const micro::Cell& cell,
                        const std::vector<int>& loose);

 private:
  int64_t channels_;
  FactorizedReduction reduce_x_{nullptr};  // inputs of different sizes: ReLU + FR
  ReluConvBn calib_x_{nullptr}, calib_y_{nullptr};
  // [(2 * block + side) * kNumOps + op]: the op's weights (make_shared_micro_op), or empty
  std::vector<torch::nn::AnyModule> ops_;
  torch::Tensor final_w_;  // (num_cells + 2, C_out, C_in)
  BatchNorm final_bn_{nullptr};
};
TORCH_MODULE(MicroSharedLayer);

class MicroSharedImpl : public SharedChildImpl {
 public:
  explicit MicroSharedImpl(MicroSharedOptions options);
  /// flat: micro::Arc::flat() with num_cells blocks per cell.
  void set_arc(const std::vector<int>& flat) override;
  int64_t arc_length() const override { return 8 * options_.num_cells(); }
  const micro::Arc& arc() const { return arc_; }
  ChildOutput forward(const torch::Tensor& images) override;
  std::string summary() const override;
  const MicroSharedOptions& options() const { return options_; }

 private:
  MicroSharedOptions options_;
  MicroModel model_;
  micro::Arc arc_;
  std::vector<int> loose_normal_, loose_reduce_;
  std::vector<FactorizedReduction> reductions_;  // [layer], defined at the reduction layers
  std::vector<MicroSharedLayer> layers_;
};
TORCH_MODULE(MicroShared);

}  // namespace enas
