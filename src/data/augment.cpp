#include "enas/data/augment.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "enas/util/error.h"
#include "normalize_table.h"

namespace enas {

namespace {

/// Where one sample is cropped, whether it is flipped, and its cutout square (empty when off).
struct Draw {
  int64_t dy = 0, dx = 0;  // crop offset: source pixel = output pixel + (dy, dx)
  bool flip = false;
  int64_t cut_y0 = 0, cut_y1 = 0, cut_x0 = 0, cut_x1 = 0;
};

// Random numbers per sample, always in this order, each drawn only when its step is on:
//   oy, ox  uniform in [0, 2 * pad]   (pad > 0)
//   flip    uniform in {0, 1}         (flip)
//   sy, sx  uniform in [0, H), [0, W) (cutout_size > 0)
// The whole batch is drawn from the one `rng`, sample 0 first, so a batch is a pure function
// of (split, indices, stats, options, rng state).
Draw draw(const AugmentOptions& options, int64_t height, int64_t width, std::mt19937_64& rng) {
  Draw d;
  if (!options.enabled) return d;
  const int64_t pad = options.pad;
  if (pad > 0) {
    std::uniform_int_distribution<int64_t> offset(0, 2 * pad);
    d.dy = offset(rng) - pad;
    d.dx = offset(rng) - pad;
  }
  if (options.flip) d.flip = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  if (options.cutout_size > 0) {
    d.cut_y0 = std::uniform_int_distribution<int64_t>(0, height - 1)(rng);
    d.cut_x0 = std::uniform_int_distribution<int64_t>(0, width - 1)(rng);
    d.cut_y1 = std::min(d.cut_y0 + options.cutout_size, height);
    d.cut_x1 = std::min(d.cut_x0 + options.cutout_size, width);
  }
  return d;
}

}  // namespace

void skip_augmentation(const AugmentOptions& options, int64_t images, int64_t height, int64_t width,
                       std::mt19937_64& rng) {
  for (int64_t i = 0; i < images; ++i) draw(options, height, width, rng);
}

torch::Tensor make_batch(const ImageSplit& split, const std::vector<int64_t>& indices,
                         const ChannelStats& stats, const AugmentOptions& options,
                         std::mt19937_64& rng) {
  require(split.images.dim() == 4 && split.images.scalar_type() == torch::kUInt8,
          "make_batch needs (N, C, H, W) uint8 images, got {}", detail::describe(split.images));
  require(options.pad >= 0, "augmentation padding must be >= 0, got {}", options.pad);
  require(split.images.size(2) > 0 && split.images.size(3) > 0,
          "make_batch needs non-empty images, got {}", detail::describe(split.images));
  require(options.cutout_size >= 0, "cutout size must be >= 0, got {}", options.cutout_size);
  const torch::Tensor images = split.images.contiguous();  // no copy when already contiguous
  const int64_t n = images.size(0), channels = images.size(1);
  const int64_t height = images.size(2), width = images.size(3), plane = height * width;
  const auto batch = static_cast<int64_t>(indices.size());
  const auto table = detail::normalize_table(stats, channels);

  torch::Tensor out = torch::empty({batch, channels, height, width}, torch::kFloat32);
  const uint8_t* src_data = images.data_ptr<uint8_t>();
  float* out_data = out.data_ptr<float>();
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t index = indices[i];
    require(0 <= index && index < n, "batch index {} out of range for a split of {} images", index,
            n);
    const auto [dy, dx, flip, cut_y0, cut_y1, cut_x0, cut_x1] = draw(options, height, width, rng);

    for (int64_t c = 0; c < channels; ++c) {
      const auto& lut = table[c];
      const uint8_t* src = src_data + (index * channels + c) * plane;
      float* dst = out_data + (i * channels + c) * plane;
      for (int64_t y = 0; y < height; ++y) {
        float* row = dst + y * width;
        const int64_t sy = y + dy;
        if (sy < 0 || sy >= height) {  // padding rows: 0 in normalised space
          std::fill(row, row + width, 0.0f);
          continue;
        }
        const uint8_t* src_row = src + sy * width;
        for (int64_t x = 0; x < width; ++x) {
          // Flip after the crop: output column x shows crop column W - 1 - x.
          const int64_t sx = (flip ? width - 1 - x : x) + dx;
          row[x] = (sx < 0 || sx >= width) ? 0.0f : lut[src_row[sx]];
        }
      }
      for (int64_t y = cut_y0; y < cut_y1; ++y) {
        std::fill(dst + y * width + cut_x0, dst + y * width + cut_x1, 0.0f);
      }
    }
  }
  return out;
}

