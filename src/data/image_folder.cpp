#include "enas/data/image_folder.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "enas/data/image_codec.h"
#include "enas/util/error.h"
#include "enas/util/text.h"
#include "image_cache.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxImageFileBytes = uint64_t{256} << 20;

struct Entry {
  std::string path;
  int64_t label = 0;
  uint64_t bytes = 0;
  int64_t mtime_ns = 0;
};

struct Listing {
  std::string dir;
  std::vector<std::string> classes;
  std::map<std::string, std::vector<Entry>> splits;  // train, test and valid when present
  int64_t hidden = 0, other = 0;
};

/// The sorted, non-hidden entries of folder `d` (links followed), or an error naming it.
std::vector<fs::path> children(const fs::path& d) {
  std::error_code ec;
  std::vector<fs::path> out;
  for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path());
  }
  require(!ec, "cannot list {}: {}", d.string(), ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

/// Every image under `class_dir` (sub-folders included, as ImageFolder), in path order.
void list_class(const fs::path& class_dir, int64_t label, std::vector<Entry>& files,
                Listing& listing) {
  std::set<std::string> visited;
  std::vector<fs::path> pending{class_dir};
  const size_t first = files.size();
  while (!pending.empty()) {
    const fs::path d = pending.back();
    pending.pop_back();
    std::error_code ec;
    const std::string real = fs::canonical(d, ec).string();
    require(!ec, "{}: cannot resolve it: {}", d.string(), ec.message());
    require(visited.insert(real).second,
            "{}: reached twice through symbolic links ({}): a link loop, or two links to one "
            "folder",
            d.string(), real);
    for (const fs::path& p : children(d)) {
      const std::string name = p.filename().string();
      if (name.empty() || name[0] == '.') {
        ++listing.hidden;
        continue;
      }
      const auto status = fs::status(p, ec);  // through links: a broken one is an error
      require(!ec, "{}: {}", p.string(), ec.message());
      if (fs::is_directory(status)) {
        pending.push_back(p);
      } else if (fs::is_regular_file(status) && has_image_extension(name)) {
        Entry e;
        e.path = p.string();
        e.label = label;
        e.bytes = fs::file_size(p, ec);
        require(!ec, "{}: {}", p.string(), ec.message());
        const auto t = fs::last_write_time(p, ec);
        require(!ec, "{}: {}", p.string(), ec.message());
        e.mtime_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
        files.push_back(std::move(e));
      } else {
        ++listing.other;
      }
    }
  }
  std::sort(files.begin() + static_cast<std::ptrdiff_t>(first), files.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  require(files.size() > first, "class folder {} holds no .jpg, .jpeg or .png image",
          class_dir.string());
}

/// The class folders of `split_dir` (sorted names).
std::vector<std::string> class_folders(const fs::path& split_dir, Listing& listing) {
  std::vector<std::string> names;
  for (const fs::path& p : children(split_dir)) {
    const std::string name = p.filename().string();
    if (name.empty() || name[0] == '.') {
      ++listing.hidden;
    } else if (fs::is_directory(p)) {
      names.push_back(name);
    } else {
      ++listing.other;  // a file beside the class folders belongs to no class
    }
  }
  return names;
}

Listing list_folder(const std::string& dir) {
  require(fs::is_directory(dir),
          "image folder {} does not exist (or is not a folder): expected {}/train/<class>/*.jpg "
          "and {}/test/<class>/*.jpg (docs/data.md)",
          dir, dir, dir);
  Listing l;
  l.dir = dir;
  const fs::path root(dir);
  for (const char* split : {"train", "test"}) {
    require(fs::is_directory(root / split),
            "image folder {} has no {}/ folder: expected {}/train/<class>/... and "
            "{}/test/<class>/... (docs/data.md)",
            dir, split, dir, dir);
  }
  l.classes = class_folders(root / "train", l);
  require(!l.classes.empty(), "{}/train holds no class folders (one sub-folder per class)", dir);
  for (const char* split : {"train", "test", "valid"}) {
    if (!fs::is_directory(root / split)) continue;
    auto& files = l.splits[split];
    for (const std::string& name : class_folders(root / split, l)) {
      const auto at = std::find(l.classes.begin(), l.classes.end(), name);
      require(at != l.classes.end(), "{}/{}/{}: class '{}' is not among train/'s classes", dir,
              split, name, escaped(name));
      list_class(root / split / name, at - l.classes.begin(), files, l);
    }
  }
  return l;
}

/// FNV-1a of everything the cache's content depends on.
struct Key {
  uint64_t h = 1469598103934665603ull;
  void add(const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // a separator, so that "ab","c" differs from "a","bc"
  }
  void add(int64_t v) { add(std::to_string(v)); }
  std::string hex() const { return fmt::format("{:016x}", h); }
};

/// `geometry`: "" for train/ (whose images decide it), else the size and channels it decided.
std::string split_key(const Listing& l, const std::string& split, const ImageFolderOptions& o,
                      const std::string& geometry) {
  Key k;
  k.add("v1");
  k.add(geometry);
  for (int64_t v : {o.image_size, o.image_channels, o.max_image_pixels,
                    static_cast<int64_t>(o.skip_bad_images)})
    k.add(v);
  for (const auto& c : l.classes) k.add(c);
  k.add(split);
  for (const Entry& e : l.splits.at(split)) {
    k.add(e.path.substr(l.dir.size()));
    k.add(static_cast<int64_t>(e.bytes));
    k.add(e.mtime_ns);
    k.add(e.label);
  }
  return k.hex();
}

std::string read_file_bytes(const std::string& path, uint64_t bytes) {
  require(bytes <= kMaxImageFileBytes, "{}: {} bytes, more than an image file may be ({} MiB)",
          path, bytes, kMaxImageFileBytes >> 20);
  std::string data(bytes, '\0');
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  in.read(data.data(), static_cast<std::streamsize>(bytes));
  require(in.gcount() == static_cast<std::streamsize>(bytes), "{}: read only {} of its {} bytes",
          path, in.gcount(), bytes);
  return data;
}

std::string cache_folder(const Listing& l, const ImageFolderOptions& o) {
  return o.cache_dir.empty() ? (fs::path(l.dir) / ".enas-cache").string() : o.cache_dir;
}

/// The size and channels images are stored at.
struct Geometry {
  int64_t size = 0, channels = 0;
};

Geometry decide_geometry(const Listing& l, const ImageFolderOptions& o) {
  const auto& files = l.splits.at("train");
  std::vector<ImageHeader> headers(files.size());
  std::vector<std::string> failures(files.size());
  at::parallel_for(0, static_cast<int64_t>(files.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        headers[i] = read_image_header(read_file_bytes(files[i].path, files[i].bytes),
                                       files[i].path, o.max_image_pixels);
      } catch (const Error& e) {
        failures[i] = e.what();
      }
    }
  });
  const ImageHeader* first = nullptr;
  bool all_gray = true, one_size = true;
  const ImageHeader* other = nullptr;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!failures[i].empty()) {
      require(o.skip_bad_images, "{} (--skip_bad_images leaves such files out)", failures[i]);
      continue;
    }
    all_gray = all_gray && headers[i].gray;
    if (!first) first = &headers[i];
    if (headers[i].width != first->width || headers[i].height != first->height) {
      one_size = false;
      if (!other) other = &headers[i];
    }
  }
  require(first != nullptr, "{}/train: no image decodes", l.dir);
  Geometry g;
  g.channels = o.image_channels > 0 ? o.image_channels : (all_gray ? 1 : 3);
  g.size = o.image_size;
  if (g.size == 0) {
    require(one_size,
            "{}/train: images of different sizes ({}x{} and {}x{}, among others): pass "
            "--image_size N (shorter side to N, then a centre crop of N x N)",
            l.dir, first->width, first->height, other ? other->width : 0,
            other ? other->height : 0);
    require(first->width == first->height,
            "{}/train: the images are {}x{}, not square: pass --image_size N (shorter side to "
            "N, then a centre crop of N x N)",
            l.dir, first->width, first->height);
    g.size = first->width;
  }
  return g;
}

