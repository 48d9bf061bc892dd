#include "enas/child/micro_shared.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/child/depthwise.h"
#include "enas/util/error.h"

namespace enas {

namespace F = torch::nn::functional;

namespace {

int64_t half(int64_t size) { return (size + 1) / 2; }  // TF "SAME" at stride 2

/// BN with batch statistics only (no running statistics), eps 1e-5: the authors'
/// `fused_batch_norm(is_training=True)` of `_enas_conv`.
torch::Tensor batch_stats_bn(const torch::Tensor& x, const torch::Tensor& scale,
                             const torch::Tensor& offset) {
  return batch_norm_batch_stats(x, scale, offset, /*eps=*/1e-5);
}

/// relu(batch_stats_bn(...)) in one kernel.
torch::Tensor batch_stats_bn_relu(const torch::Tensor& x, const torch::Tensor& scale,
                                  const torch::Tensor& offset) {
  return batch_norm_relu_batch_stats(x, scale, offset, /*eps=*/1e-5);
}

}  // namespace

MicroSharedConvImpl::MicroSharedConvImpl(int64_t num_inputs, int64_t c, int64_t k, int stacks)
    : k_(k) {
  for (int i = 0; i < stacks; ++i) {
    // The authors' variables are 2-d, w_depth [num_inputs, k*k*C] and w_point [num_inputs,
    // C*C], and keras' he_normal takes fan_in = shape[0] of a 2-d shape: std sqrt(2 /
    // num_inputs), not the fan-in of the conv. Faithful, if odd.
    auto dw = torch::empty({num_inputs, c, 1, k, k});
    he_normal_(dw, num_inputs);
    auto pw = torch::empty({num_inputs, c, c, 1, 1});
    he_normal_(pw, num_inputs);
    auto s = std::to_string(i);
    depthwise_.push_back(register_parameter("stack" + s + "_depthwise", dw));
    pointwise_.push_back(register_parameter("stack" + s + "_pointwise", pw));
    scale_.push_back(register_parameter("stack" + s + "_bn_scale", torch::ones({num_inputs, c})));
    offset_.push_back(
        register_parameter("stack" + s + "_bn_offset", torch::zeros({num_inputs, c})));
  }
}

torch::Tensor MicroSharedConvImpl::forward(torch::Tensor x, int64_t idx) {
  return forward_relu(torch::relu(x), idx);
}

torch::Tensor MicroSharedConvImpl::forward_relu(torch::Tensor x, int64_t idx) {
  for (size_t i = 0; i < depthwise_.size(); ++i) {
    // select() views one row: autograd gives that row a gradient and the others zeros.
    x = depthwise_conv2d(x, depthwise_[i].select(0, idx), /*stride=*/1, /*pad=*/k_ / 2);
    x = F::conv2d(x, pointwise_[i].select(0, idx));
    // An inner BN's output has no reader but the next stack's ReLU: fused into the BN.
    const bool inner = i + 1 < depthwise_.size();
    x = (inner ? batch_stats_bn_relu : batch_stats_bn)(x, scale_[i].select(0, idx),
                                                       offset_[i].select(0, idx));
  }
  return x;
}

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

  // _enas_cell: block b may read any of its b + 2 inputs; per side, one _enas_conv per conv op
  // of the catalogue. After calibration every node has C channels, so the authors' `x_c !=
  // out_filters` projections (for pooling and identity) are never built.
  for (int64_t b = 0; b < num_cells; ++b) {
    for (int side = 0; side < 2; ++side) {
      for (const OpSpec& op : micro::kOps) {
        MicroSharedConv conv{nullptr};
        if (op.family == OpFamily::kSepConv) {
          conv = register_module(fmt::format("cell{}_{}_conv{}", b, side ? "y" : "x", op.kernel),
                                 MicroSharedConv(b + 2, c, op.kernel));
        }
        convs_.push_back(conv);
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
  std::vector<torch::Tensor> nodes;
  nodes.reserve(cell.num_blocks() + 2);
  nodes.push_back(reduce_x_ ? reduce_x_->forward(s0) : calib_x_ ? calib_x_->forward(s0) : s0);
  nodes.push_back(calib_y_ ? calib_y_->forward(s1) : s1);
  std::vector<torch::Tensor> relu_nodes(cell.num_blocks() + 2);  // relu(node), computed once
  auto relu_of = [&](int idx) -> const torch::Tensor& {
    if (!relu_nodes[idx].defined()) relu_nodes[idx] = torch::relu(nodes[idx]);
    return relu_nodes[idx];
  };
  for (int b = 0; b < cell.num_blocks(); ++b) {
    torch::Tensor h[2];
    for (int side = 0; side < 2; ++side) {
      const int idx = cell.index(b, side);
      const OpSpec& op = micro::kOps[cell.op(b, side)];
      switch (op.family) {
        case OpFamily::kSepConv:
          h[side] = convs_[(2 * b + side) * micro::kNumOps + cell.op(b, side)]->forward_relu(
              relu_of(idx), idx);
          break;
        case OpFamily::kAvgPool:
        case OpFamily::kMaxPool:
          h[side] = pool3x3(nodes[idx], op.family == OpFamily::kAvgPool, 1);
          break;
        case OpFamily::kIdentity:
          h[side] = nodes[idx];
          break;
        case OpFamily::kConv:
          fail("micro op {}: its family has no shared-child builder", op.name);
      }
    }
    nodes.push_back(h[0] + h[1]);
  }
  // The loose ends, concatenated in node order, through one 1x1 conv whose input channels for
  // the j-th loose node i are row i of final_w_ (the authors gather the rows and reshape them
  // to [1, 1, n*C, C]).
  std::vector<torch::Tensor> outs, rows;
  for (int i : loose) {
    outs.push_back(nodes[i]);
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
