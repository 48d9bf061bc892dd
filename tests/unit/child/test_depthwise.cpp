// The depthwise convolution of the sep-conv ops (child/depthwise.h): our channels-last kernel
// against libtorch's grouped conv2d in double, forward and both gradients, on odd shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <tuple>

#include "enas/child/depthwise.h"
#include "enas/util/error.h"
#include "enas/util/op_profile.h"
#include "test_util.h"

namespace enas {
namespace {

/// Seeded, one thread (test_util.h).
using DepthwiseTest = test::SeededTest;

namespace F = torch::nn::functional;

torch::Tensor channels_last(const torch::Tensor& t) {
  return t.contiguous(torch::MemoryFormat::ChannelsLast);
}

double rel_diff(const torch::Tensor& got, const torch::Tensor& want) {
  return (got.to(torch::kDouble) - want).abs().max().item<double>() /
         want.abs().max().item<double>();
}

// batch, channels, height, width, kernel, stride, pad
using Shape = std::tuple<int, int, int, int, int, int, int>;
class DepthwiseKernel : public test::SeededTest, public ::testing::WithParamInterface<Shape> {};

TEST_P(DepthwiseKernel, MatchesLibtorchInDouble) {
  const auto [n, c, h, w, k, stride, pad] = GetParam();
  torch::set_num_threads(2);  // two weight-gradient ranges: their sums are combined
  auto x0 = torch::randn({n, c, h, w}), w0 = torch::randn({c, 1, k, k});
  auto x = channels_last(x0).requires_grad_(), wt = w0.clone().requires_grad_();
  ASSERT_TRUE(own_depthwise_kernel(x, wt));
  auto y = depthwise_conv2d(x, wt, stride, pad);
  auto xd = x0.to(torch::kDouble).requires_grad_(), wd = w0.to(torch::kDouble).requires_grad_();
  auto yd = F::conv2d(xd, wd, F::Conv2dFuncOptions().stride(stride).padding(pad).groups(c));
  ASSERT_EQ(y.sizes(), yd.sizes());
  auto g = torch::randn(yd.sizes(), torch::kDouble);
  y.backward(g.to(torch::kFloat));
  yd.backward(g);
  EXPECT_LT(rel_diff(y, yd), 1e-5);
  EXPECT_LT(rel_diff(x.grad(), xd.grad()), 1e-5);
  EXPECT_LT(rel_diff(wt.grad(), wd.grad()), 1e-5);
  EXPECT_EQ(wt.grad().sizes(), wt.sizes());
}

INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseKernel,
                         ::testing::Values(Shape{2, 20, 8, 8, 5, 1, 2}, Shape{3, 3, 5, 7, 3, 2, 1},
                                           Shape{2, 36, 7, 7, 5, 2, 2}, Shape{1, 7, 3, 3, 3, 1, 0},
                                           Shape{1, 40, 9, 6, 3, 1, 1}, Shape{4, 2, 6, 6, 5, 1, 2},
                                           Shape{1, 17, 3, 3, 5, 2, 2},
                                           Shape{2, 80, 4, 4, 3, 1, 1}));

// The shared micro child's filters are rows of a larger parameter: the gradient reaches the row
// picked, the others get zeros; and the first layer's images ask for no gradient.
TEST_F(DepthwiseTest, DepthwiseKernelOnASelectedRowAndWithoutAnInputGradient) {
  auto bank = torch::randn({3, 20, 1, 3, 3}).requires_grad_();
  auto x0 = torch::randn({2, 20, 6, 6});
  auto y = depthwise_conv2d(channels_last(x0), bank.select(0, 1), 1, 1);  // x: no gradient
  auto g = torch::randn_like(y);
  y.backward(g);
  auto wd = bank.detach().select(0, 1).to(torch::kDouble).requires_grad_();
  F::conv2d(x0.to(torch::kDouble), wd, F::Conv2dFuncOptions().padding(1).groups(20))
      .backward(g.to(torch::kDouble));
  EXPECT_LT(rel_diff(bank.grad().select(0, 1), wd.grad()), 1e-5);
  EXPECT_EQ(bank.grad().select(0, 0).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(bank.grad().select(0, 2).abs().sum().item<double>(), 0.0);
}

TEST_F(DepthwiseTest, DepthwiseKernelLeavesOtherTensorsToLibtorch) {
  const auto w = torch::randn({8, 1, 3, 3});
  EXPECT_TRUE(own_depthwise_kernel(channels_last(torch::randn({2, 8, 5, 5})), w));
  EXPECT_FALSE(own_depthwise_kernel(torch::randn({2, 8, 5, 5}), w));  // NCHW
  EXPECT_FALSE(own_depthwise_kernel(channels_last(torch::randn({2, 8, 5, 5}, torch::kDouble)),
                                    w.to(torch::kDouble)));
  EXPECT_FALSE(own_depthwise_kernel(channels_last(torch::randn({2, 8, 5, 5})),
                                    torch::randn({8, 1, 3, 5})));  // not square
  // Where libtorch runs, the answer is the same convolution.
  auto x = torch::randn({2, 8, 5, 5});
  auto y = depthwise_conv2d(x, w, 2, 1);
  EXPECT_TRUE(torch::allclose(
      y, F::conv2d(x, w, F::Conv2dFuncOptions().stride(2).padding(1).groups(8)), 1e-5, 1e-6));
  EXPECT_THROW(depthwise_conv2d(x, torch::randn({4, 1, 3, 3}), 1, 1), Error);
}

// A module built as make_conv builds its depthwise filters runs here, the same numbers.
TEST_F(DepthwiseTest, DepthwiseModuleForwardUsesTheKernel) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(12, 12, 5).padding(2).groups(12).bias(false));
  auto x = channels_last(torch::randn({2, 12, 7, 7}));
  auto y = depthwise_forward(conv, x, 2);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::allclose(y, conv->forward(x), 1e-5, 1e-5));
  torch::nn::Conv2d dense(torch::nn::Conv2dOptions(12, 12, 3).padding(1).bias(false));
  EXPECT_TRUE(torch::equal(depthwise_forward(dense, x, 1), dense->forward(x)));
}

// The profiler counts our kernel as the convolution it is (util/op_cost.h).
TEST_F(DepthwiseTest, DepthwiseKernelIsCountedAsAConvolution) {
  auto x = channels_last(torch::randn({2, 6, 8, 8})).requires_grad_();
  auto w = torch::randn({6, 1, 3, 3}).requires_grad_();
  OpProfile profile;
  auto y = depthwise_conv2d(x, w, 1, 1);
  y.backward(torch::ones_like(y));
  // 768 outputs of 9 multiply-adds forward; both gradients backward.
  EXPECT_DOUBLE_EQ(profile.total_cost().flops, 2.0 * 768 * 9 * 3);
}

}  // namespace
}  // namespace enas
