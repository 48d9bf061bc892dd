// Verification of a checkpoint's bytes (src/util/zip_verify.cpp): damage is found, and a file
// found intact is not read again while it stays unchanged.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "enas/util/zip_verify.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::TempDir;

std::string write_archive(const std::string& path) {
  torch::serialize::OutputArchive a;
  a.write("w", torch::full({64}, 4.0));
  a.save_to(path);
  return path;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(ZipVerify, AFreshFileIsReadEveryTime) {
  TempDir dir;
  const std::string path = write_archive(dir.file("a.pt"));
  const uint64_t before = zip_bytes_verified();
  EXPECT_EQ(zip_damage(path), "");
  const uint64_t once = zip_bytes_verified() - before;
  EXPECT_GE(once, 64u * sizeof(float));
  // Written within the last second: its times may not show a change made in the same tick.
  EXPECT_EQ(zip_damage(path), "");
  EXPECT_EQ(zip_bytes_verified() - before, 2 * once);
}

TEST(ZipVerify, ASettledIntactFileIsVerifiedOnceUntilItChanges) {
  TempDir dir;
  const std::string path = write_archive(dir.file("a.pt"));
  // File times move in kernel ticks: only a file unchanged for a second is remembered.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const uint64_t before = zip_bytes_verified();
  EXPECT_EQ(zip_damage(path), "");
  const uint64_t once = zip_bytes_verified() - before;
  ASSERT_GT(once, 0u);
  EXPECT_EQ(zip_damage(path), "");
  EXPECT_EQ(zip_bytes_verified() - before, once);

  // A tensor's bytes flipped, the file replaced as checkpoints are (a new inode): read again.
  std::string bytes = read(path);
  const std::string four("\x00\x00\x80\x40", 4);  // 4.0f, little-endian
  const auto at = bytes.find(four + four + four);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 5] = 0x7f;
  std::ofstream(dir.file("b.pt"), std::ios::binary) << bytes;
  ASSERT_EQ(std::rename(dir.file("b.pt").c_str(), path.c_str()), 0);
  const std::string damage = zip_damage(path);
  EXPECT_PRED2(contains, damage, "CRC-32");
  EXPECT_GT(zip_bytes_verified() - before, once);
  // Damage is never remembered as intact.
  EXPECT_PRED2(contains, zip_damage(path), "CRC-32");
}

TEST(ZipVerify, DamageIsNamed) {
  TempDir dir;
  const std::string path = write_archive(dir.file("a.pt"));
  const std::string bytes = read(path);
  std::ofstream(dir.file("cut.pt"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_NE(zip_damage(dir.file("cut.pt")), "");
  EXPECT_PRED2(contains, zip_damage(dir.file("none.pt")), "cannot be opened");
}

}  // namespace
}  // namespace enas
