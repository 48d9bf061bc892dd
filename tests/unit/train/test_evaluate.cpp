// Accuracy of an image child on a whole split, in eval mode (src/train/evaluate.cpp).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "enas/child/image_child.h"
#include "enas/train/evaluate.h"
#include "test_util.h"

namespace enas {
namespace {

using test::SeededTest;

// A linear classifier on flattened images that records the mode and batch of each forward.
class TinyChild : public ImageChildImpl {
 public:
  TinyChild() { fc_ = register_module("fc", torch::nn::Linear(4, 3)); }
  ChildOutput forward(const torch::Tensor& images) override {
    modes.push_back(is_training());
    batches.push_back(images.size(0));
    return {fc_->forward(images.flatten(1)), torch::Tensor()};
  }
  std::string summary() const override { return "tiny"; }
  std::vector<bool> modes;
  std::vector<int64_t> batches;

 private:
  torch::nn::Linear fc_{nullptr};
};

class Evaluate : public SeededTest {};

TEST_F(Evaluate, CountsCorrectOverTheWholeSplitAndRestoresMode) {
  TinyChild model;
  DeviceSplit split;
  split.images = torch::randn({10, 1, 2, 2});
  {
    torch::NoGradGuard guard;
    auto predicted = model.forward(split.images).logits.argmax(1);
    // The first 7 labels agree with the model's predictions, the last 3 do not.
    split.labels = torch::cat({predicted.slice(0, 0, 7), (predicted.slice(0, 7) + 1) % 3});
  }
  model.modes.clear();
  model.batches.clear();
  model.train();
  auto acc = evaluate(model, split, 4);
  EXPECT_EQ(acc.total, 10);
  EXPECT_EQ(acc.correct, 7);
  EXPECT_DOUBLE_EQ(acc.value(), 0.7);
  EXPECT_EQ(model.batches, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(model.modes, (std::vector<bool>{false, false, false}));
  EXPECT_TRUE(model.is_training());

  model.eval();
  evaluate(model, split, 100);
  EXPECT_FALSE(model.is_training());
}

TEST_F(Evaluate, EmptySplitGivesZero) {
  TinyChild model;
  auto acc = evaluate(model, DeviceSplit{}, 4);
  EXPECT_EQ(acc.total, 0);
  EXPECT_EQ(acc.value(), 0.0);
  EXPECT_TRUE(model.batches.empty());
}

}  // namespace
}  // namespace enas
