// The fixed-architecture children and their building blocks: parameter counts against the
// authors' TF model, output shapes, every op of both spaces, initialisation and drop-path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "enas/child/layers.h"
#include "enas/child/macro_fixed.h"
#include "enas/child/micro_fixed.h"
#include "enas/space/authors_arcs.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::SeededTest;

// A 6-layer macro arc using every op 0..5 once, with some skips (1 + 2 + ... + 6 = 21 numbers).
constexpr const char* kSixLayerMacroArc = "0  1 1  2 0 1  3 1 0 1  4 0 1 0 1  5 1 1 1 1 1";

int64_t num_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// A cell on inputs of (channels, size) in0 and in1.
MicroFixedCell make_cell(const micro::Cell& cell, std::pair<int64_t, int64_t> in0,
                         std::pair<int64_t, int64_t> in1, int64_t filters, int64_t stride) {
  return MicroFixedCell(cell, in0, in1, filters, stride);
}

std::vector<int64_t> shape(const torch::Tensor& t) { return t.sizes().vec(); }

MicroFixed small_micro(ImageShape input = {}, bool aux = true, double drop_path_keep = 0.6) {
  return MicroFixed(MicroFixedOptions(micro::parse_arc(kMicroFinalArc))
                        .input(input)
                        .num_layers(3)
                        .out_filters(8)
                        .use_aux_heads(aux)
                        .drop_path_keep_prob(drop_path_keep));
}

// ------------------------------------------------------------------------ counts (no forward)

class ChildCounts : public SeededTest {};

TEST_F(ChildCounts, MicroFinalMatchesAuthorsCount) {
  // cifar10_micro_final.sh: 15 layers, 36 filters; the reference micro_fixed.py --count.
  MicroFixed model(
      MicroFixedOptions(micro::parse_arc(kMicroFinalArc)).num_layers(15).out_filters(36));
  EXPECT_EQ(model->num_params(), 3894372);
  EXPECT_EQ(model->num_aux_params(), 494848);
}

TEST_F(ChildCounts, MacroFinalMatchesReferenceCount) {
  // cifar10_macro_final.sh: 24 layers, 96 filters; the reference macro_fixed.py --count.
  MacroFixed model(MacroFixedOptions(macro::parse_arc(kMacroFinalArc, 24)).out_filters(96));
  EXPECT_EQ(model->num_params(), 30947424);
  EXPECT_EQ(model->num_aux_params(), 0);
}

TEST_F(ChildCounts, MicroWithoutAuxHeadHasNoAuxParams) {
  auto with = small_micro({}, true);
  auto without = small_micro({}, false);
  EXPECT_GT(with->num_aux_params(), 0);
  EXPECT_EQ(without->num_aux_params(), 0);
  EXPECT_EQ(with->num_params(), without->num_params());
}

TEST_F(ChildCounts, OddFilterCountIsAnError) {
  EXPECT_THROW(MicroFixed(MicroFixedOptions(micro::parse_arc(kMicroFinalArc)).out_filters(7)),
               Error);
  EXPECT_THROW(MacroFixed(MacroFixedOptions(macro::parse_arc(kSixLayerMacroArc)).out_filters(7)),
               Error);
}

// ------------------------------------------------------------------------------ forward shapes

class ChildForward : public SeededTest {};

TEST_F(ChildForward, MicroCifarShapeAuxOnlyInTrainMode) {
  auto model = small_micro();
  model->train();
  auto out = model->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(shape(out.logits), (std::vector<int64_t>{2, 10}));
  ASSERT_TRUE(out.aux_logits.defined());
  EXPECT_EQ(shape(out.aux_logits), (std::vector<int64_t>{2, 10}));
  model->eval();
  out = model->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(shape(out.logits), (std::vector<int64_t>{2, 10}));
  EXPECT_FALSE(out.aux_logits.defined());
}

TEST_F(ChildForward, MicroFashionMnistShape) {
  auto model = small_micro(ImageShape{1, 28, 28, 10});
  model->train();
  auto out = model->forward(torch::randn({2, 1, 28, 28}));
  EXPECT_EQ(shape(out.logits), (std::vector<int64_t>{2, 10}));
  ASSERT_TRUE(out.aux_logits.defined());
  EXPECT_EQ(shape(out.aux_logits), (std::vector<int64_t>{2, 10}));
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
}

TEST_F(ChildForward, MicroWithoutAuxHeadNeverReturnsAuxLogits) {
  auto model = small_micro({}, /*aux=*/false);
  model->train();
  auto out = model->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(shape(out.logits), (std::vector<int64_t>{2, 10}));
  EXPECT_FALSE(out.aux_logits.defined());
}

TEST_F(ChildForward, MicroEvalIsDeterministic) {
  auto model = small_micro();
  model->eval();
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(model->forward(x).logits, model->forward(x).logits));
}

