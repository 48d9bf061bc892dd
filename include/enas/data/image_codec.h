#pragma once
/// Decoding of image files (JPEG and PNG) with Debian's libraries: libjpeg-turbo's TurboJPEG API
/// and libpng's simplified API, never a decoder of our own (docs/data.md says why these). No
/// torch here: the folder reader (image_folder.h) resizes and stacks what this decodes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace enas {

/// What a file's header says, read without decoding its pixels.
struct ImageHeader {
  int64_t width = 0, height = 0;
  bool gray = false;        // one channel (with or without alpha)
  const char* format = "";  // "JPEG" or "PNG"
};

/// One decoded image: height x width x channels bytes, rows top to bottom, channels interleaved.
struct DecodedImage {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

/// Whether a file name has an image extension we decode: .jpg, .jpeg, .png (any case).
bool has_image_extension(const std::string& name);

/// The header of `bytes` (a whole file; `path` names it in errors). A file that is neither JPEG
/// nor PNG, a damaged header, a JPEG of other than 8-bit samples or in CMYK, an image under 2x2
/// or over `max_pixels` pixels is an enas::Error naming the file and the problem.
ImageHeader read_image_header(std::string_view bytes, const std::string& path, int64_t max_pixels);

/// Decodes `bytes` to `channels` (1: gray, ITU-R 601 luma for colour files; 3: RGB, gray
/// repeated). Alpha is dropped, as PIL's convert("RGB") does; 16-bit PNG samples become 8-bit.
/// A truncated or corrupt file is an enas::Error (a JPEG's warnings count as errors).
DecodedImage decode_image(std::string_view bytes, const std::string& path, int64_t channels,
                          int64_t max_pixels);

/// `image` (1 or 3 channels) as a PNG file's bytes, or as a JPEG's at `quality`: for
/// `enas bench --only loader`, which makes a folder of images to time the reader on.
std::string encode_png(const DecodedImage& image);
std::string encode_jpeg(const DecodedImage& image, int quality = 90);

}  // namespace enas