/// The geometry of the folder under `o`: from its training cache when that is current, else
/// from the headers (once per process).
Geometry geometry(const Listing& l, const ImageFolderOptions& o, const std::string& train_key) {
  static std::mutex mutex;
  static std::map<std::string, Geometry> known;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = known.find(train_key); it != known.end()) return it->second;
  Geometry g;
  const std::string cached = (fs::path(cache_folder(l, o)) / ("train-" + train_key + ".bin"));
  if (auto h = image_cache::header(cached, train_key)) {
    g = {h->value("size", int64_t{0}), h->value("channels", int64_t{0})};
  }
  if (g.size <= 0 || (g.channels != 1 && g.channels != 3)) g = decide_geometry(l, o);
  return known[train_key] = g;
}

}  // namespace

namespace {

/// `image` resized so that its shorter side is `size` (bilinear with antialiasing: PIL's
/// bilinear filter when shrinking), then its centre `size` x `size`, into `out` (C, size, size).
void resize_into(const DecodedImage& image, int64_t size, uint8_t* out) {
  const int64_t c = image.channels;
  torch::Tensor chw = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                       {image.height, image.width, c}, torch::kUInt8)
                          .permute({2, 0, 1});  // (C, H, W), a view
  torch::Tensor square;
  if (image.height == size && image.width == size) {
    square = chw.contiguous();
  } else {
    const double scale = static_cast<double>(size) / std::min(image.height, image.width);
    const int64_t h = std::max(size, static_cast<int64_t>(std::llround(image.height * scale)));
    const int64_t w = std::max(size, static_cast<int64_t>(std::llround(image.width * scale)));
    namespace F = torch::nn::functional;
    torch::Tensor resized =
        F::interpolate(chw.unsqueeze(0).to(torch::kFloat32), F::InterpolateFuncOptions()
                                                                 .size(std::vector<int64_t>{h, w})
                                                                 .mode(torch::kBilinear)
                                                                 .align_corners(false)
                                                                 .antialias(true));  // (1, C, h, w)
    square = resized[0]
                 .narrow(1, (h - size) / 2, size)
                 .narrow(2, (w - size) / 2, size)
                 .round()
                 .clamp(0, 255)
                 .to(torch::kUInt8)
                 .contiguous();
  }
  std::memcpy(out, square.data_ptr<uint8_t>(), static_cast<size_t>(c * size * size));
}

