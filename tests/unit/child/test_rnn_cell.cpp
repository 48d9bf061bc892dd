// The hand-written back-propagation through time of the recurrent cell (rnn_cell.cpp) against
// autograd running the same recurrence written op by op, in double precision.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "enas/child/rnn_cell.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/rnn.h"
#include "test_util.h"

namespace enas {
namespace {

using torch::Tensor;

/// The recurrence as enas_lm's _rnn_fn writes it, for autograd to differentiate.
Tensor reference_cell(const Tensor& xw, const Tensor& s0, const Tensor& w_s,
                      const std::vector<Tensor>& w_nodes, const Tensor& mask, const rnn::Arc& arc) {
  const int64_t h = s0.size(1);
  Tensor s = s0;
  std::vector<Tensor> outs;
  for (int64_t t = 0; t < xw.size(0); ++t) {
    Tensor pre = xw[t] + (mask.defined() ? s * mask : s).mm(w_s);
    Tensor c = torch::tanh(pre.narrow(1, 0, h)), g = torch::sigmoid(pre.narrow(1, h, h));
    std::vector<Tensor> layers{s + g * (c - s)};
    for (int k = 0; k < arc.num_nodes(); ++k) {
      Tensor q = layers[arc.prev(k)];
      Tensor pk = (mask.defined() ? q * mask : q).mm(w_nodes[k]);
      Tensor f = pk.narrow(1, 0, h);
      switch (arc.func(k)) {
        case rnn::kTanh:
          f = torch::tanh(f);
          break;
        case rnn::kRelu:
          f = torch::relu(f);
          break;
        case rnn::kSigmoid:
          f = torch::sigmoid(f);
          break;
        default:
          break;
      }
      Tensor gk = torch::sigmoid(pk.narrow(1, h, h));
      layers.push_back(q + gk * (f - q));
    }
    Tensor sum = layers[1];
    for (size_t k = 2; k < layers.size(); ++k) sum = sum + layers[k];
    s = sum / static_cast<double>(arc.num_nodes());
    outs.push_back(s);
  }
  return torch::stack(outs, 0);
}

struct Inputs {
  Tensor xw, s0, w_s, mask;
  std::vector<Tensor> w_nodes;
  std::vector<Tensor> all() const {
    std::vector<Tensor> v{xw, s0, w_s};
    v.insert(v.end(), w_nodes.begin(), w_nodes.end());
    return v;
  }
};

Inputs random_inputs(const rnn::Arc& arc, int64_t t, int64_t b, int64_t h, bool with_mask) {
  auto o = torch::TensorOptions().dtype(torch::kDouble);
  Inputs in;
  in.xw = torch::randn({t, b, 2 * h}, o).requires_grad_();
  in.s0 = (0.5 * torch::randn({b, h}, o)).requires_grad_();
  in.w_s = (0.4 * torch::randn({h, 2 * h}, o)).requires_grad_();
  for (int k = 0; k < arc.num_nodes(); ++k) {
    in.w_nodes.push_back((0.4 * torch::randn({h, 2 * h}, o)).requires_grad_());
  }
  if (with_mask) in.mask = torch::bernoulli(torch::full({b, h}, 0.7, o)) / 0.7;
  return in;
}

/// Forward values and every input's gradient under a random upstream gradient agree.
void expect_same_as_autograd(const rnn::Arc& arc, bool with_mask, int64_t b = 3) {
  torch::manual_seed(3);
  const int64_t t = 5, h = 4;
  Inputs in = random_inputs(arc, t, b, h, with_mask);
  const Tensor upstream = torch::randn({t, b, h}, torch::kDouble);

  Tensor ours = rnn_cell_sequence(in.xw, in.s0, in.w_s, in.w_nodes, in.mask, arc);
  Tensor ref = reference_cell(in.xw, in.s0, in.w_s, in.w_nodes, in.mask, arc);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_TRUE(torch::allclose(ours, ref, 1e-12, 1e-12)) << (ours - ref).abs().max();

  const auto vars = in.all();
  auto g_ours = torch::autograd::grad({ours}, vars, {upstream});
  auto g_ref = torch::autograd::grad({ref}, vars, {upstream});
  const char* names[] = {"xw", "s0", "w_s"};
  for (size_t i = 0; i < vars.size(); ++i) {
    const std::string name = i < 3 ? names[i] : "w_node_" + std::to_string(i - 3);
    ASSERT_TRUE(g_ours[i].defined()) << name;
    EXPECT_GT(g_ref[i].abs().max().item<double>(), 1e-6) << name << ": a vacuous comparison";
    EXPECT_TRUE(torch::allclose(g_ours[i], g_ref[i], 1e-10, 1e-12))
        << name << ": max difference " << (g_ours[i] - g_ref[i]).abs().max().item<double>();
  }
}

TEST(RnnCellBptt, EnasArcMatchesAutograd) {
  expect_same_as_autograd(rnn::parse_arc(kRnnEnasArc), false);
}

TEST(RnnCellBptt, DartsArcWithLayerMaskMatchesAutograd) {
  expect_same_as_autograd(rnn::parse_arc(kRnnDartsArc), true);
}

TEST(RnnCellBptt, EveryFunctionAndFanOutMatchesAutograd) {
  // Node 0 feeds three nodes and node 2 two: gradients from several consumers must add up.
  expect_same_as_autograd(rnn::parse_arc("0 3 0 1 1 0 0 2 2 1 2 3"), true);
}

TEST(RnnCellBptt, OneRowMatchesAutograd) {
  // Batch 1 (the test stream) takes gemv instead of gemm in the forward.
  expect_same_as_autograd(rnn::parse_arc(kRnnDartsArc), true, 1);
  expect_same_as_autograd(rnn::parse_arc(kRnnEnasArc), false, 1);
}

/// The float path (the fused highway kernels) against autograd over the same recurrence in
/// double, from the same numbers: forward values and every input's gradient.
void expect_float_kernel_matches(const rnn::Arc& arc, bool with_mask, int64_t b) {
  torch::manual_seed(4);
  const int64_t t = 6, h = 16;  // 16 and 2H = 32 floats: full vectors and a row stride
  Inputs in = random_inputs(arc, t, b, h, with_mask);
  const Tensor upstream = torch::randn({t, b, h}, torch::kDouble);
  Tensor ref = reference_cell(in.xw, in.s0, in.w_s, in.w_nodes, in.mask, arc);
  const auto vars = in.all();
  auto g_ref = torch::autograd::grad({ref}, vars, {upstream});

  std::vector<Tensor> fl;
  for (const auto& v : vars) fl.push_back(v.detach().to(torch::kFloat).requires_grad_());
  const std::vector<Tensor> w_nodes(fl.begin() + 3, fl.end());
  const Tensor mask = with_mask ? in.mask.to(torch::kFloat) : Tensor();
  Tensor ours = rnn_cell_sequence(fl[0], fl[1], fl[2], w_nodes, mask, arc);
  auto g_ours = torch::autograd::grad({ours}, fl, {upstream.to(torch::kFloat)});
  auto rel = [](const Tensor& a, const Tensor& want) {
    return (a.to(torch::kDouble) - want).abs().max().item<double>() /
           want.abs().max().item<double>();
  };
  EXPECT_LT(rel(ours, ref), 1e-5);
  for (size_t i = 0; i < fl.size(); ++i) EXPECT_LT(rel(g_ours[i], g_ref[i]), 1e-5) << "input " << i;
}

TEST(RnnCellBptt, FloatKernelMatchesDoubleAutograd) {
  // Every function, fan-out, with and without the mask, and one row (gemv).
  for (const char* code : {"0 3 0 1 1 0 0 2 2 1 2 3", kRnnEnasArc, kRnnDartsArc}) {
    SCOPED_TRACE(code);
    expect_float_kernel_matches(rnn::parse_arc(code), true, 5);
    expect_float_kernel_matches(rnn::parse_arc(code), false, 1);
  }
}

TEST(RnnCellBptt, FloatKernelSplitAcrossThreadsMatchesDoubleAutograd) {
  // 2100 rows at H = 16 make more than one task of the node kernels (1024 rows each), and the
  // unmasked backward adds its products in place over many rows.
  torch::set_num_threads(2);
  for (bool with_mask : {true, false}) {
    SCOPED_TRACE(with_mask);
    expect_float_kernel_matches(rnn::parse_arc(kRnnEnasArc), with_mask, 2100);
  }
}

TEST(RnnCellBptt, NoGradModeGivesTheSameValues) {
  torch::manual_seed(5);
  const auto arc = rnn::parse_arc(kRnnEnasArc);
  Inputs in = random_inputs(arc, 4, 2, 3, true);
  Tensor with_grad = rnn_cell_sequence(in.xw, in.s0, in.w_s, in.w_nodes, in.mask, arc);
  Tensor without;
  {
    torch::NoGradGuard guard;
    without = rnn_cell_sequence(in.xw, in.s0, in.w_s, in.w_nodes, in.mask, arc);
  }
  EXPECT_TRUE(with_grad.requires_grad());
  EXPECT_FALSE(without.requires_grad());
  EXPECT_TRUE(torch::equal(with_grad.detach(), without));
}

TEST(RnnCellBptt, RejectsAWrongNumberOfNodeWeights) {
  const auto arc = rnn::parse_arc("0 1 1 2");
  auto z = torch::zeros({2, 1, 6});
  const std::string msg = test::error_of([&] {
    rnn_cell_sequence(z, torch::zeros({1, 3}), torch::zeros({3, 6}), {torch::zeros({3, 6})},
                      torch::Tensor(), arc);
  });
  EXPECT_PRED2(test::contains, msg, "1 node weights for 2 nodes");
}

}  // namespace
}  // namespace enas
