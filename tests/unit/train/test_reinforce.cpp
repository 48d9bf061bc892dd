// REINFORCE and TF-style Adam (src/train/reinforce.cpp): the controllers learn bandits, the
// baseline moves before the advantage, Adam matches TF's formula, save/load restores the state.
// Golden weights: tests/golden/controller_golden.py (see tests/golden/controller_golden.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "controller_util.h"
#include "enas/controller/controller.h"
#include "enas/controller/macro_controller.h"
#include "enas/controller/micro_controller.h"
#include "enas/train/reinforce.h"
#include "golden/controller_golden.h"
#include "test_util.h"

namespace enas {
namespace {

/// Seeded, one thread (test_util.h).
using ReinforceTest = test::SeededTest;

using test::fill_golden;
using test::macro_controller;
using test::macro_options;
using test::micro_controller;
using test::micro_options;
using test::to_vector;
namespace golden = golden::controller;

// ------------------------------------------------------------------------------------- bandits

// Trains `c` with REINFORCE (entropy_weight 0, bl_dec 0.9, 10 samples per update) on the reward
// "fraction of decisions equal to target's", checking the policy every 10 updates; returns the
// number of updates after which p(target) = exp(score(target).log_prob) > 0.9, or -1.
int train_bandit(const Controller& c, const std::vector<int>& target, double lr, int max_updates) {
  ReinforceOptions ro;
  ro.lr = lr;  // the authors use 3.5e-4; higher keeps the test short
  ro.bl_dec = 0.9;
  ro.entropy_weight = 0;
  Reinforce reinforce(c, ro);
  for (int update = 1; update <= max_updates; ++update) {
    ArcBatch s = c->sample(10);  // num_aggregate = 10
    std::vector<double> acc;
    for (const auto& arc : s.arcs) {
      int same = 0;
      for (size_t i = 0; i < arc.size(); ++i) same += arc[i] == target[i];
      acc.push_back(static_cast<double>(same) / arc.size());
    }
    reinforce.update(s, acc);
    if (update % 10 == 0) {
      torch::NoGradGuard guard;
      if (std::exp(c->score({target}).log_prob.item<double>()) > 0.9) return update;
    }
  }
  return -1;
}

// Bounds of the two bandits. Seeded, hence deterministic on one build; the bounds leave room for
// other builds' float rounding to change the trajectory. Measured with 40 sampler seeds each:
// macro 120-190 updates, micro 150-220 updates to p(target) > 0.9.
//
// The targets avoid a property of the authors' attention (not of our code): the skip (macro) and
// index (micro) logits of one step all share v_attn and w_attn_2, and the anchors start nearly
// alike, so early updates move all of one step's attention decisions together. Targets that want
// different bits within one macro layer (e.g. skips [1 | 0 1]) or different indices within one
// micro block collapse to a deterministic wrong policy on most seeds (REINFORCE then sees no
// variance and stops), so the tests use one skip value / one index and vary the ops instead.

TEST_F(ReinforceTest, ReinforceLearnsAMacroBandit) {
  // Target: ops 2, 4, 1 and every skip bit 1. tanh_constant off: with 1.5 an op's probability
  // could never exceed e^1.5 / (e^1.5 + 5 e^-1.5) = 0.80.
  auto o = macro_options(3, 6, 32, 0);
  o.seed = 11;
  Controller c = macro_controller(o);
  const std::vector<int> target = {2, 4, 1, 1, 1, 1};
  {
    torch::NoGradGuard guard;
    EXPECT_LT(std::exp(c->score({target}).log_prob.item<double>()), 0.01);  // ~1/6^3 * 1/2^3
  }
  const int updates = train_bandit(c, target, 0.02, 400);
  EXPECT_GT(updates, 0) << "p(target) did not reach 0.9 within 400 updates";
  RecordProperty("updates", updates);
}

TEST_F(ReinforceTest, ReinforceLearnsAMicroBandit) {
  // Two blocks per cell (16 decisions); target per block "0 3 0 2" (both inputs node 0, ops 3
  // then 2) in both cells, so the whole architecture above 0.9 needs each decision ~0.993.
  // tanh_constant off and b_soft zeroed: with the authors' b_soft init [10, 10, 0, 0, 0] and no
  // tanh, op 3 starts at p ~ 2e-5 and is never sampled (and with their tanh of 1.1 / 2.5 an op's
  // probability is capped near 0.3).
  auto o = micro_options(2, 5, 32, 0, 1);
  o.seed = 5;
  Controller c = micro_controller(o);
  {
    torch::NoGradGuard guard;
    c->named_parameters()["b_soft"].zero_();
  }
  std::vector<int> target;
  for (int i = 0; i < 4; ++i) target.insert(target.end(), {0, 3, 0, 2});
  {
    torch::NoGradGuard guard;
    EXPECT_LT(std::exp(c->score({target}).log_prob.item<double>()), 1e-6);
  }
  const int updates = train_bandit(c, target, 0.02, 400);
  EXPECT_GT(updates, 0) << "p(target) did not reach 0.9 within 400 updates";
  RecordProperty("updates", updates);
}

// ----------------------------------------------------------------------------------- reinforce

TEST_F(ReinforceTest, ReinforceMovesTheBaselineBeforeTheAdvantage) {
  auto o = macro_options(3, 6, 16, 1.5);
  Controller a = macro_controller(o), b = macro_controller(o);
  fill_golden(*a);
  fill_golden(*b);
  ReinforceOptions ro;
  ro.lr = 0.01;
  ro.bl_dec = 0.9;
  ro.entropy_weight = 0.1;
  Reinforce reinforce(a, ro);
  ArcBatch s = a->sample(2);
  const std::vector<double> acc = {0.3, 0.7};
  const auto ent = to_vector(s.entropy);

  // By hand, the authors' order: b_i = b_{i-1} - (1 - d)(b_{i-1} - r_i), then adv_i = r_i - b_i.
  const double d = 0.9;
  const double r1 = acc[0] + 0.1 * ent[0], r2 = acc[1] + 0.1 * ent[1];
  const double b1 = 0.0 - (1 - d) * (0.0 - r1);
  const double adv1 = r1 - b1;
  const double b2 = b1 - (1 - d) * (b1 - r2);
  const double adv2 = r2 - b2;

  ReinforceStats st = reinforce.update(s, acc);
  EXPECT_NEAR(reinforce.baseline(), b2, 1e-12);
  EXPECT_NEAR(st.baseline, b2, 1e-12);
  EXPECT_NEAR(st.reward, (r1 + r2) / 2, 1e-12);
  EXPECT_EQ(st.step, 1);

  // loss = mean(-log p * advantage); the update is one Adam step (beta1 = 0, t = 1) on its
  // gradient, computed here on the twin controller b.
  ArcBatch scored = b->score(s.arcs);
  auto adv = torch::tensor({adv1, adv2}, torch::kFloat);
  auto loss = (-scored.log_prob * adv).mean();
  EXPECT_NEAR(st.loss, loss.item<double>(), 1e-5 * std::abs(loss.item<double>()) + 1e-7);
  loss.backward();
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  const double lr_t = ro.lr * std::sqrt(1 - ro.beta2);
  double moved = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    auto g = pb[i].grad().to(torch::kDouble);
    auto want =
        pb[i].detach().to(torch::kDouble) - lr_t * g / (std::sqrt(1 - ro.beta2) * g.abs() + ro.eps);
    auto got = pa[i].detach().to(torch::kDouble);
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6)) << "parameter " << i;
    moved += (got - pb[i].detach().to(torch::kDouble)).abs().sum().item<double>();
  }
  EXPECT_GT(moved, 0);

  // A second update continues from b2.
  reinforce.update(s, {0.5, 0.5});
  const double r3 = 0.5 + 0.1 * ent[0], r4 = 0.5 + 0.1 * ent[1];
  const double b3 = b2 - (1 - d) * (b2 - r3);
  EXPECT_NEAR(reinforce.baseline(), b3 - (1 - d) * (b3 - r4), 1e-12);
}

