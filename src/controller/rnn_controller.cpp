#include "enas/controller/rnn_controller.h"

#include "enas/space/rnn.h"

namespace enas {

RnnControllerImpl::RnnControllerImpl(ControllerOptions options)
    : ControllerImpl(std::move(options)) {
  build_policy(/*op_logits=*/false);
  torch::NoGradGuard guard;
  for (auto& p : parameters()) p.uniform_(-0.01, 0.01);
}

ArcBatch RnnControllerImpl::run(int64_t batch, const std::vector<std::vector<int>>* forced) {
  const int64_t h = options_.lstm_size, n = options_.num_layers;
  ArcBatch out;
  out.arcs.assign(batch, std::vector<int>(arc_length(), 0));
  const auto opts = w_emb_.options();
  torch::Tensor log_prob = torch::zeros({batch}, opts), entropy = torch::zeros({batch}, opts);
  // enas_lm's entropy term: -log p(a) * p(a) of each chosen decision, not the distribution's.
  auto add = [&](const torch::Tensor& lp) {
    log_prob = log_prob + lp;
    entropy = entropy + (-lp * lp.exp()).detach();
  };
  LstmState state = core_->zeros(batch);
  // Anchor 0 (the highway step from the input) is a zero state and a zero key.
  std::vector<torch::Tensor> anchors{torch::zeros({batch, h}, opts)};  // each (B, H)
  std::vector<torch::Tensor> keys{torch::zeros({batch, h}, opts)};
  torch::Tensor inputs = core_->start(batch);
  for (int64_t layer = 1; layer <= n; ++layer) {
    const int pos = 2 * static_cast<int>(layer - 1);
    state = core_->step(inputs, state);
    auto q = torch::tanh(torch::stack(keys, 1) + state.h.mm(w_attn_2_).unsqueeze(1));
    auto logits = shape_logits(q.matmul(v_attn_).squeeze(2), options_.tanh_constant);  // (B, l)
    // Nearby nodes are favoured: logits -= (layer - index)^2 / 6.
    auto distance = layer - torch::arange(layer, opts);
    logits = logits - distance.pow(2).div(6.0).unsqueeze(0);
    keys.push_back(state.h.mm(w_attn_1_));
    anchors.push_back(state.h);
    auto [index, lp_index] = choose(logits, forced, {pos}, out.arcs);
    add(lp_index);
    auto stacked = torch::stack(std::vector<torch::Tensor>(anchors.begin(), anchors.end() - 1), 1);
    inputs = stacked.gather(1, index.view({batch, 1, 1}).expand({batch, 1, h})).squeeze(1);
    inputs = inputs / (0.1 + (layer - index).to(opts.dtype())).unsqueeze(1);

    state = core_->step(inputs, state);
    auto func_logits = shape_logits(state.h.mm(w_emb_.t()), options_.tanh_constant);  // (B, 4)
    auto [func, lp_func] = choose(func_logits, forced, {pos + 1}, out.arcs);
    add(lp_func);
    inputs = w_emb_.index_select(0, func);
  }
  out.log_prob = log_prob;
  out.entropy = entropy;
  out.skip_penalty = torch::zeros({batch}, opts);
  out.skip_count = torch::zeros({batch}, opts);
  return out;
}

}  // namespace enas
