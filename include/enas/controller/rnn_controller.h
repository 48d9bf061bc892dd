#pragma once
/// The recurrent-cell head of enas_lm's controller.py: for each node, the previous node by
/// attention over the earlier nodes' states (logits penalised by (layer - index)^2 / 6), then
/// the function from the LSTM output against the function embeddings (tied); the next input is
/// the chosen node's state scaled by 1 / (0.1 + distance), then the function's embedding.
/// Every weight starts uniform(-0.01, 0.01), enas_lm's initialiser.
#include "enas/controller/controller.h"

namespace enas {

class RnnControllerImpl : public ControllerImpl {
 public:
  explicit RnnControllerImpl(ControllerOptions options);
  int64_t arc_length() const override { return 2 * options_.num_layers; }

 protected:
  ArcBatch run(int64_t batch, const std::vector<std::vector<int>>* forced) override;
};

}  // namespace enas
