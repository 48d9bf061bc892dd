// The training parts around the child: learning-rate schedules, the TF-style SGD and evaluation.
// Run folders and checkpoints: test_run_dir.cpp; the Config table and presets: test_config.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "enas/train/config.h"
#include "enas/train/evaluate.h"
#include "enas/train/lr_schedule.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::error_of;

using test::SeededTest;
using test::TempDir;

// ----------------------------------------------------------------------------------- schedules

LrSchedule sgdr(int64_t t_mul) {
  LrSchedule s;
  s.cosine = true;
  s.lr_max = 0.05;
  s.lr_min = 0.0005;
  s.T_0 = 10;
  s.T_mul = t_mul;
  return s;
}

double cosine(double t_cur, double t_i) {
  return 0.0005 + 0.5 * (0.05 - 0.0005) * (1.0 + std::cos(M_PI * t_cur / t_i));
}

TEST(LrSchedule, SgdrWithDoublingPeriods) {
  auto s = sgdr(2);  // periods [0, 10), [10, 30), [30, 70), ...
  EXPECT_DOUBLE_EQ(s.at_epoch(0), 0.05);
  EXPECT_DOUBLE_EQ(s.at_epoch(5), 0.0005 + 0.5 * (0.05 - 0.0005) * (1.0 + std::cos(M_PI / 2)));
  EXPECT_DOUBLE_EQ(s.at_epoch(9), cosine(9, 10));
  EXPECT_DOUBLE_EQ(s.at_epoch(10), 0.05);  // restart
  EXPECT_DOUBLE_EQ(s.at_epoch(20), cosine(10, 20));
  EXPECT_DOUBLE_EQ(s.at_epoch(29), cosine(19, 20));
  EXPECT_DOUBLE_EQ(s.at_epoch(30), 0.05);  // restart at 10 + 20
  EXPECT_DOUBLE_EQ(s.at_epoch(69), cosine(39, 40));
  EXPECT_DOUBLE_EQ(s.at_epoch(70), 0.05);
}

TEST(LrSchedule, SgdrWithConstantPeriods) {
  auto s = sgdr(1);
  for (int64_t e = 0; e < 10; ++e) {
    EXPECT_DOUBLE_EQ(s.at_epoch(e), cosine(e, 10)) << e;
    EXPECT_DOUBLE_EQ(s.at_epoch(e + 10), s.at_epoch(e)) << e;
    EXPECT_DOUBLE_EQ(s.at_epoch(e + 50), s.at_epoch(e)) << e;
  }
}

