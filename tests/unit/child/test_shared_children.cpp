// The shared-weight children of the search: shapes for random arcs, weight sharing (only the
// sampled path gets gradients, and only the selected rows of the micro child's stacked weights),
// hand-counted parameters, arc validation and the batch-norm statistics each space uses.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/child/macro_shared.h"
#include "enas/child/micro_shared.h"
#include "enas/config/config.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::SeededTest;

const ImageShape kCifar{3, 32, 32, 10};
const ImageShape kFashion{1, 28, 28, 10};

std::vector<int> random_macro_arc(std::mt19937& rng, int layers, int branches) {
  std::vector<int> flat;
  for (int i = 0; i < layers; ++i) {
    flat.push_back(std::uniform_int_distribution<int>(0, branches - 1)(rng));
    for (int k = 0; k < i; ++k) flat.push_back(std::uniform_int_distribution<int>(0, 1)(rng));
  }
  return flat;
}

std::vector<int> random_micro_arc(std::mt19937& rng, int blocks) {
  std::vector<int> flat;
  for (int cell = 0; cell < 2; ++cell) {
    for (int b = 0; b < blocks; ++b) {
      for (int side = 0; side < 2; ++side) {
        flat.push_back(std::uniform_int_distribution<int>(0, b + 1)(rng));
        flat.push_back(std::uniform_int_distribution<int>(0, micro::kNumOps - 1)(rng));
      }
    }
  }
  return flat;
}

/// A gradient that exists and is not all zero.
bool has_grad(const torch::Tensor& p) {
  return p.grad().defined() && p.grad().abs().sum().item<double>() > 0;
}

/// Names of the parameters with a non-zero gradient.
std::set<std::string> params_with_grad(const torch::nn::Module& m) {
  std::set<std::string> out;
  for (const auto& item : m.named_parameters()) {
    if (has_grad(item.value())) out.insert(item.key());
  }
  return out;
}

void backward_once(ImageChildImpl& model, const torch::Tensor& images) {
  auto out = model.forward(images);
  auto loss = out.logits.pow(2).sum();
  if (out.aux_logits.defined()) loss = loss + 0.4 * out.aux_logits.pow(2).sum();
  loss.backward();
}

MacroShared tiny_macro(ImageShape input = kCifar, int64_t layers = 3, double keep = 1.0) {
  return MacroShared(
      MacroSharedOptions().input(input).num_layers(layers).out_filters(4).num_branches(6).keep_prob(
          keep));
}

MicroShared tiny_micro(ImageShape input = kCifar, bool aux = false, int64_t layers = 1,
                       int64_t cells = 2, double keep = 1.0) {
  return MicroShared(MicroSharedOptions()
                         .input(input)
                         .num_layers(layers)
                         .num_cells(cells)
                         .out_filters(4)
                         .keep_prob(keep)
                         .use_aux_heads(aux));
}

// ------------------------------------------------------------------------ shapes

class SharedShapes : public SeededTest {};

TEST_F(SharedShapes, MacroRandomArcs) {
  std::mt19937 rng(1);
  for (const auto& input : {kCifar, kFashion}) {
    auto model = tiny_macro(input, 6, 0.9);
    EXPECT_EQ(model->arc_length(), 21);
    for (int trial = 0; trial < 3; ++trial) {
      model->set_arc(random_macro_arc(rng, 6, 6));
      auto x = torch::randn({2, input.channels, input.height, input.width});
      model->train();
      auto out = model->forward(x);
      EXPECT_EQ(out.logits.sizes().vec(), (std::vector<int64_t>{2, 10}));
      EXPECT_FALSE(out.aux_logits.defined());
      model->eval();
      EXPECT_EQ(model->forward(x).logits.sizes().vec(), (std::vector<int64_t>{2, 10}));
    }
  }
}

