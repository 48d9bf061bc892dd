// The fused tied-softmax loss (child/linear_xent.h) against libtorch's cross_entropy over
// h.mm(w.t()) in double, loss and both gradients, and its row kernels (child/softmax_rows.h)
// against libm.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "enas/child/linear_xent.h"
#include "enas/child/softmax_rows.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::SeededTest;
using torch::Tensor;

double rel_diff(const Tensor& got, const Tensor& want) {
  return (got.to(torch::kDouble) - want).abs().max().item<double>() /
         want.abs().max().item<double>();
}

/// Loss and gradients of `upstream * loss` through linear_cross_entropy (float) and through
/// libtorch's ops in double, from the same numbers.
struct Compared {
  double loss, want_loss, grad_h, grad_w;
};

Compared compare(const Tensor& h0, const Tensor& w0, const Tensor& target, double upstream) {
  auto h = h0.clone().requires_grad_(), w = w0.clone().requires_grad_();
  Tensor loss = linear_cross_entropy(h, w, target);
  (upstream * loss).backward();
  auto hd = h0.to(torch::kDouble).requires_grad_(), wd = w0.to(torch::kDouble).requires_grad_();
  Tensor want = torch::nn::functional::cross_entropy(hd.mm(wd.t()), target);
  (upstream * want).backward();
  return {loss.item<double>(), want.item<double>(), rel_diff(h.grad(), hd.grad()),
          rel_diff(w.grad(), wd.grad())};
}

class LinearXent : public SeededTest {};

class LinearXentShapes : public SeededTest,
                         public ::testing::WithParamInterface<std::tuple<int, int, int>> {};

