#pragma once
/// REINFORCE for the controller, as the authors' build_trainer: reward = validation accuracy +
/// entropy_weight * entropy; a moving-average baseline updated before the advantage is taken;
/// loss = -log p * (R - b) (+ skip_weight * skip penalty); Adam (beta1 = 0, eps = 1e-3) on the
/// gradient averaged over num_aggregate samples (their SyncReplicasOptimizer).
#include <torch/torch.h>

#include <vector>

#include "enas/controller/controller.h"

namespace enas {

struct Config;

struct ReinforceOptions {
  double lr = 1e-3;           // controller_lr
  double entropy_weight = 0;  // controller_entropy_weight
  double bl_dec = 0.99;       // controller_bl_dec
  double skip_weight = 0;     // controller_skip_weight (macro)
  double l2_reg = 0;          // controller_l2_reg
  double beta1 = 0.0;         // the authors' CIFAR-10 controller; enas_lm keeps TF's 0.9
  double beta2 = 0.999;       // TF AdamOptimizer default
  double eps = 1e-3;          // the authors' CIFAR-10 epsilon; enas_lm keeps TF's 1e-8
  /// The controller_* flags, with Adam's constants of the space's code base.
  static ReinforceOptions from(const Config& config);
};

/// What one controller update saw.
struct ReinforceStats {
  double loss = 0, entropy = 0, reward = 0, accuracy = 0, baseline = 0, grad_norm = 0;
  double skip_count = 0;  // mean skip connections per sample (macro)
  int64_t step = 0;       // updates so far
};

/// TF's AdamOptimizer: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// w -= lr sqrt(1-b2^t) / (1-b1^t) * m / (sqrt(v) + eps).
class Adam {
 public:
  Adam(std::vector<torch::Tensor> params, double lr, double beta1, double beta2, double eps);
  void step();
  int64_t steps() const { return t_; }
  void save(torch::serialize::OutputArchive& a) const;
  void load(torch::serialize::InputArchive& a);

 private:
  std::vector<torch::Tensor> params_, m_, v_;
  double lr_, beta1_, beta2_, eps_;
  int64_t t_ = 0;
};

class Reinforce {
 public:
  Reinforce(Controller controller, ReinforceOptions options);

  /// One update from sampled architectures and their rewards' task terms (same order): the
  /// validation accuracy on CIFAR-10, 80 / perplexity on Penn Treebank. The baseline moves once
  /// per sample, in order, before that sample's advantage is taken.
  ReinforceStats update(const ArcBatch& samples, const std::vector<double>& accuracies);

  double baseline() const { return baseline_; }
  int64_t steps() const { return adam_.steps(); }
  /// Reward of one sample: accuracy + entropy_weight * entropy.
  double reward(double accuracy, double entropy) const {
    return accuracy + options_.entropy_weight * entropy;
  }
  void save(torch::serialize::OutputArchive& a) const;
  void load(torch::serialize::InputArchive& a);

 private:
  Controller controller_;
  ReinforceOptions options_;
  Adam adam_;
  double baseline_ = 0;
};

}  // namespace enas
