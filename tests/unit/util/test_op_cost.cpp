// util/op_cost.h: the work rules behind `enas bench`'s roofline, on plain shapes (expected values
// worked out by hand) and on real operators seen through the profiler.
#include <ATen/record_function.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "enas/util/op_cost.h"
#include "enas/util/op_profile.h"
#include "test_util.h"

namespace enas {
namespace {

/// Seeded, one thread (test_util.h).
using OpCostTest = test::SeededTest;

OpCost cost(std::string_view name, const std::vector<OpArg>& args) {
  auto c = op_cost(name, args);
  EXPECT_TRUE(c.has_value()) << name;
  return c.value_or(OpCost{});
}

OpArg flag(bool b) {
  OpArg a = OpArg::integer(b ? 1 : 0);
  a.kind = OpArg::Kind::kBool;
  return a;
}

TEST(OpCost, ConvolutionForwardCountsMultiplyAddsAndEachTensorOnce) {
  // 3x3, pad 1: [2,3,8,8] -> [2,4,8,8] = 512 outputs of 27 multiply-adds.
  const std::vector<OpArg> dense = {OpArg::tensor({2, 3, 8, 8}),
                                    OpArg::tensor({4, 3, 3, 3}),
                                    OpArg::none(),
                                    OpArg::int_list({1, 1}),
                                    OpArg::int_list({1, 1}),
                                    OpArg::int_list({1, 1}),
                                    flag(false),
                                    OpArg::int_list({0, 0}),
                                    OpArg::integer(1)};
  OpCost c = cost("aten::convolution", dense);
  EXPECT_DOUBLE_EQ(c.flops, 27648);
  EXPECT_DOUBLE_EQ(c.bytes, (384 + 108 + 512) * 4);
  // Depthwise 5x5, stride 2, pad 2: 7x7 -> 4x4, each output 25 taps of its own channel.
  c = cost("aten::conv2d",
           {OpArg::tensor({1, 6, 7, 7}), OpArg::tensor({6, 1, 5, 5}), OpArg::none(),
            OpArg::int_list({2}), OpArg::int_list({2}), OpArg::int_list({1}), OpArg::integer(6)});
  EXPECT_DOUBLE_EQ(c.flops, 2 * 96 * 25);
  EXPECT_DOUBLE_EQ(c.bytes, (294 + 150 + 96) * 4);
  // A transposed convolution has no rule: it is not part of any search space.
  std::vector<OpArg> transposed = dense;
  transposed[6] = flag(true);
  EXPECT_FALSE(op_cost("aten::convolution", transposed).has_value());
}

TEST(OpCost, ConvolutionBackwardCountsTheGradientsAsked) {
  std::vector<OpArg> args = {OpArg::tensor({2, 4, 8, 8}), OpArg::tensor({2, 3, 8, 8}),
                             OpArg::tensor({4, 3, 3, 3}), OpArg::none(),
                             OpArg::int_list({1, 1}),     OpArg::int_list({1, 1}),
                             OpArg::int_list({1, 1}),     flag(false),
                             OpArg::int_list({0, 0}),     OpArg::integer(1),
                             OpArg::int_list({1, 1, 0})};
  OpCost c = cost("aten::convolution_backward", args);
  EXPECT_DOUBLE_EQ(c.flops, 2 * 27648);
  // Reads dy, w and x; writes dx and dw.
  EXPECT_DOUBLE_EQ(c.bytes, (512 + 108 + 384 + 384 + 108) * 4);
  args[10] = OpArg::int_list({0, 1, 0});  // the first layer: no gradient for the images
  c = cost("aten::convolution_backward", args);
  EXPECT_DOUBLE_EQ(c.flops, 27648);
  EXPECT_DOUBLE_EQ(c.bytes, (512 + 384 + 108) * 4);
}

TEST(OpCost, PoolingBatchNormReluAndElementwise) {
  // max 3x3, stride 1, pad 1 keeps 8x8: 384 outputs of 9 taps; the indices are 8 bytes each.
  const std::vector<OpArg> pool = {OpArg::tensor({2, 3, 8, 8}), OpArg::int_list({3, 3}),
                                   OpArg::int_list({1, 1}),     OpArg::int_list({1, 1}),
                                   OpArg::int_list({1, 1}),     flag(false)};
  EXPECT_DOUBLE_EQ(cost("aten::max_pool2d", pool).flops, 3456);
  EXPECT_DOUBLE_EQ(cost("aten::max_pool2d", pool).bytes, 768 * 4);
  EXPECT_DOUBLE_EQ(cost("aten::max_pool2d_with_indices", pool).bytes, 768 * 4 + 384 * 8);
  // avg 3x3, stride 2, pad 1: 7x7 -> 4x4.
  const OpCost avg = cost("aten::avg_pool2d",
                          {OpArg::tensor({1, 2, 7, 7}), OpArg::int_list({3}), OpArg::int_list({2}),
                           OpArg::int_list({1}), flag(false), flag(true), OpArg::none()});
  EXPECT_DOUBLE_EQ(avg.flops, 32 * 9);
  EXPECT_DOUBLE_EQ(avg.bytes, (98 + 32) * 4);
  const OpCost avg_back =
      cost("aten::avg_pool2d_backward",
           {OpArg::tensor({1, 2, 4, 4}), OpArg::tensor({1, 2, 7, 7}), OpArg::int_list({3, 3})});
  EXPECT_DOUBLE_EQ(avg_back.flops, 32 * 9);
  EXPECT_DOUBLE_EQ(avg_back.bytes, (32 + 98) * 4);

  const OpCost bn = cost("enas::batch_norm", {OpArg::tensor({2, 3, 4, 4})});
  EXPECT_DOUBLE_EQ(bn.flops, 4 * 96);
  EXPECT_DOUBLE_EQ(bn.bytes, 2 * 96 * 4);
  const OpCost bn_back =
      cost("enas::batch_norm_backward", {OpArg::tensor({2, 3, 4, 4}), OpArg::tensor({2, 3, 4, 4})});
  EXPECT_DOUBLE_EQ(bn_back.flops, 8 * 96);
  EXPECT_DOUBLE_EQ(bn_back.bytes, 3 * 96 * 4);
  EXPECT_DOUBLE_EQ(cost("aten::relu_", {OpArg::tensor({10})}).bytes, 2 * 10 * 4);
  EXPECT_DOUBLE_EQ(
      cost("aten::threshold_backward", {OpArg::tensor({10}), OpArg::tensor({10}), OpArg()}).bytes,
      3 * 10 * 4);

  // [4,5] + [5] broadcasts to 20; a scalar operand moves no bytes.
  const OpCost add = cost("aten::add", {OpArg::tensor({4, 5}), OpArg::tensor({5})});
  EXPECT_DOUBLE_EQ(add.flops, 20);
  EXPECT_DOUBLE_EQ(add.bytes, (20 + 5 + 20) * 4);
  OpArg scalar;
  scalar.kind = OpArg::Kind::kOther;
  EXPECT_DOUBLE_EQ(cost("aten::mul_", {OpArg::tensor({4, 5}), scalar}).bytes, 40 * 4);
  // A sum over N, H, W leaves one value per channel.
  const OpCost sum = cost("aten::sum", {OpArg::tensor({2, 3, 4, 4}), OpArg::int_list({0, 2, -1})});
  EXPECT_DOUBLE_EQ(sum.flops, 96);
  EXPECT_DOUBLE_EQ(sum.bytes, (96 + 3) * 4);
  // Double tensors move 8 bytes an element.
  EXPECT_DOUBLE_EQ(cost("aten::relu", {OpArg::tensor({10}, 8)}).bytes, 2 * 10 * 8);
}

TEST(OpCost, MatrixProductsAndTheOptimisersLists) {
  const OpCost mm = cost("aten::mm", {OpArg::tensor({3, 4}), OpArg::tensor({4, 5})});
  EXPECT_DOUBLE_EQ(mm.flops, 120);
  EXPECT_DOUBLE_EQ(mm.bytes, (12 + 20 + 15) * 4);
  const OpCost addmm =
      cost("aten::addmm", {OpArg::tensor({5}), OpArg::tensor({3, 4}), OpArg::tensor({4, 5})});
  EXPECT_DOUBLE_EQ(addmm.flops, 135);
  EXPECT_DOUBLE_EQ(addmm.bytes, (12 + 20 + 15 + 5) * 4);
  const OpCost lin =
      cost("aten::linear", {OpArg::tensor({2, 3, 4}), OpArg::tensor({5, 4}), OpArg::tensor({5})});
  EXPECT_DOUBLE_EQ(lin.flops, 2 * 6 * 4 * 5 + 30);
  EXPECT_DOUBLE_EQ(lin.bytes, (24 + 20 + 30 + 5) * 4);
  const OpCost bmm = cost("aten::bmm", {OpArg::tensor({2, 3, 4}), OpArg::tensor({2, 4, 5})});
  EXPECT_DOUBLE_EQ(bmm.flops, 240);

  // params += -lr * grads over tensors of 3 and 4 elements: read both lists, write the first.
  const OpArg params = OpArg::tensors({{3}, {2, 2}}), grads = OpArg::tensors({{3}, {2, 2}});
  OpArg alpha;
  alpha.kind = OpArg::Kind::kOther;
  EXPECT_DOUBLE_EQ(cost("aten::_foreach_add_", {params, grads, alpha}).bytes, 3 * 7 * 4);
  EXPECT_DOUBLE_EQ(cost("aten::_foreach_mul_", {params, alpha}).bytes, 2 * 7 * 4);
  EXPECT_DOUBLE_EQ(cost("aten::_foreach_norm", {params}).bytes, 7 * 4);
}

TEST(OpCost, OverheadHasNoRuleAndTheRooflineTakesTheSlowerRoof) {
  EXPECT_FALSE(has_op_rule("aten::copy_"));
  EXPECT_FALSE(has_op_rule("aten::cat"));
  EXPECT_FALSE(op_cost("aten::fill_", {OpArg::tensor({4})}).has_value());
  EXPECT_TRUE(has_op_rule("aten::convolution_backward"));
  // A rule given inputs it cannot read declines rather than guesses.
  EXPECT_FALSE(op_cost("aten::mm", {OpArg::tensor({3, 4})}).has_value());

  const MachineLimits m{100.0, 10.0};  // GFLOP/s, GB/s
  const OpCost memory_bound{2e9, 1e9};
  EXPECT_DOUBLE_EQ(roofline_seconds(memory_bound, m), 0.1);
  EXPECT_STREQ(roofline_bound(memory_bound, m), "memory");
  const OpCost compute_bound{5e10, 1e8};
  EXPECT_DOUBLE_EQ(roofline_seconds(compute_bound, m), 0.5);
  EXPECT_STREQ(roofline_bound(compute_bound, m), "compute");
}

// ---- through the profiler: the rules see what libtorch really runs.

TEST_F(OpCostTest, OpProfileCostsAConvolutionForwardAndBackwardOnce) {
  auto x = torch::randn({2, 3, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
  auto w = torch::randn({4, 3, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
  x.requires_grad_(true);
  w.requires_grad_(true);
  OpProfile profile;
  auto y = torch::conv2d(x, w, {}, 1, 1);
  torch::autograd::backward({y}, {torch::ones_like(y)});
  const OpCost total = profile.total_cost();
  // conv2d calls convolution and its kernels: counted once; ones_like is a fill, not work.
  EXPECT_DOUBLE_EQ(total.flops, 27648 + 2 * 27648);
  EXPECT_DOUBLE_EQ(total.bytes, (384 + 108 + 512) * 4 + (512 + 108 + 384 + 384 + 108) * 4);
  EXPECT_GT(profile.costed_ms(), 0);
}

TEST_F(OpCostTest, OpProfileCostsPoolingAtTheShapesLibtorchProduces) {
  // ceil mode and odd sizes: the rule's output size must be libtorch's.
  for (bool ceil : {false, true}) {
    for (int64_t size : {6, 7, 9}) {
      auto x = torch::randn({1, 2, size, size});
      OpProfile profile;
      auto y = torch::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}, {1, 1}, ceil);
      auto z = torch::avg_pool2d(x, {3, 3}, {2, 2}, {0, 0}, ceil);
      EXPECT_DOUBLE_EQ(profile.total_cost().flops, 9.0 * (y.numel() + z.numel()))
          << "size " << size << " ceil " << ceil;
    }
  }
}

TEST_F(OpCostTest, OpProfileTableGivesRatesOfCoveredRowsOnly) {
  auto a = torch::randn({64, 32}), w = torch::randn({16, 32});
  OpProfile profile;
  for (int i = 0; i < 3; ++i) torch::linear(a, w);  // linear, then matmul and mm inside
  auto b = a.clone();                               // a copy: overhead
  const OpCost total = profile.total_cost();
  EXPECT_DOUBLE_EQ(total.flops, 3 * 2.0 * 64 * 32 * 16);
  EXPECT_DOUBLE_EQ(total.bytes, 3 * (64 * 32 + 16 * 32 + 64 * 16) * 4.0);
  const MachineLimits m{100.0, 10.0};
  const std::string table = profile.table(50, &m);
  EXPECT_NE(table.find("GFLOP/s"), std::string::npos);
  EXPECT_NE(table.find("roof%"), std::string::npos);
  for (const auto& r : profile.rows()) {
    const bool covered = r.key.rfind("aten::linear", 0) == 0;
    EXPECT_EQ(r.costed_ms > 0, covered) << r.key;
    EXPECT_EQ(r.cost.flops > 0, covered) << r.key;
    if (r.key.rfind("aten::mm", 0) == 0) {
      EXPECT_EQ(r.calls, 3);  // seen, but inside linear
    }
  }
  // Without limits the table keeps its old columns.
  EXPECT_EQ(profile.table(50).find("GFLOP/s"), std::string::npos);
}

}  // namespace
}  // namespace enas
