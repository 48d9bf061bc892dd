#pragma once
/// Which data set a run uses and where its files are: the one place that maps the `--dataset` /
/// `--data` flags to files.
#include <string>

#include "enas/data/image_dataset.h"
#include "enas/data/image_shape.h"
#include "enas/data/ptb.h"

namespace enas {

struct Config;

/// Input shape and classes of a data set, known without reading it (for --dry-run).
ImageShape dataset_shape(const std::string& dataset);

/// The data folder: --data, else $ENAS_DATA_DIR (cifar10), else the Debian package's folder
/// (fashion_mnist). Throws enas::Error saying how to provide it.
std::string resolve_data_dir(const Config& config);

/// Loads the configured data set with its limits applied; `num_valid` > 0 holds out the last
/// `num_valid` training images as the validation split (search).
ImageDataset load_image_dataset(const Config& config, int64_t num_valid = 0);

/// Penn Treebank's vocabulary size, known without reading it (for --dry-run).
inline constexpr int64_t kPtbVocabSize = 10000;

/// Loads Penn Treebank with --train_limit (training tokens) and --test_limit (valid and test
/// tokens) applied.
Corpus load_ptb_corpus(const Config& config);

}  // namespace enas