ImageSplit decode_split(const std::vector<Entry>& files, const Geometry& g,
                        const ImageFolderOptions& o, const std::string& what) {
  const int64_t n = static_cast<int64_t>(files.size());
  const int64_t plane = g.channels * g.size * g.size;
  torch::Tensor images = torch::empty({n, g.channels, g.size, g.size}, torch::kUInt8);
  std::vector<std::string> failures(files.size());
  uint8_t* base = images.data_ptr<uint8_t>();
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        const DecodedImage image = decode_image(read_file_bytes(files[i].path, files[i].bytes),
                                                files[i].path, g.channels, o.max_image_pixels);
        resize_into(image, g.size, base + i * plane);
      } catch (const Error& e) {
        failures[i] = e.what();
      }
    }
  });
  std::vector<int64_t> kept, labels;
  std::string first_failure;
  for (int64_t i = 0; i < n; ++i) {
    if (failures[i].empty()) {
      kept.push_back(i);
      labels.push_back(files[i].label);
    } else if (first_failure.empty()) {
      first_failure = failures[i];
    }
  }
  if (!first_failure.empty()) {
    require(o.skip_bad_images, "{} (--skip_bad_images leaves such files out)", first_failure);
    warn(fmt::format("{}: left out {} image(s) that do not decode, the first: {}", what,
                     n - static_cast<int64_t>(kept.size()), first_failure));
  }
  require(!kept.empty(), "{}: no image decodes", what);
  if (static_cast<int64_t>(kept.size()) < n) images = images.index_select(0, torch::tensor(kept));
  return {images, torch::tensor(labels, torch::kInt64)};
}

}  // namespace

