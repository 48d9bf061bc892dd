#include "enas/data/lm_batches.h"

#include <algorithm>

#include "enas/util/error.h"

namespace enas {

torch::Tensor batchify(const torch::Tensor& stream, int64_t rows) {
  require(rows > 0, "batch size must be positive, got {}", rows);
  const int64_t row_len = stream.numel() / rows;
  require(row_len >= 2, "a stream of {} tokens is too short for {} rows of at least 2 tokens",
          stream.numel(), rows);
  return stream.narrow(0, 0, rows * row_len).view({rows, row_len});
}

std::vector<Segment> random_length_segments(int64_t row_len, int64_t bptt, std::mt19937_64& rng) {
  require(bptt >= 1, "bptt steps must be positive, got {}", bptt);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 5.0);
  std::vector<Segment> out;
  int64_t start = 0;
  while (true) {
    const double base = uniform(rng) < 0.95 ? static_cast<double>(bptt) : bptt / 2.0;
    double z;
    do z = normal(rng);
    while (std::abs(z) > 10.0);
    int64_t len = static_cast<int64_t>(base + z);  // toward zero, as tf.cast
    len = std::min<int64_t>({len, bptt + 20, row_len - start - 1});
    len = std::max<int64_t>(len, 1);  // bptt < 13 could draw <= 0; enas_lm never meets it
    out.push_back({start, len});
    start += len;
    if (start >= row_len - 3) break;
  }
  return out;
}

std::vector<Segment> fixed_length_segments(int64_t row_len, int64_t len, bool cover_all) {
  require(len >= 1, "segment length must be positive, got {}", len);
  std::vector<Segment> out;
  const int64_t full = (row_len - 1) / len;
  for (int64_t i = 0; i < full; ++i) out.push_back({i * len, len});
  if (cover_all && full * len < row_len - 1) {
    out.push_back({full * len, row_len - 1 - full * len});
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> segment_xy(const torch::Tensor& rows, const Segment& s) {
  return {rows.narrow(1, s.start, s.len), rows.narrow(1, s.start + 1, s.len)};
}

}  // namespace enas
