// The children's batch norm (child/batch_norm.h): its own channels-last kernel against libtorch's
// batch_norm on the same numbers, forward and backward, and the module's running statistics
// against torch::nn::BatchNorm2d.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <tuple>
#include <vector>

#include "enas/child/batch_norm.h"
#include "test_util.h"

namespace enas {
namespace {

/// Seeded, one thread (test_util.h).
using BatchNormTest = test::SeededTest;

torch::Tensor channels_last(const torch::Tensor& t) {
  return t.contiguous(torch::MemoryFormat::ChannelsLast);
}

// Relative max difference, scaled by the reference's largest magnitude.
double rel_diff(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

class BatchNormKernel : public test::SeededTest,
                        public ::testing::WithParamInterface<std::tuple<int, int, int>> {};

// Forward and all three gradients equal libtorch's NCHW batch norm computed in double.
TEST_P(BatchNormKernel, MatchesLibtorchForwardAndBackward) {
  const auto [n, c, hw] = GetParam();
  torch::set_num_threads(2);  // two row ranges: the partial sums are combined
  auto x0 = torch::randn({n, c, hw, hw}) * 3 + 1.5;
  auto w0 = torch::rand({c}) + 0.5, b0 = torch::randn({c});
  auto g = channels_last(torch::randn({n, c, hw, hw}));

  auto x = channels_last(x0).requires_grad_();
  auto w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
  ASSERT_TRUE(own_batch_norm_kernel(x));
  torch::Tensor mean, var;
  auto y = batch_norm_batch_stats(x, w, b, 1e-5, &mean, &var);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  y.backward(g);

  auto xd = x0.to(torch::kDouble).requires_grad_();
  auto wd = w0.to(torch::kDouble).requires_grad_(), bd = b0.to(torch::kDouble).requires_grad_();
  auto yd = torch::batch_norm(xd, wd, bd, {}, {}, true, 0.1, 1e-5, false);
  yd.backward(g.to(torch::kDouble));

  EXPECT_LT(rel_diff(y.to(torch::kDouble), yd), 1e-5);
  EXPECT_LT(rel_diff(x.grad().to(torch::kDouble), xd.grad()), 1e-4);
  EXPECT_LT(rel_diff(w.grad().to(torch::kDouble), wd.grad()), 1e-4);
  EXPECT_LT(rel_diff(b.grad().to(torch::kDouble), bd.grad()), 1e-4);
  auto [vd, md] = torch::var_mean(x0.to(torch::kDouble), {0, 2, 3}, false);
  EXPECT_LT(rel_diff(mean.to(torch::kDouble), md), 1e-5);
  EXPECT_LT(rel_diff(var.to(torch::kDouble), vd), 1e-5);
}

// The ReLU fused into the kernel: relu(batch_norm(x)) in double, forward and every gradient,
// the gradient a channel slice as a concatenation hands it.
TEST_P(BatchNormKernel, FusedReluMatchesLibtorch) {
  const auto [n, c, hw] = GetParam();
  torch::set_num_threads(2);
  auto x0 = torch::randn({n, c, hw, hw}) * 3 + 1.5;
  auto w0 = torch::rand({c}) + 0.5, b0 = torch::randn({c});
  auto g = channels_last(torch::randn({n, 2 * c, hw, hw})).narrow(1, c, c);

  auto x = channels_last(x0).requires_grad_();
  auto w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
  ASSERT_TRUE(own_batch_norm_kernel(x));
  torch::Tensor mean, var;
  auto y = batch_norm_relu_batch_stats(x, w, b, 1e-5, &mean, &var);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_GT((y == 0).sum().item<int64_t>(), 0);  // the ReLU cut somewhere
  y.backward(g);

  auto xd = x0.to(torch::kDouble).requires_grad_();
  auto wd = w0.to(torch::kDouble).requires_grad_(), bd = b0.to(torch::kDouble).requires_grad_();
  auto yd = torch::relu(torch::batch_norm(xd, wd, bd, {}, {}, true, 0.1, 1e-5, false));
  yd.backward(g.to(torch::kDouble));

  EXPECT_LT(rel_diff(y.to(torch::kDouble), yd), 1e-5);
  EXPECT_LT(rel_diff(x.grad().to(torch::kDouble), xd.grad()), 1e-4);
  EXPECT_LT(rel_diff(w.grad().to(torch::kDouble), wd.grad()), 1e-4);
  EXPECT_LT(rel_diff(b.grad().to(torch::kDouble), bd.grad()), 1e-4);
  auto [vd, md] = torch::var_mean(x0.to(torch::kDouble), {0, 2, 3}, false);
  EXPECT_LT(rel_diff(mean.to(torch::kDouble), md), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormKernel,
                         ::testing::Values(std::make_tuple(8, 20, 8), std::make_tuple(5, 3, 7),
                                           std::make_tuple(4, 16, 8), std::make_tuple(4, 36, 16),
                                           std::make_tuple(2, 60, 3), std::make_tuple(64, 10, 2)));

TEST_F(BatchNormTest, BatchNormKernelOnChannelsLastCpuFloat) {
  EXPECT_TRUE(own_batch_norm_kernel(channels_last(torch::randn({4, 20, 8, 8}))));
  EXPECT_TRUE(own_batch_norm_kernel(channels_last(torch::randn({4, 16, 8, 8}))));
  EXPECT_FALSE(own_batch_norm_kernel(torch::randn({4, 20, 8, 8})));                 // NCHW
  EXPECT_FALSE(own_batch_norm_kernel(channels_last(torch::randn({4, 20, 1, 1}))));  // both
  EXPECT_FALSE(own_batch_norm_kernel(channels_last(torch::randn({4, 20, 8, 8}, torch::kDouble))));
}

// A mean far from zero against the spread: the shifted sums keep the variance accurate.
TEST_F(BatchNormTest, BatchNormKernelKeepsVarianceWithLargeMean) {
  auto x0 = torch::randn({16, 20, 8, 8}) * 0.01 + 1000.0;
  torch::Tensor mean, var;
  batch_norm_batch_stats(channels_last(x0), {}, {}, 1e-5, &mean, &var);
  auto [vd, md] = torch::var_mean(x0.to(torch::kDouble), {0, 2, 3}, false);
  EXPECT_LT(rel_diff(var.to(torch::kDouble), vd), 1e-3);
  EXPECT_LT(rel_diff(mean.to(torch::kDouble), md), 1e-6);
}

// The gradient a concatenation's backward hands its inputs: a channel slice, neither layout.
TEST_F(BatchNormTest, BatchNormKernelTakesSlicedGradients) {
  auto x0 = torch::randn({4, 24, 6, 6});
  auto g = channels_last(torch::randn({4, 48, 6, 6})).narrow(1, 24, 24);
  ASSERT_FALSE(g.is_contiguous(torch::MemoryFormat::ChannelsLast));
  auto x = channels_last(x0).requires_grad_();
  auto w = torch::rand({24}).requires_grad_();
  batch_norm_batch_stats(x, w, {}, 1e-5).backward(g);
  auto xr = x0.clone().requires_grad_();
  auto wr = w.detach().clone().requires_grad_();
  torch::batch_norm(xr, wr, {}, {}, {}, true, 0.1, 1e-5, false).backward(g.contiguous());
  EXPECT_LT(rel_diff(x.grad(), xr.grad()), 1e-4);
  EXPECT_LT(rel_diff(w.grad(), wr.grad()), 1e-4);
}

// Without weight and bias (the micro search's batch-statistics BN): only x gets a gradient.
TEST_F(BatchNormTest, BatchNormKernelWithoutAffine) {
  auto x0 = torch::randn({6, 20, 5, 5});
  auto g = channels_last(torch::randn({6, 20, 5, 5}));
  auto x = channels_last(x0).requires_grad_();
  batch_norm_batch_stats(x, {}, {}, 1e-5).backward(g);
  auto xr = x0.clone().requires_grad_();
  torch::batch_norm(xr, {}, {}, {}, {}, true, 0.1, 1e-5, false).backward(g.contiguous());
  EXPECT_LT(rel_diff(x.grad(), xr.grad()), 1e-4);
}

// Where libtorch's kernel runs (NCHW) the fused call is relu(batch_norm) all the same, and the
// module's forward_relu updates the running statistics as its forward does.
TEST_F(BatchNormTest, BatchNormReluOutsideTheKernelAndInTheModule) {
  auto x0 = torch::randn({4, 6, 5, 5});
  auto x = x0.clone().requires_grad_();
  ASSERT_FALSE(own_batch_norm_kernel(x));
  auto y = batch_norm_relu_batch_stats(x, {}, {}, 1e-5);
  auto xr = x0.clone().requires_grad_();
  auto yr = torch::relu(torch::batch_norm(xr, {}, {}, {}, {}, true, 0.1, 1e-5, false));
  EXPECT_LT(rel_diff(y, yr), 1e-6);
  auto g = torch::randn_like(y);
  y.backward(g);
  yr.backward(g);
  EXPECT_LT(rel_diff(x.grad(), xr.grad()), 1e-5);

  for (bool last : {false, true}) {
    BatchNorm fused(torch::nn::BatchNorm2dOptions(6)), plain(torch::nn::BatchNorm2dOptions(6));
    auto in = last ? channels_last(x0) : x0;
    auto a = fused->forward_relu(in), b = torch::relu(plain->forward(in));
    EXPECT_LT(rel_diff(a, b), 1e-6) << "channels-last " << last;
    EXPECT_TRUE(torch::allclose(fused->running_mean, plain->running_mean));
    EXPECT_TRUE(torch::allclose(fused->running_var, plain->running_var));
    fused->eval();
    plain->eval();
    EXPECT_LT(rel_diff(fused->forward_relu(in), torch::relu(plain->forward(in))), 1e-6);
  }
}

// The module keeps torch::nn::BatchNorm2d's parameters, buffers and running-statistics rule, so
// training and eval outputs, and checkpoints, are the same as the base class's.
TEST_F(BatchNormTest, BatchNormModuleTracksRunningStatisticsAsTorch) {
  for (bool cumulative : {false, true}) {
    auto opts = torch::nn::BatchNorm2dOptions(20).eps(1e-5).momentum(0.1);
    if (cumulative) opts.momentum(c10::nullopt);
    BatchNorm ours(opts);
    torch::nn::BatchNorm2d ref(opts);
    std::vector<std::string> names, ref_names;
    for (const auto& p : ours->named_parameters()) names.push_back(p.key());
    for (const auto& p : ours->named_buffers()) names.push_back(p.key());
    for (const auto& p : ref->named_parameters()) ref_names.push_back(p.key());
    for (const auto& p : ref->named_buffers()) ref_names.push_back(p.key());
    EXPECT_EQ(names, ref_names);
    for (int step = 0; step < 3; ++step) {
      auto x = torch::randn({8, 20, 6, 6}) * 2 + 0.5;
      auto y = ours->forward(channels_last(x));
      auto yr = ref->forward(x);
      EXPECT_LT(rel_diff(y, yr), 1e-5);
    }
    EXPECT_LT(rel_diff(ours->running_mean, ref->running_mean), 1e-5) << cumulative;
    EXPECT_LT(rel_diff(ours->running_var, ref->running_var), 1e-5) << cumulative;
    EXPECT_EQ(ours->num_batches_tracked.item<int64_t>(), 3);
    ours->eval();
    ref->eval();
    auto x = torch::randn({4, 20, 6, 6});
    EXPECT_LT(rel_diff(ours->forward(channels_last(x)), ref->forward(x)), 1e-5);
    EXPECT_THROW(ours->forward(torch::randn({4, 20})), Error);  // BatchNorm2d: 4-d only
  }
}

TEST_F(BatchNormTest, SyncBatchNormOfTwoEqualPartsIsTheLocalOne) {
  // Two processes holding the same data: the summed moments and gradient sums describe the same
  // distribution, so output, input gradient and the running statistics (over twice the rows)
  // are what one process computes alone, and the weight's gradient stays this process's own.
  auto x = torch::randn({6, 5, 4, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
  auto g = torch::randn({6, 5, 4, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
  auto run = [&](bool synced) {
    BatchNorm bn(torch::nn::BatchNorm2dOptions(5));
    auto xi = x.clone().requires_grad_(true);
    if (synced) {
      set_batch_norm_reducer([](std::vector<double>& sums) {
        for (auto& v : sums) v *= 2;  // what an all-reduce over two equal parts gives
      });
    }
    auto y = bn->forward(xi);
    (y * g).sum().backward();
    set_batch_norm_reducer({});
    return std::make_tuple(y.detach(), xi.grad(), bn->weight.grad(), bn->running_var.clone());
  };
  const auto [y1, gx1, gw1, rv1] = run(false);
  const auto [y2, gx2, gw2, rv2] = run(true);
  EXPECT_TRUE(torch::allclose(y1, y2, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(gx1, gx2, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(gw1, gw2, 1e-5, 1e-6));
  // The unbiased correction n / (n - 1) counts the rows of both parts: 144 / 143, not 72 / 71.
  const auto biased = (rv1 - 0.9) / 0.1 * (71.0 / 72.0);
  EXPECT_TRUE(torch::allclose(rv2, 0.9 + 0.1 * biased * (144.0 / 143.0), 1e-5, 1e-6));
}

TEST_F(BatchNormTest, SyncBatchNormCoversContiguousAndOneByOneInputs) {
  // Layouts libtorch's kernel would take (contiguous NCHW; H = W = 1, both layouts at once, as
  // after the aux head's 2x2 conv) are synced too, never silently normalised per process.
  for (const auto& shape : {std::vector<int64_t>{6, 5, 4, 3}, std::vector<int64_t>{6, 7, 1, 1}}) {
    const auto x = torch::randn(shape), g = torch::randn(shape);
    int messages = 0;
    auto run = [&](bool synced) {
      BatchNorm bn{torch::nn::BatchNorm2dOptions(shape[1])};
      auto xi = x.clone().requires_grad_(true);
      if (synced) {
        set_batch_norm_reducer([&](std::vector<double>& sums) {
          ++messages;
          for (auto& v : sums) v *= 2;  // two processes holding the same data
        });
      }
      auto y = bn->forward(xi);
      (y * g).sum().backward();
      set_batch_norm_reducer({});
      return std::make_tuple(y.detach(), xi.grad());
    };
    const auto [y1, gx1] = run(false);
    const auto [y2, gx2] = run(true);
    EXPECT_EQ(messages, 2) << "a forward and a backward message, shape " << x.sizes();
    EXPECT_TRUE(torch::allclose(y1, y2, 1e-5, 1e-5)) << x.sizes();
    EXPECT_TRUE(torch::allclose(gx1, gx2, 1e-4, 1e-5)) << x.sizes();
    EXPECT_TRUE(y2.is_contiguous()) << "the caller's layout comes back";
  }
  set_batch_norm_reducer([](std::vector<double>&) {});
  auto d = torch::randn({2, 3, 4, 4}, torch::kDouble);
  EXPECT_PRED2(test::contains, test::error_of([&] { batch_norm_batch_stats(d, {}, {}, 1e-5); }),
               "sync batch norm runs on float CPU tensors so far");
  set_batch_norm_reducer({});
}

}  // namespace
}  // namespace enas
