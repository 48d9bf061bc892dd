#include "enas/data/image_codec.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "enas/util/error.h"

namespace enas {

namespace {

bool is_jpeg(std::string_view b) {
  return b.size() >= 3 && static_cast<uint8_t>(b[0]) == 0xFF &&
         static_cast<uint8_t>(b[1]) == 0xD8 && static_cast<uint8_t>(b[2]) == 0xFF;
}

bool is_png(std::string_view b) {
  static const char kMagic[] = "\x89PNG\r\n\x1a\n";
  return b.size() >= 8 && b.compare(0, 8, std::string_view(kMagic, 8)) == 0;
}

struct TjCloser {
  void operator()(void* h) const { tjDestroy(h); }
};
using TjHandle = std::unique_ptr<void, TjCloser>;

TjHandle jpeg_decoder(const std::string& path) {
  TjHandle h(tjInitDecompress());
  require(h != nullptr, "{}: cannot start the JPEG decoder: {}", path, tjGetErrorStr2(nullptr));
  return h;
}

/// A PNG read through the simplified API; png_image_free runs however it ends.
struct PngRead {
  png_image image{};
  PngRead(std::string_view bytes, const std::string& path) {
    image.version = PNG_IMAGE_VERSION;
    // 16-bit samples without gamma information are sRGB, as 8-bit ones (libpng would read them
    // as linear light): a 16-bit v * 257 reads as v, as PIL's 16-to-8-bit conversion gives.
    image.flags = PNG_IMAGE_FLAG_16BIT_sRGB;
    require(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0,
            "{}: not a readable PNG: {}", path, image.message);
  }
  ~PngRead() { png_image_free(&image); }
  PngRead(const PngRead&) = delete;
  PngRead& operator=(const PngRead&) = delete;
};

void check_size(int64_t width, int64_t height, const std::string& path, int64_t max_pixels) {
  require(width >= 2 && height >= 2,
          "{}: an image of {}x{} pixels is too small to train on (at least 2x2)", path, width,
          height);
  require(width * height <= max_pixels,
          "{}: {}x{} is {} pixels, over --max_image_pixels {} (a decompression bomb, or raise the "
          "limit)",
          path, width, height, width * height, max_pixels);
}

ImageHeader jpeg_header(std::string_view bytes, const std::string& path, tjhandle h) {
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  require(
      tjDecompressHeader3(h, data, bytes.size(), &width, &height, &subsampling, &colorspace) == 0,
      "{}: not a readable JPEG: {}", path, tjGetErrorStr2(h));
  require(colorspace != TJCS_CMYK && colorspace != TJCS_YCCK,
          "{}: a CMYK JPEG, which enas does not convert: save it as RGB (e.g. `convert F "
          "-colorspace sRGB F`)",
          path);
  return {width, height, colorspace == TJCS_GRAY, "JPEG"};
}

}  // namespace

bool has_image_extension(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

ImageHeader read_image_header(std::string_view bytes, const std::string& path, int64_t max_pixels) {
  ImageHeader header;
  if (is_jpeg(bytes)) {
    header = jpeg_header(bytes, path, jpeg_decoder(path).get());
  } else if (is_png(bytes)) {
    PngRead png(bytes, path);
    header = {png.image.width, png.image.height, (png.image.format & PNG_FORMAT_FLAG_COLOR) == 0,
              "PNG"};
  } else {
    fail("{}: neither a JPEG nor a PNG ({} bytes; an empty, truncated or other file)", path,
         bytes.size());
  }
  check_size(header.width, header.height, path, max_pixels);
  return header;
}

DecodedImage decode_image(std::string_view bytes, const std::string& path, int64_t channels,
                          int64_t max_pixels) {
  require(channels == 1 || channels == 3, "images have 1 or 3 channels, not {}", channels);
  DecodedImage out;
  out.channels = channels;
  if (is_jpeg(bytes)) {
    TjHandle h = jpeg_decoder(path);
    const ImageHeader header = jpeg_header(bytes, path, h.get());
    check_size(header.width, header.height, path, max_pixels);
    out.width = header.width;
    out.height = header.height;
    out.pixels.resize(static_cast<size_t>(out.width * out.height * channels));
    // A warning (a truncated file, a corrupt segment) stops the decoding: the image would be
    // part grey. Progressive files are limited in scans (a scan bomb).
    const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    require(tjDecompress2(h.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
                          bytes.size(), out.pixels.data(), static_cast<int>(out.width), 0,
                          static_cast<int>(out.height), channels == 1 ? TJPF_GRAY : TJPF_RGB,
                          flags) == 0,
            "{}: cannot decode this JPEG: {}", path, tjGetErrorStr2(h.get()));
    return out;
  }
  require(is_png(bytes), "{}: neither a JPEG nor a PNG ({} bytes)", path, bytes.size());
  PngRead png(bytes, path);
  out.width = png.image.width;
  out.height = png.image.height;
  check_size(out.width, out.height, path, max_pixels);
  // Read with alpha, then drop it: the colours as stored, as PIL's convert("RGB") gives them.
  png.image.format = channels == 1 ? PNG_FORMAT_GA : PNG_FORMAT_RGBA;
  png.image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  const int64_t stored = channels + 1;
  std::vector<uint8_t> buffer(static_cast<size_t>(out.width * out.height * stored));
  require(png_image_finish_read(&png.image, nullptr, buffer.data(), 0, nullptr) != 0,
          "{}: cannot decode this PNG: {}", path, png.image.message);
  out.pixels.resize(static_cast<size_t>(out.width * out.height * channels));
  for (int64_t p = 0, n = out.width * out.height; p < n; ++p) {
    for (int64_t c = 0; c < channels; ++c) out.pixels[p * channels + c] = buffer[p * stored + c];
  }
  return out;
}

std::string encode_png(const DecodedImage& image) {
  require(image.channels == 1 || image.channels == 3, "encode_png: 1 or 3 channels, not {}",
          image.channels);
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  require(png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr) != 0,
          "cannot encode a PNG: {}", png.message);
  std::string out(size, '\0');
  require(
      png_image_write_to_memory(&png, out.data(), &size, 0, image.pixels.data(), 0, nullptr) != 0,
      "cannot encode a PNG: {}", png.message);
  out.resize(size);
  return out;
}

std::string encode_jpeg(const DecodedImage& image, int quality) {
  require(image.channels == 1 || image.channels == 3, "encode_jpeg: 1 or 3 channels, not {}",
          image.channels);
  TjHandle h(tjInitCompress());
  require(h != nullptr, "cannot start the JPEG encoder: {}", tjGetErrorStr2(nullptr));
  unsigned char* data = nullptr;
  unsigned long size = 0;
  const bool gray = image.channels == 1;
  const int rc = tjCompress2(h.get(), image.pixels.data(), static_cast<int>(image.width), 0,
                             static_cast<int>(image.height), gray ? TJPF_GRAY : TJPF_RGB, &data,
                             &size, gray ? TJSAMP_GRAY : TJSAMP_420, quality, 0);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(data, tjFree);
  require(rc == 0, "cannot encode a JPEG: {}", tjGetErrorStr2(h.get()));
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace enas
