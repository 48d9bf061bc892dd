#include "enas/child/softmax_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

// One clone per vector width, chosen at load time (GCC and Clang, x86-64 only); elsewhere the
// plain build, which is still correct.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ENAS_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ENAS_VECTOR_CLONES
#endif

namespace enas::softmax_rows {

namespace {

// Lanes of the partial sums and maxima: a plain loop over them is what the compiler turns into
// vector instructions (a single accumulator would be a serial chain, since float addition does
// not reassociate without -ffast-math).
constexpr int64_t kLanes = 16;
// Elements summed in float before the block's sum is added into double.
constexpr int64_t kBlock = 512;

/// exp(x) for x <= 0: x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite: ln2 in two parts), then
/// Cephes' degree-6 polynomial for exp(r), times 2^n built in the exponent bits.
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);  // exp(-87) is still a normal float; the sum cannot tell the difference
  // Round to nearest by the 1.5 * 2^23 trick: no floor(), which baseline x86-64 cannot vectorise.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

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
