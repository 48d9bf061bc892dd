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

MicroSharedImpl::MicroSharedImpl(MicroSharedOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  require(o.num_cells() >= 1, "child_num_cells must be >= 1, got {}", o.num_cells());
  model_.build(
      *this,
      MicroModelOptions()
          .input(o.input())
          .num_layers(o.num_layers())
          .out_filters(o.out_filters())
          .keep_prob(o.keep_prob())
          .use_aux_heads(o.use_aux_heads())
          .stem_stats(false),
      [&](int64_t layer, bool reduce, int64_t c, MicroModel::Shape& prev, MicroModel::Shape& cur) {
        reductions_.emplace_back(nullptr);
        if (reduce) {
          // The reduction layer reads the previous output and its factorised
          // reduction (not the two previous outputs): `layers = [layers[-1], x]`.
          reductions_.back() =
              register_module(fmt::format("layer{}_reduce", layer),
                              FactorizedReduction(cur.first, c, /*relu_first=*/false,
                                                  /*track_stats=*/false));
          prev = cur;
          cur = {c, half(cur.second)};
        }
        layers_.push_back(register_module(fmt::format("layer{}", layer),
                                          MicroSharedLayer(prev, cur, c, o.num_cells())));
        return MicroModel::Shape{c, cur.second};
      });
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
  return model_.forward(images, is_training(),
                        [&](int64_t layer, torch::Tensor& s0, torch::Tensor& s1) {
                          if (!reductions_[layer]) {
                            return layers_[layer]->forward(s0, s1, arc_.normal, loose_normal_);
                          }
                          auto reduced = reductions_[layer]->forward(s1);
                          s0 = s1;
                          s1 = reduced;
                          return layers_[layer]->forward(s0, s1, arc_.reduce, loose_reduce_);
                        });
}

std::string MicroSharedImpl::summary() const {
  const auto& o = options_;
  std::string s = fmt::format(
      "micro shared child: {} + 2 layers, {} blocks per cell, {} filters, reduction at layers {} "
      "and {}, {} params",
      o.num_layers(), o.num_cells(), o.out_filters(), model_.plan().reduction_layers[0],
      model_.plan().reduction_layers[1], num_params());
  s += model_.aux_index() >= 0 ? fmt::format(" (+{} in the aux head after layer {})\n",
                                             num_aux_params(), model_.aux_index())
                               : "\n";
  if (has_arc_) s += "current arc:\n" + arc_.describe();
  return s;
}

}  // namespace enas
