#include "enas/data/cifar10.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "enas/util/error.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

constexpr const char* kHowToGet =
    "CIFAR-10 (binary version) comes from https://www.cs.toronto.edu/~kriz/"
    "cifar-10-binary.tar.gz: unpack it and pass --data <folder>";

constexpr int64_t kSide = 32;
constexpr int64_t kCifarFileRecords = 10000;  // in each official batch file
constexpr int64_t kPixels = 3 * kSide * kSide;
static_assert(kCifarRecordBytes == kPixels + 1);

}  // namespace

std::string find_cifar10_dir(const std::string& dir) {
  require(fs::exists(dir), "data folder {} does not exist; {}", dir, kHowToGet);
  require(fs::is_directory(dir), "data folder {} is not a folder; {}", dir, kHowToGet);
  const fs::path root(dir);
  const std::vector<fs::path> candidates = {root, root / "cifar-10-batches-bin",
                                            root / "cifar10" / "cifar-10-batches-bin",
                                            root / "cifar10"};
  std::string looked;
  for (const fs::path& candidate : candidates) {
    if (fs::is_regular_file(candidate / "data_batch_1.bin")) return candidate.string();
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  fail("{}: no data_batch_1.bin found (looked in {}); {}", dir, looked, kHowToGet);
}

namespace {

// The record count of a CIFAR-10 binary file, after checking it exists and its size.
int64_t count_records(const std::string& path) {
  std::error_code ec;
  require(fs::is_regular_file(path, ec), "CIFAR-10 file {} does not exist; {}", path, kHowToGet);
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  require(!ec, "{}: cannot read its size: {}", path, ec.message());
  require(bytes > 0 && bytes % kCifarRecordBytes == 0,
          "{}: {} bytes, expected a multiple of {} (30,730,000 for an official batch file); the "
          "file is truncated or not the binary version of CIFAR-10",
          path, bytes, kCifarRecordBytes);
  return bytes / kCifarRecordBytes;
}

// Reads the `n` records of `path` into rows [offset, offset + n) of `out`. One read of the
// whole file (30 MB) into `buffer`, reused across files, beats 10,000 small reads.
void read_records(const std::string& path, int64_t n, ImageSplit& out, int64_t offset,
                  std::vector<uint8_t>& buffer) {
  const int64_t bytes = n * kCifarRecordBytes;
  buffer.resize(static_cast<size_t>(bytes));
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  in.read(reinterpret_cast<char*>(buffer.data()), bytes);
  require(in.gcount() == bytes, "{}: read only {} of its {} bytes", path, in.gcount(), bytes);

  uint8_t* image_data = out.images.data_ptr<uint8_t>() + offset * kPixels;
  int64_t* label_data = out.labels.data_ptr<int64_t>() + offset;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* record = buffer.data() + i * kCifarRecordBytes;
    require(record[0] <= 9, "{}: record {} has label {}, allowed 0..9", path, i,
            static_cast<int>(record[0]));
    label_data[i] = record[0];
    // The file's pixel bytes are already planar (R plane, G plane, B plane), as NCHW wants.
    std::memcpy(image_data + i * kPixels, record + 1, kPixels);
  }
}

ImageSplit allocate(int64_t n) {
  return {torch::empty({n, 3, kSide, kSide}, torch::kUInt8), torch::empty({n}, torch::kInt64)};
}

}  // namespace

ImageSplit read_cifar10_file(const std::string& path) {
  const int64_t n = count_records(path);
  ImageSplit split = allocate(n);
  std::vector<uint8_t> buffer;
  read_records(path, n, split, 0, buffer);
  return split;
}

ImageDataset load_cifar10(const std::string& dir, int64_t train_limit, int64_t test_limit) {
  const fs::path folder(find_cifar10_dir(dir));
  // Size every file first: a missing or damaged file is reported before any slow reading, and
  // the training images go straight into one tensor instead of five to concatenate.
  std::vector<std::string> train_files;
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (int part = 1; part <= 5; ++part) {
    train_files.push_back((folder / fmt::format("data_batch_{}.bin", part)).string());
    counts.push_back(count_records(train_files.back()));
    total += counts.back();
  }
  const std::string test_file = (folder / "test_batch.bin").string();
  const int64_t test_count = count_records(test_file);
  // A file cut at a record boundary passes the size check: say so, once, naming the files.
  std::string unusual;
  for (size_t f = 0; f <= train_files.size(); ++f) {
    const int64_t n = f < train_files.size() ? counts[f] : test_count;
    if (n == kCifarFileRecords) continue;
    const std::string name = f < train_files.size() ? train_files[f] : test_file;
    unusual += fmt::format("{}{} ({})", unusual.empty() ? "" : ", ",
                           fs::path(name).filename().string(), n);
  }
  if (!unusual.empty()) {
    warn(
        fmt::format("{}: CIFAR-10 files of other than the official {} records: {} (a file cut "
                    "short loses images)",
                    folder.string(), kCifarFileRecords, unusual));
  }

  ImageSplit train = allocate(total), test = allocate(test_count);
  std::vector<uint8_t> buffer;
  int64_t offset = 0;
  for (size_t f = 0; f < train_files.size(); ++f) {
    read_records(train_files[f], counts[f], train, offset, buffer);
    offset += counts[f];
  }
  read_records(test_file, test_count, test, 0, buffer);

  ImageDataset data;
  data.name = "cifar10";
  data.num_classes = 10;
  data.train = train.head_copy(train_limit);
  data.test = test.head_copy(test_limit);
  data.stats = channel_stats(data.train);
  return data;
}

}  // namespace enas
