#include "enas/child/depthwise_rows.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "enas/child/vector_math.h"

namespace enas::depthwise_rows {

int64_t Geometry::ho() const { return h + 2 * pad < k ? 0 : (h + 2 * pad - k) / stride + 1; }
int64_t Geometry::wo() const { return w + 2 * pad < k ? 0 : (w + 2 * pad - k) / stride + 1; }

namespace {

// Floats in one block of an output row: the weights repeated over a block, k * k of them, stay
// in L1 next to the k row copies.
constexpr int64_t kBlock = 192;
// Float products summed into one element of the weight gradient's accumulator before it is
// added into double.
constexpr int64_t kFloatTerms = 32;

// A correlation over a "logical" image: the source's pixels every `dil` positions from `pad`
// on, zeros elsewhere. Output pixel (r, col) reads logical (r * st + kh, col * st + kw).
// The forward is dil 1, st = stride; the input gradient is the correlation of gy, spread out
// by the stride, with the flipped filter: dil = stride, st 1, pad k - 1 - pad.
struct Plan {
  const float* src;
  int64_t rows, cols, c;  // one source image
  int64_t dil, pad, st, k;
  int64_t out_rows, out_cols;
};

// Columns per block: a multiple of c (so that every block starts at channel 0 and one copy of
// the repeated weights serves them all), and where it can be, a multiple of 16 floats, so that
// the block has no partial vector.
ENAS_ALWAYS_INLINE int64_t block_cols(int64_t c) {
  const int64_t most = std::max<int64_t>(1, kBlock / c);
  for (int64_t m = most; m > 1; --m) {
    if (m * c % 16 == 0) return m;
  }
  return most;
}

// wr[tap * block + l] = weight of `tap` for channel l % c; `flip` reverses the taps in both axes.
ENAS_ALWAYS_INLINE std::vector<float> repeat_weights(const float* wt, int64_t k, int64_t c,
                                                     int64_t block, bool flip) {
  std::vector<float> wr(k * k * block);
  for (int64_t tap = 0; tap < k * k; ++tap) {
    const float* w = wt + (flip ? k * k - 1 - tap : tap) * c;
    for (int64_t l = 0; l < block; l += c) std::copy(w, w + c, wr.data() + tap * block + l);
  }
  return wr;
}

// Copies of the logical rows that an output row reads, zero padding written in, each split into
// st column phases (phase p holds logical columns p, p + st, ... at c floats apart): tap
// (kh, kw) of output column col is then the run at phase kw % st, column col + kw / st, the
// same shift for every column.
class RowCache {
 public:
  explicit RowCache(const Plan& p)
      : p_(p),
        phase_(p.c * (p.out_cols + (p.k - 1) / p.st + 1)),
        buf_(p.k * p.st * phase_),
        tag_(p.k, -1) {}

  int64_t phase() const { return phase_; }

  // Logical row qr of image b, or nullptr where it is all zeros (the callers skip it).
  ENAS_ALWAYS_INLINE const float* row(int64_t b, int64_t qr) {
    const int64_t d = qr - p_.pad;
    if (d < 0 || d % p_.dil != 0 || d / p_.dil >= p_.rows) return nullptr;
    const int64_t source = b * p_.rows + d / p_.dil;
    // An output row reads k consecutive logical rows: distinct slots modulo k, and the next
    // output row finds most of them already there.
    const int64_t slot = qr % p_.k;
    float* copy = buf_.data() + slot * p_.st * phase_;
    if (tag_[slot] == source) return copy;
    tag_[slot] = source;
    const float* src = p_.src + source * p_.cols * p_.c;
    float* out = copy;
    for (int64_t ph = 0; ph < p_.st; ++ph) {
      for (int64_t e = ph - p_.pad; out < copy + (ph + 1) * phase_; e += p_.st, out += p_.c) {
        if (e >= 0 && e % p_.dil == 0 && e / p_.dil < p_.cols) {
          std::memcpy(out, src + e / p_.dil * p_.c, p_.c * sizeof(float));
        } else {
          std::fill(out, out + p_.c, 0.0f);
        }
      }
    }
    return copy;
  }

