#pragma once
/// Image classification data held in memory as bytes, with the per-channel statistics the
/// authors normalise with (data_utils.read_data).
#include <torch/torch.h>

#include <string>

namespace enas {

/// One split: `images` (N, C, H, W) uint8 in CPU memory, `labels` (N) int64.
struct ImageSplit {
  torch::Tensor images;  // (N, C, H, W) uint8
  torch::Tensor labels;  // (N) int64
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  /// The first n examples (all when n <= 0 or n >= size()); shares memory.
  ImageSplit head(int64_t n) const;
  /// The first n examples in memory of their own (all, shared, when n <= 0 or n >= size()), so
  /// that a small limit does not pin a whole split.
  ImageSplit head_copy(int64_t n) const;
  /// Examples [begin, end); shares memory.
  ImageSplit slice(int64_t begin, int64_t end) const;
};

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
struct ChannelStats {
  std::vector<float> mean;
  std::vector<float> std;
};

/// A data set: train, (optional) valid and test splits plus normalisation statistics computed on
/// the training split only, as the authors do (np.mean / np.std over N, H, W).
struct ImageDataset {
  std::string name;  // the --dataset it was loaded as
  ImageSplit train, valid, test;
  ChannelStats stats;
  int64_t num_classes = 10;
  std::vector<std::string> class_names;  // an image folder's class folders; empty otherwise
  int64_t augment_pad = 4;               // the crop's padding: the authors' 4, or N/8 of a folder
  std::string load_note;                 // how it was loaded (decoded, or from a cache), or ""
};

/// Population mean and std per channel of `split`, on pixel / 255.
ChannelStats channel_stats(const ImageSplit& split);

/// Moves the last `num_valid` training images into `valid` (the authors hold out the last 5,000
/// of data_batch_5 during search) and recomputes the statistics on what stays in `train`.
void hold_out_validation(ImageDataset& data, int64_t num_valid);

/// Normalises a whole split to float (N, C, H, W) with `stats` (no augmentation): evaluation.
torch::Tensor normalize(const ImageSplit& split, const ChannelStats& stats);

}  // namespace enas
