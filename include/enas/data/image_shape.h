#pragma once
/// The shape of a data set's images: what a child is built for, known without reading the data.
#include <cstdint>

namespace enas {

/// Shape of one input image and the number of classes.
struct ImageShape {
  int64_t channels = 3;
  int64_t height = 32;
  int64_t width = 32;
  int64_t num_classes = 10;
};

}  // namespace enas