 private:
  const Plan& p_;
  int64_t phase_;  // floats per phase
  std::vector<float> buf_;
  std::vector<int64_t> tag_;  // source row (b * rows + row) held by each slot
};

// Where tap kw's run starts in a row copy, relative to the block's first column: computed once
// per call, as the divisions cost as much as a block's multiplications.
ENAS_ALWAYS_INLINE std::vector<int64_t> tap_offsets(int64_t k, int64_t st, int64_t phase,
                                                    int64_t c) {
  std::vector<int64_t> off(k);
  for (int64_t kw = 0; kw < k; ++kw) off[kw] = kw % st * phase + kw / st * c;
  return off;
}

// y[l] (= or +=) sum over kw of w[kw * block + l] * row[off[kw] + l], l < len: one filter
// row over one block. With K known the taps are unrolled into the loop over l, so y is loaded
// and stored once per k taps; every pointer is a restrict parameter because that is where the
// vectoriser trusts it.
template <int K, bool First>
ENAS_ALWAYS_INLINE void row_taps(float* __restrict y, const float* __restrict row,
                                 const float* __restrict w, const int64_t* off, int64_t len,
                                 int64_t k, int64_t block) {
  if constexpr (K > 0) {
    for (int64_t l = 0; l < len; ++l) {
      float a = First ? w[l] * row[off[0] + l] : y[l] + w[l] * row[off[0] + l];
      for (int64_t kw = 1; kw < K; ++kw) a += w[kw * block + l] * row[off[kw] + l];
      y[l] = a;
    }
  } else {
    for (int64_t kw = 0; kw < k; ++kw) {
      const float* wk = w + kw * block;
      const float* r = row + off[kw];
      if (First && kw == 0) {
        for (int64_t l = 0; l < len; ++l) y[l] = wk[l] * r[l];
      } else {
        for (int64_t l = 0; l < len; ++l) y[l] += wk[l] * r[l];
      }
    }
  }
}

template <int K>
ENAS_ALWAYS_INLINE void correlate(const Plan& p, const float* wt, bool flip, float* out,
                                  int64_t row_begin, int64_t row_end) {
  const int64_t k = K > 0 ? K : p.k, c = p.c, m = block_cols(c), block = m * c;
  const std::vector<float> wr = repeat_weights(wt, k, c, block, flip);
  RowCache cache(p);
  const std::vector<int64_t> off = tap_offsets(k, p.st, cache.phase(), c);
  std::vector<const float*> rows(k);
  std::vector<int64_t> khs(k);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t b = r / p.out_rows, o = r % p.out_rows;
    int64_t valid = 0;
    for (int64_t kh = 0; kh < k; ++kh) {
      if (const float* q = cache.row(b, o * p.st + kh)) rows[valid] = q, khs[valid++] = kh;
    }
    float* y = out + r * p.out_cols * c;
    if (valid == 0) {
      std::fill(y, y + p.out_cols * c, 0.0f);
      continue;
    }
    // Blocks outside, filter rows inside: the block of y stays in L1 over its k * k taps.
    for (int64_t col = 0; col < p.out_cols; col += m) {
      const int64_t len = std::min(m, p.out_cols - col) * c;
      for (int64_t v = 0; v < valid; ++v) {
        const float* w = wr.data() + khs[v] * k * block;
        const float* q = rows[v] + col * c;
        if (v == 0) {
          row_taps<K, true>(y + col * c, q, w, off.data(), len, k, block);
        } else {
          row_taps<K, false>(y + col * c, q, w, off.data(), len, k, block);
        }
      }
    }
  }
}

// acc[l] += sum over j < G of g[j * block + l] * x[j * block + l], l < len: G blocks of a row
// into one tap's partial sums (folded over the block's columns in flush()). The accumulator is
// loaded and stored once per G products: with one product per store, stores bounded the loop.
template <int G>
ENAS_ALWAYS_INLINE void weight_blocks(float* __restrict acc, const float* __restrict g,
                                      const float* __restrict x, int64_t block, int64_t len) {
  for (int64_t l = 0; l < len; ++l) {
    float a = acc[l];
    for (int64_t j = 0; j < G; ++j) a += g[j * block + l] * x[j * block + l];
    acc[l] = a;
  }
}

// gw += acc summed over each block's columns, and acc back to 0.
ENAS_ALWAYS_INLINE void flush(float* __restrict acc, double* __restrict gw, int64_t taps,
                              int64_t c, int64_t m) {
  const int64_t block = m * c;
  for (int64_t tap = 0; tap < taps; ++tap) {
    float* a = acc + tap * block;
    for (int64_t col = 1; col < m; ++col) {
      for (int64_t ch = 0; ch < c; ++ch) a[ch] += a[col * c + ch];
    }
    for (int64_t ch = 0; ch < c; ++ch) gw[tap * c + ch] += a[ch];
  }
  std::fill(acc, acc + taps * block, 0.0f);
}

}  // namespace

