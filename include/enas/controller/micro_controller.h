#pragma once
/// The micro-space head (micro_controller.py): a normal-cell sampler, then a reduction-cell
/// sampler continuing the LSTM state; per block two input indices by attention, then two ops.
#include "enas/controller/controller.h"

namespace enas {

class MicroControllerImpl : public ControllerImpl {
 public:
  explicit MicroControllerImpl(ControllerOptions options);
  int64_t arc_length() const override { return 8 * options_.num_cells; }

 protected:
  ArcBatch run(int64_t batch, const std::vector<std::vector<int>>* forced) override;

 private:
  /// One cell's decisions, written at arc positions offset..offset + 4B - 1.
  void sample_cell(int64_t batch, int offset, bool normal_bias, LstmState& state,
                   const std::vector<std::vector<int>>* forced, ArcBatch& out,
                   torch::Tensor& log_prob, torch::Tensor& entropy);

  torch::Tensor b_soft_;           // (1, num_branches), trainable, init [10, 10, 0, 0, 0]
  torch::Tensor b_soft_no_learn_;  // (1, num_branches), constant [0.25, 0.25, -0.25, ...]
};

}  // namespace enas
