// --dataset folder: decoding JPEG and PNG in their variants, the folder's layout and its errors,
// resizing, and the cache of decoded images.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "enas/data/datasets.h"
#include "enas/data/image_codec.h"
#include "enas/data/image_folder.h"
#include "image_files.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::error_of;
using test::flat_image;
using test::TempDir;
using test::write_jpeg;
using test::write_png;

constexpr int64_t kMaxPixels = 50000000;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

DecodedImage decode_file(const std::string& path, int64_t channels) {
  return decode_image(bytes_of(path), path, channels, kMaxPixels);
}

// A 3x2 RGB image of six colours, row by row.
const std::vector<uint8_t> kSix = {255, 0,  0,  0,   255, 0,  0, 0, 255,
                                   10,  20, 30, 200, 100, 50, 7, 7, 7};

TEST(ImageCodec, PngOfEveryColourTypeAndDepthDecodesToItsBytes) {
  TempDir dir;
  write_png(dir.file("rgb.png"), 3, 2, 3, kSix);
  write_png(dir.file("palette.png"), 3, 2, 3, kSix, false, /*palette=*/true);
  std::vector<uint8_t> rgba;
  for (size_t p = 0; p < 6; ++p) {
    rgba.insert(rgba.end(), kSix.begin() + 3 * p, kSix.begin() + 3 * p + 3);
    rgba.push_back(static_cast<uint8_t>(40 * p));  // alpha, dropped on reading
  }
  write_png(dir.file("rgba.png"), 3, 2, 4, rgba);
  for (const char* name : {"rgb.png", "palette.png", "rgba.png"}) {
    const DecodedImage image = decode_file(dir.file(name), 3);
    EXPECT_EQ(image.width, 3) << name;
    EXPECT_EQ(image.height, 2) << name;
    EXPECT_EQ(image.pixels, kSix) << name;
  }
  write_png(dir.file("rgb16.png"), 3, 2, 3, kSix, /*sixteen_bit=*/true);
  const DecodedImage wide = decode_file(dir.file("rgb16.png"), 3);
  ASSERT_EQ(wide.pixels.size(), kSix.size());
  EXPECT_EQ(wide.pixels, kSix);  // v * 257 at 16 bits is v at 8

  const std::vector<uint8_t> gray = {0, 50, 100, 150, 200, 250};
  write_png(dir.file("gray.png"), 3, 2, 1, gray);
  std::vector<uint8_t> ga;
  for (uint8_t g : gray) ga.insert(ga.end(), {g, 128});
  write_png(dir.file("ga.png"), 3, 2, 2, ga);
  for (const char* name : {"gray.png", "ga.png"}) {
    EXPECT_EQ(decode_file(dir.file(name), 1).pixels, gray) << name;
    const DecodedImage as_rgb = decode_file(dir.file(name), 3);  // gray repeated
    EXPECT_EQ(as_rgb.pixels[3 * 4 + 0], 200) << name;
    EXPECT_EQ(as_rgb.pixels[3 * 4 + 2], 200) << name;
    EXPECT_TRUE(read_image_header(bytes_of(dir.file(name)), name, kMaxPixels).gray);
  }
  EXPECT_FALSE(read_image_header(bytes_of(dir.file("rgb.png")), "rgb", kMaxPixels).gray);
}

TEST(ImageCodec, JpegDecodesCloseToItsColoursInRgbOrGray) {
  TempDir dir;
  write_jpeg(dir.file("flat.jpg"), 16, 16, 3, flat_image(16, 16, {200, 100, 50}), 100);
  const DecodedImage rgb = decode_file(dir.file("flat.jpg"), 3);
  EXPECT_EQ(rgb.width, 16);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(rgb.pixels[c], (std::vector<int>{200, 100, 50}[c]), 2);
  // Luma, ITU-R 601: 0.299 R + 0.587 G + 0.114 B = 124.3.
  EXPECT_NEAR(decode_file(dir.file("flat.jpg"), 1).pixels[0], 124, 2);
  write_jpeg(dir.file("gray.jpg"), 8, 8, 1, flat_image(8, 8, {90}), 100);
  EXPECT_TRUE(read_image_header(bytes_of(dir.file("gray.jpg")), "g", kMaxPixels).gray);
  EXPECT_NEAR(decode_file(dir.file("gray.jpg"), 3).pixels[2], 90, 1);
}

