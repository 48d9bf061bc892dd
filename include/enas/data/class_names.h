#pragma once
/// The class names of the built-in image data sets, so that a model trained on one names what it
/// predicts (data.json records them; an image folder's are its class folders).
#include <string>
#include <vector>

namespace enas {

/// CIFAR-10's, CIFAR-100's fine or coarse labels (`cifar100_labels`), Fashion-MNIST's or MNIST's
/// digits, in label order; empty for a data set without names of its own.
std::vector<std::string> builtin_class_names(const std::string& dataset,
                                             const std::string& cifar100_labels = "fine");

}  // namespace enas