// Vocabularies that are and are not multiples of the kernel's 16 lanes and 512-wide blocks.
TEST_P(LinearXentShapes, MatchesLibtorchLossAndGradients) {
  const auto [n, v, hdim] = GetParam();
  torch::set_num_threads(2);
  auto h = torch::randn({n, hdim}), w = 0.5 * torch::randn({v, hdim});
  auto target = torch::randint(v, {n}, torch::kLong);
  ASSERT_TRUE(own_linear_xent_kernel(h, w));
  const Compared c = compare(h, w, target, 2.5);
  EXPECT_NEAR(c.loss, c.want_loss, 2e-6 * std::abs(c.want_loss));
  EXPECT_LT(c.grad_h, 1e-5);
  EXPECT_LT(c.grad_w, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearXentShapes,
                         ::testing::Values(std::make_tuple(7, 3, 4), std::make_tuple(33, 16, 5),
                                           std::make_tuple(64, 1000, 8),
                                           std::make_tuple(20, 10000, 16),
                                           std::make_tuple(300, 517, 12)));

TEST_F(LinearXent, HandlesLogitsFarApart) {
  // Logits spread over hundreds: exp of most shifted logits underflows (clamped at exp(-87)),
  // and the unshifted ones would overflow a float.
  auto h = 30 * torch::randn({16, 8}), w = torch::randn({200, 8});
  auto target = torch::randint(200, {16}, torch::kLong);
  const Compared c = compare(h, w, target, 1.0);
  ASSERT_TRUE(std::isfinite(c.loss));
  EXPECT_NEAR(c.loss, c.want_loss, 1e-5 * std::abs(c.want_loss));
  EXPECT_LT(c.grad_h, 1e-5);
  EXPECT_LT(c.grad_w, 1e-5);
}

TEST_F(LinearXent, IsTheSameWithoutGradAndAtAnyThreadCount) {
  auto h = torch::randn({90, 6}), w = torch::randn({700, 6});
  auto target = torch::randint(700, {90}, torch::kLong);
  torch::set_num_threads(2);
  const Tensor two = linear_cross_entropy(h, w, target);
  torch::set_num_threads(1);
  const Tensor one = linear_cross_entropy(h, w, target);
  torch::set_num_threads(2);
  Tensor no_grad;
  {
    torch::NoGradGuard guard;
    no_grad = linear_cross_entropy(h, w, target);
  }
  EXPECT_EQ(two.item<float>(), one.item<float>());  // rows summed in order, not per thread
  EXPECT_EQ(two.item<float>(), no_grad.item<float>());
  EXPECT_FALSE(no_grad.requires_grad());
}

// The logits' memory is reused from one call to the next, but never while a pending backward
// still holds it: two forwards, then one backward through both, as libtorch in double.
TEST_F(LinearXent, TwoForwardsBeforeOneBackwardKeepTheirOwnLogits) {
  auto h1 = torch::randn({9, 6}), h2 = torch::randn({9, 6}), w0 = torch::randn({13, 6});
  auto target = torch::randint(13, {9}, torch::kLong);
  for (int round = 0; round < 2; ++round) {  // the second round runs on the kept buffers
    auto a = h1.clone().requires_grad_(), b = h2.clone().requires_grad_();
    auto w = w0.clone().requires_grad_();
    Tensor loss = linear_cross_entropy(a, w, target) + 2.0 * linear_cross_entropy(b, w, target);
    loss.backward();
    auto ad = h1.to(torch::kDouble).requires_grad_(), bd = h2.to(torch::kDouble).requires_grad_();
    auto wd = w0.to(torch::kDouble).requires_grad_();
    namespace F = torch::nn::functional;
    Tensor want =
        F::cross_entropy(ad.mm(wd.t()), target) + 2.0 * F::cross_entropy(bd.mm(wd.t()), target);
    want.backward();
    EXPECT_NEAR(loss.item<double>(), want.item<double>(), 1e-5 * want.item<double>());
    EXPECT_LT(rel_diff(a.grad(), ad.grad()), 1e-5);
    EXPECT_LT(rel_diff(b.grad(), bd.grad()), 1e-5);
    EXPECT_LT(rel_diff(w.grad(), wd.grad()), 1e-5);
  }
}

TEST_F(LinearXent, FallsBackToLibtorchForDouble) {
  auto h = torch::randn({5, 3}, torch::kDouble), w = torch::randn({9, 3}, torch::kDouble);
  auto target = torch::randint(9, {5}, torch::kLong);
  EXPECT_FALSE(own_linear_xent_kernel(h, w));
  const Tensor want = torch::nn::functional::cross_entropy(h.mm(w.t()), target);
  EXPECT_NEAR(linear_cross_entropy(h, w, target).item<double>(), want.item<double>(), 1e-14);
}

TEST_F(LinearXent, RejectsBadInputsAndASecondBackward) {
  auto h = torch::randn({4, 3}), w = torch::randn({6, 3});
  EXPECT_THROW(linear_cross_entropy(h, w, torch::tensor({0, 1, 2, 6}, torch::kLong)), Error);
  EXPECT_THROW(linear_cross_entropy(h, w, torch::tensor({0, -1, 2, 3}, torch::kLong)), Error);
  EXPECT_THROW(linear_cross_entropy(h, w, torch::tensor({0, 1, 2}, torch::kLong)), Error);
  EXPECT_THROW(linear_cross_entropy(h, w, torch::tensor({0, 1, 2, 3}, torch::kInt)), Error);
  EXPECT_THROW(linear_cross_entropy(h, torch::randn({6, 4}), torch::zeros({4}, torch::kLong)),
               Error);

  auto hg = h.clone().requires_grad_();
  Tensor loss = linear_cross_entropy(hg, w, torch::tensor({0, 1, 2, 3}, torch::kLong));
  loss.backward({}, /*retain_graph=*/true);
  EXPECT_THROW(loss.backward(), Error);
}

TEST(SoftmaxRows, ExpIsWithinAFewUlpOfLibm) {
  std::vector<float> x;
  for (double a = -90; a <= 0; a += 0.0137) x.push_back(static_cast<float>(a));
  x.push_back(0.0f);
  std::vector<float> e = x;
  const double sum = softmax_rows::exp_shifted(e.data(), static_cast<int64_t>(e.size()), 0.0f);
  double want_sum = 0, worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(static_cast<double>(std::max(x[i], -87.0f)));
    want_sum += want;
    worst = std::max(worst, std::abs(e[i] - want) / want);
  }
  EXPECT_LT(worst, 2e-7);
  EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum);
}

TEST(SoftmaxRows, ScaleFlushesDenormalsToZeroAndKeepsNaN) {
  const float tiny = std::numeric_limits<float>::min();
  std::vector<float> x{1.0f, 4 * tiny, tiny, -4 * tiny, 1e-3f, std::nanf("")};
  softmax_rows::scale(x.data(), static_cast<int64_t>(x.size()), 0.5f);
  EXPECT_EQ(x[0], 0.5f);
  EXPECT_EQ(x[1], 2 * tiny);   // still normal
  EXPECT_EQ(x[2], 0.0f);       // tiny / 2 would be denormal
  EXPECT_EQ(x[3], -2 * tiny);  // negative: by magnitude
  EXPECT_EQ(x[4], 5e-4f);
  EXPECT_TRUE(std::isnan(x[5]));
}

TEST(SoftmaxRows, MaxAndScaleCoverTheTail) {
  for (int n : {1, 15, 16, 17, 100}) {
    SCOPED_TRACE(n);
    std::vector<float> x(n);
    for (int i = 0; i < n; ++i) x[i] = static_cast<float>((i * 7) % 11) - 5.0f;
    x[n - 1] = 9.0f;  // the largest in the tail
    EXPECT_EQ(softmax_rows::max(x.data(), n), 9.0f);
    softmax_rows::scale(x.data(), n, 2.0f);
    EXPECT_EQ(x[n - 1], 18.0f);
    if (n > 1) {
      EXPECT_EQ(x[0], -10.0f);
    }
  }
}

}  // namespace
}  // namespace enas
