#include "enas/train/sgd.h"

#include "enas/util/error.h"

namespace enas {

torch::Tensor global_norm(const std::vector<torch::Tensor>& tensors) {
  auto norms = torch::_foreach_norm(tensors);
  return torch::stack(norms).norm();
}

Sgd::Sgd(std::vector<torch::Tensor> params, SgdOptions options)
    : params_(std::move(params)), options_(std::move(options)) {}

void Sgd::zero_grad() {
  torch::NoGradGuard guard;
  for (auto& p : params_) {
    if (!p.grad().defined()) continue;
    if (options_.skip_unused) {
      p.mutable_grad().reset();
    } else {
      p.mutable_grad().zero_();
    }
  }
}

torch::Tensor Sgd::step(double lr, bool want_norm) {
  torch::NoGradGuard guard;
  if (buffers_.empty()) {
    for (auto& p : params_) buffers_.push_back(torch::zeros_like(p));  // TF: accum starts at 0
  }
  std::vector<torch::Tensor> params, grads, buffers;
  params.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) {
      if (options_.skip_unused) continue;
      p.mutable_grad() = torch::zeros_like(p);
    }
    params.push_back(p);
    grads.push_back(p.grad());
    buffers.push_back(buffers_[i]);
  }
  if (params.empty()) return want_norm ? torch::zeros({}) : torch::Tensor();
  if (gradient_hook_) gradient_hook_(grads);
  if (options_.l2_reg > 0) torch::_foreach_add_(grads, params, 2.0 * options_.l2_reg);
  torch::Tensor norm;
  if (want_norm || options_.clip_mode == "global") norm = global_norm(grads);
  if (options_.clip_mode == "global") {
    // tf.clip_by_global_norm: scale every gradient by bound / max(norm, bound).
    auto scale = options_.grad_bound / torch::clamp_min(norm, options_.grad_bound);
    for (auto& g : grads) g.mul_(scale);
  } else if (options_.clip_mode == "norm") {
    for (auto& g : grads)
      g.mul_(options_.grad_bound / torch::clamp_min(g.norm(), options_.grad_bound));
  }
  torch::_foreach_mul_(buffers, options_.momentum);
  torch::_foreach_add_(buffers, grads);
  if (options_.nesterov) {
    // TF use_nesterov: var -= lr * (g + m * accum).
    torch::_foreach_add_(grads, buffers, options_.momentum);
    torch::_foreach_add_(params, grads, -lr);
  } else {
    torch::_foreach_add_(params, buffers, -lr);
  }
  return norm;
}

void Sgd::save(torch::serialize::OutputArchive& archive) const {
  archive.write("num_buffers", torch::tensor(static_cast<int64_t>(buffers_.size())));
  for (size_t i = 0; i < buffers_.size(); ++i) {
    archive.write("buffer" + std::to_string(i), buffers_[i], /*is_buffer=*/true);
  }
}

void Sgd::load(torch::serialize::InputArchive& archive) {
  torch::Tensor n;
  archive.read("num_buffers", n);
  const int64_t count = n.item<int64_t>();
  require(count == 0 || count == static_cast<int64_t>(params_.size()),
          "checkpoint: optimiser has {} momentum buffers, the model {} parameters", count,
          params_.size());
  buffers_.clear();
  for (int64_t i = 0; i < count; ++i) {
    torch::Tensor b;
    archive.read("buffer" + std::to_string(i), b, /*is_buffer=*/true);
    require(b.sizes() == params_[i].sizes(), "checkpoint: momentum buffer {} has the wrong shape",
            i);
    buffers_.push_back(b.to(params_[i].device()).contiguous(params_[i].suggest_memory_format()));
  }
}

}  // namespace enas
