#pragma once
// The cache of an image folder's decoded splits (image_folder.cpp): one file per split, a line
// naming its version, a JSON header line (key, image count, size, channels, classes), then the
// uint8 pixels (N, C, S, S) and the int64 labels (N), in this machine's byte order. The key is the
// hash of what the content depends on; a file of another key, version or geometry is not used.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "enas/data/image_dataset.h"

namespace enas::image_cache {

/// The header of the cache at `path` when it is of this version and has key `key`; nothing when
/// the file is absent or another folder's (a warning when it is not a cache of this version).
std::optional<nlohmann::json> header(const std::string& path, const std::string& key);

/// The split stored at `path` when its header matches `key`, `size` and `channels`.
std::optional<ImageSplit> read(const std::string& path, const std::string& key, int64_t size,
                               int64_t channels);

/// Stores `split` atomically; a failure is a warning (the next run decodes again), never an error.
void write(const std::string& path, const std::string& key, const ImageSplit& split, int64_t size,
           int64_t channels, const std::vector<std::string>& classes);

}  // namespace enas::image_cache
