#include "enas/controller/lstm_core.h"

namespace enas {

void controller_uniform_(torch::Tensor t) {
  torch::NoGradGuard guard;
  t.uniform_(-0.1, 0.1);
}

LstmCoreImpl::LstmCoreImpl(int64_t hidden) : hidden_(hidden) {
  w_ = register_parameter("w_lstm", torch::empty({2 * hidden, 4 * hidden}));
  g_emb_ = register_parameter("g_emb", torch::empty({1, hidden}));
  controller_uniform_(w_);
  controller_uniform_(g_emb_);
}

LstmState LstmCoreImpl::zeros(int64_t batch) const {
  auto z = torch::zeros({batch, hidden_}, w_.options());
  return {z, z};
}

LstmState LstmCoreImpl::step(const torch::Tensor& x, const LstmState& state) const {
  auto ifog = torch::cat({x, state.h}, 1).mm(w_).chunk(4, 1);  // 4 x (B, H)
  auto c = torch::sigmoid(ifog[0]) * torch::tanh(ifog[3]) + torch::sigmoid(ifog[1]) * state.c;
  auto h = torch::sigmoid(ifog[2]) * torch::tanh(c);
  return {c, h};
}

}  // namespace enas