torch::Tensor normalize_table_on(const ChannelStats& stats, int64_t channels,
                                 const torch::Device& device) {
  const auto table = detail::normalize_table(stats, channels);
  torch::Tensor t = torch::empty({channels, 256}, torch::kFloat32);  // (C, 256)
  for (int64_t c = 0; c < channels; ++c) {
    std::copy(table[c].begin(), table[c].end(), t.data_ptr<float>() + c * 256);
  }
  return t.to(device);
}

torch::Tensor make_batch_with_tensors(const torch::Tensor& images, const torch::Tensor& table,
                                      const std::vector<int64_t>& indices,
                                      const AugmentOptions& options, std::mt19937_64& rng) {
  require(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
          "make_batch needs (N, C, H, W) uint8 images, got {}", detail::describe(images));
  require(options.pad >= 0 && options.cutout_size >= 0,
          "augmentation padding and cutout size must be >= 0, got {} and {}", options.pad,
          options.cutout_size);
  const int64_t n = images.size(0), channels = images.size(1);
  const int64_t height = images.size(2), width = images.size(3);
  require(table.dim() == 2 && table.size(0) == channels && table.size(1) == 256,
          "the normalisation table is {}, expected [{}, 256]", detail::describe(table), channels);
  const auto b = static_cast<int64_t>(indices.size());
  // The draws, on the host in make_batch's order: dy, dx, flip, then the cutout box.
  std::vector<int64_t> draws(static_cast<size_t>(b) * 7);
  for (int64_t i = 0; i < b; ++i) {
    require(0 <= indices[i] && indices[i] < n,
            "batch index {} out of range for a split of {} images", indices[i], n);
    const Draw d = draw(options, height, width, rng);
    const int64_t row[7] = {d.dy, d.dx, d.flip ? 1 : 0, d.cut_y0, d.cut_y1, d.cut_x0, d.cut_x1};
    std::copy(row, row + 7, draws.begin() + i * 7);
  }
  const torch::Device dev = images.device();
  const auto longs = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  // On a GPU through pinned memory, asynchronously: the host never waits for the device here.
  auto to_device = [&](const torch::Tensor& host) {
    return dev.is_cuda() ? host.pin_memory().to(dev, /*non_blocking=*/true) : host;
  };
  const torch::Tensor p = to_device(torch::from_blob(draws.data(), {b, 7}, torch::kInt64));
  const torch::Tensor index =
      to_device(torch::from_blob(const_cast<int64_t*>(indices.data()), {b}, torch::kInt64));  // (B)
  auto column = [&](int k) { return p.select(1, k).view({b, 1}); };  // (B, 1)

  // Normalised through the table: value[b, c, y, x] = table[c, byte].
  const torch::Tensor bytes = images.index_select(0, index).to(torch::kInt64);  // (B, C, H, W)
  torch::Tensor out =
      table.index({torch::arange(channels, longs).view({1, channels, 1, 1}), bytes});
  // Crop, then flip: output (y, x) shows source (y + dy, (flip ? W - 1 - x : x) + dx).
  const torch::Tensor ys = torch::arange(height, longs).view({1, height});  // (1, H)
  const torch::Tensor xs = torch::arange(width, longs).view({1, width});    // (1, W)
  const torch::Tensor sy = ys + column(0);                                  // (B, H)
  const torch::Tensor sx = torch::where(column(2).ne(0), (width - 1) - xs, xs) + column(1);
  out = out.gather(2, sy.clamp(0, height - 1).view({b, 1, height, 1}).expand_as(out));
  out = out.gather(3, sx.clamp(0, width - 1).view({b, 1, 1, width}).expand_as(out));
  // Padding (outside the source) and the cutout box are 0, the mean after normalisation.
  const torch::Tensor inside = (sy.ge(0) & sy.lt(height)).view({b, 1, height, 1}) &
                               (sx.ge(0) & sx.lt(width)).view({b, 1, 1, width});
  const torch::Tensor cut = (ys.ge(column(3)) & ys.lt(column(4))).view({b, 1, height, 1}) &
                            (xs.ge(column(5)) & xs.lt(column(6))).view({b, 1, 1, width});
  return torch::where(inside & ~cut, out, torch::zeros({}, out.options())).contiguous();
}

}  // namespace enas
