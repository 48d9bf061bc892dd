#pragma once
/// The sampler core shared by every controller head: a one-layer LSTM of the authors'
/// common_ops.lstm (no biases, gate order i, f, o, g) and the learned start embedding g_emb.
#include <torch/torch.h>

namespace enas {

struct LstmState {
  torch::Tensor c;  // (B, H)
  torch::Tensor h;  // (B, H)
};

class LstmCoreImpl : public torch::nn::Module {
 public:
  explicit LstmCoreImpl(int64_t hidden);
  /// Zero state for B rows.
  LstmState zeros(int64_t batch) const;
  /// One step: [x, h] @ W -> i, f, o, g; c' = sigmoid(i) tanh(g) + sigmoid(f) c; h' =
  /// sigmoid(o) tanh(c'). x: (B, H).
  LstmState step(const torch::Tensor& x, const LstmState& state) const;
  /// g_emb repeated over B rows: (B, H).
  torch::Tensor start(int64_t batch) const { return g_emb_.expand({batch, hidden_}); }
  int64_t hidden() const { return hidden_; }

 private:
  int64_t hidden_;
  torch::Tensor w_;      // (2H, 4H)
  torch::Tensor g_emb_;  // (1, H)
};
TORCH_MODULE(LstmCore);

/// The authors' initialiser for every controller variable: uniform(-0.1, 0.1).
void controller_uniform_(torch::Tensor t);

}  // namespace enas
