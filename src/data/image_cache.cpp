#include "image_cache.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/text.h"

namespace enas::image_cache {

namespace fs = std::filesystem;

namespace {

constexpr const char kMagic[] = "enas image cache 1\n";
constexpr size_t kMaxHeaderBytes = size_t{1} << 20;

}  // namespace

std::optional<nlohmann::json> header(const std::string& path, const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return std::nullopt;
  std::string magic(sizeof(kMagic) - 1, '\0'), line;
  in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  if (magic != kMagic || !std::getline(in, line) || line.size() > kMaxHeaderBytes) {
    warn(fmt::format("{}: not an image cache of this version; decoding again", path));
    return std::nullopt;
  }
  nlohmann::json h = parse_json(line, path, /*lenient=*/true);
  if (h.is_discarded() || !h.is_object() || h.value("key", "") != key) return std::nullopt;
  return h;
}

std::optional<ImageSplit> read(const std::string& path, const std::string& key, int64_t size,
                               int64_t channels) {
  const auto h = header(path, key);
  if (!h) return std::nullopt;
  const int64_t n = h->value("images", int64_t{-1});
  if (n <= 0 || h->value("size", int64_t{0}) != size ||
      h->value("channels", int64_t{0}) != channels) {
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::string line;
  in.ignore(static_cast<std::streamsize>(sizeof(kMagic) - 1));
  std::getline(in, line);
  ImageSplit split{torch::empty({n, channels, size, size}, torch::kUInt8),
                   torch::empty({n}, torch::kInt64)};
  for (torch::Tensor* t : {&split.images, &split.labels}) {
    const auto bytes = static_cast<std::streamsize>(t->nbytes());
    in.read(static_cast<char*>(t->data_ptr()), bytes);
    if (in.gcount() != bytes) {
      warn(fmt::format("{}: a cut image cache; decoding again", path));
      return std::nullopt;
    }
  }
  return split;
}

void write(const std::string& path, const std::string& key, const ImageSplit& split, int64_t size,
           int64_t channels, const std::vector<std::string>& classes) {
  const nlohmann::json h = {{"key", key},
                            {"images", split.size()},
                            {"channels", channels},
                            {"size", size},
                            {"classes", classes}};
  std::string bytes = kMagic + h.dump() + "\n";
  const torch::Tensor images = split.images.contiguous(), labels = split.labels.contiguous();
  bytes.append(reinterpret_cast<const char*>(images.data_ptr<uint8_t>()), images.nbytes());
  bytes.append(reinterpret_cast<const char*>(labels.data_ptr<int64_t>()), labels.nbytes());
  try {
    std::error_code ec;
    const fs::path folder = fs::path(path).parent_path();
    fs::create_directories(folder, ec);
    require(!ec, "cannot make {}: {}", folder.string(), ec.message());
    write_file_atomic(path, bytes);
  } catch (const Error& e) {
    warn(fmt::format("the image cache was not written ({}); the next run decodes again", e.what()));
  }
}

}  // namespace enas::image_cache
