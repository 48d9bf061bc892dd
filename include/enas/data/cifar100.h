#pragma once
/// CIFAR-100, binary version: train.bin (50,000 records) and test.bin (10,000), records of a
/// coarse label byte (0..19), a fine label byte (0..99) and 3,072 pixel bytes laid out as
/// CIFAR-10's (three planes, each row-major 32x32).
#include <string>

#include "enas/data/image_dataset.h"

namespace enas {

inline constexpr int64_t kCifar100RecordBytes = 3074;

/// Which of the two labels a run trains on: the 100 classes or the 20 superclasses.
enum class Cifar100Labels { kFine, kCoarse };

/// "fine" or "coarse"; anything else is an enas::Error naming --cifar100_labels.
Cifar100Labels parse_cifar100_labels(const std::string& name);

/// Classes of `labels`: 100 or 20.
inline int64_t cifar100_classes(Cifar100Labels labels) {
  return labels == Cifar100Labels::kFine ? 100 : 20;
}

/// Finds the folder holding train.bin and test.bin: `dir` itself, or `dir`/cifar-100-binary,
/// `dir`/cifar100/cifar-100-binary, `dir`/cifar100. Throws enas::Error naming where it looked.
std::string find_cifar100_dir(const std::string& dir);

/// Reads one binary file; checks its size (a multiple of 3,074 bytes) and both labels of every
/// record. Errors name the file and the record.
ImageSplit read_cifar100_file(const std::string& path, Cifar100Labels labels);

/// Reads train.bin and test.bin, computes the training statistics; limits as load_cifar10.
ImageDataset load_cifar100(const std::string& dir, Cifar100Labels labels, int64_t train_limit = 0,
                           int64_t test_limit = 0);

}  // namespace enas
