#pragma once
/// The authors' training augmentation (models.py `_pre_process`): normalise, zero-pad 4, random
/// crop back to the original size, random horizontal flip, then cutout, all seeded.
#include <torch/torch.h>

#include <cstdint>
#include <random>

#include "enas/data/image_dataset.h"

namespace enas {

struct AugmentOptions {
  bool enabled = true;      // false: normalise only (validation / test)
  int64_t pad = 4;          // zero padding (after normalisation) before the random crop
  bool flip = true;         // random horizontal flip with probability 1/2
  int64_t cutout_size = 0;  // child_cutout_size; 0 = no cutout
};

/// Builds one normalised, augmented batch from the uint8 images `split.images[indices]`.
/// Output (B, C, H, W) float32, contiguous NCHW. `rng` drives crops, flips and cutout.
///
/// Cutout as the authors: a cutout_size square whose top-left corner is uniform in [0, H) x
/// [0, W), clipped at the border, set to 0 (the mean, after normalisation), applied after the
/// crop and flip.
torch::Tensor make_batch(const ImageSplit& split, const std::vector<int64_t>& indices,
                         const ChannelStats& stats, const AugmentOptions& options,
                         std::mt19937_64& rng);

/// make_batch's batch built with tensor operations wherever `images` lives (a GPU: the pixels
/// never leave it, only the draws travel, one (B, 7) tensor): the same draws from `rng` in the same
/// order, the same normalised values, so the batch equals make_batch's bit for bit.
/// `images`: (N, C, H, W) uint8, the whole split; `table`: (C, 256) float32 on the same device
/// (normalize_table_on). Output (B, C, H, W) float32, contiguous NCHW, on that device.
torch::Tensor make_batch_with_tensors(const torch::Tensor& images, const torch::Tensor& table,
                                      const std::vector<int64_t>& indices,
                                      const AugmentOptions& options, std::mt19937_64& rng);

/// make_batch's normalisation table, (C, 256) float32 on `device`: table[c][v] is byte v of
/// channel c normalised.
torch::Tensor normalize_table_on(const ChannelStats& stats, int64_t channels,
                                 const torch::Device& device);

/// Advances `rng` past the augmentation of `images` images of H x W, as make_batch would draw
/// it: the shard of a batch that one process of several builds starts where the shards before
/// it end, so the shards together are the batch one process would build.
void skip_augmentation(const AugmentOptions& options, int64_t images, int64_t height, int64_t width,
                       std::mt19937_64& rng);

}  // namespace enas
