#include "enas/data/datasets.h"

#include <cstdlib>

#include "enas/data/cifar10.h"
#include "enas/data/cifar100.h"
#include "enas/data/fashion_mnist.h"
#include "enas/data/image_folder.h"
#include "enas/util/error.h"

namespace enas {

namespace {

// A registry row's functions: each reads what it needs of the request.

ImageShape cifar10_shape(const DataRequest&) { return {3, 32, 32, 10}; }
ImageDataset cifar10_images(const std::string& dir, const DataRequest& r) {
  return load_cifar10(find_cifar10_dir(dir), 0, r.test_limit);
}

ImageShape cifar100_shape(const DataRequest& r) {
  return {3, 32, 32, cifar100_classes(parse_cifar100_labels(r.cifar100_labels))};
}
ImageDataset cifar100_images(const std::string& dir, const DataRequest& r) {
  return load_cifar100(dir, parse_cifar100_labels(r.cifar100_labels), 0, r.test_limit);
}

ImageShape idx_shape(const DataRequest&) { return {1, 28, 28, 10}; }
ImageDataset fashion_mnist_images(const std::string& dir, const DataRequest& r) {
  return load_fashion_mnist(dir, 0, r.test_limit);
}
ImageDataset mnist_images(const std::string& dir, const DataRequest& r) {
  return load_mnist(dir, 0, r.test_limit);
}

ImageFolderOptions folder_options(const DataRequest& r) {
  ImageFolderOptions o;
  o.image_size = r.image_size;
  o.image_channels = r.image_channels;
  o.cache_dir = r.data_cache;
  o.skip_bad_images = r.skip_bad_images;
  o.max_image_pixels = r.max_image_pixels;
  return o;
}
ImageShape folder_shape(const DataRequest& r) {
  return image_folder_shape(resolve_data_dir(r), folder_options(r));
}
ImageDataset folder_images(const std::string& dir, const DataRequest& r) {
  return load_image_folder(dir, folder_options(r), r.test_limit);
}

Corpus ptb_text(const std::string& dir, const DataRequest& r) {
  return load_ptb(dir, r.train_limit, r.test_limit);
}
Corpus any_text(const std::string& dir, const DataRequest& r) {
  return load_text_corpus(dir, r.vocab_min_count, r.train_limit, r.test_limit);
}

}  // namespace

const std::vector<DatasetInfo>& all_datasets() {
  static const std::vector<DatasetInfo> registry = {
      {"cifar10", false, "",
       "CIFAR-10 (binary version) comes from "
       "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
       cifar10_shape, cifar10_images, nullptr},
      {"cifar100", false, "",
       "CIFAR-100 (binary version) comes from "
       "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
       cifar100_shape, cifar100_images, nullptr},
      {"fashion_mnist", false, kFashionMnistDebianDir,
       "Fashion-MNIST is Debian's dataset-fashion-mnist package", idx_shape, fashion_mnist_images,
       nullptr},
      {"mnist", false, "",
       "MNIST is the four idx files of https://yann.lecun.com/exdb/mnist/ (train-images-idx3-"
       "ubyte, ...)",
       idx_shape, mnist_images, nullptr},
      {"folder", false, "",
       "an image folder holds train/<class>/ and test/<class>/ folders of JPEG or PNG images "
       "(docs/data.md)",
       folder_shape, folder_images, nullptr},
      {"ptb", true, "",
       "Penn Treebank is Mikolov's ptb.{train,valid,test}.txt (simple-examples/data)", nullptr,
       nullptr, ptb_text},
      {"text", true, "",
       "a text corpus is a folder of train.txt, valid.txt and test.txt (docs/data.md)", nullptr,
       nullptr, any_text},
  };
  return registry;
}

namespace {

std::string names_where(bool any, bool text) {
  std::string names;
  for (const auto& d : all_datasets()) {
    if (any || d.text == text) names += (names.empty() ? "" : ", ") + std::string(d.name);
  }
  return names;
}

}  // namespace

std::string dataset_names() { return names_where(true, false); }
std::string dataset_names(bool text) { return names_where(false, text); }

const DatasetInfo& dataset_named(const std::string& name) {
  for (const auto& d : all_datasets()) {
    if (name == d.name) return d;
  }
  fail("--dataset is '{}', allowed: {}", name, dataset_names());
}

ImageShape dataset_shape(const DataRequest& r) {
  const DatasetInfo& d = dataset_named(r.dataset);
  require(!d.text, "{} is text, not images", d.name);
  return d.shape(r);
}

std::string resolve_data_dir(const DataRequest& r) {
  if (!r.data.empty()) return r.data;
  const DatasetInfo& d = dataset_named(r.dataset);
  if (*d.default_dir) return d.default_dir;
  const char* env = std::getenv("ENAS_DATA_DIR");
  require(env && *env, "no data folder: pass --data <folder> or set ENAS_DATA_DIR. {}", d.source);
  return env;
}

ImageDataset load_image_dataset(const DataRequest& r, int64_t num_valid) {
  const DatasetInfo& d = dataset_named(r.dataset);
  require(d.load_images, "--dataset {} is text: it trains the language model (--search_for rnn)",
          d.name);
  // The limit applies to what training sees, so hold out the validation images first.
  ImageDataset data = d.load_images(resolve_data_dir(r), r);
  if (num_valid > 0 && data.valid.size() == 0) hold_out_validation(data, num_valid);
  if (r.train_limit > 0 && r.train_limit < data.train.size()) {
    data.train = data.train.head(r.train_limit);
    data.stats = channel_stats(data.train);
  }
  return data;
}

Corpus load_corpus(const DataRequest& r) {
  const DatasetInfo& d = dataset_named(r.dataset);
  require(d.load_text, "--dataset {} is images: the language model trains on text", d.name);
  return d.load_text(resolve_data_dir(r), r);
}

}  // namespace enas
