#pragma once
/// Batch normalisation of the CIFAR-10 children.
///
/// libtorch 1.13's CPU kernel for channels-last activations is slow in two common cases: a channel
/// count that is not a multiple of 8 (the authors' 20, 36 and 60 filters; [160, 20, 32, 32]
/// forward and backward: 44 ms, against 2.9 ms for [160, 16, 32, 32]), and an incoming gradient
/// that is a channel slice, which is what a concatenation's backward hands every input (7x slower:
/// 27.7 ms against 4.4 ms on [128, 72, 16, 16]). This file has its own kernel for channels-last
/// CPU tensors: one pass for the statistics and one for the output, forward and backward alike
/// (6.6 ms and 5.9 ms in those two cases, within 0.3-1.8 ms of libtorch's where libtorch is fast).
/// Everything else (CUDA, NCHW, eval with running statistics, other dtypes) is libtorch's.
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "enas/dist/team.h"

namespace enas {

/// Sums a vector of per-channel sums across the processes of a data-parallel run, in place.
using ChannelSumReducer = std::function<void(std::vector<double>& sums)>;

/// Sync batch norm (docs/distributed.md): while set, every batch-statistics batch norm reduces
/// its moments (forward) and its gradient sums (backward) with `reducer`, so that the processes'
/// parts of a batch are normalised as the whole batch would be. Every float CPU batch then goes
/// through our kernel, whatever its layout (a contiguous one is converted and back); other
/// tensors are an enas::Error. Empty: each process alone.
void set_batch_norm_reducer(ChannelSumReducer reducer);
const ChannelSumReducer& batch_norm_reducer();

/// True where batch_norm_batch_stats() runs its own kernel rather than libtorch's: a float CPU
/// tensor in channels-last memory (and not also contiguous, as when H = W = 1).
bool own_batch_norm_kernel(const torch::Tensor& x);

/// Batch normalisation with the batch's statistics over (N, H, W), differentiable:
/// y = (x - mean) / sqrt(var + eps) * weight + bias. `weight` and `bias` may be undefined (no
/// affine transform). Where `mean` / `var` are given they receive the batch mean and the biased
/// variance ([C], no gradient) for running-statistics updates, and `rows` the rows they cover
/// (N H W; summed over the processes with sync batch norm).
torch::Tensor batch_norm_batch_stats(const torch::Tensor& x, const torch::Tensor& weight,
                                     const torch::Tensor& bias, double eps,
                                     torch::Tensor* mean = nullptr, torch::Tensor* var = nullptr,
                                     double* rows = nullptr);

/// relu(batch_norm_batch_stats(...)) where the output feeds a ReLU alone (a sep-conv stack's
/// inner batch norm): in our kernel the ReLU costs no pass of its own, forward or backward.
torch::Tensor batch_norm_relu_batch_stats(const torch::Tensor& x, const torch::Tensor& weight,
                                          const torch::Tensor& bias, double eps,
                                          torch::Tensor* mean = nullptr,
                                          torch::Tensor* var = nullptr, double* rows = nullptr);

/// BatchNorm2d whose batch-statistics forward goes through batch_norm_batch_stats(). Parameters
/// and buffers are torch::nn::BatchNorm2d's, under the same names (weight, bias, running_mean,
/// running_var, num_batches_tracked), and the running statistics follow torch's rule (momentum or
/// cumulative average, unbiased variance), so outputs and checkpoints are the same as with it.
class BatchNormImpl : public torch::nn::Cloneable<BatchNormImpl> {
 public:
  explicit BatchNormImpl(const torch::nn::BatchNorm2dOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);  // (B, C, H, W) -> (B, C, H, W)
  /// relu(forward(x)), the ReLU fused into the batch norm where our kernel runs.
  torch::Tensor forward_relu(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  torch::nn::BatchNorm2dOptions options;
  torch::Tensor weight, bias;                                    // [C], when affine
  torch::Tensor running_mean, running_var, num_batches_tracked;  // when tracking

 private:
  torch::Tensor run(const torch::Tensor& x, bool relu);
};
TORCH_MODULE(BatchNorm);

/// Sync batch norm while alive: with team.sync_bn(), every batch norm in training sums its
/// moments and gradient sums over the team (set_batch_norm_reducer), so each process's part is
/// normalised with the whole batch's statistics. Refuses, with an enas::Error naming the fix,
/// a device the sync kernel does not run on (CUDA).
class SyncBatchNorm {
 public:
  SyncBatchNorm(const Team& team, const torch::Device& device);
  ~SyncBatchNorm();
  SyncBatchNorm(const SyncBatchNorm&) = delete;
  SyncBatchNorm& operator=(const SyncBatchNorm&) = delete;

 private:
  bool active_ = false;
};

}  // namespace enas