TEST(ImageCodec, DamagedTinyHugeAndCmykFilesAreOneErrorNamingTheFile) {
  TempDir dir;
  std::vector<uint8_t> busy(64 * 64 * 3);  // enough entropy-coded data to cut into
  for (size_t i = 0; i < busy.size(); ++i) busy[i] = static_cast<uint8_t>((i * 7919) % 251);
  write_jpeg(dir.file("whole.jpg"), 64, 64, 3, busy);
  const std::string whole = bytes_of(dir.file("whole.jpg"));
  // Cut in its headers, or in its pixels (a warning of libjpeg's, which stops the decoding).
  std::string msg = error_of([&] { decode_image(whole.substr(0, 300), "cut.jpg", 3, kMaxPixels); });
  EXPECT_PRED2(contains, msg, "cut.jpg: not a readable JPEG") << msg;
  msg =
      error_of([&] { decode_image(whole.substr(0, whole.size() - 40), "end.jpg", 3, kMaxPixels); });
  EXPECT_PRED2(contains, msg, "end.jpg: cannot decode this JPEG") << msg;
  msg = error_of([&] { decode_image(whole, "big.jpg", 3, 1000); });
  EXPECT_PRED2(contains, msg, "big.jpg: 64x64 is 4096 pixels, over --max_image_pixels 1000") << msg;
  write_png(dir.file("dot.png"), 1, 1, 3, {1, 2, 3});
  msg = error_of([&] { decode_file(dir.file("dot.png"), 3); });
  EXPECT_PRED2(contains, msg, "1x1 pixels is too small") << msg;
  msg = error_of([&] { decode_image("GIF89a....", "anim.gif.png", 3, kMaxPixels); });
  EXPECT_PRED2(contains, msg, "anim.gif.png: neither a JPEG nor a PNG") << msg;
  write_jpeg(dir.file("cmyk.jpg"), 8, 8, 4, flat_image(8, 8, {10, 20, 30, 40}));
  msg = error_of([&] { decode_file(dir.file("cmyk.jpg"), 3); });
  EXPECT_PRED2(contains, msg, "cmyk.jpg: a CMYK JPEG") << msg;
  // A 12-bit JPEG: the same file with its frame marked extended sequential at 12-bit precision
  // (SOF1, precision byte after the segment's length); TurboJPEG 2.1 reads 8-bit samples only.
  std::string twelve = whole;
  const size_t sof = twelve.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  twelve[sof + 1] = '\xc1';
  twelve[sof + 4] = 12;
  msg = error_of([&] { decode_image(twelve, "deep.jpg", 3, kMaxPixels); });
  EXPECT_PRED2(contains, msg, "deep.jpg: not a readable JPEG") << msg;
  EXPECT_PRED2(contains, msg, "precision 12") << msg;
  const std::string png = bytes_of(dir.file("dot.png"));
  msg = error_of([&] { decode_image(png.substr(0, 20), "short.png", 3, kMaxPixels); });
  EXPECT_PRED2(contains, msg, "short.png") << msg;
  EXPECT_TRUE(has_image_extension("a.JPeG"));
  EXPECT_FALSE(has_image_extension("notes.txt"));
}

// ------------------------------------------------------------------------------ the folder

ImageFolderOptions options(const std::string& cache = "") {
  ImageFolderOptions o;
  o.cache_dir = cache;
  return o;
}