TEST_F(SharedShapes, MicroRandomArcsAuxInTrainingOnly) {
  std::mt19937 rng(2);
  for (const auto& input : {kCifar, kFashion}) {
    // 3 normal layers: reductions at layers 1 and 3, the aux head after layer 4 (of 5).
    auto model = tiny_micro(input, /*aux=*/true, /*layers=*/3, /*cells=*/3, 0.9);
    EXPECT_EQ(model->arc_length(), 24);
    EXPECT_GT(model->num_aux_params(), 0);
    for (int trial = 0; trial < 3; ++trial) {
      model->set_arc(random_micro_arc(rng, 3));
      auto x = torch::randn({2, input.channels, input.height, input.width});
      model->train();
      auto out = model->forward(x);
      EXPECT_EQ(out.logits.sizes().vec(), (std::vector<int64_t>{2, 10}));
      ASSERT_TRUE(out.aux_logits.defined());
      EXPECT_EQ(out.aux_logits.sizes().vec(), (std::vector<int64_t>{2, 10}));
      model->eval();
      out = model->forward(x);
      EXPECT_EQ(out.logits.sizes().vec(), (std::vector<int64_t>{2, 10}));
      EXPECT_FALSE(out.aux_logits.defined());
    }
  }
}

TEST_F(SharedShapes, ChannelsLastGivesTheSameLogits) {
  std::mt19937 rng(3);
  auto x = torch::randn({2, 3, 32, 32});
  auto macro_model = tiny_macro(kCifar, 6);
  auto micro_model = tiny_micro(kCifar, false, 3, 3);
  macro_model->set_arc(random_macro_arc(rng, 6, 6));
  micro_model->set_arc(random_micro_arc(rng, 3));
  for (ImageChildImpl* model : {static_cast<ImageChildImpl*>(macro_model.get()),
                                static_cast<ImageChildImpl*>(micro_model.get())}) {
    model->eval();
    auto ref = model->forward(x).logits;
    to_channels_last(*model);
    auto nhwc = model->forward(x.contiguous(torch::MemoryFormat::ChannelsLast)).logits;
    EXPECT_TRUE(torch::allclose(ref, nhwc, 1e-4, 1e-4));
  }
}

TEST_F(SharedShapes, ForwardNeedsAnArc) {
  auto model = tiny_macro();
  EXPECT_THROW(model->forward(torch::randn({2, 3, 32, 32})), Error);
  auto micro_model = tiny_micro();
  EXPECT_THROW(micro_model->forward(torch::randn({2, 3, 32, 32})), Error);
}

TEST_F(SharedShapes, FactoryBuildsTheSearchedSpace) {
  Config c;
  c.search_for = "macro";
  c.child_num_layers = 3;
  c.child_out_filters = 4;
  c.child_num_branches = 4;
  auto macro_model = make_shared_child(c, kCifar);
  EXPECT_NE(dynamic_cast<MacroSharedImpl*>(macro_model.get()), nullptr);
  EXPECT_EQ(macro_model->arc_length(), 6);
  c.search_for = "micro";
  c.child_num_cells = 2;
  auto micro_model = make_shared_child(c, kCifar);
  EXPECT_NE(dynamic_cast<MicroSharedImpl*>(micro_model.get()), nullptr);
  EXPECT_EQ(micro_model->arc_length(), 16);
}

// ------------------------------------------------------------------------ counts and arcs

class SharedCounts : public SeededTest {};

TEST_F(SharedCounts, MacroByHand) {
  // 3 layers of 4 filters, 6 branches, RGB in, 10 classes; poolings after layers 0 and 1.
  //   stem: 3*3*3*4 + BN 2*4                                             = 116
  //   per layer: conv3 16+8+144+8 = 176, sep3 16+8+36+16+8 = 84,
  //              conv5 16+8+400+8 = 432, sep5 16+8+100+16+8 = 148,
  //              avg 16+8 = 24, max 24                                   = 888 (x3 = 2664)
  //   skip BNs of layers 1 and 2: 2 * 8                                  = 16
  //   reductions 4 -> 4 (2*(4*2) + 8 = 24): 2 after layer 0, 3 after 1   = 120
  //   fc 4*10                                                            = 40
  auto model = tiny_macro();
  EXPECT_EQ(model->num_params(), 2956);
  EXPECT_EQ(model->num_aux_params(), 0);
}

