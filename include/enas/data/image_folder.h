#pragma once
/// Images from a folder in torchvision's ImageFolder layout: DIR/train/<class>/*,
/// DIR/test/<class>/* and, when present, DIR/valid/<class>/*. Class names are the training folder's
/// sub-folders, sorted; the class count and the network's head come from them. JPEG and PNG files
/// are decoded on every core (data/image_codec.h), resized once (shorter side to N, centre crop N x
/// N) and cached as one uint8 file per split, so that later runs read memory, not JPEGs
/// (docs/data.md).
#include <cstdint>
#include <string>
#include <vector>

#include "enas/data/image_dataset.h"
#include "enas/data/image_shape.h"

namespace enas {

struct ImageFolderOptions {
  int64_t image_size = 0;               // N; 0: the training images' size when all share one
  int64_t image_channels = 0;           // 1 or 3; 0: 3 unless every training image is gray
  std::string cache_dir;                // "": DIR/.enas-cache
  bool skip_bad_images = false;         // an image that does not decode: a warning, not an error
  int64_t max_image_pixels = 50000000;  // larger images are refused (decompression bombs)
};

/// The seed of the shuffle before the validation hold-out: fixed, so that every run (any --seed)
/// holds out the same images.
inline constexpr uint64_t kHoldOutShuffleSeed = 0x5eed;

/// The network's input shape and class count for the folder: from the cache when it holds the
/// folder as it is, else from the training images' headers (read once per process).
ImageShape image_folder_shape(const std::string& dir, const ImageFolderOptions& options);

/// Loads train, test (cut to `test_limit` > 0) and valid/ when present; the training split is
/// shuffled with kHoldOutShuffleSeed when there is no valid/ (class folders are sorted, so an
/// unshuffled tail would be one class).
ImageDataset load_image_folder(const std::string& dir, const ImageFolderOptions& options,
                               int64_t test_limit);

/// Image files (`paths`) as the folder reader reads them: decoded, converted to `channels`,
/// resized (shorter side to `size`, centre crop) with the same code. A file that does not decode
/// is an enas::Error naming it, or with `options.skip_bad_images` left out with one warning.
struct DecodedFiles {
  torch::Tensor images;            // (N, channels, size, size) uint8
  std::vector<std::string> files;  // the files kept, in order
  int64_t converted = 0;           // files of another channel count (gray to RGB or back)
};
DecodedFiles decode_image_files(const std::vector<std::string>& paths, int64_t size,
                                int64_t channels, const ImageFolderOptions& options);

}  // namespace enas