TEST_F(ChildForward, MacroShapesAndNoAuxLogits) {
  for (auto input : {ImageShape{3, 32, 32, 10}, ImageShape{1, 28, 28, 10}}) {
    MacroFixed model(
        MacroFixedOptions(macro::parse_arc(kSixLayerMacroArc)).input(input).out_filters(8));
    model->train();
    auto out = model->forward(torch::randn({2, input.channels, input.height, input.width}));
    EXPECT_EQ(shape(out.logits), (std::vector<int64_t>{2, 10})) << input.height;
    EXPECT_FALSE(out.aux_logits.defined());
    model->eval();
    out = model->forward(torch::randn({2, input.channels, input.height, input.width}));
    EXPECT_EQ(shape(out.logits), (std::vector<int64_t>{2, 10})) << input.height;
    EXPECT_FALSE(out.aux_logits.defined());
  }
}

// ----------------------------------------------------------------------------------- micro ops

class MicroCellOps : public SeededTest {};

TEST_F(MicroCellOps, EveryOpAtStrideOneAndTwo) {
  // One block reading both cell inputs with the same op: the cell outputs that block alone.
  // Inputs of 6 and 4 channels are calibrated to the cell's 8 filters.
  for (int op = 0; op < micro::kNumOps; ++op) {
    for (int64_t stride : {1, 2}) {
      for (int64_t hw : {8, 7}) {
        auto cell = make_cell(micro::Cell{{0, op, 1, op}}, {6, hw}, {4, hw}, 8, stride);
        int64_t out_hw = stride == 2 ? (hw + 1) / 2 : hw;
        EXPECT_EQ(cell->out_channels(), 8);
        EXPECT_EQ(cell->out_size(), out_hw);
        auto y = cell->forward(torch::randn({2, 6, hw, hw}), torch::randn({2, 4, hw, hw}), 1.0);
        EXPECT_EQ(shape(y), (std::vector<int64_t>{2, 8, out_hw, out_hw}))
            << "op " << op << " stride " << stride << " size " << hw;
      }
    }
  }
}

TEST_F(MicroCellOps, MixedOpsAndLargerFirstInput) {
  // The first input is twice the second's size (the cell after a reduction): it is reduced.
  micro::Cell cell{{0, 0, 1, 4, 2, 3, 0, 2}};  // node 2 = sep3x3(0) + id(1), node 3 = max(2)+avg(0)
  for (int64_t stride : {1, 2}) {
    auto m = make_cell(cell, {6, 14}, {4, 7}, 8, stride);
    int64_t out_hw = stride == 2 ? 4 : 7;
    EXPECT_EQ(m->out_size(), out_hw);
    EXPECT_EQ(m->out_channels(), 8);  // node 2 is read by block 1: only node 3 is loose
    auto y = m->forward(torch::randn({2, 6, 14, 14}), torch::randn({2, 4, 7, 7}), 1.0);
    EXPECT_EQ(shape(y), (std::vector<int64_t>{2, 8, out_hw, out_hw})) << stride;
  }
}

TEST_F(MicroCellOps, LooseCellInputIsReducedInAReductionCell) {
  // Node 1 is never read, so it is concatenated; at stride 2 it is reduced to the output size.
  micro::Cell cell{{0, 2, 0, 3}};
  auto reduce = make_cell(cell, {8, 8}, {8, 8}, 8, 2);
  EXPECT_EQ(reduce->out_channels(), 16);
  EXPECT_EQ(reduce->out_size(), 4);
  auto y = reduce->forward(torch::randn({2, 8, 8, 8}), torch::randn({2, 8, 8, 8}), 1.0);
  EXPECT_EQ(shape(y), (std::vector<int64_t>{2, 16, 4, 4}));
  auto normal = make_cell(cell, {8, 8}, {8, 8}, 8, 1);
  y = normal->forward(torch::randn({2, 8, 8, 8}), torch::randn({2, 8, 8, 8}), 1.0);
  EXPECT_EQ(shape(y), (std::vector<int64_t>{2, 16, 8, 8}));
}

TEST_F(MicroCellOps, LooseEndCountSetsOutputChannels) {
  auto arc = micro::parse_arc(kMicroFinalArc);
  auto normal = make_cell(arc.normal, {8, 8}, {8, 8}, 8, 1);
  EXPECT_EQ(normal->out_channels(), 5 * 8);  // loose ends {2, 3, 4, 5, 6}
  auto reduce = make_cell(arc.reduce, {8, 8}, {8, 8}, 8, 2);
  EXPECT_EQ(reduce->out_channels(), 4 * 8);  // loose ends {2, 4, 5, 6}
  EXPECT_EQ(reduce->out_size(), 4);
}

