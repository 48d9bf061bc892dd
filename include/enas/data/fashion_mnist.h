#pragma once
/// Fashion-MNIST in IDX format (optionally gzip-compressed), as Debian's dataset-fashion-mnist
/// package installs it in /usr/share/datasets/fashion-mnist: the embedded default data set. MNIST
/// has the same four files, and so does any pair of 28x28 images and labels in that format.
#include <string>

#include "enas/data/image_dataset.h"

namespace enas {

/// Where Debian's `dataset-fashion-mnist` puts the files.
inline constexpr const char* kFashionMnistDebianDir = "/usr/share/datasets/fashion-mnist";

/// Reads an IDX file (magic 0x0803 images or 0x0801 labels), gzip or plain; returns uint8 data
/// shaped as the file says ((N, H, W) or (N)). Errors name the file and the problem.
torch::Tensor read_idx_file(const std::string& path);

/// Loads train-images/labels and t10k-images/labels (`-idx3-ubyte[.gz]`, `-idx1-ubyte[.gz]`)
/// from `dir` as 1-channel images; limits as load_cifar10.
ImageDataset load_fashion_mnist(const std::string& dir, int64_t train_limit = 0,
                                int64_t test_limit = 0);

/// The same four files as MNIST: `dir`, or `dir`/mnist when `dir` lacks them.
ImageDataset load_mnist(const std::string& dir, int64_t train_limit = 0, int64_t test_limit = 0);

}  // namespace enas
