#include "enas/child/softmax_rows.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "enas/child/vector_math.h"

namespace enas::softmax_rows {

namespace {

using vector_math::exp_nonpositive;

// Lanes of the partial sums and maxima: a plain loop over them is what the compiler turns into
// vector instructions (a single accumulator would be a serial chain, since float addition does
// not reassociate without -ffast-math).
constexpr int64_t kLanes = 16;
// Elements summed in float before the block's sum is added into double.
constexpr int64_t kBlock = 512;

}  // namespace

ENAS_VECTOR_CLONES float max(const float* x, int64_t n) {
  float lane[kLanes];
  std::fill(lane, lane + kLanes, x[0]);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lane[l] = std::max(lane[l], x[j + l]);
  }
  float m = x[0];
  for (int64_t l = 0; l < kLanes; ++l) m = std::max(m, lane[l]);
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

ENAS_VECTOR_CLONES double exp_shifted(float* x, int64_t n, float shift) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t end = std::min(n, b + kBlock);
    float lane[kLanes] = {};
    int64_t j = b;
    for (; j + kLanes <= end; j += kLanes) {
      for (int64_t l = 0; l < kLanes; ++l) {
        const float e = exp_nonpositive(x[j + l] - shift);
        x[j + l] = e;
        lane[l] += e;
      }
    }
    float block = 0;
    for (; j < end; ++j) {
      x[j] = exp_nonpositive(x[j] - shift);
      block += x[j];
    }
    for (int64_t l = 0; l < kLanes; ++l) block += lane[l];
    total += block;
  }
  return total;
}

ENAS_VECTOR_CLONES void scale(float* x, int64_t n, float scale) {
  constexpr float kTiny = std::numeric_limits<float>::min();
  for (int64_t j = 0; j < n; ++j) {
    const float v = x[j] * scale;
    x[j] = std::abs(v) < kTiny ? 0.0f : v;  // a NaN compares false and stays
  }
}

}  // namespace enas::softmax_rows
