#include "enas/child/micro_fixed.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/util/error.h"

namespace enas {

namespace F = torch::nn::functional;

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

AuxHeadImpl::AuxHeadImpl(int64_t in_channels, int64_t in_size, int64_t num_classes) {
  require(in_size >= 5, "the auxiliary head needs a map of at least 5x5, got {}x{}", in_size,
          in_size);
  int64_t k = (in_size - 5) / 3 + 1;  // size after the 5x5/3 VALID average pool
  pad_lo_ = (k - 1) / 2;              // TF "SAME" at stride 1 pads bottom/right more
  pad_hi_ = k - 1 - pad_lo_;
  proj_ = register_module("proj", make_conv(in_channels, 128, 1));
  proj_bn_ = register_module("proj_bn", make_bn(128));
  conv_ =
      register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(128, 768, k).bias(false)));
  he_normal_(conv_->weight, k * k * 128);
  bn_ = register_module("bn", make_bn(768));
  fc_ = register_module("fc",
                        torch::nn::Linear(torch::nn::LinearOptions(768, num_classes).bias(false)));
  he_normal_(fc_->weight, 768);
}

torch::Tensor AuxHeadImpl::forward(const torch::Tensor& input) {
  auto x = F::avg_pool2d(torch::relu(input), F::AvgPool2dFuncOptions(5).stride(3));
  x = torch::relu(proj_bn_->forward(proj_->forward(x)));
  if (pad_lo_ + pad_hi_ > 0) x = F::pad(x, F::PadFuncOptions({pad_lo_, pad_hi_, pad_lo_, pad_hi_}));
  x = torch::relu(bn_->forward(conv_->forward(x)));
  return fc_->forward(x.mean({2, 3}));
}

MicroFixedImpl::MicroFixedImpl(MicroFixedOptions options)
    : options_(std::move(options)), plan_(options_.num_layers()) {
  const auto& o = options_;
  const auto& arc = o.arc();
  require(o.num_layers() >= 0, "child_num_layers must be >= 0, got {}", o.num_layers());
  require(o.out_filters() >= 2 && o.out_filters() % 2 == 0,
          "child_out_filters must be even and >= 2 (factorised reductions split it in two), got {}",
          o.out_filters());
  const int64_t stem_c = 3 * o.out_filters();
  stem_conv_ = register_module("stem_conv", make_conv(o.input().channels, stem_c, 3));
  stem_bn_ = register_module("stem_bn", make_bn(stem_c));

  if (o.use_aux_heads() && plan_.aux_after < plan_.num_cells_built) aux_index_ = plan_.aux_after;

  std::pair<int64_t, int64_t> prev{stem_c, o.input().height}, cur = prev;
  int64_t filters = o.out_filters();
  for (int64_t layer = 0; layer < plan_.num_cells_built; ++layer) {
    const bool reduce = plan_.reduces(layer);
    if (reduce) filters *= 2;
    auto cell =
        MicroFixedCell(reduce ? arc.reduce : arc.normal, prev, cur, filters, reduce ? 2 : 1);
    cells_.push_back(register_module(fmt::format("layer{}", layer), cell));
    prev = cur;
    cur = {cell->out_channels(), cell->out_size()};
    if (layer == aux_index_) {
      aux_head_ =
          register_module("aux_head", AuxHead(cur.first, cur.second, o.input().num_classes));
    }
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(1.0 - o.keep_prob()));
  fc_ = register_module(
      "fc",
      torch::nn::Linear(torch::nn::LinearOptions(cur.first, o.input().num_classes).bias(false)));
  he_normal_(fc_->weight, cur.first);
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
  ChildOutput out;
  auto x = stem_bn_->forward(stem_conv_->forward(images));  // (B, 3C, H, W)
  torch::Tensor s0 = x, s1 = x;
  for (size_t layer = 0; layer < cells_.size(); ++layer) {
    double keep = is_training() ? drop_path_keep(layer) : 1.0;
    auto next = cells_[layer]->forward(s0, s1, keep);
    s0 = s1;
    s1 = next;
    if (is_training() && static_cast<int64_t>(layer) == aux_index_) {
      out.aux_logits = aux_head_->forward(s1);
    }
  }
  x = torch::relu(s1).mean({2, 3});  // (B, C_last)
  if (options_.keep_prob() < 1.0) x = dropout_->forward(x);
  out.logits = fc_->forward(x);
  return out;
}

std::string MicroFixedImpl::summary() const {
  std::string s = options_.arc().describe();
  for (size_t layer = 0; layer < cells_.size(); ++layer) {
    const bool reduce = plan_.reduces(static_cast<int64_t>(layer));
    int64_t n = 0;
    for (const auto& p : cells_[layer]->parameters()) n += p.numel();
    s += fmt::format("layer {:2d} {:<6s} out {:2d}x{:<2d} x {:4d} ch {:9d} params\n", layer,
                     reduce ? "reduce" : "normal", cells_[layer]->out_size(),
                     cells_[layer]->out_size(), cells_[layer]->out_channels(), n);
  }
  if (aux_head_) s += fmt::format("aux head after layer {}\n", aux_index_);
  return s;
}

}  // namespace enas
