#pragma once
// Writes PNG and JPEG files for the tests of --dataset folder, with the same Debian libraries
// the reader decodes with (libpng's simplified API, TurboJPEG): byte-exact inputs made here,
// never a data set downloaded or committed.
#include <cstdint>
#include <string>
#include <vector>

namespace enas::test {

/// A PNG of `width` x `height`, `channels` 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA),
/// `pixels` interleaved row by row; with `sixteen_bit` the samples are stored as 16-bit (each
/// byte v written as v * 257, so that it reads back as v). `palette` writes RGB as a
/// colour-mapped PNG (at most 256 colours).
void write_png(const std::string& path, int width, int height, int channels,
               const std::vector<uint8_t>& pixels, bool sixteen_bit = false, bool palette = false);

/// A JPEG of `channels` 1, 3 or 4 (CMYK) at `quality` (4:4:4 subsampling).
void write_jpeg(const std::string& path, int width, int height, int channels,
                const std::vector<uint8_t>& pixels, int quality = 95);

/// `width` x `height` x `channels` bytes of one colour.
std::vector<uint8_t> flat_image(int width, int height, const std::vector<uint8_t>& colour);

/// An image folder for --dataset folder under `dir`: train/ and test/ with `classes` class
/// folders c00, c01, ...; class k's images are flat in a colour of its own (learnable), JPEG for
/// odd images and PNG for even ones, `width` x `height`, gray when `gray`.
void write_image_folder(const std::string& dir, int classes, int train_per_class,
                        int test_per_class, int width, int height, bool gray = false);

}  // namespace enas::test
