#include "enas/child/micro_shared.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/util/error.h"

namespace enas {

namespace F = torch::nn::functional;

namespace {

int64_t half(int64_t size) { return (size + 1) / 2; }  // TF "SAME" at stride 2

}  // namespace

MicroSharedLayerImpl::MicroSharedLayerImpl(std::pair<int64_t, int64_t> in0,
                                           std::pair<int64_t, int64_t> in1, int64_t c,
                                           int64_t num_cells)
    : channels_(c) {
  auto [c0, hw0] = in0;
  auto [c1, hw1] = in1;
  // _maybe_calibrate_size (every BN with batch statistics: is_training=True).
  if (hw0 != hw1) {
    require(hw0 == 2 * hw1 || hw0 == 2 * hw1 - 1,
            "micro cell: inputs of sizes {} and {} cannot be calibrated", hw0, hw1);
    reduce_x_ = register_module(
        "calib_x", FactorizedReduction(c0, c, /*relu_first=*/true, /*track_stats=*/false));
  } else if (c0 != c) {
    calib_x_ = register_module("calib_x", ReluConvBn(c0, c, /*track_stats=*/false));
  }
  if (c1 != c) calib_y_ = register_module("calib_y", ReluConvBn(c1, c, /*track_stats=*/false));

  // _enas_cell: block b may read any of its b + 2 inputs; per side, the weights of every op of
  // the catalogue that has some (one _enas_conv per separable conv).
  for (int64_t b = 0; b < num_cells; ++b) {
    for (int side = 0; side < 2; ++side) {
      for (const OpSpec& op : micro::kOps) {
        auto weights = make_shared_micro_op(op, b + 2, c);
        if (!weights.module.is_empty()) {
          register_module(fmt::format("cell{}_{}_{}", b, side ? "y" : "x", weights.name),
                          weights.module.ptr());
        }
        ops_.push_back(std::move(weights.module));
      }
    }
  }
  // `final_conv/w` [num_cells + 2, C*C], he_normal fan-in num_cells + 2 (a 2-d variable).
  auto w = torch::empty({num_cells + 2, c, c});
  he_normal_(w, num_cells + 2);
  final_w_ = register_parameter("final_conv_w", w);
  final_bn_ = register_module("final_bn", make_bn(c, true, /*track_stats=*/false));
}

torch::Tensor MicroSharedLayerImpl::forward(const torch::Tensor& s0, const torch::Tensor& s1,
                                            const micro::Cell& cell,
                                            const std::vector<int>& loose) {
  std::vector<CellNode> nodes;
  nodes.reserve(cell.num_blocks() + 2);
  nodes.emplace_back(reduce_x_ ? reduce_x_->forward(s0) : calib_x_ ? calib_x_->forward(s0) : s0);
  nodes.emplace_back(calib_y_ ? calib_y_->forward(s1) : s1);
  for (int b = 0; b < cell.num_blocks(); ++b) {
    torch::Tensor h[2];
    for (int side = 0; side < 2; ++side) {
      const int idx = cell.index(b, side), op = cell.op(b, side);
      h[side] = run_shared_micro_op(micro::kOps[op], ops_[(2 * b + side) * micro::kNumOps + op],
                                    nodes[idx], idx);
    }
    nodes.emplace_back(h[0] + h[1]);
  }
  // The loose ends, concatenated in node order, through one 1x1 conv whose input channels for
  // the j-th loose node i are row i of final_w_ (the authors gather the rows and reshape them
  // to [1, 1, n*C, C]).
  std::vector<torch::Tensor> outs, rows;
  for (int i : loose) {
    outs.push_back(nodes[i].x());
    rows.push_back(final_w_.select(0, i));  // (C_out, C_in)
  }
  auto w = torch::cat(rows, 1).view({channels_, -1, 1, 1});  // (C, n*C, 1, 1)
  auto out = torch::relu(outs.size() == 1 ? outs[0] : torch::cat(outs, 1));
  return final_bn_->forward(F::conv2d(out, w));
}

MicroSharedImpl::MicroSharedImpl(MicroSharedOptions options)
    : options_(std::move(options)), plan_(options_.num_layers()) {
  const auto& o = options_;
  require(o.num_layers() >= 0, "child_num_layers must be >= 0, got {}", o.num_layers());
  require(o.num_cells() >= 1, "child_num_cells must be >= 1, got {}", o.num_cells());
  require(o.out_filters() >= 2 && o.out_filters() % 2 == 0,
          "child_out_filters must be even and >= 2 (factorised reductions split it in two), got {}",
          o.out_filters());
  const int64_t stem_c = 3 * o.out_filters();
  stem_conv_ = register_module("stem_conv", make_conv(o.input().channels, stem_c, 3));
  stem_bn_ = register_module("stem_bn", make_bn(stem_c, true, /*track_stats=*/false));

  if (o.use_aux_heads() && plan_.aux_after < plan_.num_cells_built) aux_index_ = plan_.aux_after;

  // (channels, height) of the two inputs of the next layer.
  std::pair<int64_t, int64_t> prev{stem_c, o.input().height}, cur = prev;
  int64_t c = o.out_filters();
  for (int64_t layer = 0; layer < plan_.num_cells_built; ++layer) {
    if (plan_.reduces(layer)) {
      // The reduction cell reads the previous output and its factorised reduction (not the
      // two previous outputs): `layers = [layers[-1], x]` in the authors' _model.
      c *= 2;
      reductions_.push_back(register_module(
          fmt::format("layer{}_reduce", layer),
          FactorizedReduction(cur.first, c, /*relu_first=*/false, /*track_stats=*/false)));
      prev = cur;
      cur = {c, half(cur.second)};
    } else {
      reductions_.emplace_back(nullptr);
    }
    layers_.push_back(register_module(fmt::format("layer{}", layer),
                                      MicroSharedLayer(prev, cur, c, o.num_cells())));
    prev = cur;
    cur = {c, cur.second};
    if (layer == aux_index_) {
      aux_head_ =
          register_module("aux_head", AuxHead(cur.first, cur.second, o.input().num_classes));
    }
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(1.0 - o.keep_prob()));
  fc_ = register_module(
      "fc", torch::nn::Linear(torch::nn::LinearOptions(c, o.input().num_classes).bias(false)));
  he_normal_(fc_->weight, c);
}

void MicroSharedImpl::set_arc(const std::vector<int>& flat) {
  auto arc = micro::arc_from_flat(flat, static_cast<int>(options_.num_cells()));
  loose_normal_ = arc.normal.loose_ends();
  loose_reduce_ = arc.reduce.loose_ends();
  arc_ = std::move(arc);
  has_arc_ = true;
}

ChildOutput MicroSharedImpl::forward(const torch::Tensor& images) {
  require(has_arc_, "micro shared child: forward() before set_arc()");
  ChildOutput out;
  auto x = stem_bn_->forward(stem_conv_->forward(images));  // (B, 3C, H, W)
  torch::Tensor s0 = x, s1 = x;
  for (size_t layer = 0; layer < layers_.size(); ++layer) {
    if (reductions_[layer]) {
      auto reduced = reductions_[layer]->forward(s1);
      s0 = s1;
      s1 = reduced;
      x = layers_[layer]->forward(s0, s1, arc_.reduce, loose_reduce_);
    } else {
      x = layers_[layer]->forward(s0, s1, arc_.normal, loose_normal_);
    }
    s0 = s1;
    s1 = x;
    if (is_training() && static_cast<int64_t>(layer) == aux_index_) {
      out.aux_logits = aux_head_->forward(s1);
    }
  }
  x = torch::relu(s1).mean({2, 3});                          // (B, C_last)
  if (options_.keep_prob() < 1.0) x = dropout_->forward(x);  // identity in eval mode
  out.logits = fc_->forward(x);
  return out;
}

std::string MicroSharedImpl::summary() const {
  const auto& o = options_;
  std::string s = fmt::format(
      "micro shared child: {} + 2 layers, {} blocks per cell, {} filters, reduction at layers {} "
      "and {}, {} params",
      o.num_layers(), o.num_cells(), o.out_filters(), plan_.reduction_layers[0],
      plan_.reduction_layers[1], num_params());
  s += aux_head_
           ? fmt::format(" (+{} in the aux head after layer {})\n", num_aux_params(), aux_index_)
           : "\n";
  if (has_arc_) s += "current arc:\n" + arc_.describe();
  return s;
}

}  // namespace enas
