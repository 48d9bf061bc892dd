#pragma once
/// The language model's tied softmax and its loss in one step: mean cross-entropy of
/// logits = h w^T against targets.
///
/// With libtorch's ops a search step of the PTB child (4480 tokens, vocabulary 10,000) spends
/// 122 ms of its 560 on three passes over the (N, V) logits besides the GEMMs: log-softmax,
/// its backward, and the zero fill of NLL's backward. Here, on the CPU in float, the forward
/// turns the logits into exp(logit - row max) in place with a vectorised exponential and keeps
/// them; the backward scales them in place into the gradient softmax - onehot. The GEMMs are
/// libtorch's. Elsewhere (CUDA, double) it is libtorch's cross_entropy over h.mm(w.t()).
#include <torch/torch.h>

namespace enas {

/// True where linear_cross_entropy() runs its own kernel: float tensors on the CPU.
bool own_linear_xent_kernel(const torch::Tensor& h, const torch::Tensor& w);

/// mean_i [logsumexp(h_i w^T) - h_i . w_{target_i}], differentiable in h and w.
/// h: (N, H); w: (V, H); target: (N) int64 in [0, V). Returns a 0-d tensor. Backward may run
/// once per forward (the saved softmax becomes the gradient in place).
torch::Tensor linear_cross_entropy(const torch::Tensor& h, const torch::Tensor& w,
                                   const torch::Tensor& target);

}  // namespace enas