ENAS_VECTOR_CLONES void forward(const Geometry& g, const float* x, const float* wt, float* y,
                                int64_t row_begin, int64_t row_end) {
  const Plan p{x, g.h, g.w, g.c, 1, g.pad, g.stride, g.k, g.ho(), g.wo()};
  if (g.k == 3) {
    correlate<3>(p, wt, false, y, row_begin, row_end);
  } else if (g.k == 5) {
    correlate<5>(p, wt, false, y, row_begin, row_end);
  } else {
    correlate<0>(p, wt, false, y, row_begin, row_end);
  }
}

ENAS_VECTOR_CLONES void backward_input(const Geometry& g, const float* gy, const float* wt,
                                       float* gx, int64_t row_begin, int64_t row_end) {
  const Plan p{gy, g.ho(), g.wo(), g.c, g.stride, g.k - 1 - g.pad, 1, g.k, g.h, g.w};
  if (g.k == 3) {
    correlate<3>(p, wt, true, gx, row_begin, row_end);
  } else if (g.k == 5) {
    correlate<5>(p, wt, true, gx, row_begin, row_end);
  } else {
    correlate<0>(p, wt, true, gx, row_begin, row_end);
  }
}

ENAS_VECTOR_CLONES void backward_weight(const Geometry& g, const float* gy, const float* x,
                                        double* gw, int64_t row_begin, int64_t row_end) {
  const Plan p{x, g.h, g.w, g.c, 1, g.pad, g.stride, g.k, g.ho(), g.wo()};
  const int64_t k = g.k, c = g.c, m = block_cols(c), block = m * c;
  if (p.out_rows <= 0 || p.out_cols <= 0 || row_begin >= row_end) return;
  const int64_t full = p.out_cols / m, rest = p.out_cols % m * c;  // whole blocks, then floats
  // Each accumulator element takes one product per block of a row.
  const int64_t flush_rows = std::max<int64_t>(1, kFloatTerms / ((p.out_cols + m - 1) / m));
  std::vector<float> acc(k * k * block, 0.0f);
  RowCache cache(p);
  const std::vector<int64_t> off = tap_offsets(k, p.st, cache.phase(), c);
  int64_t pending = 0;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t b = r / p.out_rows, o = r % p.out_rows;
    const float* gr = gy + r * p.out_cols * c;
    for (int64_t kh = 0; kh < k; ++kh) {
      const float* q = cache.row(b, o * p.st + kh);
      if (q == nullptr) continue;
      for (int64_t kw = 0; kw < k; ++kw) {
        float* a = acc.data() + (kh * k + kw) * block;
        const float* xq = q + off[kw];
        int64_t j = 0;
        for (; j + 4 <= full; j += 4) weight_blocks<4>(a, gr + j * block, xq + j * block, block, block);
        for (; j < full; ++j) weight_blocks<1>(a, gr + j * block, xq + j * block, block, block);
        if (rest > 0) weight_blocks<1>(a, gr + full * block, xq + full * block, block, rest);
      }
    }
    if (++pending == flush_rows) flush(acc.data(), gw, k * k, c, m), pending = 0;
  }
  if (pending > 0) flush(acc.data(), gw, k * k, c, m);
}

}  // namespace enas::depthwise_rows
