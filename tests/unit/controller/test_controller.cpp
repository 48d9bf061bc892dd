// The ENAS controllers (macro and micro LSTM policies, the random baseline); REINFORCE and Adam:
// test_reinforce.cpp. Golden values come from tests/golden/controller_golden.py, an independent
// float64 statement of the authors' TF equations; see tests/golden/controller_golden.h for how to
// regenerate them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "controller_util.h"
#include "enas/config/config.h"
#include "enas/controller/controller.h"
#include "enas/controller/macro_controller.h"
#include "enas/controller/micro_controller.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "golden/controller_golden.h"
#include "test_util.h"

namespace enas {
namespace {

/// Seeded, one thread (test_util.h).
using ControllerTest = test::SeededTest;

using test::fill_golden;
using test::macro_controller;
using test::macro_options;
using test::micro_controller;
using test::micro_options;
using test::to_vector;
namespace golden = golden::controller;

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], rel * std::abs(want[i]) + 1e-6) << what << " of row " << i;
  }
}

// Op positions of a flat macro architecture: layer i's op is at i (i + 1) / 2.
bool is_macro_op(int64_t pos, int64_t layers) {
  for (int64_t i = 0; i < layers; ++i) {
    if (pos == i * (i + 1) / 2) return true;
  }
  return false;
}

// Checks an architecture is valid for its space and only uses ops below num_branches.
void expect_valid(const std::vector<int>& arc, bool macro, const ControllerOptions& o) {
  if (macro) {
    macro::Arc a;
    ASSERT_NO_THROW(a = macro::arc_from_flat(arc, static_cast<int>(o.num_layers)));
    for (int op : a.ops) EXPECT_LT(op, o.num_branches);
  } else {
    micro::Arc a;
    ASSERT_NO_THROW(a = micro::arc_from_flat(arc, static_cast<int>(o.num_cells)));
    for (const auto* cell : {&a.normal, &a.reduce}) {
      for (int b = 0; b < cell->num_blocks(); ++b) {
        EXPECT_LT(cell->op(b, 0), o.num_branches);
        EXPECT_LT(cell->op(b, 1), o.num_branches);
      }
    }
  }
}

// --------------------------------------------------------------------------------------- golden

TEST_F(ControllerTest, ControllerGoldenScoresMatchTheAuthorsEquations) {
  ASSERT_EQ(golden::kCases.size(), 4u);
  for (const auto& gc : golden::kCases) {
    SCOPED_TRACE(gc.name);
    ControllerOptions o;
    o.lstm_size = gc.lstm_size;
    o.num_branches = gc.num_branches;
    o.num_layers = gc.num_layers;
    o.num_cells = gc.num_cells;
    o.tanh_constant = gc.tanh_constant;
    o.op_tanh_reduce = gc.op_tanh_reduce;
    o.temperature = gc.temperature;
    o.skip_target = gc.skip_target;
    Controller c = gc.macro ? macro_controller(o) : micro_controller(o);
    fill_golden(*c);
    ArcBatch s = c->score(gc.arcs);  // the architectures in one batch: rows must not mix
    EXPECT_TRUE(s.log_prob.requires_grad());
    expect_close(to_vector(s.log_prob), gc.log_prob, 1e-5, "log_prob");
    expect_close(to_vector(s.entropy), gc.entropy, 1e-5, "entropy");
    expect_close(to_vector(s.skip_penalty), gc.skip_penalty, 1e-5, "skip_penalty");
    EXPECT_EQ(to_vector(s.skip_count), gc.skip_count);
    // The gradient of sum(log_prob + skip_penalty): backward through the batched pass.
    (s.log_prob + s.skip_penalty).sum().backward();
    auto params = c->named_parameters();
    ASSERT_EQ(params.size(), gc.grad.size());
    for (const auto& [name, want] : gc.grad) {
      ASSERT_TRUE(params.contains(name)) << name;
      ASSERT_TRUE(params[name].grad().defined()) << name;
      auto g = params[name].grad().to(torch::kDouble);
      const double norm = want[0];
      // float32 backward through the chain: measured <= 2.5e-5 of the norm.
      EXPECT_NEAR(g.norm().item<double>(), norm, 1e-3 * norm) << name;
      EXPECT_NEAR(g.sum().item<double>(), want[1], 1e-3 * std::max(norm, std::abs(want[1])))
          << name;
      EXPECT_NEAR(g.flatten()[0].item<double>(), want[2], 1e-3 * norm) << name;
    }
    // One architecture alone scores as in the batch.
    ArcBatch one = c->score({gc.arcs[1]});
    EXPECT_NEAR(one.log_prob.item<double>(), gc.log_prob[1], 1e-5 * std::abs(gc.log_prob[1]));
  }
}