TEST(AdamTest, MatchesTensorFlowsFormula) {
  for (const double beta1 : {0.0, 0.9}) {
    SCOPED_TRACE(beta1);
    const double lr = 0.1, beta2 = 0.999, eps = 1e-3;
    auto p = torch::tensor({1.0, -2.0, 0.5, 0.0}, torch::kDouble).requires_grad_();
    Adam adam({p}, lr, beta1, beta2, eps);
    std::vector<double> w = {1.0, -2.0, 0.5, 0.0}, m(4, 0), v(4, 0);
    const std::vector<std::vector<double>> grads = {{0.5, -1.0, 2e-3, 0.0}, {-0.25, 3.0, 0, 1e-4}};
    for (size_t t = 1; t <= grads.size(); ++t) {
      p.mutable_grad() = torch::tensor(grads[t - 1], torch::kDouble);
      adam.step();
      // TF: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); m = b1 m + (1 - b1) g;
      // v = b2 v + (1 - b2) g^2; w -= lr_t m / (sqrt(v) + eps).
      const double lr_t = lr * std::sqrt(1 - std::pow(beta2, t)) / (1 - std::pow(beta1, t));
      for (size_t i = 0; i < w.size(); ++i) {
        const double g = grads[t - 1][i];
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
      }
      EXPECT_EQ(adam.steps(), static_cast<int64_t>(t));
      for (size_t i = 0; i < w.size(); ++i) {
        EXPECT_NEAR(p[i].item<double>(), w[i], 1e-12) << "step " << t << " entry " << i;
      }
    }
  }
}

