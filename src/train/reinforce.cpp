#include "enas/train/reinforce.h"

#include <cmath>

#include "enas/config/config.h"
#include "enas/space/space.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"

namespace enas {

ReinforceOptions ReinforceOptions::from(const Config& c) {
  ReinforceOptions o;
  o.lr = c.controller_lr;
  o.entropy_weight = c.controller_entropy_weight;
  o.bl_dec = c.controller_bl_dec;
  const Space& space = space_named(c.search_for);
  o.skip_weight = space.has_skips() ? c.controller_skip_weight : 0.0;
  o.l2_reg = c.controller_l2_reg;
  if (space.language()) {  // enas_lm controller.py: tf.train.AdamOptimizer(lr), TF's defaults
    o.beta1 = 0.9;
    o.eps = 1e-8;
  }
  return o;
}

Adam::Adam(std::vector<torch::Tensor> params, double lr, double beta1, double beta2, double eps)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (auto& p : params_) {
    m_.push_back(torch::zeros_like(p));
    v_.push_back(torch::zeros_like(p));
  }
}

void Adam::step() {
  torch::NoGradGuard guard;
  ++t_;
  const double lr_t = lr_ * std::sqrt(1.0 - std::pow(beta2_, t_)) / (1.0 - std::pow(beta1_, t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    auto g = params_[i].grad();
    if (!g.defined()) g = torch::zeros_like(params_[i]);
    m_[i].mul_(beta1_).add_(g, 1.0 - beta1_);
    v_[i].mul_(beta2_).addcmul_(g, g, 1.0 - beta2_);
    params_[i].addcdiv_(m_[i], v_[i].sqrt().add_(eps_), -lr_t);
  }
}

void Adam::save(torch::serialize::OutputArchive& a) const {
  a.write("t", torch::tensor(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    a.write("m" + std::to_string(i), m_[i], true);
    a.write("v" + std::to_string(i), v_[i], true);
  }
}

void Adam::load(torch::serialize::InputArchive& a) {
  torch::Tensor t;
  a.read("t", t);
  t_ = t.item<int64_t>();
  for (size_t i = 0; i < params_.size(); ++i) {
    a.read("m" + std::to_string(i), m_[i], true);
    a.read("v" + std::to_string(i), v_[i], true);
  }
}

Reinforce::Reinforce(Controller controller, ReinforceOptions options)
    : controller_(std::move(controller)),
      options_(options),
      adam_(controller_->parameters(), options.lr, options.beta1, options.beta2, options.eps) {}

ReinforceStats Reinforce::update(const ArcBatch& samples, const std::vector<double>& accuracies) {
  const int64_t n = static_cast<int64_t>(samples.arcs.size());
  require(n > 0 && static_cast<int64_t>(accuracies.size()) == n,
          "reinforce: {} architectures and {} accuracies", n, accuracies.size());
  ReinforceStats stats;
  auto entropy = samples.entropy.detach().to(torch::kCPU, torch::kDouble);
  std::vector<double> advantages(n);
  for (int64_t i = 0; i < n; ++i) {
    const double r = reward(accuracies[i], entropy[i].item<double>());
    baseline_ -= (1.0 - options_.bl_dec) * (baseline_ - r);  // before the advantage, as theirs
    advantages[i] = r - baseline_;
    stats.reward += r / n;
    stats.accuracy += accuracies[i] / n;
    stats.entropy += entropy[i].item<double>() / n;
  }
  if (controller_->trainable()) {
    ArcBatch scored = controller_->score(samples.arcs);  // differentiable, one batched pass
    auto adv = torch::tensor(advantages, scored.log_prob.options().dtype(torch::kDouble))
                   .to(scored.log_prob.dtype());
    // Mean over samples: the average of their per-sample gradients.
    auto loss = (-scored.log_prob * adv).mean();
    if (options_.skip_weight > 0) loss = loss + options_.skip_weight * scored.skip_penalty.mean();
    auto params = controller_->parameters();
    if (options_.l2_reg > 0) {
      for (auto& p : params) loss = loss + options_.l2_reg * p.pow(2).sum();
    }
    for (auto& p : params) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    loss.backward();
    std::vector<torch::Tensor> grads;
    for (auto& p : params) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
    stats.grad_norm = grads.empty() ? 0.0 : global_norm(grads).item<double>();
    stats.loss = loss.item<double>();
    adam_.step();
  }
  stats.baseline = baseline_;
  stats.skip_count = samples.skip_count.sum().item<double>() / n;
  stats.step = adam_.steps();
  return stats;
}

void Reinforce::save(torch::serialize::OutputArchive& a) const {
  a.write("baseline", torch::tensor(baseline_, torch::kDouble));
  torch::serialize::OutputArchive adam;
  adam_.save(adam);
  a.write("adam", adam);
}

void Reinforce::load(torch::serialize::InputArchive& a) {
  torch::Tensor b;
  a.read("baseline", b);
  baseline_ = b.item<double>();
  torch::serialize::InputArchive adam;
  a.read("adam", adam);
  adam_.load(adam);
}

}  // namespace enas