ImageShape image_folder_shape(const std::string& dir, const ImageFolderOptions& options) {
  const Listing l = list_folder(dir);
  const Geometry g = geometry(l, options, split_key(l, "train", options, ""));
  return {g.channels, g.size, g.size, static_cast<int64_t>(l.classes.size())};
}

ImageDataset load_image_folder(const std::string& dir, const ImageFolderOptions& options,
                               int64_t test_limit) {
  const Listing l = list_folder(dir);
  if (l.hidden + l.other > 0) {
    warn(
        fmt::format("{}: skipped {} hidden and {} other files (only .jpg, .jpeg and .png images "
                    "in class folders are read)",
                    dir, l.hidden, l.other));
  }
  const std::string train_key = split_key(l, "train", options, "");
  const Geometry g = geometry(l, options, train_key);
  ImageDataset data;
  data.name = "folder";
  data.num_classes = static_cast<int64_t>(l.classes.size());
  data.class_names = l.classes;
  data.augment_pad = g.size / 8;
  std::string notes;
  for (const auto& [split, files] : l.splits) {
    const auto start = std::chrono::steady_clock::now();
    const std::string key =
        split == "train" ? train_key
                         : split_key(l, split, options, fmt::format("{}x{}", g.channels, g.size));
    const std::string cache = (fs::path(cache_folder(l, options)) / (split + "-" + key + ".bin"));
    std::optional<ImageSplit> loaded = image_cache::read(cache, key, g.size, g.channels);
    const bool hit = loaded.has_value();
    if (!hit) {
      loaded = decode_split(files, g, options, dir + "/" + split);
      image_cache::write(cache, key, *loaded, g.size, g.channels, l.classes);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    notes += fmt::format("{}{} {} images {} in {:.2f} s", notes.empty() ? "" : "; ", split,
                         loaded->size(), hit ? "read from the cache" : "decoded", seconds);
    (split == "train" ? data.train : split == "test" ? data.test : data.valid) = *loaded;
  }
  data.load_note = fmt::format("{} ({}x{}x{}, {} classes): {}", dir, g.channels, g.size, g.size,
                               data.num_classes, notes);
  data.test = data.test.head_copy(test_limit);
  if (data.valid.size() == 0) {
    // Class folders are listed in order: shuffle, so that the held-out tail mixes the classes.
    std::mt19937_64 rng(kHoldOutShuffleSeed);
    std::vector<int64_t> order(static_cast<size_t>(data.train.size()));
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    const torch::Tensor index = torch::tensor(order);
    data.train = {data.train.images.index_select(0, index),
                  data.train.labels.index_select(0, index)};
  }
  data.stats = channel_stats(data.train);
  return data;
}

DecodedFiles decode_image_files(const std::vector<std::string>& paths, int64_t size,
                                int64_t channels, const ImageFolderOptions& options) {
  std::vector<Entry> files;
  DecodedFiles out;
  for (const auto& p : paths) {
    std::error_code ec;
    const uint64_t bytes = fs::file_size(p, ec);
    require(!ec, "cannot read image {}: {}", p, ec.message());
    require(bytes <= kMaxImageFileBytes, "image {} is {} bytes, over the {} a file may have", p,
            bytes, kMaxImageFileBytes);
    files.push_back({p, 0, bytes, 0});
    try {
      const ImageHeader h =
          read_image_header(read_file_bytes(p, bytes), p, options.max_image_pixels);
      if (h.gray != (channels == 1)) ++out.converted;
    } catch (const Error&) {
      // decode_split says what is wrong with it, or leaves it out.
    }
  }
  // The label of each file is its index, so that the kept ones can be named.
  for (size_t i = 0; i < files.size(); ++i) files[i].label = static_cast<int64_t>(i);
  Geometry g;
  g.size = size;
  g.channels = channels;
  const ImageSplit split = decode_split(files, g, options, "the images given");
  out.images = split.images;
  const auto* index = split.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < split.size(); ++i) out.files.push_back(files[index[i]].path);
  return out;
}

}  // namespace enas
