#include "enas/child/depthwise_rows.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "enas/child/vector_math.h"

namespace enas::depthwise_rows {

int64_t Geometry::ho() const { return h + 2 * pad < k ? 0 : (h + 2 * pad - k) / stride + 1; }
int64_t Geometry::wo() const { return w + 2 * pad < k ? 0 : (w + 2 * pad - k) / stride + 1; }

namespace {

// A row's (column, channel) run is cut into blocks of m columns (m * c floats; the weights,
// repeated over a block, line up with its channels) and the blocks into chunks of kLanes
// floats. A chunk's loop walks all the blocks of the row with the chunk's k weights (forward)
// or k partial sums (weight gradient) held in registers: ~1.2 loads per product against 2.2
// with the weights loaded per product, and loads, not the multiplier, bound these loops. The
// chunk is written as kLanes / kVec vectors of kVec floats because the vectoriser, given a loop
// over the chunk, unrolls it first and then reloads the weights for every block. 8 floats are
// a native ymm register in both the AVX2 and the AVX-512 clone (a 16-float vector type on AVX2
// is kept in memory: 3x slower); the baseline clone is correct but slow.
constexpr int64_t kLanes = 16;
constexpr int64_t kVec = 8;
constexpr int64_t kHalves = kLanes / kVec;
// Unaligned (aligned as a float), and may alias float data. Reached through a pointer: Clang 14
// drops the reduced alignment through a reference and emits aligned moves.
typedef float Vec
    __attribute__((vector_size(kVec * sizeof(float)), aligned(alignof(float)), may_alias));
ENAS_ALWAYS_INLINE const Vec* vec(const float* p) { return reinterpret_cast<const Vec*>(p); }
ENAS_ALWAYS_INLINE Vec* vec(float* p) { return reinterpret_cast<Vec*>(p); }
// Most floats in a block.
constexpr int64_t kBlock = 192;
// Float products summed into one element of the weight gradient's accumulator before it is
// added into double.
constexpr int64_t kFloatTerms = 32;
// Output rows between a prefetch and the row that reads it.
constexpr int64_t kAhead = 4;

// A correlation over a "logical" image: the source's pixels every `dil` positions from `pad`
// on, zeros elsewhere. Output pixel (r, col) reads logical (r * st + kh, col * st + kw).
// The forward is dil 1, st = stride; the input gradient is the correlation of gy, spread out
// by the stride, with the flipped filter: dil = stride, st 1, pad k - 1 - pad (its zero rows
// are skipped, its zero columns multiplied: at stride 2, twice the products it needs).
struct Plan {
  const float* src;
  int64_t rows, cols, c;  // one source image
  int64_t dil, pad, st, k;
  int64_t out_rows, out_cols;
};

// Columns per block: the fewest that make whole chunks, so that a row has many blocks to share
// each weight load; else as many as fit in kBlock.
ENAS_ALWAYS_INLINE int64_t block_cols(int64_t c) {
  for (int64_t m = 1; m * c <= kBlock; ++m) {
    if (m * c % kLanes == 0) return m;
  }
  return std::max<int64_t>(1, kBlock / c);
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

// Asks for n floats from p ahead of their use (Write: to be written). A row's compute is ~1 us,
// long enough to hide a fetch from memory, but the hardware prefetcher does not run that far
// ahead (measured: the forward took 4.4 ms with its tensors in DRAM against 2.9 ms in cache).
template <int Write>
ENAS_ALWAYS_INLINE void prefetch(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, Write);
}

// Copies of the logical rows that an output row reads, zero padding written in, each split into
// st column phases (phase p holds logical columns p, p + st, ... at c floats apart): tap
// (kh, kw) of output column col is then the run at phase kw % st, column col + kw / st, the
// same shift for every column.
class RowCache {
 public:
  explicit RowCache(const Plan& p)
      : p_(p),
        cols_(p.out_cols + (p.k - 1) / p.st),
        phase_(cols_ * p.c),
        buf_(p.k * p.st * phase_),
        tag_(p.k, -1) {}

  // Where tap kw's run starts in a row copy, relative to the output column's: computed once per
  // call, as the divisions cost as much as a block's multiplications.
  std::vector<int64_t> tap_offsets() const {
    std::vector<int64_t> off(p_.k);
    for (int64_t kw = 0; kw < p_.k; ++kw) off[kw] = kw % p_.st * phase_ + kw / p_.st * p_.c;
    return off;
  }

