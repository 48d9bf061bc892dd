// The op table (child/ops.h): every op of both catalogues built and run by the fixed and the
// shared child, the separable conv as one function of its weights, and the errors for a family a
// child cannot build.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "enas/child/ops.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::SeededTest;

std::vector<int64_t> shape(const torch::Tensor& t) { return t.sizes().vec(); }

std::vector<std::string> names(const torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& p : m.named_parameters()) out.push_back(p.key());
  return out;
}

class OpTable : public SeededTest {};

TEST_F(OpTable, SharedRowIsTheFixedStackWithThoseWeights) {
  // Row 1 of a shared sep-conv (3 inputs) copied into a fixed stack: the same function, since
  // both run sep_conv; the fixed stack's BN in training mode uses batch statistics as the
  // shared one always does.
  MicroSharedConv shared(3, 8, 5);
  SepConvStack fixed(8, 5, 1);
  {
    torch::NoGradGuard guard;
    auto p = shared->named_parameters();
    auto q = fixed->named_parameters();
    for (int i = 0; i < 2; ++i) {
      auto s = std::to_string(i);
      q["depthwise" + s + ".weight"].copy_(p["stack" + s + "_depthwise"][1]);
      q["pointwise" + s + ".weight"].copy_(p["stack" + s + "_pointwise"][1]);
      q["bn" + s + ".weight"].copy_(p["stack" + s + "_bn_scale"][1] * 1.5);
      q["bn" + s + ".bias"].copy_(p["stack" + s + "_bn_offset"][1] + 0.25);
      p["stack" + s + "_bn_scale"][1].mul_(1.5);
      p["stack" + s + "_bn_offset"][1].add_(0.25);
    }
  }
  fixed->train();
  auto x = torch::randn({4, 8, 7, 7});
  auto a = shared->forward(x, 1);
  auto b = fixed->forward(x);
  EXPECT_EQ(shape(a), (std::vector<int64_t>{4, 8, 7, 7}));
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << (a - b).abs().max().item<double>();
  // Another row is another function.
  EXPECT_FALSE(torch::allclose(shared->forward(x, 0), b, 1e-3, 1e-3));
}

TEST_F(OpTable, RowsOtherThanTheSelectedOneGetZeroGradients) {
  MicroSharedConv shared(3, 4, 3);
  shared->forward(torch::randn({2, 4, 5, 5}), 2).square().sum().backward();
  auto g = shared->named_parameters()["stack0_depthwise"].grad();
  EXPECT_EQ(g[0].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(g[1].abs().sum().item<double>(), 0.0);
  EXPECT_GT(g[2].abs().sum().item<double>(), 0.0);
}

TEST_F(OpTable, EveryMicroOpInBothChildren) {
  auto x = torch::randn({2, 8, 7, 7});
  for (const OpSpec& op : micro::kOps) {
    for (int64_t stride : {1, 2}) {
      auto m = make_fixed_micro_op(op, 8, stride);
      CellNode node(x);
      const int64_t hw = stride == 1 ? 7 : 4;  // TF "SAME"
      EXPECT_EQ(shape(run_fixed_micro_op(op, m, node)), (std::vector<int64_t>{2, 8, hw, hw}))
          << op.name << " stride " << stride;
    }
    auto shared = make_shared_micro_op(op, 3, 8);
    EXPECT_EQ(shared.module.is_empty(), op.family != OpFamily::kSepConv) << op.name;
    CellNode node(x);
    auto y = run_shared_micro_op(op, shared.module, node, 2);
    EXPECT_EQ(shape(y), (std::vector<int64_t>{2, 8, 7, 7})) << op.name;
    if (op.family == OpFamily::kSepConv) {
      EXPECT_EQ(shared.name, "conv" + std::to_string(op.kernel));
    } else {
      // Ops without weights are the same function in both children.
      auto m = make_fixed_micro_op(op, 8, 1);
      CellNode again(x);
      EXPECT_TRUE(torch::equal(run_fixed_micro_op(op, m, again), y)) << op.name;
    }
  }
}

TEST_F(OpTable, CellNodeComputesItsReluOnce) {
  CellNode node(torch::randn({2, 3, 4, 4}));
  const auto& first = node.relu();
  EXPECT_TRUE(torch::equal(first, torch::relu(node.x())));
  EXPECT_EQ(node.relu().data_ptr(), first.data_ptr());
}

TEST_F(OpTable, AFamilyWithoutABuilderIsAnErrorNamingTheOp) {
  const OpSpec dense{"conv3x3", OpFamily::kConv, 3};
  for (auto build : {+[](const OpSpec& op) { make_fixed_micro_op(op, 8, 1); },
                     +[](const OpSpec& op) { make_shared_micro_op(op, 3, 8); }}) {
    try {
      build(dense);
      ADD_FAILURE() << "built a micro conv3x3";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("conv3x3"), std::string::npos) << e.what();
    }
  }
}

TEST_F(OpTable, MacroBranchOfTheSearchAndOfTheFixedChild) {
  auto x = torch::randn({2, 8, 6, 6});
  for (int op = 0; op < macro::kNumOps; ++op) {
    MacroBranch fixed(op, 8, 8), search(op, 8, 8, /*search=*/true);
    // The same weights under the same names: a checkpoint's layout does not depend on the child.
    EXPECT_EQ(names(*fixed), names(*search)) << macro::kOps[op].name;
    auto y = search->forward(x);
    EXPECT_EQ(shape(y), (std::vector<int64_t>{2, 8, 6, 6}));
    if (macro::kOps[op].is_conv()) {
      // The search ends a conv op in a ReLU; the fixed child in its BN.
      EXPECT_GE(y.min().item<double>(), 0.0) << macro::kOps[op].name;
      EXPECT_LT(fixed->forward(x).min().item<double>(), 0.0) << macro::kOps[op].name;
    }
  }
}

}  // namespace
}  // namespace enas