TEST_F(MicroCellOps, InputsThatCannotBeCalibratedAreAnError) {
  micro::Cell cell{{0, 0, 1, 0}};
  EXPECT_THROW(make_cell(cell, {8, 8}, {8, 3}, 8, 1), Error);
  EXPECT_NO_THROW(make_cell(cell, {8, 7}, {8, 4}, 8, 1));  // 2 * 4 - 1: TF "SAME" halving
}

TEST_F(MicroCellOps, NonPositiveKeepMeansNoDropPath) {
  // forward's keep <= 0 means "no drop-path", the same as keep 1.
  auto cell = make_cell(micro::Cell{{0, 0, 1, 1}}, {8, 8}, {8, 8}, 8, 1);
  cell->train();
  auto s0 = torch::randn({4, 8, 8, 8}), s1 = torch::randn({4, 8, 8, 8});
  auto none = cell->forward(s0, s1, 1.0);
  auto zero = cell->forward(s0, s1, 0.0);
  EXPECT_TRUE(torch::isfinite(zero).all().item<bool>());
  EXPECT_TRUE(torch::allclose(none, zero));
}

// ----------------------------------------------------------------------------------- macro ops

class MacroOps : public SeededTest {};

TEST_F(MacroOps, EveryOpKeepsSizeAndSetsChannels) {
  for (int op = 0; op < macro::kNumOps; ++op) {
    MacroBranch branch(op, 4, 8);
    auto y = branch->forward(torch::randn({2, 4, 6, 6}));
    EXPECT_EQ(shape(y), (std::vector<int64_t>{2, 8, 6, 6})) << macro::kOps[op].name;
  }
}

TEST_F(MacroOps, ParameterCountsPerOp) {
  // cin = cout = 8. Every op: 1x1 conv (64) + BN (16). Conv ops add a kxk conv and a BN;
  // separable ops a depthwise kxk (8 k^2) and a pointwise 1x1 (64) instead of the kxk conv.
  const int64_t expected[macro::kNumOps] = {
      64 + 16 + 576 + 16,       // conv3x3
      64 + 16 + 72 + 64 + 16,   // sep3x3
      64 + 16 + 1600 + 16,      // conv5x5
      64 + 16 + 200 + 64 + 16,  // sep5x5
      64 + 16,                  // avgpool
      64 + 16,                  // maxpool
  };
  for (int op = 0; op < macro::kNumOps; ++op) {
    EXPECT_EQ(num_params(*MacroBranch(op, 8, 8)), expected[op]) << macro::kOps[op].name;
  }
}

// --------------------------------------------------------------------------------- the layers

class Layers : public SeededTest {};

TEST_F(Layers, FactorizedReductionHalvesEvenAndOddSizes) {
  FactorizedReduction fr(4, 8);
  EXPECT_EQ(num_params(*fr), 2 * 4 * 4 + 2 * 8);
  EXPECT_EQ(shape(fr->forward(torch::randn({2, 4, 8, 8}))), (std::vector<int64_t>{2, 8, 4, 4}));
  EXPECT_EQ(shape(fr->forward(torch::randn({2, 4, 7, 7}))), (std::vector<int64_t>{2, 8, 4, 4}));
}

TEST_F(Layers, FactorizedReductionSamplesBothPixelGrids) {
  // Unit 1x1 weights and a fresh BN in eval mode (mean 0, var 1): channel 0 is x[::2, ::2],
  // channel 1 the grid shifted by one pixel, zero-padded at the bottom and right.
  FactorizedReduction fr(1, 2);
  for (auto& p : fr->named_parameters()) {
    if (p.key().find("path") == 0) p.value().data().fill_(1.0);
  }
  fr->eval();
  const double s = 1.0 / std::sqrt(1.0 + 1e-5);
  auto odd = fr->forward(torch::arange(9, torch::kFloat).view({1, 1, 3, 3}));
  EXPECT_TRUE(torch::allclose(odd[0][0], torch::tensor({{0.f, 2.f}, {6.f, 8.f}}) * s));
  EXPECT_TRUE(torch::allclose(odd[0][1], torch::tensor({{4.f, 0.f}, {0.f, 0.f}}) * s));
  auto even = fr->forward(torch::arange(16, torch::kFloat).view({1, 1, 4, 4}));
  EXPECT_TRUE(torch::allclose(even[0][0], torch::tensor({{0.f, 2.f}, {8.f, 10.f}}) * s));
  EXPECT_TRUE(torch::allclose(even[0][1], torch::tensor({{5.f, 7.f}, {13.f, 15.f}}) * s));
}