  // The source row under logical row qr of image b, or -1 for a row of zeros.
  ENAS_ALWAYS_INLINE int64_t source(int64_t b, int64_t qr) const {
    const int64_t d = qr - p_.pad;
    if (d < 0 || (p_.dil > 1 && d % p_.dil != 0) || d / p_.dil >= p_.rows) return -1;
    return b * p_.rows + d / p_.dil;
  }

  // Prefetches the source rows that output row `out_row` reads and its predecessor does not.
  ENAS_ALWAYS_INLINE void prefetch_for(int64_t out_row) const {
    const int64_t b = out_row / p_.out_rows, q0 = out_row % p_.out_rows * p_.st;
    for (int64_t qr = q0 + std::max<int64_t>(0, p_.k - p_.st); qr < q0 + p_.k; ++qr) {
      const int64_t s = source(b, qr);
      if (s >= 0) prefetch<0>(p_.src + s * p_.cols * p_.c, p_.cols * p_.c);
    }
  }

  // Logical row qr of image b, or nullptr where it is all zeros (the callers skip it).
  ENAS_ALWAYS_INLINE const float* row(int64_t b, int64_t qr) {
    const int64_t source = this->source(b, qr);
    if (source < 0) return nullptr;
    // An output row reads k consecutive logical rows: distinct slots modulo k, and the next
    // output row finds most of them already there.
    const int64_t slot = qr % p_.k;
    float* copy = buf_.data() + slot * p_.st * phase_;
    if (tag_[slot] == source) return copy;
    tag_[slot] = source;
    const int64_t c = p_.c;
    const float* src = p_.src + source * p_.cols * c;
    if (p_.st == 1 && p_.dil == 1) {
      const int64_t lo = std::clamp<int64_t>(p_.pad, 0, cols_);
      const int64_t hi = std::clamp<int64_t>(p_.pad + p_.cols, 0, cols_);
      std::fill(copy, copy + lo * c, 0.0f);
      std::copy(src + (lo - p_.pad) * c, src + (hi - p_.pad) * c, copy + lo * c);
      std::fill(copy + hi * c, copy + phase_, 0.0f);
      return copy;
    }
    // Scattered in source order, which keeps the reads sequential.
    std::fill(copy, copy + p_.st * phase_, 0.0f);
    for (int64_t sc = 0; sc < p_.cols; ++sc) {
      const int64_t q = sc * p_.dil + p_.pad;  // position on the padded row
      if (q < 0) continue;
      if (q / p_.st >= cols_) break;
      std::memcpy(copy + q % p_.st * phase_ + q / p_.st * c, src + sc * c, c * sizeof(float));
    }
    return copy;
  }

