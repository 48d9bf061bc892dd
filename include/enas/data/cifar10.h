#pragma once
/// CIFAR-10, binary version: data_batch_1..5.bin and test_batch.bin, records of 1 label byte and
/// 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue; each plane row-major 32x32).
#include <string>

#include "enas/data/image_dataset.h"

namespace enas {

inline constexpr int64_t kCifarRecordBytes = 3073;
inline constexpr int64_t kCifarRecordsPerFile = 10000;

/// Finds the folder holding the CIFAR-10 binary files: `dir` itself, or one of its children
/// `cifar-10-batches-bin`, `cifar10/cifar-10-batches-bin`, `cifar10`. Throws enas::Error naming
/// what is missing and how to obtain the data.
std::string find_cifar10_dir(const std::string& dir);

/// Reads one binary batch file; checks its size (a multiple of 3,073 bytes; exactly 30,730,000
/// for the official files) and every label (0..9). Errors name the file and the record.
ImageSplit read_cifar10_file(const std::string& path);

/// Reads the five training files and the test file (train 50,000, test 10,000), computes the
/// training statistics. `train_limit` / `test_limit` > 0 keep only the first N images (the
/// statistics are computed after the limit).
ImageDataset load_cifar10(const std::string& dir, int64_t train_limit = 0, int64_t test_limit = 0);

}  // namespace enas
