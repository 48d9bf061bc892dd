#include "enas/child/micro_fixed.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/util/error.h"

namespace enas {

namespace {

int64_t half(int64_t size) { return (size + 1) / 2; }  // TF "SAME" at stride 2

}  // namespace

MicroFixedCellImpl::MicroFixedCellImpl(const micro::Cell& cell, std::pair<int64_t, int64_t> in0,
                                       std::pair<int64_t, int64_t> in1, int64_t out_filters,
                                       int64_t stride)
    : cell_(cell) {
  using torch::nn::AnyModule;
  auto [c0, hw0] = in0;
  auto [c1, hw1] = in1;
  // _maybe_calibrate_size: input 0 to input 1's size, both to out_filters channels.
  if (hw0 != hw1) {
    require(hw0 == 2 * hw1 || hw0 == 2 * hw1 - 1,
            "micro cell: inputs of sizes {} and {} cannot be calibrated", hw0, hw1);
    calib_x_ = AnyModule(FactorizedReduction(c0, out_filters, /*relu_first=*/true));
  } else if (c0 != out_filters) {
    calib_x_ = AnyModule(ReluConvBn(c0, out_filters));
  } else {
    calib_x_ = AnyModule(torch::nn::Identity());
  }
  calib_y_ =
      c1 != out_filters ? AnyModule(ReluConvBn(c1, out_filters)) : AnyModule(torch::nn::Identity());
  register_module("calib_x", calib_x_.ptr());
  register_module("calib_y", calib_y_.ptr());
  base_ = register_module("layer_base", ReluConvBn(out_filters, out_filters));

  std::vector<int64_t> hw = {hw1, hw1};
  for (int b = 0; b < cell.num_blocks(); ++b) {
    int64_t sizes[2];
    for (int side = 0; side < 2; ++side) {
      int idx = cell.index(b, side);
      int64_t s = idx < 2 ? stride : 1;
      ops_.push_back(make_fixed_micro_op(micro::kOps[cell.op(b, side)], out_filters, s));
      register_module(fmt::format("block{}_{}", b, side ? "y" : "x"), ops_.back().ptr());
      sizes[side] = s > 1 ? half(hw[idx]) : hw[idx];
    }
    require(sizes[0] == sizes[1],
            "micro cell: block {} adds inputs of sizes {} and {} (a reduction cell must not add a "
            "reduced and an unreduced node)",
            b, sizes[0], sizes[1]);
    hw.push_back(sizes[0]);
  }
  // _fixed_combine: concatenate the loose ends, reducing the ones still at the larger size.
  loose_ = cell.loose_ends();
  out_size_ = hw[loose_[0]];
  for (int i : loose_) out_size_ = std::min(out_size_, hw[i]);
  for (int i : loose_) {
    combine_.push_back(hw[i] > out_size_ ? AnyModule(FactorizedReduction(out_filters, out_filters))
                                         : AnyModule(torch::nn::Identity()));
    register_module(fmt::format("combine{}", i), combine_.back().ptr());
  }
  out_channels_ = static_cast<int64_t>(loose_.size()) * out_filters;
}

torch::Tensor MicroFixedCellImpl::forward(const torch::Tensor& s0, const torch::Tensor& s1,
                                          double keep) {
  std::vector<CellNode> nodes;
  nodes.reserve(cell_.num_blocks() + 2);
  nodes.emplace_back(calib_x_.forward(s0));
  nodes.emplace_back(base_->forward(calib_y_.forward(s1)));
  for (int b = 0; b < cell_.num_blocks(); ++b) {
    torch::Tensor h[2];
    for (int side = 0; side < 2; ++side) {
      const OpSpec& op = micro::kOps[cell_.op(b, side)];
      h[side] = run_fixed_micro_op(op, ops_[2 * b + side], nodes[cell_.index(b, side)]);
      // Drop-path on every op but identity (and never on the identity's reduction).
      if (keep > 0.0 && keep < 1.0 && op.family != OpFamily::kIdentity) {
        h[side] = drop_path(h[side], keep);
      }
    }
    nodes.emplace_back(h[0] + h[1]);
  }
  std::vector<torch::Tensor> outs;
  for (size_t i = 0; i < loose_.size(); ++i)
    outs.push_back(combine_[i].forward(nodes[loose_[i]].x()));
  return torch::cat(outs, 1);  // (B, loose * out_filters, H', W')
}

MicroFixedImpl::MicroFixedImpl(MicroFixedOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  const auto& arc = o.arc();
  model_.build(*this,
               MicroModelOptions()
                   .input(o.input())
                   .num_layers(o.num_layers())
                   .out_filters(o.out_filters())
                   .keep_prob(o.keep_prob())
                   .use_aux_heads(o.use_aux_heads()),
               [&](int64_t layer, bool reduce, int64_t filters, MicroModel::Shape& prev,
                   MicroModel::Shape& cur) {
                 auto cell = MicroFixedCell(reduce ? arc.reduce : arc.normal, prev, cur, filters,
                                            reduce ? 2 : 1);
                 cells_.push_back(register_module(fmt::format("layer{}", layer), cell));
                 return MicroModel::Shape{cell->out_channels(), cell->out_size()};
               });
}

double MicroFixedImpl::drop_path_keep(int64_t layer_id) const {
  const double p = options_.drop_path_keep_prob();
  if (p >= 1.0) return 1.0;
  // _apply_drop_path: the drop grows linearly with depth, and is ramped in over all steps.
  double layer_ratio = static_cast<double>(layer_id + 1) / (options_.num_layers() + 2);
  double keep = 1.0 - layer_ratio * (1.0 - p);
  double step_ratio =
      std::min(1.0, static_cast<double>(global_step_ + 1) / std::max<int64_t>(1, total_steps_));
  return 1.0 - step_ratio * (1.0 - keep);
}

ChildOutput MicroFixedImpl::forward(const torch::Tensor& images) {
  const bool training = is_training();
  return model_.forward(images, training, [&](int64_t layer, torch::Tensor& s0, torch::Tensor& s1) {
    return cells_[layer]->forward(s0, s1, training ? drop_path_keep(layer) : 1.0);
  });
}

std::string MicroFixedImpl::summary() const {
  std::string s = options_.arc().describe();
  for (size_t layer = 0; layer < cells_.size(); ++layer) {
    const bool reduce = model_.plan().reduces(static_cast<int64_t>(layer));
    int64_t n = 0;
    for (const auto& p : cells_[layer]->parameters()) n += p.numel();
    s += fmt::format("layer {:2d} {:<6s} out {:2d}x{:<2d} x {:4d} ch {:9d} params\n", layer,
                     reduce ? "reduce" : "normal", cells_[layer]->out_size(),
                     cells_[layer]->out_size(), cells_[layer]->out_channels(), n);
  }
  if (model_.aux_index() >= 0) s += fmt::format("aux head after layer {}\n", model_.aux_index());
  return s;
}

}  // namespace enas
