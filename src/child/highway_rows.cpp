#include "enas/child/highway_rows.h"

#include "enas/child/vector_math.h"

namespace enas::highway_rows {

namespace {

// The candidate's function and its derivative from its output, one instantiation each, so the
// inner loops carry no branch.
template <int F>
ENAS_ALWAYS_INLINE float apply(float x) {
  if constexpr (F == 0) return vector_math::tanh(x);
  if constexpr (F == 1) return x > 0.0f ? x : 0.0f;
  if constexpr (F == 2) return vector_math::sigmoid(x);
  return x;
}

template <int F>
ENAS_ALWAYS_INLINE float slope(float y) {
  if constexpr (F == 0) return 1.0f - y * y;
  if constexpr (F == 1) return y > 0.0f ? 1.0f : 0.0f;
  if constexpr (F == 2) return y * (1.0f - y);
  return 1.0f;
}

// The loops over one row, with every pointer restrict (as parameters: that is where the
// vectoriser trusts it, and the gate half of pre is then known not to overlap the candidate's).
template <int F>
ENAS_ALWAYS_INLINE void forward_row(const float* __restrict c, const float* __restrict gate,
                                    const float* __restrict q, float* __restrict h,
                                    float* __restrict g, float* __restrict l, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float hv = apply<F>(c[j]);
    const float gv = vector_math::sigmoid(gate[j]);
    h[j] = hv;
    g[j] = gv;
    l[j] = q[j] + gv * (hv - q[j]);
  }
}

template <int F>
ENAS_ALWAYS_INLINE void backward_row(const float* __restrict d, const float* __restrict q,
                                     const float* __restrict h, const float* __restrict g,
                                     float* __restrict dc, float* __restrict dgate,
                                     float* __restrict dq, int64_t H, bool accumulate) {
  for (int64_t j = 0; j < H; ++j) {
    const float dg = d[j] * g[j];
    dc[j] = slope<F>(h[j]) * dg;
    dgate[j] = d[j] * (h[j] - q[j]) * g[j] * (1.0f - g[j]);
    const float through = d[j] - dg;
    dq[j] = accumulate ? dq[j] + through : through;  // loop-invariant: unswitched
  }
}

template <int F>
ENAS_ALWAYS_INLINE void forward_rows(const float* pre, int64_t pre_stride, const float* q,
                                     int64_t rows, int64_t H, float* h, float* g, float* l) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = pre + r * pre_stride;
    forward_row<F>(c, c + H, q + r * H, h + r * H, g + r * H, l + r * H, H);
  }
}

template <int F>
ENAS_ALWAYS_INLINE void backward_rows(const float* d, const float* q, const float* h,
                                      const float* g, int64_t rows, int64_t H, float* dpre,
                                      int64_t dpre_stride, float* dq, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r) {
    float* dc = dpre + r * dpre_stride;
    backward_row<F>(d + r * H, q + r * H, h + r * H, g + r * H, dc, dc + H, dq + r * H, H,
                    accumulate);
  }
}

}  // namespace

ENAS_VECTOR_CLONES void forward(const float* pre, int64_t pre_stride, const float* q, int64_t rows,
                                int64_t H, int func, float* h, float* g, float* l) {
  switch (func) {
    case 0:
      return forward_rows<0>(pre, pre_stride, q, rows, H, h, g, l);
    case 1:
      return forward_rows<1>(pre, pre_stride, q, rows, H, h, g, l);
    case 2:
      return forward_rows<2>(pre, pre_stride, q, rows, H, h, g, l);
    default:
      return forward_rows<3>(pre, pre_stride, q, rows, H, h, g, l);
  }
}

ENAS_VECTOR_CLONES void backward(const float* d, const float* q, const float* h, const float* g,
                                 int64_t rows, int64_t H, int func, float* dpre,
                                 int64_t dpre_stride, float* dq, bool accumulate) {
  switch (func) {
    case 0:
      return backward_rows<0>(d, q, h, g, rows, H, dpre, dpre_stride, dq, accumulate);
    case 1:
      return backward_rows<1>(d, q, h, g, rows, H, dpre, dpre_stride, dq, accumulate);
    case 2:
      return backward_rows<2>(d, q, h, g, rows, H, dpre, dpre_stride, dq, accumulate);
    default:
      return backward_rows<3>(d, q, h, g, rows, H, dpre, dpre_stride, dq, accumulate);
  }
}

}  // namespace enas::highway_rows
