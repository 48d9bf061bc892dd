#include "enas/data/batch_loader.h"

#include <cstdint>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "enas/util/error.h"
#include "normalize_table.h"

namespace enas {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Well-mixed seed for stream `b` under `a`: nearby (seed, epoch, batch) triples give unrelated
// generators, and the result depends on nothing else (not on thread timing).
uint64_t mix(uint64_t a, uint64_t b) { return splitmix64(splitmix64(a) ^ (b + 1)); }

// Own Fisher-Yates: std::shuffle's sequence is implementation-defined.
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t epoch_key) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  std::mt19937_64 rng(mix(epoch_key, 0));
  for (int64_t i = n - 1; i > 0; --i) {
    std::uniform_int_distribution<int64_t> pick(0, i);
    std::swap(order[i], order[pick(rng)]);
  }
  return order;
}

}  // namespace

BatchLoader::BatchLoader(ImageSplit split, ChannelStats stats, BatchLoaderOptions options)
    : split_(std::move(split)), stats_(std::move(stats)), options_(std::move(options)) {
  require(options_.batch_size > 0, "batch size must be positive, got {}", options_.batch_size);
  require(options_.prefetch > 0, "prefetch must be positive, got {}", options_.prefetch);
  require(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards,
          "shard {} of {}: shards run from 0 to shards - 1", options_.shard, options_.shards);
  require(options_.batch_size % options_.shards == 0,
          "a batch of {} does not split evenly across {} processes: pick a batch size that "
          "is a multiple of the world size",
          options_.batch_size, options_.shards);
  require(split_.images.defined() && split_.images.dim() == 4 &&
              split_.images.scalar_type() == torch::kUInt8,
          "the batch loader needs (N, C, H, W) uint8 images, got {}",
          detail::describe(split_.images));
  require(
      split_.labels.defined() && split_.labels.dim() == 1 && split_.labels.size(0) == split_.size(),
      "the batch loader needs one label per image: {} images, labels {}", split_.size(),
      detail::describe(split_.labels));
  detail::normalize_table(stats_, split_.images.size(1));  // validates the statistics now
  // make_batch reads raw bytes; make them contiguous once, not once per batch.
  split_.images = split_.images.contiguous();
  split_.labels = split_.labels.to(torch::kInt64).contiguous();
  if (options_.build_on_device || options_.device.is_cuda()) {
    // The whole split lives on the device once (CIFAR-10's training set: 150 MB as bytes).
    device_images_ = split_.images.to(options_.device);
    device_labels_ = split_.labels.to(options_.device);
    device_table_ = normalize_table_on(stats_, split_.images.size(1), options_.device);
  }
}

BatchLoader::~BatchLoader() { stop(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t rest = split_.size() % options_.batch_size;
  return split_.size() / options_.batch_size + (rest >= options_.shards ? 1 : 0);
}

void BatchLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  require(first_batch >= 0 && first_batch <= batches_per_epoch(),
          "batch {} is outside an epoch of {} batches", first_batch, batches_per_epoch());
  stop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.clear();
    done_ = false;
    cancel_ = false;
    error_ = nullptr;
  }
  worker_ = std::thread(&BatchLoader::produce, this, epoch, first_batch);
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !queue_.empty() || done_; });
  // Batches made before a failure are delivered first, so what the caller sees before the
  // exception does not depend on how far ahead the producer ran.
  if (!queue_.empty()) {
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    cv_.notify_all();
    return batch;
  }
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  return std::nullopt;
}

void BatchLoader::produce(int64_t epoch, int64_t first_batch) {
  try {
    torch::NoGradGuard no_grad;
    const int64_t n = split_.size(), batch_size = options_.batch_size;
    const uint64_t epoch_key = mix(options_.seed, static_cast<uint64_t>(epoch));
    const std::vector<int64_t> order = epoch_order(n, options_.shuffle, epoch_key);
    const bool to_device = options_.device != torch::Device(torch::kCPU);

    const int64_t batches = batches_per_epoch();
    for (int64_t b = first_batch; b < batches; ++b) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (cancel_) break;
      }
      const int64_t start = b * batch_size, len = std::min(n, start + batch_size) - start;
      const int64_t shards = options_.shards, shard = options_.shard;
      const int64_t begin = start + len * shard / shards;
      const int64_t end = start + len * (shard + 1) / shards;
      std::vector<int64_t> indices(order.begin() + begin, order.begin() + end);
      std::mt19937_64 rng(mix(epoch_key, static_cast<uint64_t>(b) + 1));
      // The shards before this one drew their augmentation first.
      skip_augmentation(options_.augment, begin - start, split_.images.size(2),
                        split_.images.size(3), rng);
      Batch batch;
      if (shards > 1) batch.whole = len;
      torch::Tensor index =
          torch::from_blob(indices.data(), {end - begin}, torch::kInt64);  // read-only use
      const bool on_device = device_images_.defined();
      if (on_device) {
        batch.images =
            make_batch_with_tensors(device_images_, device_table_, indices, options_.augment, rng);
        // Pinned and asynchronous: the producer never waits for the device's queue.
        const torch::Tensor where =
            options_.device.is_cuda() ? index.pin_memory().to(options_.device, true) : index;
        batch.labels = device_labels_.index_select(0, where);
      } else {
        batch.images = make_batch(split_, indices, stats_, options_.augment, rng);
        batch.labels = split_.labels.index_select(0, index);
      }
      if (options_.channels_last) {
        batch.images = batch.images.contiguous(torch::MemoryFormat::ChannelsLast);
      }
      if (to_device && !on_device) {
        // Pinned memory lets the copy run asynchronously, overlapping the model's work.
        const bool cuda = options_.device.is_cuda();
        if (cuda) {
          batch.images = batch.images.pin_memory();
          batch.labels = batch.labels.pin_memory();
        }
        batch.images = batch.images.to(options_.device, /*non_blocking=*/cuda);
        batch.labels = batch.labels.to(options_.device, /*non_blocking=*/cuda);
      }

      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock,
               [&] { return cancel_ || static_cast<int64_t>(queue_.size()) < options_.prefetch; });
      if (cancel_) break;
      queue_.push_back(std::move(batch));
      lock.unlock();
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  cv_.notify_all();
}

void BatchLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancel_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.clear();
  done_ = true;
}

}  // namespace enas
