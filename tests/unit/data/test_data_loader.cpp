// Augmentation (make_batch) and the background batch loader: exact crops, flips and cutout, and
// epochs that depend only on (seed, epoch).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "enas/data/augment.h"
#include "enas/data/batch_loader.h"
#include "enas/data/image_dataset.h"
#include "enas/util/error.h"

namespace enas {
namespace {

ImageSplit random_split(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed = 0) {
  torch::manual_seed(seed);
  return {torch::randint(0, 256, {n, c, h, w}, torch::kUInt8),
          torch::arange(n, torch::kInt64).remainder(10)};
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(Augment, DisabledIsNormalize) {
  ImageSplit split = random_split(6, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  std::mt19937_64 rng(1);
  AugmentOptions off;
  off.enabled = false;
  off.cutout_size = 4;
  const std::vector<int64_t> indices = {4, 0, 4, 2};
  torch::Tensor batch = make_batch(split, indices, stats, off, rng);
  torch::Tensor expected =
      normalize(split, stats).index_select(0, torch::tensor(indices, torch::kInt64));
  EXPECT_TRUE(torch::equal(batch, expected));
}

TEST(Augment, CropIsAWindowOfThePaddedImage) {
  ImageSplit split = random_split(4, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  torch::Tensor padded = torch::constant_pad_nd(normalize(split, stats), {4, 4, 4, 4}, 0.0);
  AugmentOptions options;
  options.flip = false;
  std::mt19937_64 rng(7);
  const std::vector<int64_t> indices = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};
  torch::Tensor batch = make_batch(split, indices, stats, options, rng);
  ASSERT_EQ(batch.sizes(), (std::vector<int64_t>{16, 3, 8, 8}));
  ASSERT_TRUE(batch.is_contiguous());
  std::set<std::pair<int, int>> offsets;
  for (size_t i = 0; i < indices.size(); ++i) {
    int found = 0;
    for (int oy = 0; oy <= 8; ++oy) {
      for (int ox = 0; ox <= 8; ++ox) {
        if (torch::equal(batch[i], padded[indices[i]].slice(1, oy, oy + 8).slice(2, ox, ox + 8))) {
          offsets.insert({oy, ox});
          ++found;
        }
      }
    }
    EXPECT_GE(found, 1) << "sample " << i << " is no window of the padded image";
  }
  EXPECT_GT(offsets.size(), 4u);  // the offsets really vary
}

TEST(Augment, FlipGivesTheImageOrItsMirror) {
  ImageSplit split = random_split(1, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  torch::Tensor image = normalize(split, stats)[0];
  AugmentOptions options;
  options.pad = 0;
  std::mt19937_64 rng(3);
  torch::Tensor batch = make_batch(split, std::vector<int64_t>(32, 0), stats, options, rng);
  int plain = 0, mirrored = 0;
  for (int i = 0; i < 32; ++i) {
    plain += torch::equal(batch[i], image);
    mirrored += torch::equal(batch[i], image.flip({2}));
  }
  EXPECT_EQ(plain + mirrored, 32);
  EXPECT_GT(plain, 0);
  EXPECT_GT(mirrored, 0);
}

TEST(Augment, CutoutZeroesAClippedSquare) {
  ImageSplit split{torch::full({1, 3, 8, 8}, 200, torch::kUInt8), torch::zeros({1}, torch::kInt64)};
  ChannelStats stats{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};
  AugmentOptions options;
  options.pad = 0;
  options.flip = false;
  options.cutout_size = 4;
  std::mt19937_64 rng(11);
  torch::Tensor batch = make_batch(split, std::vector<int64_t>(64, 0), stats, options, rng);
  int full = 0, clipped = 0;
  for (int i = 0; i < 64; ++i) {
    torch::Tensor zero = batch[i].eq(0);
    EXPECT_TRUE(torch::equal(zero[0], zero[1]) && torch::equal(zero[0], zero[2]));
    torch::Tensor where = zero[0].nonzero();  // (count, 2) of (y, x)
    const int64_t count = where.size(0);
    ASSERT_GE(count, 1);
    ASSERT_LE(count, 16);
    const int64_t height =
        where.select(1, 0).max().item<int64_t>() - where.select(1, 0).min().item<int64_t>() + 1;
    const int64_t width =
        where.select(1, 1).max().item<int64_t>() - where.select(1, 1).min().item<int64_t>() + 1;
    EXPECT_EQ(height * width, count) << "the zeros of sample " << i << " are no rectangle";
    EXPECT_TRUE(batch[i].masked_select(zero.logical_not()).eq(200.f / 255.f).all().item<bool>());
    (count == 16 ? full : clipped)++;
  }
  EXPECT_GT(full, 0);
  EXPECT_GT(clipped, 0);
}

TEST(Augment, SameSeedSameBatch) {
  ImageSplit split = random_split(5, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  AugmentOptions options;
  options.cutout_size = 3;
  auto run = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    return make_batch(split, iota(5), stats, options, rng);
  };
  EXPECT_TRUE(torch::equal(run(5), run(5)));
  EXPECT_FALSE(torch::equal(run(5), run(6)));
}

TEST(Augment, TensorBuiltBatchesAreMakeBatchsBitForBit) {
  // What a GPU builds (make_batch_with_tensors), here on the CPU: crops past both borders,
  // flips, cutout boxes clipped at the border, repeated indices, and no augmentation at all.
  ImageSplit split = random_split(9, 3, 7, 5);  // odd sizes: the crop's clamps at both ends
  ChannelStats stats = channel_stats(split);
  const torch::Tensor table = normalize_table_on(stats, 3, torch::kCPU);
  const std::vector<int64_t> indices = {8, 0, 3, 3, 5, 1, 7, 2, 6, 4, 0, 8};
  for (const AugmentOptions& options :
       {AugmentOptions{true, 4, true, 3}, AugmentOptions{true, 2, false, 0},
        AugmentOptions{true, 0, true, 6}, AugmentOptions{false, 4, true, 3}}) {
    std::mt19937_64 a(11), b(11);
    const torch::Tensor expected = make_batch(split, indices, stats, options, a);
    const torch::Tensor built = make_batch_with_tensors(split.images, table, indices, options, b);
    EXPECT_TRUE(built.is_contiguous());
    EXPECT_TRUE(torch::equal(built, expected))
        << "pad " << options.pad << " cutout " << options.cutout_size;
    EXPECT_EQ(a(), b()) << "the same draws, in the same order";
  }
  std::mt19937_64 rng(1);
  EXPECT_THROW(make_batch_with_tensors(split.images, table, {9}, AugmentOptions{}, rng), Error);
}

// N images whose every pixel is their index, labels index % 10; statistics mean 0, std 1 so the
// loader delivers index / 255.
ImageSplit indexed_split(int64_t n) {
  return {torch::arange(n, torch::kUInt8).view({n, 1, 1, 1}).expand({n, 3, 2, 2}).contiguous(),
          torch::arange(n, torch::kInt64).remainder(10)};
}
const ChannelStats kIdentity{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};

std::vector<Batch> run_epoch(BatchLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  while (auto batch = loader.next()) batches.push_back(std::move(*batch));
  return batches;
}

std::vector<int64_t> order_of(const std::vector<Batch>& batches) {
  std::vector<int64_t> order;
  for (const Batch& b : batches) {
    torch::Tensor index = (b.images.select(1, 0).select(1, 0).select(1, 0) * 255).round();
    for (int64_t i = 0; i < index.size(0); ++i) order.push_back(index[i].item<int64_t>());
  }
  return order;
}

BatchLoaderOptions plain_options(int64_t batch_size) {
  BatchLoaderOptions options;
  options.batch_size = batch_size;
  options.augment.enabled = false;
  options.prefetch = 2;
  options.seed = 42;
  return options;
}

/// plain_options with the whole augmentation on: crop, flip and cutout.
BatchLoaderOptions augmented_options(int64_t batch_size) {
  BatchLoaderOptions options = plain_options(batch_size);
  options.augment = AugmentOptions{true, 4, true, 4};
  return options;
}

TEST(BatchLoader, EachExampleOncePerEpoch) {
  BatchLoader loader(indexed_split(37), kIdentity, plain_options(8));
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<Batch> batches = run_epoch(loader, epoch);
    ASSERT_EQ(batches.size(), 5u);
    EXPECT_EQ(batches.back().images.size(0), 5);
    for (const Batch& b : batches) {
      EXPECT_EQ(b.images.scalar_type(), torch::kFloat32);
      std::vector<int64_t> order = order_of({b});
      EXPECT_TRUE(torch::equal(b.labels, torch::tensor(order, torch::kInt64).remainder(10)));
    }
    std::vector<int64_t> order = order_of(batches);
    EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 37u);
    EXPECT_EQ(order.size(), 37u);
    EXPECT_NE(order, iota(37));
  }
  EXPECT_FALSE(loader.next().has_value());  // stays at the end
}

TEST(BatchLoader, OrderDependsOnlyOnSeedAndEpoch) {
  BatchLoader a(indexed_split(37), kIdentity, plain_options(8));
  BatchLoader b(indexed_split(37), kIdentity, plain_options(8));
  const std::vector<int64_t> a0 = order_of(run_epoch(a, 0)), a1 = order_of(run_epoch(a, 1));
  EXPECT_NE(a0, a1);
  EXPECT_EQ(order_of(run_epoch(b, 1)), a1);
  EXPECT_EQ(order_of(run_epoch(b, 0)), a0);
  BatchLoaderOptions other = plain_options(8);
  other.seed = 43;
  BatchLoader c(indexed_split(37), kIdentity, other);
  EXPECT_NE(order_of(run_epoch(c, 0)), a0);
}

TEST(BatchLoader, ResumedEpochMatchesTheUninterruptedRun) {
  ImageSplit split = random_split(20, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  const BatchLoaderOptions options = augmented_options(6);
  BatchLoader straight(split, stats, options), resumed(split, stats, options);
  run_epoch(straight, 0);
  std::vector<Batch> expected = run_epoch(straight, 1);
  // Start, abandon mid-epoch (producer blocked on a full queue), then jump to epoch 1.
  resumed.start_epoch(0);
  ASSERT_TRUE(resumed.next().has_value());
  std::vector<Batch> got = run_epoch(resumed, 1);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(torch::equal(got[i].images, expected[i].images)) << "batch " << i;
    EXPECT_TRUE(torch::equal(got[i].labels, expected[i].labels)) << "batch " << i;
  }
}

TEST(BatchLoader, AnEpochStartedAtABatchHasTheRestOfTheFullEpoch) {
  // What a run resumed mid-epoch sees: the same batches, augmentation included.
  ImageSplit split = random_split(20, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  const BatchLoaderOptions options = augmented_options(6);
  BatchLoader loader(split, stats, options);
  const std::vector<Batch> full = run_epoch(loader, 2);
  ASSERT_EQ(full.size(), 4u);
  loader.start_epoch(2, 2);
  std::vector<Batch> rest;
  while (auto batch = loader.next()) rest.push_back(std::move(*batch));
  ASSERT_EQ(rest.size(), 2u);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_TRUE(torch::equal(rest[i].images, full[i + 2].images)) << "batch " << i + 2;
    EXPECT_TRUE(torch::equal(rest[i].labels, full[i + 2].labels)) << "batch " << i + 2;
  }
  loader.start_epoch(2, 4);  // at the end: nothing left
  EXPECT_FALSE(loader.next().has_value());
  try {
    loader.start_epoch(2, 5);
    ADD_FAILURE() << "batch 5 of 4 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside an epoch of 4 batches"), std::string::npos)
        << e.what();
  }
}

TEST(BatchLoader, ShardsTogetherAreTheWholeBatch) {
  // Data parallelism: each process builds its part of every batch, augmented exactly as in the
  // batch one process builds, so 2 ranks x B/2 see what 1 rank x B sees.
  ImageSplit split = random_split(23, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  const BatchLoaderOptions options = augmented_options(6);
  BatchLoader whole(split, stats, options);
  const std::vector<Batch> expected = run_epoch(whole, 1);
  ASSERT_EQ(expected.size(), 4u);  // 6 + 6 + 6 + 5
  for (int64_t shards : {2, 3}) {
    std::vector<std::vector<Batch>> parts;
    for (int64_t k = 0; k < shards; ++k) {
      BatchLoaderOptions o = options;
      o.shard = k;
      o.shards = shards;
      BatchLoader loader(split, stats, o);
      EXPECT_EQ(loader.batches_per_epoch(), 4);
      parts.push_back(run_epoch(loader, 1));
      ASSERT_EQ(parts.back().size(), 4u);
    }
    for (size_t b = 0; b < expected.size(); ++b) {
      std::vector<torch::Tensor> images, labels;
      for (const auto& p : parts) {
        images.push_back(p[b].images);
        labels.push_back(p[b].labels);
      }
      EXPECT_TRUE(torch::equal(torch::cat(images), expected[b].images))
          << shards << " shards, batch " << b;
      EXPECT_TRUE(torch::equal(torch::cat(labels), expected[b].labels))
          << shards << " shards, batch " << b;
    }
    EXPECT_EQ(parts[0][0].images.size(0), 6 / shards);
  }
  BatchLoaderOptions odd = options;
  odd.shards = 4;  // 6 does not split into 4
  try {
    BatchLoader loader(split, stats, odd);
    ADD_FAILURE() << "a batch of 6 split across 4 processes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not split evenly across 4"), std::string::npos)
        << e.what();
  }
}