TEST_F(SharedCounts, MicroByHand) {
  // 1 normal layer (3 cells: reduce, reduce, normal), 1 block per cell, 2 filters, RGB in.
  //   stem: 3*3*3*6 + BN 12                                                  = 174
  //   layer 0 (C = 4): reduction of the stem 6 -> 4 (2*6*2 + 8 = 32), calibration of the
  //     stem 6 -> 4 (32); block 0 (2 rows), per side and stack: k=3: 2*(4*9 + 16 + 4 + 4) =
  //     120, k=5: 2*(4*25 + 24) = 248, so 2 sides * 2 stacks * 368 = 1472; final conv 3*16 +
  //     BN 8 = 56                                                            = 1592
  //   layer 1 (C = 8): reduction 4 -> 8 (2*4*4 + 16 = 48), calibration 48; block: k=3:
  //     2*(8*9 + 64 + 16) = 304, k=5: 2*(8*25 + 80) = 560, so 4 * 864 = 3456; final 3*64 + 16
  //     = 208                                                                = 3760
  //   layer 2 (C = 8, both inputs 8 channels at the same size): 3456 + 208   = 3664
  //   fc 8*10                                                                = 80
  auto options = MicroSharedOptions().num_layers(1).num_cells(1).out_filters(2);
  MicroShared model(MicroSharedOptions(options).use_aux_heads(false));
  EXPECT_EQ(model->num_params(), 9270);
  EXPECT_EQ(model->num_aux_params(), 0);
  // With the aux head (after layer 2, 8 channels at 8x8): proj 8*128 + BN 256, the 2x2 conv
  // 2*2*128*768 + BN 1536, fc 768*10.
  MicroShared with_aux(MicroSharedOptions(options).use_aux_heads(true));
  EXPECT_EQ(with_aux->num_params(), 9270);
  EXPECT_EQ(with_aux->num_aux_params(), 1024 + 256 + 393216 + 1536 + 7680);
}

TEST_F(SharedCounts, MacroRejectsOpsOutsideTheBranches) {
  auto model = MacroShared(MacroSharedOptions().num_layers(3).out_filters(4).num_branches(4));
  EXPECT_NO_THROW(model->set_arc({3, 0, 1, 2, 1, 1}));
  EXPECT_THROW(model->set_arc({4, 0, 1, 2, 1, 1}), Error);  // avg pool: not searched
  EXPECT_THROW(model->set_arc({0, 0, 1, 5, 1, 1}), Error);
  EXPECT_THROW(model->set_arc({0, 0, 1}), Error);            // length
  EXPECT_EQ(model->arc().ops, (std::vector<int>{3, 0, 2}));  // the valid arc is kept
}

TEST_F(SharedCounts, MicroRejectsABadArc) {
  auto model = tiny_micro();
  std::vector<int> ok = {1, 0, 0, 4, 2, 1, 1, 2, 0, 1, 1, 3, 2, 0, 0, 0};
  EXPECT_NO_THROW(model->set_arc(ok));
  EXPECT_THROW(model->set_arc(std::vector<int>(ok.begin(), ok.end() - 1)), Error);
  EXPECT_THROW(model->set_arc({1, 0, 0, 4}), Error);
  auto bad_index = ok;
  bad_index[0] = 2;  // block 0 reads only nodes 0 and 1
  EXPECT_THROW(model->set_arc(bad_index), Error);
}

// ------------------------------------------------------------------------ weight sharing

class SharedWeights : public SeededTest {};

