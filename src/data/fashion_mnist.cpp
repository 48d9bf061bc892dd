#include "enas/data/fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "enas/util/error.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

constexpr const char* kHowToGet =
    "install Debian's dataset-fashion-mnist package (files in /usr/share/datasets/fashion-mnist) "
    "or pass --data <folder>";
constexpr const char* kMnistHowToGet =
    "MNIST is train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte"
    "[.gz] and t10k-labels-idx1-ubyte[.gz] (https://yann.lecun.com/exdb/mnist/): put them in a "
    "folder and pass --data <folder>";

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// gzread in chunks, as its length argument is an unsigned int. Returns the bytes read (fewer
// than `wanted` at the end of the data).
int64_t read_some(gzFile file, const std::string& path, uint8_t* out, int64_t wanted) {
  int64_t got = 0;
  while (got < wanted) {
    const auto chunk = static_cast<unsigned>(std::min<int64_t>(wanted - got, 1 << 20));
    const int n = gzread(file, out + got, chunk);
    if (n < 0) {
      int code = 0;
      fail("{}: cannot decompress: {}", path, gzerror(file, &code));
    }
    if (n == 0) break;
    got += n;
  }
  return got;
}

uint32_t big_endian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// `dir/name.gz`, else `dir/name`; the error names both.
std::string find_idx(const fs::path& dir, const std::string& name, const char* how_to_get) {
  for (const fs::path& candidate : {dir / (name + ".gz"), dir / name}) {
    if (fs::is_regular_file(candidate)) return candidate.string();
  }
  fail("{} (or {}) does not exist; {}", (dir / (name + ".gz")).string(), (dir / name).string(),
       how_to_get);
}

ImageSplit read_pair(const fs::path& dir, const std::string& prefix, int64_t limit,
                     const char* how_to_get) {
  const std::string image_path = find_idx(dir, prefix + "-images-idx3-ubyte", how_to_get);
  const std::string label_path = find_idx(dir, prefix + "-labels-idx1-ubyte", how_to_get);
  torch::Tensor images = read_idx_file(image_path);
  torch::Tensor labels = read_idx_file(label_path);
  require(images.dim() == 3, "{}: holds labels, expected images (IDX magic 0x00000803)",
          image_path);
  require(labels.dim() == 1, "{}: holds images, expected labels (IDX magic 0x00000801)",
          label_path);
  require(images.size(0) == labels.size(0), "{} has {} images but {} has {} labels", image_path,
          images.size(0), label_path, labels.size(0));
  if (labels.numel() > 0) {
    const int max_label = labels.max().item<int>();
    require(max_label <= 9, "{}: label {} found, allowed 0..9", label_path, max_label);
  }
  if (limit > 0 && limit < images.size(0)) {
    images = images.narrow(0, 0, limit).clone();
    labels = labels.narrow(0, 0, limit);
  }
  return {images.unsqueeze(1), labels.to(torch::kInt64)};
}

}  // namespace

torch::Tensor read_idx_file(const std::string& path) {
  require(fs::is_regular_file(path), "IDX file {} does not exist", path);
  // gzopen reads plain files transparently, so one code path serves .gz and unpacked files.
  GzHandle file(gzopen(path.c_str(), "rb"));
  require(file != nullptr, "{}: cannot open", path);

  uint8_t header[16];
  require(read_some(file.get(), path, header, 4) == 4, "{}: too short for an IDX header", path);
  const uint32_t magic = big_endian(header);
  require(magic == kImageMagic || magic == kLabelMagic,
          "{}: magic number 0x{:08x}, expected 0x{:08x} (images) or 0x{:08x} (labels); not an "
          "uint8 IDX file",
          path, magic, kImageMagic, kLabelMagic);
  const int num_dims = magic == kImageMagic ? 3 : 1;
  require(read_some(file.get(), path, header + 4, 4 * num_dims) == 4 * num_dims,
          "{}: truncated IDX header", path);

  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int d = 0; d < num_dims; ++d) {
    dims.push_back(big_endian(header + 4 + 4 * d));
    require(dims.back() <= std::numeric_limits<int64_t>::max() / std::max<int64_t>(total, 1),
            "{}: IDX dimensions overflow", path);
    total *= dims.back();
  }

  // Grow the buffer as data arrives (rather than trusting the header's size up front).
  std::vector<uint8_t> data;
  int64_t got = 0;
  while (got < total) {
    const int64_t step = std::min<int64_t>(total - got, int64_t{16} << 20);
    data.resize(static_cast<size_t>(got + step));
    const int64_t n = read_some(file.get(), path, data.data() + got, step);
    got += n;
    if (n < step) break;
  }
  require(got == total, "{}: truncated: expected {} bytes of data, read {}", path, total, got);
  uint8_t extra = 0;
  require(read_some(file.get(), path, &extra, 1) == 0,
          "{}: more data than the {} bytes its header announces", path, total);

  torch::Tensor out = torch::empty(dims, torch::kUInt8);
  if (total > 0) std::memcpy(out.data_ptr<uint8_t>(), data.data(), static_cast<size_t>(total));
  return out;
}

namespace {

ImageDataset load_idx_dataset(const std::string& dir, const char* name, const char* how_to_get,
                              int64_t train_limit, int64_t test_limit) {
  ImageDataset data;
  data.name = name;
  data.num_classes = 10;
  data.train = read_pair(dir, "train", train_limit, how_to_get);
  data.test = read_pair(dir, "t10k", test_limit, how_to_get);
  data.stats = channel_stats(data.train);
  return data;
}

}  // namespace

ImageDataset load_fashion_mnist(const std::string& dir, int64_t train_limit, int64_t test_limit) {
  require(fs::is_directory(dir), "Fashion-MNIST folder {} does not exist; {}", dir, kHowToGet);
  return load_idx_dataset(dir, "fashion_mnist", kHowToGet, train_limit, test_limit);
}

ImageDataset load_mnist(const std::string& dir, int64_t train_limit, int64_t test_limit) {
  require(fs::is_directory(dir), "MNIST folder {} does not exist; {}", dir, kMnistHowToGet);
  // ENAS_DATA_DIR names the folder of every data set: MNIST may be in its mnist/.
  const fs::path own = fs::path(dir) / "mnist";
  const bool nested = !fs::exists(fs::path(dir) / "train-images-idx3-ubyte") &&
                      !fs::exists(fs::path(dir) / "train-images-idx3-ubyte.gz") &&
                      fs::is_directory(own);
  return load_idx_dataset(nested ? own.string() : dir, "mnist", kMnistHowToGet, train_limit,
                          test_limit);
}

}  // namespace enas
