#include "image_files.h"

#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace enas::test {

namespace {

/// The sRGB samples of `pixels` stored at 16 bits (v * 257, big-endian), through libpng's full
/// API: its simplified writer stores 16-bit samples as linear light only.
void write_png16(const std::string& path, int width, int height, int channels,
                 const std::vector<uint8_t>& pixels) {
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  std::vector<uint8_t> row(static_cast<size_t>(width * channels * 2));
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    FAIL() << path << ": libpng failed to write";
  }
  static const int kTypes[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                               PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, 16, kTypes[channels], PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) {
    for (int i = 0; i < width * channels; ++i) {
      row[2 * i] = row[2 * i + 1] = pixels[static_cast<size_t>(y * width * channels + i)];
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

}  // namespace

void write_png(const std::string& path, int width, int height, int channels,
               const std::vector<uint8_t>& pixels, bool sixteen_bit, bool palette) {
  ASSERT_EQ(pixels.size(), static_cast<size_t>(width * height * channels));
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  static const png_uint_32 kFormats[] = {0, PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                         PNG_FORMAT_RGBA};
  image.format = kFormats[channels];
  int ok = 0;
  if (palette) {
    ASSERT_EQ(channels, 3);
    // Index i of the map is the i-th distinct colour met.
    std::vector<uint8_t> colours, indices;
    for (size_t p = 0; p < pixels.size(); p += 3) {
      size_t k = 0;
      while (k < colours.size() &&
             !std::equal(pixels.begin() + p, pixels.begin() + p + 3, colours.begin() + k))
        k += 3;
      if (k == colours.size())
        colours.insert(colours.end(), pixels.begin() + p, pixels.begin() + p + 3);
      indices.push_back(static_cast<uint8_t>(k / 3));
    }
    image.format = PNG_FORMAT_RGB_COLORMAP;
    image.colormap_entries = static_cast<png_uint_32>(colours.size() / 3);
    ok = png_image_write_to_file(&image, path.c_str(), 0, indices.data(), 0, colours.data());
  } else if (sixteen_bit) {
    return write_png16(path, width, height, channels, pixels);
  } else {
    ok = png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr);
  }
  ASSERT_NE(ok, 0) << path << ": " << image.message;
}

void write_jpeg(const std::string& path, int width, int height, int channels,
                const std::vector<uint8_t>& pixels, int quality) {
  ASSERT_EQ(pixels.size(), static_cast<size_t>(width * height * channels));
  tjhandle h = tjInitCompress();
  ASSERT_NE(h, nullptr);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int format = channels == 1 ? TJPF_GRAY : channels == 3 ? TJPF_RGB : TJPF_CMYK;
  const int subsampling = channels == 1 ? TJSAMP_GRAY : TJSAMP_444;
  const int rc =
      tjCompress2(h, pixels.data(), width, 0, height, format, &out, &size, subsampling, quality, 0);
  ASSERT_EQ(rc, 0) << tjGetErrorStr2(h);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(out), static_cast<std::streamsize>(size));
  tjFree(out);
  tjDestroy(h);
}

std::vector<uint8_t> flat_image(int width, int height, const std::vector<uint8_t>& colour) {
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(width * height) * colour.size());
  for (int p = 0; p < width * height; ++p) out.insert(out.end(), colour.begin(), colour.end());
  return out;
}

void write_image_folder(const std::string& dir, int classes, int train_per_class,
                        int test_per_class, int width, int height, bool gray) {
  namespace fs = std::filesystem;
  for (const auto& [split, count] :
       {std::pair{"train", train_per_class}, {"test", test_per_class}}) {
    for (int k = 0; k < classes; ++k) {
      char name[16];
      std::snprintf(name, sizeof name, "c%02d", k);
      const std::string folder = dir + "/" + split + "/" + name;
      fs::create_directories(folder);
      for (int i = 0; i < count; ++i) {
        // A colour per class, a little brighter per image: learnable, not identical.
        const auto v = [&](int base) {
          return static_cast<uint8_t>((base + 37 * k + 3 * i) % 256);
        };
        const std::vector<uint8_t> colour =
            gray ? std::vector<uint8_t>{v(20)} : std::vector<uint8_t>{v(20), v(90), v(160)};
        const std::vector<uint8_t> pixels = flat_image(width, height, colour);
        const std::string base = folder + "/" + std::to_string(i);
        if (i % 2) {
          write_jpeg(base + ".jpg", width, height, gray ? 1 : 3, pixels);
        } else {
          write_png(base + ".png", width, height, gray ? 1 : 3, pixels);
        }
      }
    }
  }
}

}  // namespace enas::test
