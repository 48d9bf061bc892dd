#pragma once
/// The data sets enas knows, in one registry: what each holds (images of a shape, or text), where
/// its files are found, and how it is loaded. `--dataset` names one; the configuration's
/// validation, the loaders and the messages all ask this table, so a new data set is a loader of
/// its own plus one row here (docs/architecture.md).
#include <cstdint>
#include <string>
#include <vector>

#include "enas/data/corpus.h"
#include "enas/data/image_dataset.h"
#include "enas/data/image_shape.h"

namespace enas {

struct DataRequest;

/// One data set of the registry.
struct DatasetInfo {
  const char* name;         // the value of --dataset
  bool text;                // a corpus for the language model (the rnn space), else images
  const char* default_dir;  // where its files are when neither --data nor ENAS_DATA_DIR says
  const char* source;       // where to get it: the hint of the error of a missing folder
  /// Images: channels, height, width and classes, known without reading the images (dry runs,
  /// the network built before the data is loaded). Null for text.
  ImageShape (*shape)(const DataRequest& request);
  /// Images: the whole training and test splits of folder `dir` (or a parent: each loader
  /// looks for its files), the test split cut to the request's test_limit (> 0). Null for text.
  ImageDataset (*load_images)(const std::string& dir, const DataRequest& request);
  /// Text: the corpus of `dir`, its streams cut to the request's limits (> 0). Null for images.
  Corpus (*load_text)(const std::string& dir, const DataRequest& request);
};

/// Every data set, in registry order.
const std::vector<DatasetInfo>& all_datasets();
/// The data set called `name`; an unknown name is an enas::Error listing them.
const DatasetInfo& dataset_named(const std::string& name);
/// "cifar10, fashion_mnist, ptb", for messages and help: every data set, or only the text
/// (`text` true) or the image ones.
std::string dataset_names();
std::string dataset_names(bool text);

/// What a run asks of its data: the flags --dataset, --data, --train_limit, --test_limit and the
/// options of particular data sets.
struct DataRequest {
  std::string dataset;
  std::string data;                      // "": $ENAS_DATA_DIR, else the data set's default folder
  int64_t train_limit = 0;               // images or tokens of training kept (0: all)
  int64_t test_limit = 0;                // images or tokens of evaluation kept (0: all)
  std::string cifar100_labels = "fine";  // cifar100: fine (100 classes) | coarse (20)
  int64_t vocab_min_count = 1;           // text: training words seen fewer times become <unk>
  int64_t image_size = 0;                // folder: N x N (0: the training images' own size)
  int64_t image_channels = 0;            // folder: 1 or 3 (0: 3 unless every image is gray)
  std::string data_cache;        // folder: where decoded images are cached ("": DIR/.enas-cache)
  bool skip_bad_images = false;  // folder: leave out images that do not decode
  int64_t max_image_pixels = 50000000;  // folder: larger images are refused
};

/// Input shape and classes of an image data set, known without reading it (for --dry-run).
ImageShape dataset_shape(const DataRequest& request);

/// The data folder: --data, else $ENAS_DATA_DIR, else the data set's default folder. Throws
/// enas::Error saying how to provide it.
std::string resolve_data_dir(const DataRequest& request);

/// Loads an image data set with its limits applied; `num_valid` > 0 holds out the last
/// `num_valid` training images as the validation split (search), before --train_limit cuts
/// what training sees, unless the data set has a validation split of its own.
ImageDataset load_image_dataset(const DataRequest& request, int64_t num_valid = 0);

/// Penn Treebank's vocabulary size, known without reading it (for --dry-run).
inline constexpr int64_t kPtbVocabSize = 10000;

/// Loads a text data set: --train_limit (training tokens) and --test_limit (validation and test
/// tokens) applied.
Corpus load_corpus(const DataRequest& request);

}  // namespace enas