// ------------------------------------------------------------------------------------- sampling

struct SpaceCase {
  bool macro;
  ControllerOptions options;
};

std::vector<SpaceCase> space_cases() {
  // Fewer branches than the catalogue, so "ops < num_branches" is a real constraint.
  auto ma = macro_options(6, 4, 32, 1.5);
  auto mi = micro_options(4, 4, 32, 1.1, 2.5);
  mi.temperature = 5;
  return {{true, ma}, {false, mi}};
}

TEST_F(ControllerTest, ControllerSamplesAreValidAndScoreConsistently) {
  for (const auto& sc : space_cases()) {
    SCOPED_TRACE(sc.macro ? "macro" : "micro");
    Controller c = sc.macro ? macro_controller(sc.options) : micro_controller(sc.options);
    ArcBatch s = c->sample(50);
    ASSERT_EQ(s.arcs.size(), 50u);
    EXPECT_FALSE(s.log_prob.requires_grad());
    for (const auto& arc : s.arcs) {
      ASSERT_EQ(static_cast<int64_t>(arc.size()), c->arc_length());
      expect_valid(arc, sc.macro, sc.options);
    }
    ArcBatch again = c->score(s.arcs);
    expect_close(to_vector(s.log_prob), to_vector(again.log_prob), 1e-5, "log_prob");
    expect_close(to_vector(s.entropy), to_vector(again.entropy), 1e-5, "entropy");
    expect_close(to_vector(s.skip_penalty), to_vector(again.skip_penalty), 1e-5, "skip_penalty");
    EXPECT_EQ(to_vector(s.skip_count), to_vector(again.skip_count));
    if (sc.macro) {
      for (size_t b = 0; b < s.arcs.size(); ++b) {
        double bits = 0;
        for (size_t pos = 0; pos < s.arcs[b].size(); ++pos) {
          if (!is_macro_op(static_cast<int64_t>(pos), sc.options.num_layers)) {
            bits += s.arcs[b][pos];
          }
        }
        EXPECT_EQ(s.skip_count[b].item<double>(), bits);
      }
    }
    // Not all the same: the sampler draws.
    int distinct = 0;
    for (const auto& arc : s.arcs) distinct += arc != s.arcs[0];
    EXPECT_GT(distinct, 40);
  }
}

TEST_F(ControllerTest, ControllerSamplingIsReproducible) {
  for (const auto& sc : space_cases()) {
    SCOPED_TRACE(sc.macro ? "macro" : "micro");
    auto make = [&](uint64_t seed) {
      torch::manual_seed(3);  // the same weights
      auto o = sc.options;
      o.seed = seed;
      return sc.macro ? macro_controller(o) : micro_controller(o);
    };
    Controller a = make(7), b = make(7), other = make(8);
    auto first = a->sample(20).arcs;
    EXPECT_EQ(first, b->sample(20).arcs);
    EXPECT_NE(first, other->sample(20).arcs);

    // rng_state / set_rng_state: the saved state reproduces the next draws, also in another
    // controller with the same weights.
    const std::string state = a->rng_state();
    auto next = a->sample(20).arcs;
    EXPECT_NE(next, first);
    a->set_rng_state(state);
    EXPECT_EQ(a->sample(20).arcs, next);
    other->set_rng_state(state);
    EXPECT_EQ(other->sample(20).arcs, next);
    EXPECT_THROW(a->set_rng_state("not a state"), std::exception);
  }
}

TEST_F(ControllerTest, ControllerScoreRejectsWrongArchitectures) {
  Controller m = macro_controller(macro_options(3, 6, 16, 0));
  EXPECT_THROW(m->score({{0, 1, 0}}), std::exception);           // too short
  EXPECT_THROW(m->score({{6, 0, 1, 0, 0, 0}}), std::exception);  // op out of range
  EXPECT_THROW(m->score({{0, 0, 2, 0, 0, 0}}), std::exception);  // skip bit 2
  Controller u = micro_controller(micro_options(2, 5, 16, 0, 1));
  std::vector<int> ok(16, 0);
  EXPECT_NO_THROW(u->score({ok}));
  auto bad = ok;
  bad[0] = 2;  // block 0 may read nodes 0 and 1 only
  EXPECT_THROW(u->score({bad}), std::exception);
}

