#pragma once
/// Private to src/data: the byte -> normalised float lookup shared by normalize() and
/// make_batch(), so evaluation and un-augmented batches agree bit for bit.
#include <array>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "enas/data/image_dataset.h"
#include "enas/util/error.h"

namespace enas::detail {

/// "uint8 [3, 32, 32]": a tensor's type and shape for error messages.
inline std::string describe(const torch::Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  std::ostringstream out;
  out << c10::toString(t.scalar_type()) << " " << t.sizes();
  return out.str();
}

/// table[c][v] = (v / 255 - mean[c]) / std[c]. A channel with std 0 (a constant channel, only
/// in synthetic data) is divided by 1 instead, so it becomes 0 rather than NaN.
inline std::vector<std::array<float, 256>> normalize_table(const ChannelStats& stats,
                                                           int64_t channels) {
  require(static_cast<int64_t>(stats.mean.size()) == channels &&
              static_cast<int64_t>(stats.std.size()) == channels,
          "normalisation statistics have {} means and {} stds for images of {} channels",
          stats.mean.size(), stats.std.size(), channels);
  std::vector<std::array<float, 256>> table(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = stats.mean[c];
    const float std = stats.std[c] > 0.0f ? stats.std[c] : 1.0f;
    for (int v = 0; v < 256; ++v) {
      table[c][v] = (static_cast<float>(v) / 255.0f - mean) / std;
    }
  }
  return table;
}

}  // namespace enas::detail
