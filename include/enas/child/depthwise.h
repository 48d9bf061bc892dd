#pragma once
/// Depthwise convolutions of the sep-conv ops, with our own backward (child/depthwise_rows.h) for
/// channels-last float CPU tensors. oneDNN's depthwise backward in libtorch 1.13 is slow at the
/// authors' channel counts (20, 40, 80: not multiples of its 16-float vectors): at [160, 20, 32,
/// 32] with 5x5 filters it took 13 ms a call against 3 ms for its forward, the largest single
/// item of a micro step (12%); ours takes 9 ms in the step. The forward stays oneDNN's, and
/// everything else (CUDA, NCHW, double) libtorch's.
#include <torch/torch.h>

namespace enas {

/// True where depthwise_conv2d()'s backward is ours: a float CPU input in channels-last memory (and
/// not also contiguous, as when H = W = 1), and a [C, 1, k, k] float CPU filter.
bool own_depthwise_kernel(const torch::Tensor& x, const torch::Tensor& w);

/// A depthwise convolution, differentiable: groups = channels, no bias, square filter,
/// `pad` zeros on each side. x: (B, C, H, W); w: (C, 1, k, k) -> (B, C, Ho, Wo), Ho =
/// (H + 2 pad - k) / stride + 1, channels-last where our kernel ran.
torch::Tensor depthwise_conv2d(const torch::Tensor& x, const torch::Tensor& w, int64_t stride,
                               int64_t pad);

/// `conv`'s forward, through depthwise_conv2d() when it is a depthwise convolution without bias,
/// with a square filter and no dilation; the module's own otherwise. `pad` is the symmetric
/// padding the module was built with (make_conv's k / 2): libtorch keeps it in a variant whose
/// type changed between versions, so the caller says it.
torch::Tensor depthwise_forward(torch::nn::Conv2d& conv, const torch::Tensor& x, int64_t pad);

}  // namespace enas
