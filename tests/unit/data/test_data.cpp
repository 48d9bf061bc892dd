// The data readers: CIFAR-10 binary and IDX files, channel statistics, the validation hold-out.
// Augmentation and the batch loader are in test_data_loader.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "enas/data/cifar10.h"
#include "enas/data/fashion_mnist.h"
#include "enas/data/image_dataset.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::error_of;

namespace fs = std::filesystem;
using test::TempDir;

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Record i: label labels[i]; red plane 10 + i, green 100 + i except (y 2, x 5) = 7, blue 200 + i.
std::vector<uint8_t> cifar_records(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < labels.size(); ++i) {
    bytes.push_back(labels[i]);
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 1024; ++k) {
        const bool marker = c == 1 && k == 2 * 32 + 5;
        bytes.push_back(static_cast<uint8_t>(marker ? 7 : (c == 0 ? 10 : c == 1 ? 100 : 200) + i));
      }
    }
  }
  return bytes;
}

TEST(Cifar10, ReadsRecordsWithTheRedPlaneFirst) {
  TempDir dir;
  write_bytes(dir.file("b.bin"), cifar_records({0, 3, 9}));
  ImageSplit split = read_cifar10_file(dir.file("b.bin"));
  ASSERT_EQ(split.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(split.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(split.labels.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(split.labels, torch::tensor({0, 3, 9}, torch::kInt64)));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(split.images[i][0][0][0].item<int>(), 10 + i);
    EXPECT_EQ(split.images[i][0][31][31].item<int>(), 10 + i);
    EXPECT_EQ(split.images[i][1][2][5].item<int>(), 7);  // row-major: y 2, x 5
    EXPECT_EQ(split.images[i][1][5][2].item<int>(), 100 + i);
    EXPECT_EQ(split.images[i][2][17][3].item<int>(), 200 + i);
  }
}

TEST(Cifar10, RejectsTruncatedFilesBadLabelsAndMissingFiles) {
  TempDir dir;
  std::vector<uint8_t> bytes = cifar_records({1, 2});
  bytes.resize(bytes.size() + 10, 0);
  write_bytes(dir.file("short.bin"), bytes);
  std::string msg = error_of([&] { read_cifar10_file(dir.file("short.bin")); });
  EXPECT_NE(msg.find("short.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3073"), std::string::npos) << msg;
  EXPECT_NE(msg.find("6156 bytes"), std::string::npos) << msg;

  write_bytes(dir.file("empty.bin"), {});
  EXPECT_NE(error_of([&] { read_cifar10_file(dir.file("empty.bin")); }).find("0 bytes"),
            std::string::npos);

  write_bytes(dir.file("label.bin"), cifar_records({4, 11, 2}));
  msg = error_of([&] { read_cifar10_file(dir.file("label.bin")); });
  EXPECT_NE(msg.find("label.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("record 1 has label 11"), std::string::npos) << msg;  // 0-based records

  msg = error_of([&] { read_cifar10_file(dir.file("absent.bin")); });
  EXPECT_NE(msg.find("absent.bin"), std::string::npos) << msg;
}

TEST(Cifar10, FindsTheFolderFromItsParents) {
  TempDir dir;
  const fs::path root(dir.path());
  fs::create_directories(root / "a" / "cifar-10-batches-bin");
  write_bytes((root / "a" / "cifar-10-batches-bin" / "data_batch_1.bin").string(), {});
  fs::create_directories(root / "b" / "cifar10" / "cifar-10-batches-bin");
  write_bytes((root / "b" / "cifar10" / "cifar-10-batches-bin" / "data_batch_1.bin").string(), {});

  const std::string a = (root / "a" / "cifar-10-batches-bin").string();
  EXPECT_EQ(find_cifar10_dir((root / "a").string()), a);
  EXPECT_EQ(find_cifar10_dir(a), a);
  EXPECT_EQ(find_cifar10_dir((root / "b").string()),
            (root / "b" / "cifar10" / "cifar-10-batches-bin").string());

  std::string msg = error_of([&] { find_cifar10_dir((root / "nowhere").string()); });
  EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cifar-10"), std::string::npos) << msg;
  fs::create_directories(root / "empty");
  msg = error_of([&] { find_cifar10_dir((root / "empty").string()); });
  EXPECT_NE(msg.find("data_batch_1.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cifar-10-binary.tar.gz"), std::string::npos) << msg;
}

TEST(Cifar10, LoadsASmallFullSetWithLimits) {
  TempDir dir;
  // File f holds records labelled f, f, ... so the concatenation order shows in the labels.
  const std::vector<int> counts = {2, 3, 1, 2, 2};
  std::vector<int64_t> expected;
  for (int f = 1; f <= 5; ++f) {
    write_bytes(dir.file("data_batch_" + std::to_string(f) + ".bin"),
                cifar_records(std::vector<uint8_t>(counts[f - 1], static_cast<uint8_t>(f))));
    expected.insert(expected.end(), counts[f - 1], f);
  }
  write_bytes(dir.file("test_batch.bin"), cifar_records({0, 7, 8}));

  ImageDataset all = load_cifar10(dir.path());
  EXPECT_EQ(all.name, "cifar10");
  EXPECT_EQ(all.num_classes, 10);
  EXPECT_EQ(all.train.size(), 10);
  EXPECT_EQ(all.test.size(), 3);
  EXPECT_TRUE(torch::equal(all.train.labels, torch::tensor(expected, torch::kInt64)));

  ImageDataset few = load_cifar10(dir.path(), 4, 2);
  EXPECT_EQ(few.train.size(), 4);
  EXPECT_EQ(few.test.size(), 2);
  EXPECT_TRUE(torch::equal(few.train.images, all.train.images.narrow(0, 0, 4)));
  EXPECT_EQ(few.stats.mean, channel_stats(few.train).mean);  // statistics after the limit
  EXPECT_NE(few.stats.mean, all.stats.mean);

  fs::remove(dir.file("data_batch_3.bin"));
  std::string msg = error_of([&] { load_cifar10(dir.path()); });
  EXPECT_NE(msg.find("data_batch_3.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cifar-10-binary"), std::string::npos) << msg;
}

TEST(Cifar10, RealDataFirstLabels) {
  if (test::data_dir().empty()) GTEST_SKIP() << "ENAS_DATA_DIR not set";
  const std::string folder = find_cifar10_dir(test::data_dir());
  ImageSplit train = read_cifar10_file(folder + "/data_batch_1.bin");
  ASSERT_EQ(train.size(), 10000);
  EXPECT_TRUE(torch::equal(train.labels.narrow(0, 0, 10),
                           torch::tensor({6, 9, 9, 4, 1, 1, 2, 7, 8, 3}, torch::kInt64)));
  ImageSplit test = read_cifar10_file(folder + "/test_batch.bin");
  ASSERT_EQ(test.size(), 10000);
  EXPECT_TRUE(torch::equal(test.labels.narrow(0, 0, 10),
                           torch::tensor({3, 8, 8, 0, 6, 6, 1, 6, 3, 1}, torch::kInt64)));
}

ImageSplit random_split(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed = 0) {
  torch::manual_seed(seed);
  return {torch::randint(0, 256, {n, c, h, w}, torch::kUInt8),
          torch::arange(n, torch::kInt64).remainder(10)};
}

TEST(Stats, MatchesTorchPopulationStatistics) {
  ImageSplit split = random_split(5, 3, 7, 9);
  ChannelStats stats = channel_stats(split);
  torch::Tensor x = split.images.to(torch::kDouble) / 255.0;
  torch::Tensor mean = x.mean({0, 2, 3});
  torch::Tensor std = x.std({0, 2, 3}, /*unbiased=*/false);
  ASSERT_EQ(stats.mean.size(), 3u);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(stats.mean[c], mean[c].item<double>(), 1e-5);
    EXPECT_NEAR(stats.std[c], std[c].item<double>(), 1e-5);
  }
  torch::Tensor expected = (x - mean.view({1, 3, 1, 1})) / std.view({1, 3, 1, 1});
  torch::Tensor got = normalize(split, stats);
  EXPECT_EQ(got.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(got.to(torch::kDouble), expected, 1e-5, 1e-5));
}

TEST(Stats, HoldOutValidationTakesTheLastImages) {
  ImageDataset data;
  data.train = random_split(20, 3, 4, 4);
  data.stats = channel_stats(data.train);
  const ImageSplit full = data.train;
  hold_out_validation(data, 6);
  EXPECT_EQ(data.train.size(), 14);
  EXPECT_EQ(data.valid.size(), 6);
  EXPECT_TRUE(torch::equal(data.valid.images, full.images.narrow(0, 14, 6)));
  EXPECT_TRUE(torch::equal(data.valid.labels, full.labels.narrow(0, 14, 6)));
  EXPECT_TRUE(torch::equal(data.train.images, full.images.narrow(0, 0, 14)));
  EXPECT_EQ(data.stats.mean, channel_stats(full.head(14)).mean);
  EXPECT_NE(error_of([&] { hold_out_validation(data, 14); }).find("14"), std::string::npos);
}

// IDX file: big-endian magic, dims, then the bytes; gzip-compressed when `gzip`.
void write_idx(const std::string& path, uint32_t magic, const std::vector<uint32_t>& dims,
               const std::vector<uint8_t>& data, bool gzip) {
  std::vector<uint8_t> bytes;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(v >> shift));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  bytes.insert(bytes.end(), data.begin(), data.end());
  if (!gzip) return write_bytes(path, bytes);
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(file);
}

TEST(Idx, ReadsGzipAndPlainFiles) {
  TempDir dir;
  std::vector<uint8_t> pixels(2 * 3 * 4);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 10);
  write_idx(dir.file("img.gz"), 0x803, {2, 3, 4}, pixels, true);
  write_idx(dir.file("img"), 0x803, {2, 3, 4}, pixels, false);
  write_idx(dir.file("lab.gz"), 0x801, {3}, {9, 0, 4}, true);
  for (const char* name : {"img.gz", "img"}) {
    torch::Tensor images = read_idx_file(dir.file(name));
    ASSERT_EQ(images.sizes(), (std::vector<int64_t>{2, 3, 4}));
    EXPECT_EQ(images[1][2][3].item<int>(), 230);
    EXPECT_EQ(images[0][1][0].item<int>(), 40);
  }
  EXPECT_TRUE(
      torch::equal(read_idx_file(dir.file("lab.gz")), torch::tensor({9, 0, 4}, torch::kUInt8)));
}