TEST_F(ReinforceTest, ReinforceSaveLoadRestoresBaselineAndAdam) {
  auto o = macro_options(3, 6, 16, 1.5);
  o.seed = 2;
  ReinforceOptions ro;
  ro.lr = 0.01;
  ro.bl_dec = 0.9;
  Controller a = macro_controller(o);
  Reinforce ra(a, ro);
  for (int i = 0; i < 3; ++i) {
    ArcBatch s = a->sample(4);
    ra.update(s, {0.1, 0.4, 0.2, 0.9});
  }
  std::stringstream buffer;
  {
    torch::serialize::OutputArchive archive;
    ra.save(archive);
    archive.save_to(buffer);
  }
  // A fresh controller with a's weights and a fresh Reinforce loaded from the archive.
  Controller b = macro_controller(o), fresh = macro_controller(o);
  {
    torch::NoGradGuard guard;
    auto pa = a->parameters(), pb = b->parameters(), pf = fresh->parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
      pb[i].copy_(pa[i]);
      pf[i].copy_(pa[i]);
    }
  }
  Reinforce rb(b, ro);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(buffer);
    rb.load(archive);
  }
  EXPECT_EQ(rb.baseline(), ra.baseline());
  EXPECT_EQ(rb.steps(), 3);
  EXPECT_NE(ra.baseline(), 0.0);

  // The same update on both: same baseline, same parameters (Adam's m, v and t restored). A
  // Reinforce that was not loaded steps differently: the check can fail.
  Reinforce rf(fresh, ro);
  ArcBatch s = a->sample(4);
  const std::vector<double> acc = {0.6, 0.1, 0.3, 0.2};
  ra.update(s, acc);
  rb.update(s, acc);
  rf.update(s, acc);
  EXPECT_EQ(rb.baseline(), ra.baseline());
  EXPECT_NE(rf.baseline(), ra.baseline());
  auto pa = a->parameters(), pb = b->parameters(), pf = fresh->parameters();
  bool fresh_differs = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-6, 1e-7)) << "parameter " << i;
    fresh_differs = fresh_differs || !torch::allclose(pa[i], pf[i], 1e-6, 1e-7);
  }
  EXPECT_TRUE(fresh_differs);
}

}  // namespace
}  // namespace enas
