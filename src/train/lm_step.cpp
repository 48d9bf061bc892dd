#include "enas/train/lm_step.h"

#include <cmath>
#include <limits>

#include "enas/train/config.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"

namespace enas {

LmStepOptions LmStepOptions::from(const Config& c) {
  LmStepOptions o;
  o.alpha = c.child_alpha;
  o.beta = c.child_beta;
  o.weight_decay = c.child_weight_decay;
  o.grad_bound = c.child_clip_mode == "none" ? 0.0 : c.child_grad_bound;
  o.bptt = c.child_bptt_steps;
  return o;
}

LmStep lm_train_step(RnnLmImpl& model, const std::vector<torch::Tensor>& params,
                     const torch::Tensor& x, const torch::Tensor& y, torch::Tensor& state,
                     double lr, const LmStepOptions& o) {
  LmOutput out = model.forward(x, y, state);
  state = out.state;
  torch::Tensor reg = out.loss;
  if (o.alpha > 0) reg = reg + o.alpha * out.all_s.pow(2).mean();
  if (o.beta > 0 && out.all_s.size(1) > 1) {
    const int64_t t = out.all_s.size(1);
    reg = reg +
          o.beta * (out.all_s.narrow(1, 1, t - 1) - out.all_s.narrow(1, 0, t - 1)).pow(2).mean();
  }
  for (const auto& p : params) {
    if (p.grad().defined()) p.grad().zero_();
  }
  reg.backward();
  // weight_decay * sum(w^2) belongs to the loss; its gradient is added directly (same update,
  // before clipping as in enas_lm, without a graph over every weight).
  model.add_decay_grad(o.weight_decay);
  const torch::Tensor l2 = model.decayed_square_sum();

  LmStep s;
  s.tokens = x.numel();
  s.lr = lr * static_cast<double>(x.size(1)) / static_cast<double>(o.bptt);
  torch::NoGradGuard guard;
  std::vector<torch::Tensor> grads, with_grad;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;  // off the sampled path: no update, as a zero gradient
    grads.push_back(p.grad());
    with_grad.push_back(p);
  }
  // The loop reads the loss back every step anyway (divergence check), so the norm may be too.
  s.grad_norm = grads.empty() ? 0.0 : global_norm(grads).item<double>();
  if (o.grad_bound > 0 && s.grad_norm > o.grad_bound) {
    // tf.clip_by_global_norm: every gradient times bound / max(norm, bound).
    torch::_foreach_mul_(grads, o.grad_bound / s.grad_norm);
  }
  if (!grads.empty()) torch::_foreach_add_(with_grad, grads, -s.lr);
  s.loss = out.loss.item<double>();
  s.l2 = l2.item<double>();
  return s;
}

double lm_eval_loss(RnnLmImpl& model, const torch::Tensor& rows,
                    const std::vector<Segment>& segments, bool reset_each,
                    const std::function<void(size_t)>& before_segment) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard guard;
  torch::Tensor state = model.zero_state(rows.size(0));
  torch::Tensor total = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble));
  int64_t tokens = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (before_segment) before_segment(i);
    if (reset_each) state = model.zero_state(rows.size(0));
    auto [x, y] = segment_xy(rows, segments[i]);
    LmOutput out = model.forward(x, y, state);
    state = out.state;
    total += out.loss.to(torch::kCPU, torch::kDouble) * static_cast<double>(x.numel());
    tokens += x.numel();
  }
  model.train(was_training);
  return tokens ? total.item<double>() / static_cast<double>(tokens) : 0.0;
}

double perplexity(double loss) {
  if (!std::isfinite(loss) || loss > 700) return std::numeric_limits<double>::infinity();
  return std::exp(loss);
}

LmProgress LmCheckpoints::read(const std::string& path) {
  const nlohmann::json meta = restore_(path);
  LmProgress p;
  p.epoch = meta.at("epoch").get<int64_t>();
  p.step = meta.at("step").get<int64_t>();
  p.rollbacks = meta.value("rollbacks", int64_t{0});
  p.seconds = meta.value("seconds", 0.0);
  return p;
}

LmProgress LmCheckpoints::resume() {
  auto path = run_.latest_checkpoint();
  require(path.has_value(), "--resume: {} holds no checkpoint", run_.path());
  LmProgress p = read(*path);
  reporter_.message(fmt::format("Resuming from {} (epoch {}, step {})", *path, p.epoch, p.step));
  return p;
}

LmProgress LmCheckpoints::roll_back() {
  constexpr int64_t kMaxInARow = 5;
  auto path = run_.latest_checkpoint();
  require(path.has_value() && in_a_row_ < kMaxInARow,
          "the training loss is not finite after {} rollbacks; try a lower --child_lr", in_a_row_);
  ++in_a_row_;
  reporter_.message(fmt::format("rolling back to previous checkpoint {}", *path));
  LmProgress p = read(*path);
  p.rollbacks += in_a_row_;  // the checkpoint predates this series of rollbacks
  reporter_.record({{"kind", "rollback"}, {"checkpoint", *path}, {"epoch", p.epoch}});
  return p;
}

}  // namespace enas