 private:
  const Plan& p_;
  int64_t cols_;   // columns per phase
  int64_t phase_;  // floats per phase
  std::vector<float> buf_;
  std::vector<int64_t> tag_;  // source row (b * rows + row) held by each slot
};

// One chunk (N floats, or n where N is 0) of one filter row of K taps, over nb blocks:
//   y[j * block + l] (= or +=) sum over kw of w[kw * block + l] * x[off[kw] + j * block + l].
// The weights do not depend on j, and are loaded once for all the blocks. Every pointer is a
// restrict parameter, as that is where the vectoriser trusts it.
template <int K, int N, bool First>
ENAS_ALWAYS_INLINE void forward_chunk(float* __restrict y, const float* __restrict x,
                                      const float* __restrict w, const int64_t* off, int64_t block,
                                      int64_t nb, int64_t n) {
  int64_t o[K];
  for (int64_t kw = 0; kw < K; ++kw) o[kw] = off[kw];
  if constexpr (N > 0) {
    Vec wv[K][kHalves];
    for (int64_t kw = 0; kw < K; ++kw) {
      for (int64_t h = 0; h < kHalves; ++h) wv[kw][h] = *vec(w + kw * block + h * kVec);
    }
    for (int64_t j = 0; j < nb; ++j) {
      for (int64_t h = 0; h < kHalves; ++h) {
        const float* xj = x + j * block + h * kVec;
        float* yj = y + j * block + h * kVec;
        Vec a = wv[0][h] * *vec(xj + o[0]);
        if constexpr (!First) a += *vec(yj);
        for (int64_t kw = 1; kw < K; ++kw) a += wv[kw][h] * *vec(xj + o[kw]);
        *vec(yj) = a;
      }
    }
  } else {
    for (int64_t j = 0; j < nb; ++j) {
      float* yj = y + j * block;
      const float* xj = x + j * block;
      for (int64_t l = 0; l < n; ++l) {
        float a = First ? w[l] * xj[o[0] + l] : yj[l] + w[l] * xj[o[0] + l];
        for (int64_t kw = 1; kw < K; ++kw) a += w[kw * block + l] * xj[o[kw] + l];
        yj[l] = a;
      }
    }
  }
}

// One filter row (weights w, row copy x) over nb blocks of len floats, chunk by chunk; its k taps
// in one loop for K = k, else one at a time.
template <int K>
ENAS_ALWAYS_INLINE void forward_span(float* y, const float* x, const float* w, const int64_t* off,
                                     int64_t block, int64_t nb, int64_t len, int64_t k,
                                     bool first) {
  constexpr int T = K > 0 ? K : 1;
  for (int64_t kw = 0; kw < k; kw += T, first = false) {
    const float* wk = w + kw * block;
    int64_t l = 0;
    for (; l + kLanes <= len; l += kLanes) {
      if (first) {
        forward_chunk<T, kLanes, true>(y + l, x + l, wk + l, off + kw, block, nb, 0);
      } else {
        forward_chunk<T, kLanes, false>(y + l, x + l, wk + l, off + kw, block, nb, 0);
      }
    }
    if (l == len) continue;
    if (first) {
      forward_chunk<T, 0, true>(y + l, x + l, wk + l, off + kw, block, nb, len - l);
    } else {
      forward_chunk<T, 0, false>(y + l, x + l, wk + l, off + kw, block, nb, len - l);
    }
  }
}

template <int K>
ENAS_ALWAYS_INLINE void correlate(const Plan& p, const float* wt, bool flip, float* out,
                                  int64_t row_begin, int64_t row_end) {
  const int64_t k = K > 0 ? K : p.k, c = p.c, m = block_cols(c), block = m * c;
  const int64_t nb = p.out_cols / m, rest = p.out_cols % m * c;  // whole blocks, then floats
  const std::vector<float> wr = repeat_weights(wt, k, c, block, flip);
  RowCache cache(p);
  const std::vector<int64_t> off = cache.tap_offsets();
  for (int64_t r = row_begin; r < row_end; ++r) {
    if (r + kAhead < row_end) {
      cache.prefetch_for(r + kAhead);
      prefetch<1>(out + (r + kAhead) * p.out_cols * c, p.out_cols * c);
    }
    const int64_t b = r / p.out_rows, o = r % p.out_rows;
    float* y = out + r * p.out_cols * c;
    bool first = true;
    for (int64_t kh = 0; kh < k; ++kh) {
      const float* q = cache.row(b, o * p.st + kh);
      if (q == nullptr) continue;
      const float* w = wr.data() + kh * k * block;
      forward_span<K>(y, q, w, off.data(), block, nb, block, k, first);
      forward_span<K>(y + nb * block, q + nb * block, w, off.data(), block, 1, rest, k, first);
      first = false;
    }
    if (first) std::fill(y, y + p.out_cols * c, 0.0f);
  }
}

// One chunk of one filter row's products over nb blocks, into per-column partial sums (folded
// over the block's columns in flush()):
//   acc[kw * block + l] += sum over j of g[j * block + l] * x[off[kw] + j * block + l].
// The sums stay in registers over the blocks.
template <int K, int N>
ENAS_ALWAYS_INLINE void weight_chunk(float* __restrict acc, const float* __restrict g,
                                     const float* __restrict x, const int64_t* off, int64_t block,
                                     int64_t nb, int64_t n) {
  int64_t o[K];
  for (int64_t kw = 0; kw < K; ++kw) o[kw] = off[kw];
  if constexpr (N > 0) {
    Vec a[K][kHalves];
    for (int64_t kw = 0; kw < K; ++kw) {
      for (int64_t h = 0; h < kHalves; ++h) a[kw][h] = *vec(acc + kw * block + h * kVec);
    }
    for (int64_t j = 0; j < nb; ++j) {
      for (int64_t h = 0; h < kHalves; ++h) {
        const Vec gv = *vec(g + j * block + h * kVec);
        const float* xj = x + j * block + h * kVec;
        for (int64_t kw = 0; kw < K; ++kw) a[kw][h] += gv * *vec(xj + o[kw]);
      }
    }
    for (int64_t kw = 0; kw < K; ++kw) {
      for (int64_t h = 0; h < kHalves; ++h) *vec(acc + kw * block + h * kVec) = a[kw][h];
    }
  } else {
    for (int64_t j = 0; j < nb; ++j) {
      const float* gj = g + j * block;
      const float* xj = x + j * block;
      for (int64_t l = 0; l < n; ++l) {
        const float gv = gj[l];
        for (int64_t kw = 0; kw < K; ++kw) acc[kw * block + l] += gv * xj[o[kw] + l];
      }
    }
  }
}

template <int K>
ENAS_ALWAYS_INLINE void weight_span(float* acc, const float* g, const float* x, const int64_t* off,
                                    int64_t block, int64_t nb, int64_t len, int64_t k) {
  constexpr int T = K > 0 ? K : 1;
  for (int64_t kw = 0; kw < k; kw += T) {
    float* a = acc + kw * block;
    int64_t l = 0;
    for (; l + kLanes <= len; l += kLanes) {
      weight_chunk<T, kLanes>(a + l, g + l, x + l, off + kw, block, nb, 0);
    }
    if (l < len) weight_chunk<T, 0>(a + l, g + l, x + l, off + kw, block, nb, len - l);
  }
}

// gw += acc summed over each block's columns, and acc back to 0.
ENAS_ALWAYS_INLINE void flush(float* __restrict acc, double* __restrict gw, int64_t taps, int64_t c,
                              int64_t m) {
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

template <int K>
ENAS_ALWAYS_INLINE void weight(const Plan& p, const float* gy, double* gw, int64_t row_begin,
                               int64_t row_end) {
  const int64_t k = K > 0 ? K : p.k, c = p.c, m = block_cols(c), block = m * c;
  const int64_t nb = p.out_cols / m, rest = p.out_cols % m * c;
  // Each accumulator element takes one product per block of a row.
  const int64_t flush_rows = std::max<int64_t>(1, kFloatTerms / ((p.out_cols + m - 1) / m));
  std::vector<float> acc(k * k * block, 0.0f);
  RowCache cache(p);
  const std::vector<int64_t> off = cache.tap_offsets();
  int64_t pending = 0;
  for (int64_t r = row_begin; r < row_end; ++r) {
    if (r + kAhead < row_end) {
      cache.prefetch_for(r + kAhead);
      prefetch<0>(gy + (r + kAhead) * p.out_cols * c, p.out_cols * c);
    }
    const int64_t b = r / p.out_rows, o = r % p.out_rows;
    const float* g = gy + r * p.out_cols * c;
    for (int64_t kh = 0; kh < k; ++kh) {
      const float* q = cache.row(b, o * p.st + kh);
      if (q == nullptr) continue;
      float* a = acc.data() + kh * k * block;
      weight_span<K>(a, g, q, off.data(), block, nb, block, k);
      weight_span<K>(a, g + nb * block, q + nb * block, off.data(), block, 1, rest, k);
    }
    if (++pending == flush_rows) flush(acc.data(), gw, k * k, c, m), pending = 0;
  }
  if (pending > 0) flush(acc.data(), gw, k * k, c, m);
}

}  // namespace

ENAS_VECTOR_CLONES void backward_input(const Geometry& g, const float* gy, const float* wt,
                                       float* gx, int64_t row_begin, int64_t row_end) {
  const Plan p{gy, g.ho(), g.wo(), g.c, g.stride, g.k - 1 - g.pad, 1, g.k, g.h, g.w};
  if (g.k == 3) return correlate<3>(p, wt, true, gx, row_begin, row_end);
  if (g.k == 5) return correlate<5>(p, wt, true, gx, row_begin, row_end);
  correlate<0>(p, wt, true, gx, row_begin, row_end);  // any other size, its taps not unrolled
}

ENAS_VECTOR_CLONES void backward_weight(const Geometry& g, const float* gy, const float* x,
                                        double* gw, int64_t row_begin, int64_t row_end) {
  const Plan p{x, g.h, g.w, g.c, 1, g.pad, g.stride, g.k, g.ho(), g.wo()};
  if (p.out_rows <= 0 || p.out_cols <= 0 || row_begin >= row_end) return;
  if (g.k == 3) return weight<3>(p, gy, gw, row_begin, row_end);
  if (g.k == 5) return weight<5>(p, gy, gw, row_begin, row_end);
  weight<0>(p, gy, gw, row_begin, row_end);  // any other size, its taps not unrolled
}

}  // namespace enas::depthwise_rows