// --------------------------------------------------------------------------- random controller

TEST_F(ControllerTest, RandomControllerIsUniformAndUntrainable) {
  for (const bool macro : {true, false}) {
    SCOPED_TRACE(macro ? "macro" : "micro");
    Config cfg;
    cfg.controller_type = "random";
    cfg.search_for = macro ? "macro" : "micro";
    cfg.child_num_layers = 8;
    cfg.child_num_cells = 4;
    cfg.child_num_branches = macro ? 6 : 5;
    Controller c = make_controller(cfg);
    EXPECT_FALSE(c->trainable());
    const auto& o = c->options();
    const int n = 400;
    ArcBatch s = c->sample(n);
    std::vector<int> hist(o.num_branches, 0);
    int ops = 0, bits = 0, ones = 0;
    for (const auto& arc : s.arcs) {
      expect_valid(arc, macro, o);
      for (size_t pos = 0; pos < arc.size(); ++pos) {
        const bool is_op =
            macro ? is_macro_op(static_cast<int64_t>(pos), o.num_layers) : pos % 2 == 1;
        if (is_op) {
          ++hist[arc[pos]];
          ++ops;
        } else if (macro) {
          ++bits;
          ones += arc[pos];
        }
      }
    }
    // Each op expected ops / num_branches times (>= 533); +-20% is > 4.5 standard deviations.
    for (int64_t k = 0; k < o.num_branches; ++k) {
      const double expected = static_cast<double>(ops) / o.num_branches;
      EXPECT_NEAR(hist[k], expected, 0.2 * expected) << "op " << k;
    }
    if (macro) {
      EXPECT_NEAR(static_cast<double>(ones) / bits, 0.5, 0.05);
    }
    // The uniform policy's log-probability: -sum log(choices); score agrees with sample.
    ArcBatch again = c->score(s.arcs);
    expect_close(to_vector(s.log_prob), to_vector(again.log_prob), 1e-9, "log_prob");
    double want = 0;
    if (macro) {
      for (int64_t i = 0; i < o.num_layers; ++i) want -= std::log(6.0) + i * std::log(2.0);
    } else {
      for (int64_t b = 0; b < o.num_cells; ++b) want -= 4 * std::log(b + 2.0) + 4 * std::log(5.0);
    }
    EXPECT_NEAR(s.log_prob[0].item<double>(), want, 1e-4);
  }
}

// ----------------------------------------------------------------------- micro op bias at start

TEST_F(ControllerTest, MicroControllerStartsFavouringTheSeparableConvs) {
  // Fresh (uniform) weights; b_soft starts at [10, 10, 0, 0, 0], so the op logits are about
  // (1.1 / 2.5) * tanh([10, 10, 0, 0, 0]) = [0.44, 0.44, 0, 0, 0], plus the normal cell's constant
  // [0.25, 0.25, -0.25, -0.25, -0.25]: ops 0 and 1 take ~63% of the normal cell's op decisions
  // and ~51% of the reduction cell's (uniform: 40%). 1000 decisions per cell: sd ~1.6%.
  auto o = micro_options(5, 5, 64, 1.1, 2.5);
  Controller c = micro_controller(o);
  ArcBatch s = c->sample(100);
  int normal_01 = 0, normal_all = 0, reduce_01 = 0, reduce_all = 0;
  for (const auto& arc : s.arcs) {
    for (size_t pos = 1; pos < arc.size(); pos += 2) {
      const bool normal = pos < static_cast<size_t>(4 * o.num_cells);
      (normal ? normal_all : reduce_all) += 1;
      if (arc[pos] <= 1) (normal ? normal_01 : reduce_01) += 1;
    }
  }
  const double normal_frac = static_cast<double>(normal_01) / normal_all;
  const double reduce_frac = static_cast<double>(reduce_01) / reduce_all;
  EXPECT_GT(normal_frac, 0.56);
  EXPECT_GT(reduce_frac, 0.45);
  EXPECT_GT(normal_frac, reduce_frac);
  RecordProperty("normal_01", std::to_string(normal_frac));
  RecordProperty("reduce_01", std::to_string(reduce_frac));
}

}  // namespace
}  // namespace enas
