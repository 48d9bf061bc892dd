#pragma once
/// The child optimiser of the authors' get_train_ops: L2 folded into the gradient, optional
/// clipping, then TF's MomentumOptimizer(use_nesterov=True). Our own (not torch::optim::SGD) so
/// that checkpoints are the same under libtorch 1.x and 2.x and zero gradients stay zero
/// tensors (see zero_grad).
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace enas {

struct SgdOptions {
  double momentum = 0.9;
  bool nesterov = true;
  double l2_reg = 0.0;             // the loss gains l2_reg * sum(w^2): gradient 2 l2_reg w
  std::string clip_mode = "none";  // none | norm (each tensor to grad_bound) | global
  double grad_bound = 5.0;
  bool skip_unused = false;  // true: parameters without a gradient are not updated at all
};

class Sgd {
 public:
  Sgd(std::vector<torch::Tensor> params, SgdOptions options);

  /// Sets every gradient to zero in place. A parameter the step did not use keeps a zero (not
  /// absent) gradient, so momentum and L2 still move it, as in the authors' TF code. With
  /// skip_unused, gradients are dropped instead and such parameters stay as they are.
  void zero_grad();

  /// One update at learning rate `lr`. Parameters whose gradient is undefined get a zero one
  /// first. Returns the global gradient norm (L2 term included, before clipping) as a 0-d
  /// tensor on the parameters' device when `want_norm` (or clipping needs it), else undefined.
  torch::Tensor step(double lr, bool want_norm);

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);
  const std::vector<torch::Tensor>& params() const { return params_; }

  /// Runs at the start of every step on the gradients it will apply, before L2 and clipping:
  /// data parallelism averages them across the processes there (Dist::all_reduce_mean).
  using GradientHook = std::function<void(const std::vector<torch::Tensor>& grads)>;
  void on_gradients(GradientHook hook) { gradient_hook_ = std::move(hook); }

 private:
  GradientHook gradient_hook_;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> buffers_;  // momentum accumulators, created on the first step
  SgdOptions options_;
};

/// sqrt(sum ||g||^2) over the tensors, as a 0-d tensor (no host synchronisation).
torch::Tensor global_norm(const std::vector<torch::Tensor>& tensors);

}  // namespace enas
