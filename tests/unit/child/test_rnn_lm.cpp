// The recurrent-cell space (rnn::Arc) and enas_lm's language model: golden forwards of the
// README's cells (tests/golden/rnn_cell_golden.py), the carried state, the shared child against
// the fixed one, parameter counts, variational dropout masks, decayed weights, the SGD step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "enas/child/rnn_lm.h"
#include "enas/config/config.h"
#include "enas/run/reporter.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/rnn.h"
#include "enas/train/lm_step.h"
#include "golden/rnn_cell_golden.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::error_of;
namespace g = golden::rnn_cell;

class RnnLmTest : public test::SeededTest {};

// ------------------------------------------------------------------------------ architectures

TEST(RnnArc, ReadmeArchitecturesParseAndRoundTrip) {
  for (const char* text : {kRnnEnasArc, kRnnDartsArc}) {
    SCOPED_TRACE(text);
    rnn::Arc a = rnn::parse_arc(text, 8);
    EXPECT_EQ(a.num_nodes(), 8);
    EXPECT_EQ(a.to_string(), text);
    EXPECT_EQ(rnn::parse_arc(a.to_string()), a);
  }
  rnn::Arc a = rnn::parse_arc(kRnnEnasArc);
  EXPECT_EQ(a.prev(0), 0);
  EXPECT_EQ(a.func(0), rnn::kSigmoid);
  EXPECT_EQ(a.prev(3), 2);
  EXPECT_EQ(a.func(3), rnn::kSigmoid);
  EXPECT_EQ(a.prev(7), 6);
  const std::string d = a.describe();
  EXPECT_PRED2(contains, d, "node 1 = sigmoid(node 0)");
  EXPECT_PRED2(contains, d, "node 2 = tanh(node 1)");
  EXPECT_PRED2(contains, d, "node 5 = tanh(node 4)");
  EXPECT_PRED2(contains, rnn::parse_arc(kRnnDartsArc).describe(), "relu");
  EXPECT_PRED2(contains, rnn::parse_arc(kRnnDartsArc).describe(), "identity");
}

TEST(RnnArc, ErrorsNameThePositionAndTheRange) {
  EXPECT_PRED2(contains, error_of([] { rnn::parse_arc("0 1 1"); }), "3 numbers");
  EXPECT_THROW(rnn::parse_arc(""), Error);
  std::string msg = error_of([] { rnn::parse_arc("0 2 5 0"); });
  EXPECT_PRED2(contains, msg, "position 2");
  EXPECT_PRED2(contains, msg, "node 2");
  EXPECT_PRED2(contains, msg, "0..1");
  msg = error_of([] { rnn::parse_arc("1 0"); });  // node 1 can only read node 0
  EXPECT_PRED2(contains, msg, "position 0");
  msg = error_of([] { rnn::parse_arc("0 1 1 4"); });
  EXPECT_PRED2(contains, msg, "position 3");
  EXPECT_PRED2(contains, msg, "function");
  EXPECT_PRED2(contains, msg, "0..3");
  EXPECT_THROW(rnn::parse_arc("0 -1"), Error);
  msg = error_of([] { rnn::parse_arc("0 1 1 0", 3); });
  EXPECT_PRED2(contains, msg, "3 nodes");
  EXPECT_NO_THROW(rnn::parse_arc("0 1 1 0", 2));
  EXPECT_THROW(rnn::parse_arc("0 x"), Error);
}

// -------------------------------------------------------------------------------------- golden

// kWeightScale * sin(kWeightFreq * i + salt), row-major, in double.
torch::Tensor salted(std::vector<int64_t> shape, double salt) {
  auto i = torch::arange(c10::multiply_integers(shape), torch::kDouble);
  return (g::kWeightScale * torch::sin(g::kWeightFreq * i + salt)).view(shape);
}

torch::Tensor golden_tensor(const double* v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<double*>(v), shape, torch::kDouble).clone();
}

torch::Tensor golden_ids(const int64_t* v) {
  return torch::from_blob(const_cast<int64_t*>(v), {g::kBatch * g::kSteps}, torch::kLong)
      .clone()
      .view({g::kBatch, g::kSteps});
}

