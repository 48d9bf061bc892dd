#pragma once
/// Row kernels of the fused softmax cross-entropy (child/linear_xent.h), on plain float arrays.
/// They live in a file of their own, without torch, because that file is compiled at -O3 with
/// one clone per x86 vector width (target_clones): the exponential is vector_math.h's polynomial,
/// which the compiler vectorises, where libm's expf is a scalar call.
#include <cstdint>

namespace enas::softmax_rows {

/// max(x[0..n)); n >= 1. A NaN in x may be skipped here; it still reaches the sum below.
float max(const float* x, int64_t n);

/// x[j] = exp(x[j] - shift) in place, and returns the sum of the new x (float blocks added into
/// double). exp is Cephes' expf polynomial, within 1e-7 relative of exp for arguments in
/// [-87, 0], the range a shift by the row's maximum leaves; lower arguments give exp(-87).
double exp_shifted(float* x, int64_t n, float shift);

/// x[j] *= scale in place, and a product below the smallest normal float in magnitude becomes 0.
/// The rows are the gradient the two backward GEMMs read: where logits spread over more than ~87,
/// softmax times 1/N is denormal there, and a GEMM over denormals is 20x slower (measured: 1.2 s
/// against 55 ms for (10,000, 4480) x (4480, 200)). What is dropped is below 1.2e-38.
void scale(float* x, int64_t n, float scale);

}  // namespace enas::softmax_rows
