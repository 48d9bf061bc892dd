// The matrix products of util/gemm.h (oneDNN's SGEMM where the process has it) against libtorch
// in double: odd sizes, a single row or column, transposed and sliced operands, an output that
// is itself a view, accumulation, the threads inside a SerialElementwise, and autograd's inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <tuple>

#include "enas/util/gemm.h"
#include "enas/util/op_profile.h"
#include "enas/util/runtime.h"
#include "test_util.h"

namespace enas {
namespace {

/// Seeded, one thread (test_util.h).
using GemmTest = test::SeededTest;

double rel_diff(const torch::Tensor& got, const torch::Tensor& want) {
  return (got.to(torch::kDouble) - want).abs().max().item<double>() /
         std::max(want.abs().max().item<double>(), 1e-30);
}

torch::Tensor in_double(const torch::Tensor& t) { return t.to(torch::kDouble); }

// m, k, n, a transposed, b transposed
using Case = std::tuple<int, int, int, bool, bool>;
class GemmShapes : public test::SeededTest, public ::testing::WithParamInterface<Case> {};

// An (r, c) operand, stored as itself or as the transpose of a (c, r) matrix.
torch::Tensor operand(int r, int c, bool transposed) {
  return transposed ? torch::randn({c, r}).t() : torch::randn({r, c});
}

TEST_P(GemmShapes, MmAndAddmmMatchLibtorchInDouble) {
  const auto [m, k, n, ta, tb] = GetParam();
  torch::set_num_threads(2);
  auto a = operand(m, k, ta), b = operand(k, n, tb);
  const auto want = torch::mm(in_double(a), in_double(b));
  EXPECT_LT(rel_diff(enas::mm(a, b), want), 1e-5);

  auto out = torch::full({m, n}, 7.0f);  // mm_out overwrites, it does not add
  enas::mm_out(out, a, b);
  EXPECT_LT(rel_diff(out, want), 1e-5);

  auto add = torch::randn({m, n});
  auto sum = torch::empty({m, n});
  enas::addmm_out(sum, add, a, b);
  EXPECT_LT(rel_diff(sum, want + in_double(add)), 1e-5);
  enas::addmm_out(add, add, a, b);  // in place: out is add
  EXPECT_LT(rel_diff(add, in_double(sum)), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmShapes,
                         ::testing::Values(Case{128, 400, 200, false, true},
                                           Case{17, 33, 9, false, false},
                                           Case{1, 37, 13, false, false},
                                           Case{13, 37, 1, true, false}, Case{5, 1, 6, false, true},
                                           Case{200, 448, 400, true, false},
                                           Case{64, 160, 80, true, true}));

// Slices of larger matrices (row stride above the width) are read and written in place, and an
// output whose rows are not contiguous still gets the product.
TEST_F(GemmTest, GemmReadsAndWritesSlicesInPlace) {
  auto big_a = torch::randn({20, 30}), big_b = torch::randn({40, 50});
  auto a = big_a.narrow(1, 3, 11).narrow(0, 2, 15);  // (15, 11), row stride 30
  auto b = big_b.narrow(0, 5, 11).narrow(1, 7, 9);   // (11, 9), row stride 50
  auto holder = torch::zeros({15, 25});
  auto out = holder.narrow(1, 4, 9);  // (15, 9), row stride 25
  enas::mm_out(out, a, b);
  EXPECT_LT(rel_diff(out, torch::mm(in_double(a), in_double(b))), 1e-5);
  EXPECT_EQ(holder.narrow(1, 0, 4).abs().sum().item<float>(), 0.0f);  // nothing outside it
  EXPECT_EQ(holder.narrow(1, 13, 12).abs().sum().item<float>(), 0.0f);

  auto strided = torch::zeros({9, 15}).t();  // (15, 9), column-major
  enas::mm_out(strided, a, b);
  EXPECT_LT(rel_diff(strided, torch::mm(in_double(a), in_double(b))), 1e-5);

  auto every_other = torch::randn({15, 22}).slice(1, 0, 22, 2);  // (15, 11), column stride 2
  EXPECT_LT(rel_diff(enas::mm(every_other, b), torch::mm(in_double(every_other), in_double(b))),
            1e-5);
}

// Inside a SerialElementwise (torch on one thread unless the products are oneDNN's) the product
// keeps the saved thread count, gives the same result, and torch's count is restored after.
TEST_F(GemmTest, GemmInsideSerialElementwiseKeepsItsThreads) {
  torch::set_num_threads(2);
  auto a = torch::randn({64, 300}), b = torch::randn({300, 70});
  const auto outside = enas::mm(a, b);
  EXPECT_EQ(product_threads(), 2);
  {
    SerialElementwise serial;
    const int elementwise = onednn_gemm_available() ? 2 : 1;
    EXPECT_EQ(torch::get_num_threads(), elementwise);
    EXPECT_EQ(product_threads(), 2);
    const auto inside = enas::mm(a, b);
    EXPECT_LT(rel_diff(inside, in_double(outside)), 1e-6);
    EXPECT_EQ(torch::get_num_threads(), elementwise);
  }
  EXPECT_EQ(torch::get_num_threads(), 2);
  EXPECT_EQ(product_threads(), 2);
}

// Not for autograd: inputs that ask for gradients keep libtorch's product and its graph; double
// and empty products are libtorch's too.
TEST_F(GemmTest, GemmLeavesAutogradDoubleAndEmptyToLibtorch) {
  auto a = torch::randn({6, 4}, torch::requires_grad()), b = torch::randn({4, 5});
  auto y = enas::mm(a, b);
  ASSERT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_LT(rel_diff(a.grad(), in_double(b.sum(1).expand({6, 4}))), 1e-6);

  auto ad = torch::randn({3, 4}, torch::kDouble), bd = torch::randn({4, 2}, torch::kDouble);
  EXPECT_TRUE(torch::equal(enas::mm(ad, bd), torch::mm(ad, bd)));
  EXPECT_EQ(enas::mm(torch::randn({3, 0}), torch::randn({0, 2})).abs().sum().item<float>(), 0.0f);
}

// With oneDNN present the products show in --profile under their own name, with a cost rule.
TEST_F(GemmTest, GemmIsProfiledAndCountedWhenOneDnnRunsIt) {
  if (!onednn_gemm_available()) GTEST_SKIP() << "no oneDNN SGEMM in this process";
  auto a = torch::randn({8, 16}), b = torch::randn({16, 4});
  OpProfile profile;
  enas::mm(a, b);
  const auto rows = profile.rows();
  bool found = false;
  for (const auto& r : rows) {
    if (r.key.rfind("enas::mm ", 0) != 0) continue;
    found = true;
    EXPECT_EQ(r.calls, 1);
    EXPECT_DOUBLE_EQ(r.cost.flops, 2.0 * 8 * 16 * 4);
    EXPECT_DOUBLE_EQ(r.cost.bytes, 4.0 * (8 * 16 + 16 * 4 + 8 * 4));
  }
  EXPECT_TRUE(found);
}

// The autograd product: value and both gradients against libtorch in double, on a slice of a
// larger weight (as the LM's node-0 input half is).
TEST_F(GemmTest, ProductGradientsMatchLibtorchInDouble) {
  auto w_full = torch::randn({14, 10}, torch::requires_grad());
  auto x = torch::randn({23, 7}, torch::requires_grad());
  auto y = product(x, w_full.narrow(0, 0, 7));  // (23, 10)
  auto xd = x.detach().to(torch::kDouble).requires_grad_();
  auto wd = w_full.detach().to(torch::kDouble).requires_grad_();
  auto yd = torch::mm(xd, wd.narrow(0, 0, 7));
  auto g = torch::randn({23, 10}, torch::kDouble);
  y.backward(g.to(torch::kFloat));
  yd.backward(g);
  EXPECT_LT(rel_diff(y, yd), 1e-5);
  EXPECT_LT(rel_diff(x.grad(), xd.grad()), 1e-5);
  EXPECT_LT(rel_diff(w_full.grad(), wd.grad()), 1e-5);
  EXPECT_EQ(w_full.grad().narrow(0, 7, 7).abs().sum().item<float>(), 0.0f);
}

}  // namespace
}  // namespace enas