TEST(ImageFolder, ClassesFromFoldersImagesFromEveryFormatAndANoteOfWhatWasSkipped) {
  TempDir dir;
  test::write_image_folder(dir.path(), 3, 4, 2, 12, 12);
  std::ofstream(dir.file("train/c01/README.txt")) << "not an image";
  std::ofstream(dir.file("train/c01/.DS_Store")) << "hidden";
  const ImageShape shape = image_folder_shape(dir.path(), options(dir.file("cache")));
  EXPECT_EQ(shape.channels, 3);
  EXPECT_EQ(shape.height, 12);
  EXPECT_EQ(shape.num_classes, 3);
  testing::internal::CaptureStderr();
  const ImageDataset data = load_image_folder(dir.path(), options(dir.file("cache")), 0);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_PRED2(contains, err, "skipped 1 hidden and 1 other files") << err;
  EXPECT_EQ(data.name, "folder");
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"c00", "c01", "c02"}));
  EXPECT_EQ(data.num_classes, 3);
  EXPECT_EQ(data.augment_pad, 1);  // 12 / 8
  ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{12, 3, 12, 12}));
  ASSERT_EQ(data.test.size(), 6);
  // Test images in path order: c00/0.png, c00/1.jpg, c01/0.png, ...; class 1's first is flat
  // (57, 127, 197).
  EXPECT_EQ(data.test.labels[2].item<int64_t>(), 1);
  EXPECT_EQ(data.test.images[2][0][5][5].item<int>(), 57);
  EXPECT_EQ(data.test.images[2][2][0][11].item<int>(), 197);
  // No valid/: the training split is shuffled (a fixed seed), so its tail mixes the classes.
  EXPECT_GT(std::get<0>(torch::unique_consecutive(data.train.labels)).numel(), 3);
  EXPECT_EQ(data.train.labels.bincount().min().item<int64_t>(), 4);
  EXPECT_PRED2(contains, data.load_note, "train 12 images decoded");
}

TEST(ImageFolder, TheSecondLoadReadsTheCacheAndAChangedFolderDecodesAgain) {
  TempDir dir;
  test::write_image_folder(dir.path(), 2, 3, 1, 8, 8, /*gray=*/true);
  const ImageDataset first = load_image_folder(dir.path(), options(), 0);
  EXPECT_EQ(first.train.images.size(1), 1);  // every image gray: one channel
  EXPECT_TRUE(fs::is_directory(dir.file(".enas-cache")));
  const ImageDataset second = load_image_folder(dir.path(), options(), 0);
  EXPECT_PRED2(contains, second.load_note, "train 6 images read from the cache");
  EXPECT_PRED2(contains, second.load_note, "test 2 images read from the cache");
  EXPECT_TRUE(torch::equal(first.train.images, second.train.images));
  EXPECT_TRUE(torch::equal(first.test.labels, second.test.labels));
  write_png(dir.file("train/c01/extra.png"), 8, 8, 1, flat_image(8, 8, {5}));
  const ImageDataset third = load_image_folder(dir.path(), options(), 0);
  EXPECT_PRED2(contains, third.load_note, "train 7 images decoded");
  EXPECT_PRED2(contains, third.load_note, "test 2 images read from the cache") << "test/ unchanged";
}

TEST(ImageFolder, ACacheThatCannotBeWrittenIsAWarning) {
  TempDir dir;
  test::write_image_folder(dir.path(), 2, 2, 1, 8, 8);
  std::ofstream(dir.file("blocker")) << "a file where the cache folder would be";
  testing::internal::CaptureStderr();
  const ImageDataset data = load_image_folder(dir.path(), options(dir.file("blocker/cache")), 0);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(data.train.size(), 4);
  EXPECT_PRED2(contains, err, "the image cache was not written") << err;
}

TEST(ImageFolder, ImagesOfOtherSizesAreResizedAndCroppedToTheSizeAsked) {
  TempDir dir;
  test::write_image_folder(dir.path(), 2, 2, 1, 16, 16);
  // 24 x 12, left half red, right half blue: shorter side 12 -> 8, width 16, centre 8 columns.
  std::vector<uint8_t> wide;
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 24; ++x) {
      const std::vector<uint8_t> c =
          x < 12 ? std::vector<uint8_t>{255, 0, 0} : std::vector<uint8_t>{0, 0, 255};
      wide.insert(wide.end(), c.begin(), c.end());
    }
  write_png(dir.file("train/c00/wide.png"), 24, 12, 3, wide);
  std::string msg = error_of([&] { load_image_folder(dir.path(), options(), 0); });
  EXPECT_PRED2(contains, msg, "images of different sizes") << msg;
  EXPECT_PRED2(contains, msg, "--image_size N") << msg;
  ImageFolderOptions o = options();
  o.image_size = 8;
  const ImageDataset data = load_image_folder(dir.path(), o, 0);
  ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{5, 3, 8, 8}));
  EXPECT_EQ(data.augment_pad, 1);
  // Find the wide image: red on the left, blue on the right after the crop.
  bool found = false;
  for (int64_t i = 0; i < 5; ++i) {
    const auto img = data.train.images[i];
    if (img[0][4][0].item<int>() == 255 && img[2][4][7].item<int>() == 255) {
      found = true;
      EXPECT_EQ(img[2][4][0].item<int>(), 0);
      EXPECT_EQ(img[0][4][7].item<int>(), 0);
    }
  }
  EXPECT_TRUE(found);
}