TEST_F(SharedWeights, MacroGradientsFollowTheArc) {
  auto model = tiny_macro();
  auto x = torch::randn({4, 3, 32, 32});
  // Ops 0, 1, 2; no skips. Layer 1 reads layer 0 reduced once, layer 2 layer 1 reduced once.
  model->set_arc({0, 1, 0, 2, 0, 0});
  backward_once(*model, x);
  auto with = params_with_grad(*model);
  for (int layer = 0; layer < 3; ++layer) {
    for (int op = 0; op < 6; ++op) {
      auto name =
          "layer" + std::to_string(layer) + "_branch" + std::to_string(op) + ".inp_conv.weight";
      EXPECT_EQ(with.count(name), op == layer ? 1u : 0u) << name;
    }
  }
  for (const auto& item : model->named_parameters()) {
    bool off_path = item.key().find("_branch") != std::string::npos &&
                    item.key().rfind("layer0_branch0.", 0) != 0 &&
                    item.key().rfind("layer1_branch1.", 0) != 0 &&
                    item.key().rfind("layer2_branch2.", 0) != 0;
    if (off_path) {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
    }
  }
  std::set<std::string> reductions;
  for (const auto& name : with) {
    if (name.rfind("pool", 0) == 0) reductions.insert(name.substr(0, name.find('.')));
  }
  EXPECT_EQ(reductions, (std::set<std::string>{"pool0_from1", "pool1_from2"}));
  EXPECT_TRUE(with.count("layer1_skip_bn.weight"));
  EXPECT_TRUE(with.count("stem_conv.weight"));

  // Skips to the stem (layer 1) and to layer 0 (layer 2) need three more reductions; changing
  // the arc moves the gradients.
  model->zero_grad(/*set_to_none=*/true);
  model->set_arc({5, 4, 1, 3, 0, 1});
  backward_once(*model, x);
  with = params_with_grad(*model);
  reductions.clear();
  for (const auto& name : with) {
    if (name.rfind("pool", 0) == 0) reductions.insert(name.substr(0, name.find('.')));
  }
  EXPECT_EQ(reductions,
            (std::set<std::string>{"pool0_from0", "pool0_from1", "pool1_from1", "pool1_from2"}));
  EXPECT_TRUE(with.count("layer0_branch5.inp_conv.weight"));
  EXPECT_TRUE(with.count("layer1_branch4.inp_conv.weight"));
  EXPECT_TRUE(with.count("layer2_branch3.depthwise.weight"));
  EXPECT_FALSE(with.count("layer0_branch0.inp_conv.weight"));
  EXPECT_FALSE(with.count("layer2_branch2.conv.weight"));
}

TEST_F(SharedWeights, MacroEvalIsDeterministicAndUsesRunningStats) {
  auto model = tiny_macro(kCifar, 3, /*keep=*/1.0);
  model->set_arc({1, 3, 1, 0, 1, 1});
  auto x = torch::randn({8, 3, 32, 32});
  model->train();
  torch::Tensor train_out;
  {
    torch::NoGradGuard guard;
    for (int i = 0; i < 3; ++i) train_out = model->forward(x).logits;
  }
  model->eval();
  auto a = model->forward(x).logits;
  auto b = model->forward(x).logits;
  EXPECT_TRUE(torch::equal(a, b));
  // Running statistics after 3 updates (momentum 0.1) are far from the batch's.
  EXPECT_FALSE(torch::allclose(a, train_out, 1e-3, 1e-3));
  // Another arc is another network.
  model->set_arc({2, 3, 1, 0, 1, 1});
  EXPECT_FALSE(torch::allclose(a, model->forward(x).logits, 1e-3, 1e-3));
}

