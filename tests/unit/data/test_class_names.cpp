// The built-in data sets' class names, which predictions and reports print.
#include <gtest/gtest.h>

#include "enas/data/class_names.h"

namespace enas {
namespace {

TEST(ClassNames, BuiltInDataSetsNameEveryClass) {
  EXPECT_EQ(builtin_class_names("cifar10").size(), 10u);
  EXPECT_EQ(builtin_class_names("cifar10")[9], "truck");
  EXPECT_EQ(builtin_class_names("cifar100", "fine").size(), 100u);
  EXPECT_EQ(builtin_class_names("cifar100", "fine")[99], "worm");
  EXPECT_EQ(builtin_class_names("cifar100", "coarse").size(), 20u);
  EXPECT_EQ(builtin_class_names("fashion_mnist")[9], "Ankle boot");
  EXPECT_EQ(builtin_class_names("mnist")[3], "3");
  EXPECT_TRUE(builtin_class_names("folder").empty());
}

}  // namespace
}  // namespace enas
