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
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
}

torch::Tensor Sgd::step(double lr, bool want_norm) {
  torch::NoGradGuard guard;
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (auto& p : params_) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  if (options_.l2_reg > 0) torch::_foreach_add_(grads, params_, 2.0 * options_.l2_reg);
  torch::Tensor norm;
  if (want_norm || options_.clip_mode == "global") norm = global_norm(grads);
  if (options_.clip_mode == "global") {
    // tf.clip_by_global_norm: scale every gradient by bound / max(norm, bound).
    auto scale = options_.grad_bound / torch::clamp_min(norm, options_.grad_bound);
    for (auto& g : grads) g.mul_(scale);
  } else if (options_.clip_mode == "norm") {
    for (auto& g : grads) g.mul_(options_.grad_bound / torch::clamp_min(g.norm(), options_.grad_bound));
  }
  if (buffers_.empty()) {
    for (auto& g : grads) buffers_.push_back(g.clone());  // TF: accum = 0 * m + g
  } else {
    torch::_foreach_mul_(buffers_, options_.momentum);
    torch::_foreach_add_(buffers_, grads);
  }
  if (options_.nesterov) {
    // TF use_nesterov: var -= lr * (g + m * accum).
    torch::_foreach_add_(grads, buffers_, options_.momentum);
    torch::_foreach_add_(params_, grads, -lr);
  } else {
    torch::_foreach_add_(params_, buffers_, -lr);
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
