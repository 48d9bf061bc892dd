#include "enas/data/cifar100.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "enas/util/error.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

constexpr const char* kHowToGet =
    "CIFAR-100 (binary version) comes from https://www.cs.toronto.edu/~kriz/"
    "cifar-100-binary.tar.gz: unpack it and pass --data <folder>";

constexpr int64_t kSide = 32;
constexpr int64_t kPixels = 3 * kSide * kSide;
static_assert(kCifar100RecordBytes == kPixels + 2);

}  // namespace

Cifar100Labels parse_cifar100_labels(const std::string& name) {
  if (name == "fine") return Cifar100Labels::kFine;
  if (name == "coarse") return Cifar100Labels::kCoarse;
  fail("--cifar100_labels is '{}', allowed: fine (100 classes), coarse (20 superclasses)", name);
}

std::string find_cifar100_dir(const std::string& dir) {
  require(fs::is_directory(dir), "data folder {} does not exist (or is not a folder); {}", dir,
          kHowToGet);
  const fs::path root(dir);
  std::string looked;
  for (const fs::path& candidate : {root, root / "cifar-100-binary",
                                    root / "cifar100" / "cifar-100-binary", root / "cifar100"}) {
    if (fs::is_regular_file(candidate / "train.bin")) return candidate.string();
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  fail("{}: no train.bin found (looked in {}); {}", dir, looked, kHowToGet);
}

ImageSplit read_cifar100_file(const std::string& path, Cifar100Labels labels) {
  std::error_code ec;
  require(fs::is_regular_file(path, ec), "CIFAR-100 file {} does not exist; {}", path, kHowToGet);
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  require(!ec, "{}: cannot read its size: {}", path, ec.message());
  require(bytes > 0 && bytes % kCifar100RecordBytes == 0,
          "{}: {} bytes, expected a multiple of {} (153,700,000 for train.bin); the file is "
          "truncated or not the binary version of CIFAR-100",
          path, bytes, kCifar100RecordBytes);
  const int64_t n = bytes / kCifar100RecordBytes;
  std::vector<uint8_t> buffer(static_cast<size_t>(bytes));
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  in.read(reinterpret_cast<char*>(buffer.data()), bytes);
  require(in.gcount() == bytes, "{}: read only {} of its {} bytes", path, in.gcount(), bytes);

  ImageSplit split{torch::empty({n, 3, kSide, kSide}, torch::kUInt8),
                   torch::empty({n}, torch::kInt64)};
  uint8_t* images = split.images.data_ptr<uint8_t>();
  int64_t* label_data = split.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* record = buffer.data() + i * kCifar100RecordBytes;
    // Both labels are checked whichever is used: a bad one means the file is not CIFAR-100.
    require(record[0] < 20 && record[1] < 100,
            "{}: record {} has coarse label {} and fine label {}, allowed 0..19 and 0..99; not "
            "CIFAR-100's binary version (CIFAR-10's records have one label)",
            path, i, static_cast<int>(record[0]), static_cast<int>(record[1]));
    label_data[i] = labels == Cifar100Labels::kFine ? record[1] : record[0];
    std::memcpy(images + i * kPixels, record + 2, kPixels);
  }
  return split;
}

ImageDataset load_cifar100(const std::string& dir, Cifar100Labels labels, int64_t train_limit,
                           int64_t test_limit) {
  const fs::path folder(find_cifar100_dir(dir));
  const std::string train_file = (folder / "train.bin").string();
  const std::string test_file = (folder / "test.bin").string();
  require(fs::is_regular_file(test_file), "{} has train.bin but no test.bin; {}", folder.string(),
          kHowToGet);
  ImageDataset data;
  data.name = "cifar100";
  data.num_classes = cifar100_classes(labels);
  data.train = read_cifar100_file(train_file, labels).head_copy(train_limit);
  data.test = read_cifar100_file(test_file, labels).head_copy(test_limit);
  data.stats = channel_stats(data.train);
  return data;
}

}  // namespace enas
