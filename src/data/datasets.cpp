#include "enas/data/datasets.h"

#include <cstdlib>

#include "enas/config/config.h"
#include "enas/data/cifar10.h"
#include "enas/data/fashion_mnist.h"
#include "enas/util/error.h"

namespace enas {

ImageShape dataset_shape(const std::string& dataset) {
  if (dataset == "cifar10") return {3, 32, 32, 10};
  if (dataset == "fashion_mnist") return {1, 28, 28, 10};
  fail("unknown dataset '{}', allowed: cifar10, fashion_mnist", dataset);
}

std::string resolve_data_dir(const Config& c) {
  if (!c.data.empty()) return c.data;
  if (c.dataset == "fashion_mnist") return kFashionMnistDebianDir;
  const char* env = std::getenv("ENAS_DATA_DIR");
  require(env && *env, "no data folder: pass --data <folder> or set ENAS_DATA_DIR. {}",
          c.dataset == "ptb"
              ? "Penn Treebank is Mikolov's ptb.{train,valid,test}.txt (simple-examples/data)"
              : "CIFAR-10 (binary version) comes from "
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
  return env;
}

ImageDataset load_image_dataset(const Config& c, int64_t num_valid) {
  std::string dir = resolve_data_dir(c);
  // The limit applies to what training sees, so hold out the validation images first.
  ImageDataset data;
  if (c.dataset == "cifar10") {
    data = load_cifar10(find_cifar10_dir(dir), 0, c.test_limit);
  } else {
    data = load_fashion_mnist(dir, 0, c.test_limit);
  }
  if (num_valid > 0) hold_out_validation(data, num_valid);
  if (c.train_limit > 0 && c.train_limit < data.train.size()) {
    data.train = data.train.head(c.train_limit);
    data.stats = channel_stats(data.train);
  }
  return data;
}

Corpus load_ptb_corpus(const Config& c) {
  return load_ptb(resolve_data_dir(c), c.train_limit, c.test_limit);
}

}  // namespace enas
