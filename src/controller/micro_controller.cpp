#include "enas/controller/micro_controller.h"

namespace enas {

MicroControllerImpl::MicroControllerImpl(ControllerOptions options)
    : ControllerImpl(std::move(options)) {
  build_policy();
  const int64_t nb = options_.num_branches;
  // Both biases favour the two separable convs (ops 0 and 1) at the start of the search.
  std::vector<float> learn(nb, 0.0f), fixed(nb, -0.25f);
  for (int64_t i = 0; i < std::min<int64_t>(2, nb); ++i) {
    learn[i] = 10.0f;
    fixed[i] = 0.25f;
  }
  b_soft_ = register_parameter("b_soft", torch::tensor(learn).view({1, nb}));
  b_soft_no_learn_ = register_buffer("b_soft_no_learn", torch::tensor(fixed).view({1, nb}));
}

void MicroControllerImpl::sample_cell(int64_t batch, int offset, bool normal_bias, LstmState& state,
                                      const std::vector<std::vector<int>>* forced, ArcBatch& out,
                                      torch::Tensor& log_prob, torch::Tensor& entropy) {
  const int64_t blocks = options_.num_cells, h = options_.lstm_size;
  auto zero = torch::zeros({batch, h}, w_soft_.options());
  std::vector<torch::Tensor> anchors, anchors_w1;  // each (B, H)
  torch::Tensor inputs = core_->start(batch);
  for (int i = 0; i < 2; ++i) {  // the cell's two inputs: zero anchors, but attention keys
    state = core_->step(inputs, state);
    anchors.push_back(zero);
    anchors_w1.push_back(state.h.mm(w_attn_1_));
  }
  auto add_entropy = [&](const torch::Tensor& logits) {
    auto lp = torch::log_softmax(logits, 1);
    entropy = entropy + (-(lp.exp() * lp).sum(1)).detach();  // the full distribution's entropy
  };
  for (int64_t node = 2; node < blocks + 2; ++node) {
    const int start = offset + 4 * static_cast<int>(node - 2);
    for (int side = 0; side < 2; ++side) {  // index_1, index_2
      state = core_->step(inputs, state);
      auto keys = torch::stack(anchors_w1, 1);  // (B, node, H)
      auto q = torch::tanh(keys + state.h.mm(w_attn_2_).unsqueeze(1)).matmul(v_attn_).squeeze(2);
      auto logits = shape_logits(q, options_.tanh_constant);  // (B, node)
      auto [index, lp] = choose(logits, forced, {start + 2 * side}, out.arcs);
      log_prob = log_prob + lp;
      add_entropy(logits);
      auto stacked = torch::stack(anchors, 1);  // (B, node, H)
      inputs = stacked.gather(1, index.view({batch, 1, 1}).expand({batch, 1, h})).squeeze(1);
    }
    for (int side = 0; side < 2; ++side) {  // op_1, op_2
      state = core_->step(inputs, state);
      auto logits = state.h.mm(w_soft_) + b_soft_;
      if (options_.temperature > 0) logits = logits / options_.temperature;
      if (options_.tanh_constant > 0) {
        logits = (options_.tanh_constant / options_.op_tanh_reduce) * torch::tanh(logits);
      }
      if (normal_bias) logits = logits + b_soft_no_learn_;
      auto [op, lp] = choose(logits, forced, {start + 2 * side + 1}, out.arcs);
      log_prob = log_prob + lp;
      add_entropy(logits);
      inputs = w_emb_.index_select(0, op);
    }
    state = core_->step(inputs, state);
    anchors.push_back(state.h);
    anchors_w1.push_back(state.h.mm(w_attn_1_));
    inputs = core_->start(batch);
  }
}

ArcBatch MicroControllerImpl::run(int64_t batch, const std::vector<std::vector<int>>* forced) {
  ArcBatch out;
  out.arcs.assign(batch, std::vector<int>(arc_length(), 0));
  auto opts = w_soft_.options();
  torch::Tensor log_prob = torch::zeros({batch}, opts), entropy = torch::zeros({batch}, opts);
  LstmState state = core_->zeros(batch);
  // The normal cell's sampler adds the constant bias; the reduction cell's continues its state.
  sample_cell(batch, 0, /*normal_bias=*/true, state, forced, out, log_prob, entropy);
  sample_cell(batch, 4 * static_cast<int>(options_.num_cells), false, state, forced, out, log_prob,
              entropy);
  out.log_prob = log_prob;
  out.entropy = entropy;
  out.skip_penalty = torch::zeros({batch}, opts);
  out.skip_count = torch::zeros({batch}, opts);
  return out;
}

}  // namespace enas