TEST(BatchLoader, BatchesBuiltOnTheDeviceAreTheHostsOnes) {
  // build_on_device (what a GPU does), on the CPU: the same batches and labels, shards included.
  ImageSplit split = random_split(23, 3, 8, 8);
  ChannelStats stats = channel_stats(split);
  for (int64_t shards : {1, 2}) {
    BatchLoaderOptions o = augmented_options(6);
    o.shards = shards;
    o.shard = shards - 1;
    BatchLoader host(split, stats, o);
    o.build_on_device = true;
    BatchLoader device(split, stats, o);
    const auto a = run_epoch(host, 2), b = run_epoch(device, 2);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::equal(b[i].images, a[i].images)) << shards << " shards, batch " << i;
      EXPECT_TRUE(torch::equal(b[i].labels, a[i].labels)) << shards << " shards, batch " << i;
      EXPECT_EQ(b[i].whole, a[i].whole);
    }
  }
}

TEST(BatchLoader, ShardsKnowTheirWholeBatchAndALastBatchTooSmallToSplitIsLeftOut) {
  ImageSplit split = random_split(13, 3, 8, 8);  // batches of 6: 6 + 6 + 1
  ChannelStats stats = channel_stats(split);
  BatchLoaderOptions one = augmented_options(6);
  BatchLoader alone(split, stats, one);
  EXPECT_EQ(alone.batches_per_epoch(), 3);
  const std::vector<Batch> all = run_epoch(alone, 0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].whole, 0);  // one process: not a shard
  BatchLoaderOptions two = one;
  two.shards = 2;
  two.shard = 1;
  BatchLoader part(split, stats, two);
  // The last batch holds one image: one of two processes would get none.
  EXPECT_EQ(part.batches_per_epoch(), 2);
  const std::vector<Batch> parts = run_epoch(part, 0);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1].whole, 6);
  EXPECT_EQ(parts[1].images.size(0), 3);
  EXPECT_TRUE(torch::equal(parts[1].labels, all[1].labels.narrow(0, 3, 3)));

  // 6 + 6 + 3 over 2 processes: the last batch splits 1 + 2.
  ImageSplit fifteen = random_split(15, 3, 8, 8);
  BatchLoader last(fifteen, channel_stats(fifteen), two);
  const std::vector<Batch> uneven = run_epoch(last, 0);
  ASSERT_EQ(uneven.size(), 3u);
  EXPECT_EQ(uneven[2].images.size(0), 2);
  EXPECT_EQ(uneven[2].whole, 3);
}

TEST(BatchLoader, NoShuffleIsTheNaturalOrder) {
  BatchLoaderOptions options = plain_options(10);
  options.shuffle = false;
  options.channels_last = true;
  BatchLoader loader(indexed_split(25), kIdentity, options);
  std::vector<Batch> batches = run_epoch(loader, 3);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_TRUE(batches[0].images.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_EQ(order_of(batches), iota(25));
}

TEST(BatchLoader, StopsCleanlyMidEpoch) {
  auto loader = std::make_unique<BatchLoader>(indexed_split(100), kIdentity, plain_options(1));
  loader->start_epoch(0);
  ASSERT_TRUE(loader->next().has_value());
  loader.reset();  // joins a producer waiting on a full queue
  SUCCEED();
}

}  // namespace
}  // namespace enas