TEST_F(SharedWeights, MicroGradientsOnlyReachTheSelectedRows) {
  auto model = tiny_micro(kCifar, false, /*layers=*/1, /*cells=*/2);
  // normal: node 2 = sep3(1) + identity(0), node 3 = sep5(2) + avgpool(1); loose: node 3.
  // reduce: node 2 = sep5(0) + maxpool(1), node 3 = sep3(2) + sep3(0); loose: node 3.
  model->set_arc({1, 0, 0, 4, 2, 1, 1, 2, 0, 1, 1, 3, 2, 0, 0, 0});
  backward_once(*model, torch::randn({4, 3, 32, 32}));
  // (layer, conv module, selected row); layers 0 and 1 are reductions, layer 2 is normal.
  struct Used {
    std::string prefix;
    int64_t row;
  };
  const std::vector<Used> used = {{"layer2.cell0_x_conv3.", 1}, {"layer2.cell1_x_conv5.", 2},
                                  {"layer0.cell0_x_conv5.", 0}, {"layer0.cell1_x_conv3.", 2},
                                  {"layer0.cell1_y_conv3.", 0}, {"layer1.cell0_x_conv5.", 0},
                                  {"layer1.cell1_x_conv3.", 2}, {"layer1.cell1_y_conv3.", 0}};
  int checked = 0;
  for (const auto& item : model->named_parameters()) {
    const auto& name = item.key();
    if (name.find("_conv") == std::string::npos || name.find(".cell") == std::string::npos) {
      continue;
    }
    const Used* u = nullptr;
    for (const auto& candidate : used) {
      if (name.rfind(candidate.prefix, 0) == 0) u = &candidate;
    }
    const auto& g = item.value().grad();
    if (!u) {
      EXPECT_FALSE(g.defined()) << name;
      continue;
    }
    ASSERT_TRUE(g.defined()) << name;
    for (int64_t row = 0; row < g.size(0); ++row) {
      double norm = g[row].abs().sum().item<double>();
      if (row == u->row) {
        EXPECT_GT(norm, 0) << name << " row " << row;
      } else {
        EXPECT_EQ(norm, 0) << name << " row " << row;
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 8 * 8);  // 8 convs x 2 stacks x (depthwise, pointwise, scale, offset)
  // The final 1x1 conv gets a gradient on the loose node's row (node 3) only.
  for (int layer = 0; layer < 3; ++layer) {
    auto g = model->named_parameters()["layer" + std::to_string(layer) + ".final_conv_w"].grad();
    ASSERT_TRUE(g.defined());
    for (int64_t row = 0; row < 4; ++row) {
      EXPECT_EQ(g[row].abs().sum().item<double>() > 0, row == 3) << layer << " " << row;
    }
  }
}

TEST_F(SharedWeights, MicroFinalConvMapsRowsToTheirNodes) {
  // One layer, inputs already of 4 channels at the same size: no calibration. Node 2 =
  // identity(0) + identity(1), node 3 = identity(1) + identity(1); loose ends 2 and 3. The
  // output is BN(conv1x1(relu(cat(node 2, node 3)))) with the rows of nodes 2 and 3 side by side.
  MicroSharedLayer layer(std::make_pair<int64_t, int64_t>(4, 8),
                         std::make_pair<int64_t, int64_t>(4, 8), 4, 2);
  micro::Cell cell{{0, 4, 1, 4, 1, 4, 1, 4}};
  ASSERT_EQ(cell.loose_ends(), (std::vector<int>{2, 3}));
  auto s0 = torch::randn({3, 4, 8, 8}), s1 = torch::randn({3, 4, 8, 8});
  auto out = layer->forward(s0, s1, cell, cell.loose_ends());
  auto w = layer->named_parameters()["final_conv_w"];  // (num_cells + 2, C_out, C_in)
  auto weight = torch::cat({w[2], w[3]}, 1).view({4, 8, 1, 1});
  auto h = torch::conv2d(torch::relu(torch::cat({s0 + s1, 2 * s1}, 1)), weight);
  auto expected = torch::batch_norm(h, {}, {}, {}, {}, true, 0.1, 1e-5, false);
  EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-5));
  // The node order matters: swapping the rows gives another output.
  auto swapped = torch::conv2d(torch::relu(torch::cat({s0 + s1, 2 * s1}, 1)),
                               torch::cat({w[3], w[2]}, 1).view({4, 8, 1, 1}));
  EXPECT_FALSE(torch::allclose(
      out, torch::batch_norm(swapped, {}, {}, {}, {}, true, 0.1, 1e-5, false), 1e-3, 1e-3));
}

TEST_F(SharedWeights, MicroBatchNormUsesBatchStatisticsInEval) {
  auto model = tiny_micro(kCifar, /*aux=*/false, /*layers=*/3, /*cells=*/3, /*keep=*/1.0);
  std::mt19937 rng(4);
  model->set_arc(random_micro_arc(rng, 3));
  auto x = torch::randn({4, 3, 32, 32});
  model->train();
  auto train_out = model->forward(x).logits.detach();
  model->forward(x);
  model->eval();
  auto eval_out = model->forward(x).logits.detach();
  EXPECT_TRUE(torch::allclose(train_out, eval_out, 1e-5, 1e-5));
  // No running statistics anywhere (there is no aux head here).
  for (const auto& item : model->named_buffers()) {
    EXPECT_FALSE(item.value().defined()) << item.key();
  }
}

}  // namespace
}  // namespace enas
