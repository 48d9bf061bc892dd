#pragma once
/// The gradients of a depthwise 2-D convolution (one k x k filter per channel, groups ==
/// channels, no bias, no dilation) on float images in channels-last memory; the forward is
/// oneDNN's, faster here (child/depthwise.h). Built like softmax_rows.cpp: no torch, -O3, one
/// clone per x86 vector width (vector_math.h).
///
/// Layout: images are [n, rows, cols, c] dense (NHWC: channel fastest), weights [k * k][c]
/// tap-major (tap (kh, kw) at (kh * k + kw) * c). Along a row, (column, channel) is one
/// contiguous run of cols * c floats, and a tap is the same shift of that run for every column:
/// the kernels loop over that run, not over the channels of one pixel, so the vector lanes stay
/// full when c is not a multiple of the vector width (20, 36, 72 ...). The weights are repeated
/// over a block of columns to line up with the channels, and the taps read copies of the input
/// rows with the zero padding written in (for stride s split into s column phases, so that a
/// tap is again one shift): no inner loop tests a bound.
///
/// Work is split by rows ([row_begin, row_end) below), each a whole output or input row of one
/// image; disjoint ranges may run on different threads (no shared state). The arrays are dense,
/// need no alignment, and outputs must not overlap inputs. Each call allocates its scratch
/// (k * k weight blocks of at most 192 floats, k row copies) and prefetches a few rows ahead
/// within its range, so ranges of many rows amortise both. c, k, stride >= 1, pad >= 0.
#include <cstdint>

namespace enas::depthwise_rows {

/// Input x: [n, h, w, c]. Weights: [k * k][c]. Output y: [n, ho, wo, c] with
/// ho = (h + 2 pad - k) / stride + 1 (same for wo); 0 where h + 2 pad < k.
struct Geometry {
  int64_t n, h, w, c;  // input
  int64_t k;           // kernel size (square)
  int64_t stride;      // >= 1
  int64_t pad;         // zero padding on each side, >= 0
  int64_t ho() const;  // (h + 2 * pad - k) / stride + 1
  int64_t wo() const;
};

/// gx rows [row_begin, row_end), a row being one (image b, input row ih), index b * h + ih:
/// overwritten with the input gradient, the sum over the taps and outputs that read
/// x[b, ih, iw, :]. A gather (a correlation of gy with the flipped filter; for stride s, gy
/// spread out with s - 1 zeros between its pixels), so disjoint ranges never write the same row.
void backward_input(const Geometry& g, const float* gy, const float* wt, float* gx,
                    int64_t row_begin, int64_t row_end);

/// Adds into gw ([k * k][c], double) the weight gradient's part from the output rows
/// [row_begin, row_end) (rows as in forward):
///   gw[tap][ch] += sum gy[b, oh, ow, ch] * x[b, oh*stride - pad + kh, ow*stride - pad + kw, ch].
/// Products are summed in float over a few output rows and then added into double, so that a
/// sum over 160 x 32 x 32 outputs keeps double precision. Give each thread its own gw.
void backward_weight(const Geometry& g, const float* gy, const float* x, double* gw,
                     int64_t row_begin, int64_t row_end);

}  // namespace enas::depthwise_rows
