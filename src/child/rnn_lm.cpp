#include "enas/child/rnn_lm.h"

#include <fmt/format.h>

#include "enas/child/linear_xent.h"
#include "enas/child/rnn_cell.h"
#include "enas/util/error.h"
#include "enas/util/gemm.h"

namespace enas {

namespace {

/// bernoulli(1 - rate) / (1 - rate), enas_lm's _gen_mask; undefined when nothing is dropped.
torch::Tensor dropout_mask(torch::IntArrayRef shape, double rate, const torch::TensorOptions& o) {
  if (rate <= 0) return {};
  const double keep = 1.0 - rate;
  return torch::empty(shape, o).bernoulli_(keep).div_(keep);
}

torch::Tensor masked(const torch::Tensor& x, const torch::Tensor& mask) {
  return mask.defined() ? x * mask : x;
}

}  // namespace

RnnLmImpl::RnnLmImpl(RnnLmOptions o) : options_(o) {
  const int64_t v = o.vocab_size(), h = o.hidden(), n = o.num_nodes();
  require(v > 0 && h > 0, "language model: vocabulary {} and hidden size {} must be positive", v,
          h);
  require(n >= 1, "language model: the cell needs at least one node, got {}", n);
  for (double r : {o.drop_e(), o.drop_i(), o.drop_x(), o.drop_l(), o.drop_o(), o.drop_w()}) {
    require(r >= 0 && r < 1, "language model: a dropout rate is {}, allowed [0, 1)", r);
  }
  w_emb_ = register_parameter("w_emb", torch::empty({v, h}));
  w_prev_ = register_parameter("w_prev", torch::empty({2 * h, 2 * h}));
  for (int64_t k = 0; k < n; ++k) {
    auto shape = o.shared() ? std::vector<int64_t>{rnn::kNumFuncs, k + 1, h, 2 * h}
                            : std::vector<int64_t>{h, 2 * h};
    w_node_.push_back(register_parameter(fmt::format("w_node_{}", k), torch::empty(shape)));
  }
  torch::NoGradGuard guard;
  for (auto& p : parameters()) p.uniform_(-o.init_range(), o.init_range());
}

void RnnLmImpl::set_arc(const rnn::Arc& arc) {
  arc_ = rnn::arc_from_flat(arc.code, static_cast<int>(options_.num_nodes()));
  has_arc_ = true;
  path_.assign(w_node_.size(), torch::Tensor());
}

torch::Tensor RnnLmImpl::node_weight(int k) const {
  if (!options_.shared()) return w_node_[k];
  const torch::Tensor& whole = w_node_[k];
  torch::Tensor& leaf = path_.at(k);
  if (!leaf.defined() || !leaf.is_alias_of(whole)) {
    leaf = whole.select(0, arc_.func(k)).select(0, arc_.prev(k)).detach();
    leaf.requires_grad_(whole.requires_grad());
  }
  return leaf;
}

std::vector<torch::Tensor> RnnLmImpl::step_parameters() const {
  if (!options_.shared()) return parameters();
  require(has_arc_, "language model: no architecture set");
  std::vector<torch::Tensor> out{w_emb_, w_prev_};
  for (int k = 0; k < arc_.num_nodes(); ++k) out.push_back(node_weight(k));
  return out;
}

torch::Tensor RnnLmImpl::zero_state(int64_t batch) const {
  return torch::zeros({batch, options_.hidden()}, w_prev_.options());
}

LmMasks RnnLmImpl::draw_masks(int64_t batch) const {
  const auto& o = options_;
  const int64_t h = o.hidden();
  const auto opts = w_prev_.options().requires_grad(false);
  LmMasks m;
  m.words = dropout_mask({o.vocab_size(), 1}, o.drop_e(), opts);
  m.emb = dropout_mask({batch, 1, h}, o.drop_i(), opts);
  m.input = dropout_mask({batch, h}, o.drop_x(), opts);
  m.layer = dropout_mask({batch, h}, o.drop_l(), opts);
  m.output = dropout_mask({batch, 1, h}, o.drop_o(), opts);
  m.w_prev = dropout_mask({h, 2 * h}, o.drop_w(), opts);
  if (o.drop_w() > 0) {
    for (int64_t k = 0; k < o.num_nodes(); ++k) {
      m.w_nodes.push_back(dropout_mask({h, 2 * h}, o.drop_w(), opts));
    }
  }
  return m;
}

LmOutput RnnLmImpl::forward(const torch::Tensor& x, const torch::Tensor& y,
                            const torch::Tensor& state) {
  return forward(x, y, state, is_training() ? draw_masks(x.size(0)) : LmMasks{});
}

LmOutput RnnLmImpl::forward(const torch::Tensor& x, const torch::Tensor& y,
                            const torch::Tensor& state, const LmMasks& masks) {
  require(has_arc_, "language model: no architecture set");
  const int64_t b = x.size(0), t_len = x.size(1), h = options_.hidden();
  const int n = arc_.num_nodes();
  // Time-major inside: each step then reads a contiguous (B, *) slice.
  const auto xt = x.t();                    // (T, B)
  auto emb = torch::embedding(w_emb_, xt);  // (T, B, H)
  if (masks.words.defined()) {
    // Dropping embedding rows = scaling each looked-up row by its word's mask entry.
    emb = emb * masks.words.squeeze(1).index_select(0, xt.reshape(-1)).view({t_len, b, 1});
  }
  if (masks.emb.defined()) emb = emb * masks.emb.squeeze(1);
  if (masks.input.defined()) emb = emb * masks.input;
  // The input half of node 0's matmul for every step at once: one large GEMM instead of T.
  const auto xw = enas::product(emb.reshape({t_len * b, h}), w_prev_.narrow(0, 0, h))
                      .view({t_len, b, 2 * h});  // (T, B, 2H)
  const auto w_s = masked(w_prev_.narrow(0, h, h), masks.w_prev);
  std::vector<torch::Tensor> w_k(n);
  for (int k = 0; k < n; ++k) {
    w_k[k] = masks.w_nodes.empty() ? node_weight(k) : node_weight(k) * masks.w_nodes[k];
  }

  auto all_s = rnn_cell_sequence(xw, state, w_s, w_k, masks.layer, arc_);  // (T, B, H)
  auto s = all_s[t_len - 1];
  auto top = masks.output.defined() ? all_s * masks.output.squeeze(1) : all_s;
  // Tied softmax: logits (T * B, V) = top w_emb^T, never materialised outside the fused loss.
  auto loss = linear_cross_entropy(top.reshape({t_len * b, h}), w_emb_, y.t().reshape(-1));
  return {loss, all_s.transpose(0, 1), s.detach()};
}

std::vector<torch::Tensor> RnnLmImpl::decayed_weights() const {
  if (!options_.shared()) return parameters();
  std::vector<torch::Tensor> out{w_prev_};
  for (int k = 0; k < arc_.num_nodes(); ++k) out.push_back(node_weight(k));
  return out;
}

torch::Tensor RnnLmImpl::decayed_square_sum() const {
  torch::NoGradGuard guard;
  auto norms = torch::_foreach_norm(decayed_weights());
  return torch::stack(norms).pow(2).sum();
}

void RnnLmImpl::add_decay_grad(double weight_decay) {
  if (weight_decay <= 0) return;
  torch::NoGradGuard guard;
  for (const auto& w : decayed_weights()) {
    if (!w.grad().defined()) w.mutable_grad() = torch::zeros_like(w);
    w.mutable_grad().add_(w, 2 * weight_decay);
  }
}

int64_t RnnLmImpl::num_params() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

int64_t RnnLmImpl::num_params_per_arc() const {
  const int64_t h = options_.hidden();
  return options_.vocab_size() * h + 4 * h * h + options_.num_nodes() * 2 * h * h;
}

std::string RnnLmImpl::summary() const {
  const auto& o = options_;
  std::string s = fmt::format(
      "Language model: vocabulary {}, hidden {}, {} nodes ({}), tied embedding and softmax\n",
      o.vocab_size(), o.hidden(), o.num_nodes(),
      o.shared() ? "shared weights per (node, function, previous node)" : "fixed architecture");
  if (has_arc_ && !o.shared()) s += arc_.describe();
  return s;
}

}  // namespace enas