TEST_F(Layers, SepConvStackStrideAndParams) {
  SepConvStack s3(8, 3, 2);
  EXPECT_EQ(num_params(*s3), 2 * (8 * 9 + 64 + 16));
  EXPECT_EQ(shape(s3->forward(torch::randn({2, 8, 8, 8}))), (std::vector<int64_t>{2, 8, 4, 4}));
  EXPECT_EQ(shape(s3->forward(torch::randn({2, 8, 7, 7}))), (std::vector<int64_t>{2, 8, 4, 4}));
  SepConvStack s5(8, 5, 1);
  EXPECT_EQ(num_params(*s5), 2 * (8 * 25 + 64 + 16));
  EXPECT_EQ(shape(s5->forward(torch::randn({2, 8, 7, 7}))), (std::vector<int64_t>{2, 8, 7, 7}));
}

TEST_F(Layers, HeNormalIsTruncatedAtTwoStd) {
  auto w = torch::empty({200000});
  he_normal_(w, 50);
  const double std = std::sqrt(2.0 / 50);
  EXPECT_LE(w.abs().max().item<double>(), 2 * std + 1e-6);
  // A normal truncated at +-2 sigma has std 0.8796 sigma.
  EXPECT_NEAR(w.std().item<double>(), 0.8796 * std, 0.05 * 0.8796 * std);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.01 * std);
}

TEST_F(Layers, MakeConvCountsFanInOnTheTfShape) {
  // [3, 3, 100, 200]: fan_in 900. Depthwise [3, 3, 200, 1]: fan_in 1800.
  auto dense = make_conv(100, 200, 3)->weight;
  EXPECT_NEAR(dense.std().item<double>(), 0.8796 * std::sqrt(2.0 / 900), 0.05 * 0.0415);
  auto depthwise = make_conv(200, 200, 3, 1, 200)->weight;
  EXPECT_EQ(shape(depthwise), (std::vector<int64_t>{200, 1, 3, 3}));
  EXPECT_NEAR(depthwise.std().item<double>(), 0.8796 * std::sqrt(2.0 / 1800), 0.1 * 0.0293);
}

TEST_F(Layers, DropPathKeepsOrDropsWholeExamples) {
  auto y = drop_path(torch::ones({2000, 3, 2, 2}), 0.5);
  auto per_example = y.view({2000, -1});
  auto mins = std::get<0>(per_example.min(1)), maxs = std::get<0>(per_example.max(1));
  EXPECT_TRUE(torch::equal(mins, maxs));  // one value per example
  EXPECT_TRUE((mins.eq(0) | mins.eq(2)).all().item<bool>());
  double kept = mins.eq(2).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(kept, 0.45);
  EXPECT_LT(kept, 0.55);
  EXPECT_TRUE(torch::equal(drop_path(torch::ones({5, 1, 1, 1}), 1.0), torch::ones({5, 1, 1, 1})));
}

// ------------------------------------------------------------------------ drop-path schedule

class MicroDropPath : public SeededTest {};

TEST_F(MicroDropPath, OffWhenKeepProbIsOne) {
  auto model = small_micro({}, true, 1.0);
  model->set_progress(99, 100);
  for (int64_t layer = 0; layer < 5; ++layer) EXPECT_EQ(model->drop_path_keep(layer), 1.0);
}

TEST_F(MicroDropPath, FollowsDepthAndStepRamp) {
  auto model = small_micro({}, true, 0.6);  // N = 3: N + 2 = 5 cells
  auto expected = [](int64_t step, int64_t total, int64_t layer) {
    double ramp = std::min(1.0, static_cast<double>(step + 1) / total);
    return 1.0 - ramp * (layer + 1) / 5.0 * (1.0 - 0.6);
  };
  const std::vector<std::pair<int64_t, int64_t>> progress = {
      {0, 200}, {49, 200}, {199, 200}, {500, 200}};
  for (auto [step, total] : progress) {
    model->set_progress(step, total);
    for (int64_t layer = 0; layer < 5; ++layer) {
      EXPECT_NEAR(model->drop_path_keep(layer), expected(step, total, layer), 1e-12)
          << "step " << step << " layer " << layer;
    }
  }
  model->set_progress(49, 200);
  EXPECT_NEAR(model->drop_path_keep(2), 1.0 - 0.25 * 0.6 * 0.4, 1e-12);  // 0.94
  model->set_progress(1000, 200);
  EXPECT_NEAR(model->drop_path_keep(4), 0.6, 1e-12);  // the last cell reaches p
}

// ------------------------------------------------------------------------------- determinism

class ChildInit : public SeededTest {};

TEST_F(ChildInit, SameSeedSameParameters) {
  torch::manual_seed(7);
  auto a = small_micro();
  torch::manual_seed(7);
  auto b = small_micro();
  torch::manual_seed(8);
  auto c = small_micro();
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool any_differs = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].key(), pb[i].key());
    EXPECT_TRUE(torch::equal(pa[i].value(), pb[i].value())) << pa[i].key();
    any_differs |= !torch::equal(pa[i].value(), pc[i].value());
  }
  EXPECT_TRUE(any_differs);
}

}  // namespace
}  // namespace enas
