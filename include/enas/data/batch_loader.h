#pragma once
/// Runs loading and augmentation ahead of the model on a background thread, so the model never
/// waits on data. The order and the augmentation of an epoch depend only on (seed, epoch), so a
/// resumed run sees exactly the batches the uninterrupted run would have seen.
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "enas/data/augment.h"
#include "enas/data/image_dataset.h"

namespace enas {

struct Batch {
  torch::Tensor images;  // (B, C, H, W) float32, on the loader's device
  torch::Tensor labels;  // (B) int64, on the loader's device
  int64_t whole = 0;     // images in the whole batch this one is a shard of (0: not a shard)
};

struct BatchLoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;          // a fresh permutation per epoch
  AugmentOptions augment = {};  // augment.enabled = false for evaluation
  uint64_t seed = 0;
  int64_t prefetch = 4;  // batches prepared ahead
  torch::Device device = torch::kCPU;
  bool channels_last = false;  // deliver images in channels-last memory
  /// Data parallelism: this process's part of each batch, shard of shards (docs/distributed.md).
  /// Shard k holds images [len * k / shards, len * (k + 1) / shards) of a batch of len, augmented
  /// exactly as in the whole batch, so the shards together are the batch one process builds.
  int64_t shard = 0, shards = 1;
  /// Keep the split on `device` and build every batch there (make_batch_with_tensors): on for a
  /// GPU whatever this says, so no batch is copied from the host; here to try it on the CPU.
  bool build_on_device = false;
};

/// Batches of one epoch of `split`: ceil(N / batch_size) of them, the last one smaller when N is
/// not a multiple of the batch size (with shards: this process's part of each; a last batch of
/// fewer images than shards is left out, since some process would get none).
class BatchLoader {
 public:
  BatchLoader(ImageSplit split, ChannelStats stats, BatchLoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t batches_per_epoch() const;
  torch::Device device() const { return options_.device; }
  /// Starts producing the batches of `epoch` from batch `first_batch` on (a run resumed
  /// mid-epoch), the same batches an uninterrupted epoch has there; stops any epoch in flight.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the current epoch, or nullopt at its end.
  std::optional<Batch> next();

 private:
  void produce(int64_t epoch, int64_t first_batch);
  void stop();

  ImageSplit split_;
  torch::Tensor device_images_, device_labels_, device_table_;  // build_on_device only
  ChannelStats stats_;
  BatchLoaderOptions options_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool done_ = true, cancel_ = false;
  std::exception_ptr error_;
};

}  // namespace enas
