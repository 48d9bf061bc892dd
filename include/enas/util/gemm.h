#pragma once
/// Float matrix products on the CPU through oneDNN's SGEMM where the process has it, libtorch's
/// (OpenBLAS's) otherwise.
///
/// Debian's OpenBLAS 0.3.21 takes this project's AMD EPYC for a Haswell and runs AVX2 kernels;
/// oneDNN, which libtorch already loads for its convolutions, picks its AVX-512 ones. Measured at
/// 2 threads (docs/performance.md): the LM's (4480, 200) x (200, 10,000) logits 407 against 169
/// GFLOP/s, the final cell's (64, 1600) x (1600, 800) 345 against 66.
///
/// oneDNN is looked up at run time (dlsym, as set_threads finds OpenBLAS), not linked: Debian's
/// libtorch links libdnnl.so.2 and exports it, a PyTorch wheel keeps its own oneDNN hidden, and
/// then (or on a GPU, in double, or with ENAS_ONEDNN_GEMM=0 in the environment) every product
/// is libtorch's. mm_out, addmm_out and mm are plain kernels, for the hand-written backwards (with
/// inputs that ask for gradients they fall back to libtorch's ops); product is an autograd op.
#include <torch/torch.h>

namespace enas {

/// Whether float CPU products go through oneDNN in this process.
bool onednn_gemm_available();

/// out (M, N) = a (M, K) @ b (K, N). Transposed views are read in place (no copy).
void mm_out(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b);

/// out (M, N) = add (M, N) + a (M, K) @ b (K, N); `add` may be `out` itself.
void addmm_out(torch::Tensor& out, const torch::Tensor& add, const torch::Tensor& a,
               const torch::Tensor& b);

/// a (M, K) @ b (K, N), a new (M, N) tensor.
torch::Tensor mm(const torch::Tensor& a, const torch::Tensor& b);

/// a (M, K) @ b (K, N) as an autograd op: forward and both gradients through mm above.
torch::Tensor product(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace enas