TEST(LrSchedule, Staircase) {
  LrSchedule s;
  s.cosine = false;
  s.lr_init = 0.1;
  s.dec_every = 100;
  s.dec_rate = 0.5;
  EXPECT_DOUBLE_EQ(s.at_epoch(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at_epoch(99), 0.1);
  EXPECT_DOUBLE_EQ(s.at_epoch(100), 0.05);
  EXPECT_DOUBLE_EQ(s.at_epoch(250), 0.1 * 0.25);
}

TEST(LrSchedule, FromConfigFlags) {
  Config c;
  c.child_lr_cosine = false;
  c.child_lr = 0.2f;
  c.child_lr_dec_every = 3;
  c.child_lr_dec_rate = 0.5f;
  auto s = child_lr_schedule(c);
  EXPECT_FALSE(s.cosine);
  EXPECT_DOUBLE_EQ(s.at_epoch(6), 0.2f * 0.25f);
}

// ----------------------------------------------------------------------------------------- SGD

torch::Tensor param(std::vector<double> values) {
  return torch::tensor(values, torch::kDouble).requires_grad_(true);
}

void set_grad(torch::Tensor& p, std::vector<double> values) {
  p.mutable_grad() = torch::tensor(values, torch::kDouble);
}

double value(const torch::Tensor& p, int64_t i = 0) { return p[i].item<double>(); }

TEST(Sgd, NesterovWithL2MatchesTfFormulas) {
  const double lr = 0.1, m = 0.9, l2 = 0.01;
  auto w = param({1.5});
  Sgd sgd({w}, SgdOptions{m, /*nesterov=*/true, l2, "none", 5.0});
  double ref = 1.5, accum = 0;
  const double grads[2] = {0.3, -0.2};
  for (int step = 0; step < 2; ++step) {
    set_grad(w, {grads[step]});
    double g = grads[step] + 2 * l2 * ref;
    accum = step == 0 ? g : m * accum + g;
    ref -= lr * (g + m * accum);
    sgd.step(lr, false);
    EXPECT_NEAR(value(w), ref, 1e-12) << "step " << step;
  }
}

TEST(Sgd, PlainMomentumMatchesTfFormulas) {
  const double lr = 0.05, m = 0.9, l2 = 0.1;
  auto w = param({-2.0});
  Sgd sgd({w}, SgdOptions{m, /*nesterov=*/false, l2, "none", 5.0});
  double ref = -2.0, accum = 0;
  const double grads[2] = {1.0, 0.5};
  for (int step = 0; step < 2; ++step) {
    set_grad(w, {grads[step]});
    double g = grads[step] + 2 * l2 * ref;
    accum = step == 0 ? g : m * accum + g;
    ref -= lr * accum;
    sgd.step(lr, false);
    EXPECT_NEAR(value(w), ref, 1e-12) << "step " << step;
  }
}

TEST(Sgd, GlobalClippingScalesAllGradientsToTheBound) {
  auto a = param({0, 0}), b = param({0});
  Sgd sgd({a, b}, SgdOptions{0.9, false, 0.0, "global", 1.0});
  set_grad(a, {3, 0});
  set_grad(b, {4});
  auto norm = sgd.step(1.0, false);
  ASSERT_TRUE(norm.defined());
  EXPECT_NEAR(norm.item<double>(), 5.0, 1e-12);  // before clipping
  EXPECT_NEAR(value(a, 0), -0.6, 1e-12);
  EXPECT_NEAR(value(a, 1), 0.0, 1e-12);
  EXPECT_NEAR(value(b), -0.8, 1e-12);
}

TEST(Sgd, GlobalClippingLeavesSmallGradientsAlone) {
  auto a = param({0, 0});
  Sgd sgd({a}, SgdOptions{0.9, false, 0.0, "global", 10.0});
  set_grad(a, {3, 4});
  sgd.step(1.0, false);
  EXPECT_NEAR(value(a, 0), -3.0, 1e-12);
  EXPECT_NEAR(value(a, 1), -4.0, 1e-12);
}

TEST(Sgd, NormClippingClipsEachTensorAlone) {
  auto a = param({0, 0}), b = param({0});
  Sgd sgd({a, b}, SgdOptions{0.9, false, 0.0, "norm", 1.0});
  set_grad(a, {3, 4});  // norm 5: scaled to 1
  set_grad(b, {0.3});   // norm 0.3: unchanged
  auto norm = sgd.step(1.0, /*want_norm=*/true);
  EXPECT_NEAR(norm.item<double>(), std::sqrt(25.0 + 0.09), 1e-12);
  EXPECT_NEAR(value(a, 0), -0.6, 1e-12);
  EXPECT_NEAR(value(a, 1), -0.8, 1e-12);
  EXPECT_NEAR(value(b), -0.3, 1e-12);
}

TEST(Sgd, ZeroGradKeepsGradientsDefined) {
  auto a = param({1, 2});
  Sgd sgd({a}, SgdOptions{});
  set_grad(a, {0.5, -0.5});
  EXPECT_FALSE(sgd.step(0.1, false).defined());  // no norm unless asked or clipping globally
  sgd.zero_grad();
  ASSERT_TRUE(a.grad().defined());
  EXPECT_TRUE(torch::equal(a.grad(), torch::zeros({2}, torch::kDouble)));
}

TEST(Sgd, UnusedParameterStillMovesThroughL2AndMomentum) {
  // `w` never receives a gradient: it gets a zero one, and L2 moves it (TF semantics).
  auto w = param({2.0});
  Sgd with_l2({w}, SgdOptions{0.9, true, 0.1, "none", 5.0});
  with_l2.step(0.1, false);
  ASSERT_TRUE(w.grad().defined());
  EXPECT_NEAR(value(w), 2.0 - 0.1 * (0.4 + 0.9 * 0.4), 1e-12);

  // Without L2, momentum from an earlier step keeps moving a parameter whose gradient is zero.
  auto v = param({0.0});
  Sgd momentum({v}, SgdOptions{0.9, true, 0.0, "none", 5.0});
  set_grad(v, {1.0});
  momentum.step(0.1, false);
  EXPECT_NEAR(value(v), -0.1 * (1.0 + 0.9), 1e-12);
  momentum.zero_grad();
  momentum.step(0.1, false);
  EXPECT_NEAR(value(v), -0.19 - 0.1 * (0.9 * 0.9), 1e-12);
}

TEST(Sgd, MomentumBuffersSurviveSaveAndLoad) {
  SgdOptions opts{0.9, true, 0.01, "none", 5.0};
  auto a = param({1, 2, 3}), b = param({-1});
  Sgd first({a, b}, opts);
  set_grad(a, {0.1, 0.2, 0.3});
  set_grad(b, {1});
  first.step(0.1, false);

  torch::serialize::OutputArchive out;
  first.save(out);
  std::stringstream stream;
  out.save_to(stream);

  auto a2 = a.detach().clone().requires_grad_(true), b2 = b.detach().clone().requires_grad_(true);
  Sgd second({a2, b2}, opts);
  torch::serialize::InputArchive in;
  in.load_from(stream);
  second.load(in);

  // The same gradients from here on give the same trajectory only with the same buffers.
  set_grad(a, {0, 0, 0});
  set_grad(b, {0});
  set_grad(a2, {0, 0, 0});
  set_grad(b2, {0});
  first.step(0.1, false);
  second.step(0.1, false);
  EXPECT_TRUE(torch::allclose(a, a2));
  EXPECT_TRUE(torch::allclose(b, b2));

  // A checkpoint for a different number of parameters is refused.
  Sgd other({param({0})}, opts);
  torch::serialize::InputArchive again;
  stream.seekg(0);
  again.load_from(stream);
  EXPECT_PRED2(contains, error_of([&] { other.load(again); }), "momentum buffers");
}

TEST(Sgd, GlobalNormIsRootOfSumOfSquares) {
  auto n = global_norm({torch::tensor({3.0, 4.0}), torch::tensor({{12.0}}), torch::zeros({5})});
  EXPECT_NEAR(n.item<double>(), 13.0, 1e-6);
  EXPECT_EQ(n.dim(), 0);
}

// ------------------------------------------------------------------------------------ evaluate

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
