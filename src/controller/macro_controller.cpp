#include "enas/controller/macro_controller.h"

#include "enas/space/macro.h"

namespace enas {

MacroControllerImpl::MacroControllerImpl(ControllerOptions options)
    : ControllerImpl(std::move(options)) {
  build_policy();
}

int64_t MacroControllerImpl::arc_length() const { return macro::arc_length(options_.num_layers); }

ArcBatch MacroControllerImpl::run(int64_t batch, const std::vector<std::vector<int>>* forced) {
  const int64_t n = options_.num_layers, h = options_.lstm_size;
  ArcBatch out;
  out.arcs.assign(batch, std::vector<int>(arc_length(), 0));
  auto opts = w_soft_.options();
  torch::Tensor log_prob = torch::zeros({batch}, opts);
  torch::Tensor entropy = torch::zeros({batch}, opts);
  torch::Tensor skip_count = torch::zeros({batch}, opts);
  std::vector<torch::Tensor> penalties;
  // The KL target of general_controller.py: [1 - skip_target, skip_target].
  auto targets = torch::tensor({1.0 - options_.skip_target, options_.skip_target}, opts);

  LstmState state = core_->zeros(batch);
  torch::Tensor inputs = core_->start(batch);      // (B, H)
  std::vector<torch::Tensor> anchors, anchors_w1;  // each (B, H)
  int pos = 0;
  for (int64_t layer = 0; layer < n; ++layer) {
    state = core_->step(inputs, state);
    auto logits = shape_logits(state.h.mm(w_soft_), options_.tanh_constant);  // (B, nb)
    auto [op, lp] = choose(logits, forced, {pos}, out.arcs);
    log_prob = log_prob + lp;
    // The authors' "entropy" here is -log p(a) * p(a) of the sampled op only.
    entropy = entropy + (-lp * lp.exp()).detach();
    inputs = w_emb_.index_select(0, op);  // (B, H)
    ++pos;

    state = core_->step(inputs, state);
    if (layer > 0) {
      auto keys = torch::stack(anchors_w1, 1);  // (B, layer, H)
      auto query = torch::tanh(keys + state.h.mm(w_attn_2_).unsqueeze(1));
      auto q = query.matmul(v_attn_);  // (B, layer, 1)
      auto skip_logits = torch::cat({-q, q}, 2).reshape({batch * layer, 2});
      skip_logits = shape_logits(skip_logits, options_.tanh_constant);
      std::vector<int> positions(layer);
      for (int64_t k = 0; k < layer; ++k) positions[k] = pos + static_cast<int>(k);
      auto [skip, skip_lp] = choose(skip_logits, forced, positions, out.arcs);
      skip_lp = skip_lp.view({batch, layer});
      log_prob = log_prob + skip_lp.sum(1);
      entropy = entropy + (-skip_lp * skip_lp.exp()).sum(1).detach();
      // The authors' penalty applies sigmoid (not softmax) to both logits, then a KL-like sum.
      auto skip_prob = torch::sigmoid(skip_logits).view({batch, layer, 2});
      penalties.push_back((skip_prob * torch::log(skip_prob / targets)).sum({1, 2}));
      auto skip_f = skip.to(opts.dtype()).view({batch, 1, layer});
      auto count = skip_f.sum({1, 2});  // (B)
      skip_count = skip_count + count;
      inputs = skip_f.bmm(torch::stack(anchors, 1)).squeeze(1) / (1.0 + count).unsqueeze(1);
      pos += static_cast<int>(layer);
    } else {
      inputs = core_->start(batch);
    }
    anchors.push_back(state.h);
    anchors_w1.push_back(state.h.mm(w_attn_1_));
  }
  (void)h;
  out.log_prob = log_prob;
  out.entropy = entropy;
  out.skip_count = skip_count;
  out.skip_penalty =
      penalties.empty() ? torch::zeros({batch}, opts) : torch::stack(penalties, 1).mean(1);
  return out;
}

}  // namespace enas
