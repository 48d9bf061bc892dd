#pragma once
/// The macro-space head (general_controller.py, search_whole_channels): per layer an op, then
/// skip decisions by attention over the earlier layers' anchors.
#include "enas/controller/controller.h"
#include "enas/controller/lstm_core.h"

namespace enas {

class MacroControllerImpl : public ControllerImpl {
 public:
  explicit MacroControllerImpl(ControllerOptions options);
  int64_t arc_length() const override;

 protected:
  ArcBatch run(int64_t batch, const std::vector<std::vector<int>>* forced) override;

 private:
  LstmCore core_{nullptr};
  torch::Tensor w_emb_;                // (num_branches, H): embedding of the chosen op
  torch::Tensor w_soft_;               // (H, num_branches): op logits
  torch::Tensor w_attn_1_, w_attn_2_;  // (H, H)
  torch::Tensor v_attn_;               // (H, 1)
};

}  // namespace enas
