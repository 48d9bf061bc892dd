#pragma once
/// The elementwise half of one node of the ENAS recurrent cell over a batch of rows, forward and
/// backward, fused: rnn_cell.cpp's float CPU path. With libtorch's ops a node step was eight
/// small kernels (f, sigmoid, sub, mul, add; their backward likewise), about 12% of a training
/// step at hidden 800 (tanh alone ran at 1.9 ns per element). Built like softmax_rows.cpp: no
/// torch, -O3, one clone per x86 vector width (vector_math.h). The functions are enas_lm's
/// (space/rnn.h): 0 tanh, 1 ReLU, 2 sigmoid, 3 identity.
#include <cstdint>

namespace enas::highway_rows {

/// h = f(pre[:, :H]), g = sigmoid(pre[:, H:]), l = q + g (h - q) over `rows` rows.
/// pre: (rows, 2H) with rows `pre_stride` floats apart; q, h, g, l: (rows, H) contiguous.
void forward(const float* pre, int64_t pre_stride, const float* q, int64_t rows, int64_t H,
             int func, float* h, float* g, float* l);

/// The backward of forward() for d = dL/dl, from its q, h and g:
///   dpre[:, :H] = f'(h) d g,   dpre[:, H:] = d (h - q) g (1 - g),
///   dq = d (1 - g), written into dq, or added to it with `accumulate`.
/// f' is taken from f's output h (tanh: 1 - h^2, ReLU: h > 0, sigmoid: h (1 - h)).
void backward(const float* d, const float* q, const float* h, const float* g, int64_t rows,
              int64_t H, int func, float* dpre, int64_t dpre_stride, float* dq, bool accumulate);

}  // namespace enas::highway_rows
