#include "enas/data/image_dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "enas/util/error.h"
#include "normalize_table.h"

namespace enas {

ImageSplit ImageSplit::head(int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  return slice(0, n);
}

ImageSplit ImageSplit::head_copy(int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  return {images.narrow(0, 0, n).clone(), labels.narrow(0, 0, n).clone()};
}

ImageSplit ImageSplit::slice(int64_t begin, int64_t end) const {
  require(0 <= begin && begin <= end && end <= size(),
          "cannot take examples [{}, {}) of a split of {} examples", begin, end, size());
  return {images.narrow(0, begin, end - begin), labels.narrow(0, begin, end - begin)};
}

ChannelStats channel_stats(const ImageSplit& split) {
  require(split.size() > 0, "cannot compute channel statistics of an empty split");
  require(split.images.dim() == 4 && split.images.scalar_type() == torch::kUInt8,
          "channel statistics need (N, C, H, W) uint8 images, got {}",
          detail::describe(split.images));
  const torch::Tensor images = split.images.contiguous();
  const int64_t n = images.size(0), channels = images.size(1);
  const int64_t plane = images.size(2) * images.size(3);
  const uint8_t* data = images.data_ptr<uint8_t>();

  // Integer sums are exact (50,000 CIFAR images: sum of squares ~3.3e12, far below 2^64), so
  // the only rounding is the final division: no drift from summing millions of floats.
  std::vector<uint64_t> sum(channels, 0), sum_sq(channels, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      const uint8_t* p = data + (i * channels + c) * plane;
      uint64_t s = 0, s2 = 0;
      for (int64_t k = 0; k < plane; ++k) {
        const uint32_t v = p[k];
        s += v;
        s2 += v * v;
      }
      sum[c] += s;
      sum_sq[c] += s2;
    }
  }

  ChannelStats stats;
  const double count = static_cast<double>(n) * static_cast<double>(plane);
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = static_cast<double>(sum[c]) / count / 255.0;
    const double mean_sq = static_cast<double>(sum_sq[c]) / count / (255.0 * 255.0);
    const double var = std::max(0.0, mean_sq - mean * mean);
    stats.mean.push_back(static_cast<float>(mean));
    stats.std.push_back(static_cast<float>(std::sqrt(var)));
  }
  return stats;
}

void hold_out_validation(ImageDataset& data, int64_t num_valid) {
  const int64_t n = data.train.size();
  require(num_valid >= 0 && num_valid < n,
          "cannot hold out {} validation images from a training split of {}: pass --num_valids "
          "0..{}",
          num_valid, n, n - 1);
  if (num_valid == 0) return;
  data.valid = data.train.slice(n - num_valid, n);
  data.train = data.train.slice(0, n - num_valid);
  data.stats = channel_stats(data.train);
}

torch::Tensor normalize(const ImageSplit& split, const ChannelStats& stats) {
  require(split.images.dim() == 4 && split.images.scalar_type() == torch::kUInt8,
          "normalize needs (N, C, H, W) uint8 images, got {}", detail::describe(split.images));
  const torch::Tensor images = split.images.contiguous();
  const int64_t n = images.size(0), channels = images.size(1);
  const int64_t plane = images.size(2) * images.size(3);
  const auto table = detail::normalize_table(stats, channels);

  torch::Tensor out = torch::empty(images.sizes(), torch::kFloat32);
  const uint8_t* src = images.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      const auto& lut = table[c];
      const int64_t base = (i * channels + c) * plane;
      for (int64_t k = 0; k < plane; ++k) dst[base + k] = lut[src[base + k]];
    }
  }
  return out;
}

}  // namespace enas