TEST(Idx, RejectsBadMagicTruncationAndMissingFiles) {
  TempDir dir;
  write_idx(dir.file("magic.gz"), 0x804, {2}, {1, 2}, true);
  std::string msg = error_of([&] { read_idx_file(dir.file("magic.gz")); });
  EXPECT_NE(msg.find("magic.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;

  write_idx(dir.file("short.gz"), 0x803, {2, 3, 4}, std::vector<uint8_t>(20), true);
  msg = error_of([&] { read_idx_file(dir.file("short.gz")); });
  EXPECT_NE(msg.find("truncated: expected 24 bytes of data, read 20"), std::string::npos) << msg;

  msg = error_of([&] { read_idx_file(dir.file("absent")); });
  EXPECT_NE(msg.find("absent"), std::string::npos) << msg;
  msg = error_of([&] { load_fashion_mnist(dir.path()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;
}

TEST(FashionMnist, LoadsDebianFilesWithLimits) {
  if (!fs::is_directory(kFashionMnistDebianDir)) GTEST_SKIP() << "no " << kFashionMnistDebianDir;
  ImageDataset data = load_fashion_mnist(kFashionMnistDebianDir, 100, 50);
  EXPECT_EQ(data.name, "fashion_mnist");
  ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{100, 1, 28, 28}));
  ASSERT_EQ(data.test.images.sizes(), (std::vector<int64_t>{50, 1, 28, 28}));
  EXPECT_EQ(data.train.labels.scalar_type(), torch::kInt64);
  EXPECT_GE(data.train.labels.min().item<int64_t>(), 0);
  EXPECT_LE(data.train.labels.max().item<int64_t>(), 9);
  EXPECT_EQ(data.stats.mean.size(), 1u);
  EXPECT_GT(data.stats.std[0], 0.1f);
}

}  // namespace
}  // namespace enas