TEST(ImageFolder, ALayoutThatIsNotAnImageFolderIsOneErrorNamingIt) {
  TempDir dir;
  std::string msg = error_of([&] { load_image_folder(dir.file("absent"), options(), 0); });
  EXPECT_PRED2(contains, msg, "does not exist") << msg;
  fs::create_directories(dir.file("a/train"));
  fs::create_directories(dir.file("a/test"));
  msg = error_of([&] { load_image_folder(dir.file("a"), options(), 0); });
  EXPECT_PRED2(contains, msg, "a/train holds no class folders") << msg;
  fs::remove(dir.file("a/test"));
  fs::create_directories(dir.file("a/train/cat"));
  msg = error_of([&] { load_image_folder(dir.file("a"), options(), 0); });
  EXPECT_PRED2(contains, msg, "has no test/ folder") << msg;
  fs::create_directories(dir.file("a/test/cat"));
  fs::create_directories(dir.file("a/train/cat/sub"));  // sub-folders only
  msg = error_of([&] { load_image_folder(dir.file("a"), options(), 0); });
  EXPECT_PRED2(contains, msg, "train/cat holds no .jpg, .jpeg or .png image") << msg;
  write_png(dir.file("a/train/cat/sub/0.png"), 4, 4, 3, flat_image(4, 4, {1, 2, 3}));
  write_png(dir.file("a/test/cat/0.png"), 4, 4, 3, flat_image(4, 4, {1, 2, 3}));
  fs::create_directories(dir.file("a/test/dog"));
  write_png(dir.file("a/test/dog/0.png"), 4, 4, 3, flat_image(4, 4, {1, 2, 3}));
  msg = error_of([&] { load_image_folder(dir.file("a"), options(), 0); });
  EXPECT_PRED2(contains, msg, "class 'dog' is not among train/'s classes") << msg;
  fs::remove_all(dir.file("a/test/dog"));
  fs::create_symlink(dir.file("a/train/cat"), dir.file("a/train/cat/sub/loop"));
  msg = error_of([&] { load_image_folder(dir.file("a"), options(), 0); });
  EXPECT_PRED2(contains, msg, "reached twice through symbolic links") << msg;
  fs::remove(dir.file("a/train/cat/sub/loop"));
  std::ofstream(dir.file("a/train/cat/bad.jpg")) << "not a jpeg";
  msg = error_of([&] { load_image_folder(dir.file("a"), options(), 0); });
  EXPECT_PRED2(contains, msg, "bad.jpg: neither a JPEG nor a PNG") << msg;
  EXPECT_PRED2(contains, msg, "--skip_bad_images") << msg;
  ImageFolderOptions skip = options();
  skip.skip_bad_images = true;
  testing::internal::CaptureStderr();
  const ImageDataset data = load_image_folder(dir.file("a"), skip, 0);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(data.train.size(), 1);
  EXPECT_PRED2(contains, err, "left out 1 image(s) that do not decode") << err;
}

TEST(ImageFolder, AValidFolderIsTheValidationSplitAndNothingIsHeldOut) {
  TempDir dir;
  test::write_image_folder(dir.path(), 2, 3, 1, 8, 8);
  fs::create_directories(dir.file("valid/c01"));
  write_png(dir.file("valid/c01/v.png"), 8, 8, 3, flat_image(8, 8, {9, 9, 9}));
  DataRequest r;
  r.dataset = "folder";
  r.data = dir.path();
  const ImageDataset data = load_image_dataset(r, /*num_valid=*/4);
  EXPECT_EQ(data.valid.size(), 1);
  EXPECT_EQ(data.valid.labels[0].item<int64_t>(), 1);
  EXPECT_EQ(data.train.size(), 6);
  EXPECT_EQ(dataset_shape(r).num_classes, 2);
}

}  // namespace
}  // namespace enas
