// The TF-style SGD: momentum, L2, gradient clipping, save/load (src/train/sgd.cpp).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "enas/train/sgd.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::error_of;

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

}  // namespace
}  // namespace enas