/// The golden model: fixed child of `arc` in double, eval mode, salted weights.
RnnLm golden_model(const std::string& arc) {
  rnn::Arc a = rnn::parse_arc(arc);
  RnnLm m(RnnLmOptions().vocab_size(g::kVocab).hidden(g::kHidden).num_nodes(a.num_nodes()));
  m->set_arc(a);
  m->to(torch::kDouble);
  m->eval();
  torch::NoGradGuard guard;
  auto p = m->named_parameters();
  EXPECT_EQ(p.size(), static_cast<size_t>(2 + a.num_nodes()));
  p["w_emb"].copy_(salted({g::kVocab, g::kHidden}, g::kSaltEmb));
  p["w_prev"].copy_(salted({2 * g::kHidden, 2 * g::kHidden}, g::kSaltPrev));
  for (int k = 0; k < a.num_nodes(); ++k) {
    p["w_node_" + std::to_string(k)].copy_(salted({g::kHidden, 2 * g::kHidden}, g::kSaltNode0 + k));
  }
  return m;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

TEST_F(RnnLmTest, GoldenForwardOfTheReadmeCells) {
  struct Case {
    const char* arc;
    const double* all_s;
    const double* final_state;
    double loss;
  };
  for (const Case& c : {Case{g::kEnasArc, g::kEnasAllS, g::kEnasFinalState, g::kEnasLoss},
                        Case{g::kDartsArc, g::kDartsAllS, g::kDartsFinalState, g::kDartsLoss}}) {
    SCOPED_TRACE(c.arc);
    RnnLm m = golden_model(c.arc);
    auto s0 = golden_tensor(g::kInitialState, {g::kBatch, g::kHidden});
    LmOutput out = m->forward(golden_ids(g::kTokens), golden_ids(g::kTargets), s0);
    ASSERT_EQ(out.all_s.sizes(), (std::vector<int64_t>{g::kBatch, g::kSteps, g::kHidden}));
    EXPECT_LT(max_diff(out.all_s, golden_tensor(c.all_s, {g::kBatch, g::kSteps, g::kHidden})),
              1e-10);
    EXPECT_LT(max_diff(out.state, golden_tensor(c.final_state, {g::kBatch, g::kHidden})), 1e-10);
    EXPECT_NEAR(out.loss.item<double>(), c.loss, 1e-10);
    EXPECT_FALSE(out.state.requires_grad());
  }
}

TEST_F(RnnLmTest, StateCarriesAcrossCalls) {
  RnnLm m = golden_model(g::kEnasArc);
  auto x = golden_ids(g::kTokens), y = golden_ids(g::kTargets);
  auto s0 = golden_tensor(g::kInitialState, {g::kBatch, g::kHidden});
  LmOutput full = m->forward(x, y, s0);
  LmOutput first = m->forward(x.narrow(1, 0, 2), y.narrow(1, 0, 2), s0);
  LmOutput second = m->forward(x.narrow(1, 2, 2), y.narrow(1, 2, 2), first.state);
  EXPECT_LT(max_diff(torch::cat({first.all_s, second.all_s}, 1), full.all_s), 1e-13);
  EXPECT_LT(max_diff(second.state, full.state), 1e-13);
  EXPECT_NEAR((first.loss.item<double>() + second.loss.item<double>()) / 2,
              full.loss.item<double>(), 1e-13);
  // Restarting from s0 differs: the state is what carries the history.
  LmOutput restarted = m->forward(x.narrow(1, 2, 2), y.narrow(1, 2, 2), s0);
  EXPECT_GT(max_diff(restarted.all_s, second.all_s), 1e-6);
  EXPECT_EQ(m->zero_state(3).sizes(), (std::vector<int64_t>{3, g::kHidden}));
  EXPECT_EQ(m->zero_state(3).abs().sum().item<double>(), 0.0);
}

// ------------------------------------------------------------------------ shared vs fixed

TEST_F(RnnLmTest, SharedChildOnItsPathEqualsTheFixedChild) {
  const int64_t v = 13, h = 6;
  rnn::Arc arc = rnn::parse_arc(kRnnDartsArc);
  const int n = arc.num_nodes();
  RnnLm fixed(RnnLmOptions().vocab_size(v).hidden(h).num_nodes(n));
  RnnLm shared(RnnLmOptions().vocab_size(v).hidden(h).num_nodes(n).shared(true));
  fixed->set_arc(arc);
  shared->set_arc(arc);
  fixed->to(torch::kDouble);
  shared->to(torch::kDouble);
  fixed->eval();
  shared->eval();
  {
    torch::NoGradGuard guard;
    auto pf = fixed->named_parameters(), ps = shared->named_parameters();
    ps["w_emb"].copy_(pf["w_emb"]);
    ps["w_prev"].copy_(pf["w_prev"]);
    for (int k = 0; k < n; ++k) {
      const std::string name = "w_node_" + std::to_string(k);
      ASSERT_EQ(ps[name].sizes(), (std::vector<int64_t>{rnn::kNumFuncs, k + 1, h, 2 * h}));
      ps[name][arc.func(k)][arc.prev(k)].copy_(pf[name]);
    }
  }
  auto x = torch::randint(v, {3, 7}, torch::kLong), y = torch::randint(v, {3, 7}, torch::kLong);
  auto s0 = 0.1 * torch::randn({3, h}, torch::kDouble);
  LmOutput a = fixed->forward(x, y, s0), b = shared->forward(x, y, s0);
  EXPECT_LT(max_diff(a.all_s, b.all_s), 1e-12);
  EXPECT_LT(max_diff(a.state, b.state), 1e-12);
  EXPECT_NEAR(a.loss.item<double>(), b.loss.item<double>(), 1e-12);

  // The path's matrices are leaves of their own over the shared tensors' storage: the gradient
  // lands on them, and an update through them changes the path's slices only.
  b.loss.backward();
  auto ps = shared->named_parameters();
  for (int k = 0; k < n; ++k) {
    SCOPED_TRACE("node " + std::to_string(k));
    const auto& p = ps["w_node_" + std::to_string(k)];
    const auto leaf = shared->node_weight(k);
    EXPECT_FALSE(p.grad().defined());
    ASSERT_TRUE(leaf.grad().defined());
    EXPECT_GT(leaf.grad().abs().sum().item<double>(), 0);
    auto before = p.detach().clone();
    {
      torch::NoGradGuard guard;
      leaf.add_(leaf.grad(), -1.0);
    }
    auto moved = (p.detach() - before).abs();
    EXPECT_GT(moved[arc.func(k)][arc.prev(k)].sum().item<double>(), 0);
    moved[arc.func(k)][arc.prev(k)].zero_();
    EXPECT_EQ(moved.max().item<double>(), 0.0);
  }
  EXPECT_GT(ps["w_prev"].grad().abs().sum().item<double>(), 0);
  EXPECT_GT(ps["w_emb"].grad().abs().sum().item<double>(), 0);
}

TEST_F(RnnLmTest, ParameterCounts) {
  RnnLm final_child(RnnLmOptions().vocab_size(10000).hidden(800).num_nodes(8));
  EXPECT_EQ(final_child->num_params(), 20'800'000);
  const int64_t v = 50, h = 6, n = 4;
  RnnLm shared(RnnLmOptions().vocab_size(v).hidden(h).num_nodes(n).shared(true));
  int64_t want = v * h + 4 * h * h;
  for (int64_t k = 0; k < n; ++k) want += 4 * (k + 1) * 2 * h * h;
  EXPECT_EQ(shared->num_params(), want);
  EXPECT_EQ(shared->num_params_per_arc(), v * h + 4 * h * h + n * 2 * h * h);
  for (const auto& p : shared->parameters()) {
    EXPECT_LE(p.abs().max().item<double>(), 0.05);  // uniform(-init_range, init_range)
  }
}

// ------------------------------------------------------------------------------------ dropout

TEST_F(RnnLmTest, InputMaskIsOneMaskForEveryStep) {
  // B = 1: x_t * m @ W_x = x_t @ (diag(m) W_x), so a mask shared by all steps folds into the input
  // rows of w_prev; a mask redrawn per step could not.
  RnnLm m = golden_model(g::kEnasArc), folded = golden_model(g::kEnasArc);
  m->train();  // explicit masks apply in training mode
  auto x = golden_ids(g::kTokens).narrow(0, 0, 1), y = golden_ids(g::kTargets).narrow(0, 0, 1);
  auto s0 = golden_tensor(g::kInitialState, {g::kBatch, g::kHidden}).narrow(0, 0, 1);
  auto mask = torch::tensor({{2.0, 0.0, 2.0, 2.0, 0.0}}, torch::kDouble);
  LmMasks masks;
  masks.input = mask;
  LmOutput got = m->forward(x, y, s0, masks);
  {
    torch::NoGradGuard guard;
    folded->named_parameters()["w_prev"].narrow(0, 0, g::kHidden).mul_(mask.t());
  }
  LmOutput want = folded->forward(x, y, s0, LmMasks{});
  EXPECT_LT(max_diff(got.all_s, want.all_s), 1e-12);
  EXPECT_NEAR(got.loss.item<double>(), want.loss.item<double>(), 1e-12);
  EXPECT_GT(max_diff(got.all_s, m->forward(x, y, s0, LmMasks{}).all_s), 1e-4);
}

TEST_F(RnnLmTest, LayerMaskIsOneMaskForEveryStepAndNode) {
  // The layer mask multiplies the state entering w_prev's state rows and every node's input:
  // for B = 1 it folds into those rows of each matrix.
  RnnLm m = golden_model(g::kDartsArc), folded = golden_model(g::kDartsArc);
  m->train();
  auto x = golden_ids(g::kTokens).narrow(0, 1, 1), y = golden_ids(g::kTargets).narrow(0, 1, 1);
  auto s0 = golden_tensor(g::kInitialState, {g::kBatch, g::kHidden}).narrow(0, 1, 1);
  auto mask = torch::tensor({{0.0, 4.0 / 3, 4.0 / 3, 0.0, 4.0 / 3}}, torch::kDouble);
  LmMasks masks;
  masks.layer = mask;
  LmOutput got = m->forward(x, y, s0, masks);
  {
    torch::NoGradGuard guard;
    auto p = folded->named_parameters();
    p["w_prev"].narrow(0, g::kHidden, g::kHidden).mul_(mask.t());
    for (int k = 0; k < 8; ++k) p["w_node_" + std::to_string(k)].mul_(mask.t());
  }
  LmOutput want = folded->forward(x, y, s0, LmMasks{});
  EXPECT_LT(max_diff(got.all_s, want.all_s), 1e-12);
  EXPECT_LT(max_diff(got.state, want.state), 1e-12);
  EXPECT_GT(max_diff(got.all_s, m->forward(x, y, s0, LmMasks{}).all_s), 1e-4);
}

TEST_F(RnnLmTest, OutputMaskOnlyTouchesTheSoftmax) {
  RnnLm m = golden_model(g::kEnasArc);
  m->train();
  auto x = golden_ids(g::kTokens), y = golden_ids(g::kTargets);
  auto s0 = golden_tensor(g::kInitialState, {g::kBatch, g::kHidden});
  LmMasks masks;
  masks.output = torch::zeros({g::kBatch, 1, g::kHidden}, torch::kDouble);
  LmOutput got = m->forward(x, y, s0, masks);
  // all_s is reported before output dropout; zeroed outputs give uniform logits.
  EXPECT_LT(max_diff(got.all_s, golden_tensor(g::kEnasAllS, {g::kBatch, g::kSteps, g::kHidden})),
            1e-10);
  EXPECT_NEAR(got.loss.item<double>(), std::log(static_cast<double>(g::kVocab)), 1e-12);
}

TEST_F(RnnLmTest, DrawnMasksHaveTheRightShapesAndValues) {
  const int64_t v = 40, h = 64, n = 3, b = 5;
  auto o = RnnLmOptions().vocab_size(v).hidden(h).num_nodes(n);
  o.drop_e(0.1).drop_i(0.2).drop_x(0.5).drop_l(0.25).drop_o(0.75).drop_w(0.3);
  RnnLm m(o);
  LmMasks masks = m->draw_masks(b);
  struct Expect {
    const char* name;
    torch::Tensor t;
    std::vector<int64_t> shape;
    double rate;
  };
  std::vector<Expect> all = {
      {"words", masks.words, {v, 1}, 0.1},       {"emb", masks.emb, {b, 1, h}, 0.2},
      {"input", masks.input, {b, h}, 0.5},       {"layer", masks.layer, {b, h}, 0.25},
      {"output", masks.output, {b, 1, h}, 0.75}, {"w_prev", masks.w_prev, {h, 2 * h}, 0.3}};
  ASSERT_EQ(masks.w_nodes.size(), static_cast<size_t>(n));
  for (const auto& w : masks.w_nodes) all.push_back({"w_node", w, {h, 2 * h}, 0.3});
  for (const auto& e : all) {
    SCOPED_TRACE(e.name);
    ASSERT_TRUE(e.t.defined());
    EXPECT_EQ(e.t.sizes(), e.shape);
    const double kept = 1.0 / (1.0 - e.rate);
    auto t = e.t.to(torch::kDouble);
    auto is_zero = t == 0, is_kept = (t - kept).abs() < 1e-6;
    EXPECT_TRUE((is_zero | is_kept).all().item<bool>());
    EXPECT_GT(is_zero.sum().item<int64_t>(), 0);
    EXPECT_GT(is_kept.sum().item<int64_t>(), 0);
  }
  // No dropping: no masks.
  RnnLm plain(RnnLmOptions().vocab_size(v).hidden(h).num_nodes(n));
  LmMasks none = plain->draw_masks(b);
  EXPECT_FALSE(none.words.defined() || none.emb.defined() || none.input.defined() ||
               none.layer.defined() || none.output.defined() || none.w_prev.defined());
  EXPECT_TRUE(none.w_nodes.empty());
}

// ------------------------------------------------------------------------- training pieces

TEST_F(RnnLmTest, DecayedWeights) {
  RnnLm fixed(RnnLmOptions().vocab_size(9).hidden(4).num_nodes(2));
  fixed->set_arc(rnn::parse_arc("0 1 1 3"));
  auto params = fixed->parameters(), decayed = fixed->decayed_weights();
  ASSERT_EQ(decayed.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(decayed[i].is_same(params[i]));

  RnnLm shared(RnnLmOptions().vocab_size(9).hidden(4).num_nodes(3).shared(true));
  rnn::Arc arc = rnn::parse_arc("0 2 0 1 2 3");
  shared->set_arc(arc);
  auto p = shared->named_parameters();
  auto d = shared->decayed_weights();
  ASSERT_EQ(d.size(), 4u);
  EXPECT_TRUE(d[0].is_same(p["w_prev"]));
  for (int k = 0; k < 3; ++k) {
    const auto& w = p["w_node_" + std::to_string(k)];
    EXPECT_EQ(d[k + 1].sizes(), (std::vector<int64_t>{4, 8}));
    EXPECT_EQ(d[k + 1].data_ptr(), w[arc.func(k)][arc.prev(k)].data_ptr()) << k;
  }
}

TEST_F(RnnLmTest, TrainStepLowersTheLossOfALearnableStream) {
  // Token t + 1 = (t + 3) mod 10: every word, each followed by one other, so a small model can
  // learn it. No dropout; the state starts at zero for every step (the same segment each time).
  const int64_t v = 10;
  RnnLm m(RnnLmOptions().vocab_size(v).hidden(16).num_nodes(3).init_range(0.2));
  m->set_arc(rnn::parse_arc("0 1 1 0 1 3"));
  std::vector<int64_t> tokens{0};
  for (int i = 0; i < 4 * 9 - 1; ++i) tokens.push_back((tokens.back() + 3) % v);
  auto rows = torch::tensor(tokens, torch::kLong).view({4, 9});
  auto x = rows.narrow(1, 0, 8), y = rows.narrow(1, 1, 8);
  LmStepOptions o;
  o.bptt = 8;
  o.grad_bound = 0.25;
  m->train();
  std::vector<double> losses;
  for (int step = 0; step < 30; ++step) {
    torch::Tensor state = m->zero_state(4);
    LmStep s = lm_train_step(*m, x, y, state, 10.0, o);
    losses.push_back(s.loss);
    EXPECT_EQ(s.tokens, 32);
    EXPECT_DOUBLE_EQ(s.lr, 10.0);  // segments of bptt tokens: the rate itself
    EXPECT_TRUE(std::isfinite(s.grad_norm));
  }
  EXPECT_NEAR(losses.front(), std::log(static_cast<double>(v)), 0.1);  // near uniform at start
  // The mean of the last five steps, so that one step of SGD's noise cannot decide.
  double last = 0;
  for (size_t i = losses.size() - 5; i < losses.size(); ++i) last += losses[i] / 5;
  // Measured ~0.005 from 2.30; a quarter leaves room for other builds' rounding.
  EXPECT_LT(last, 0.25 * losses.front()) << losses.front() << " -> " << last;
}

TEST_F(RnnLmTest, TrainStepClipsByGlobalNormAndScalesTheRate) {
  for (const double bound : {1e-4, 0.0}) {
    SCOPED_TRACE(bound);
    torch::manual_seed(5);
    RnnLm m(RnnLmOptions().vocab_size(12).hidden(6).num_nodes(2));
    m->set_arc(rnn::parse_arc("0 0 1 2"));
    m->to(torch::kDouble);
    auto x = torch::randint(12, {3, 5}, torch::kLong), y = torch::randint(12, {3, 5}, torch::kLong);
    const auto params = m->parameters();
    std::vector<torch::Tensor> before;
    for (const auto& p : params) before.push_back(p.detach().clone());
    LmStepOptions o;
    o.bptt = 10;  // segments of 5: half the rate
    o.grad_bound = bound;
    torch::Tensor state = m->zero_state(3);
    LmStep s = lm_train_step(*m, x, y, state, 0.5, o);
    EXPECT_DOUBLE_EQ(s.lr, 0.25);
    EXPECT_EQ(state.sizes(), (std::vector<int64_t>{3, 6}));
    double moved = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      moved += (params[i].detach() - before[i]).pow(2).sum().item<double>();
    }
    moved = std::sqrt(moved);
    if (bound > 0) {
      ASSERT_GT(s.grad_norm, bound);
      EXPECT_NEAR(moved, 0.25 * bound, 1e-9 * 0.25 * bound + 1e-15);
    } else {
      EXPECT_NEAR(moved, 0.25 * s.grad_norm, 1e-9 * s.grad_norm);
    }
  }
}

TEST_F(RnnLmTest, AStepKeptOnTheDeviceIsTheHostsStep) {
  // LmStepOptions::on_device (what a GPU runs: the clipping scale computed there, nothing read
  // back) against the per-step reads, in double: with clipping that binds, that does not, none.
  for (const double bound : {1e-3, 1e3, 0.0}) {
    SCOPED_TRACE(bound);
    torch::manual_seed(9);
    RnnLm host(RnnLmOptions().vocab_size(12).hidden(6).num_nodes(3));
    host->set_arc(rnn::parse_arc("0 0 1 2 1 1"));
    host->to(torch::kDouble);
    RnnLm dev(RnnLmOptions().vocab_size(12).hidden(6).num_nodes(3));
    dev->set_arc(rnn::parse_arc("0 0 1 2 1 1"));
    dev->to(torch::kDouble);
    for (size_t i = 0; i < host->parameters().size(); ++i) {
      torch::NoGradGuard no_grad;
      dev->parameters()[i].copy_(host->parameters()[i]);
    }
    LmStepOptions o;
    o.bptt = 5;
    o.grad_bound = bound;
    o.alpha = 0.5;
    o.beta = 0.5;
    o.weight_decay = 1e-3;
    LmStepOptions od = o;
    od.on_device = true;
    torch::Tensor sh = host->zero_state(3), sd = dev->zero_state(3);
    for (int step = 0; step < 3; ++step) {
      auto x = torch::randint(12, {3, 5}, torch::kLong),
           y = torch::randint(12, {3, 5}, torch::kLong);
      const LmStep a = lm_train_step(*host, x, y, sh, 0.5, o);
      LmStep b = lm_train_step(*dev, x, y, sd, 0.5, od);
      ASSERT_FALSE(a.values.defined());
      ASSERT_TRUE(b.values.defined());
      EXPECT_EQ(b.loss, 0.0);  // not read yet
      b.read();
      EXPECT_NEAR(b.loss, a.loss, 1e-12);
      EXPECT_NEAR(b.l2, a.l2, 1e-12);
      EXPECT_NEAR(b.grad_norm, a.grad_norm, 1e-12);
      EXPECT_EQ(b.tokens, a.tokens);
      EXPECT_DOUBLE_EQ(b.lr, a.lr);
      if (bound == 1e-3) {
        EXPECT_GT(a.grad_norm, bound);  // the clipping bound binds
      }
    }
    for (size_t i = 0; i < host->parameters().size(); ++i) {
      EXPECT_TRUE(torch::allclose(dev->parameters()[i], host->parameters()[i], 1e-12, 1e-14)) << i;
    }
  }
}

TEST_F(RnnLmTest, APassKeptOnTheDeviceLogsAndEndsAsTheHostsDoes) {
  // The pass's bookkeeping when the losses stay on the device (summed there, read at log lines
  // and at the end): the same log records, perplexity and tokens as reading every step, and a
  // diverged pass is seen.
  struct Records : Listener {
    std::vector<nlohmann::json> lines;
    void on_record(const nlohmann::json& r) override { lines.push_back(r); }
  };
  Config c;
  c.child_bptt_steps = 6;
  c.log_every = 3;
  c.child_lr = 1.0;
  c.child_grad_bound = 0.1;
  c.seed = 4;
  torch::manual_seed(2);
  const auto rows = torch::randint(10, {4, 61}, torch::kLong);
  auto run = [&](bool on_device, double lr) {
    torch::manual_seed(3);
    RnnLm m(RnnLmOptions().vocab_size(10).hidden(8).num_nodes(2));
    m->set_arc(rnn::parse_arc("0 0 1 1"));
    m->to(torch::kDouble);
    Config cc = c;
    cc.child_lr = lr;
    Reporter reporter;
    auto records = std::make_shared<Records>();
    reporter.add(records);
    LmEpochHooks hooks;
    hooks.step_on_device = on_device;
    int64_t step = 0;
    // No hooks.save: the pass never stops early, so the folder (a follower's) is never written.
    const RunDir nowhere = RunDir::follow(test::TempDir().path(), "train", "");
    const LmEpoch e = train_lm_epoch(
        *m, rows, cc, 0, 0, step, reporter, nowhere, [] { return 0.0; }, hooks);
    return std::make_tuple(e, step, records->lines);
  };
  const auto [host, host_steps, host_lines] = run(false, 1.0);
  const auto [dev, dev_steps, dev_lines] = run(true, 1.0);
  ASSERT_TRUE(host.finite);
  ASSERT_TRUE(dev.finite);
  EXPECT_EQ(dev_steps, host_steps);
  EXPECT_EQ(dev.at.segment, host.at.segment);
  EXPECT_EQ(dev.at.tokens, host.at.tokens);
  EXPECT_NEAR(dev.train_ppl, host.train_ppl, 1e-9 * host.train_ppl);
  ASSERT_EQ(dev_lines.size(), host_lines.size());
  ASSERT_GE(host_lines.size(), 3u);  // two or more step lines and the epoch's
  for (size_t i = 0; i < host_lines.size(); ++i) {
    SCOPED_TRACE(host_lines[i].dump());
    EXPECT_EQ(dev_lines[i].at("kind"), host_lines[i].at("kind"));
    EXPECT_EQ(dev_lines[i].at("step"), host_lines[i].at("step"));
    const char* field = host_lines[i].at("kind") == "lm_step" ? "ppl" : "train_ppl";
    EXPECT_NEAR(dev_lines[i].at(field).get<double>(), host_lines[i].at(field).get<double>(),
                1e-9 * host_lines[i].at(field).get<double>());
    if (host_lines[i].at("kind") == "lm_step") {
      EXPECT_NEAR(dev_lines[i].at("grad_norm").get<double>(),
                  host_lines[i].at("grad_norm").get<double>(), 1e-9);
    }
  }
  // A rate that overflows the weights: both passes report it, the device's at its next read.
  c.child_grad_bound = 0;
  c.child_clip_mode = "none";
  EXPECT_FALSE(std::get<0>(run(false, 1e300)).finite);
  EXPECT_FALSE(std::get<0>(run(true, 1e300)).finite);
}

}  // namespace
}  // namespace enas
