#include "enas/child/macro_shared.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/util/error.h"

namespace enas {

MacroSharedImpl::MacroSharedImpl(MacroSharedOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  const int64_t n = o.num_layers();
  const int64_t c = o.out_filters();
  require(n >= 1, "child_num_layers must be >= 1, got {}", n);
  require(c >= 2 && c % 2 == 0,
          "child_out_filters must be even and >= 2 (factorised reductions split it in two), got {}",
          c);
  require(o.num_branches() >= 4 && o.num_branches() <= macro::kNumOps,
          "child_num_branches must be 4..{} for a macro search, got {}", macro::kNumOps,
          o.num_branches());
  stem_conv_ = register_module("stem_conv", make_conv(o.input().channels, c, 3));
  stem_bn_ = register_module("stem_bn", make_bn(c));
  pool_layers_ = macro::pool_layers(n);
  for (int64_t layer = 0; layer < n; ++layer) {
    std::vector<MacroBranch> ops;
    for (int op = 0; op < o.num_branches(); ++op) {
      ops.push_back(register_module(fmt::format("layer{}_branch{}", layer, op),
                                    MacroBranch(op, c, c, /*search=*/true)));
    }
    branches_.push_back(std::move(ops));
    // `skip/bn`: batch_norm of the sum of the selected earlier layers and the op's output.
    skip_bn_.push_back(layer > 0
                           ? register_module(fmt::format("layer{}_skip_bn", layer), make_bn(c))
                           : BatchNorm(nullptr));
    if (std::find(pool_layers_.begin(), pool_layers_.end(), layer) != pool_layers_.end()) {
      // Every entry of `layers` (the stem and layers 0..layer) is reduced; no channel doubling
      // in search (`out_filters *= 2` only with a fixed arc).
      std::vector<FactorizedReduction> stage;
      for (int64_t slot = 0; slot < layer + 2; ++slot) {
        stage.push_back(register_module(fmt::format("pool{}_from{}", reductions_.size(), slot),
                                        FactorizedReduction(c, c)));
      }
      reductions_.push_back(std::move(stage));
    }
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(1.0 - o.keep_prob()));
  fc_ = register_module(
      "fc", torch::nn::Linear(torch::nn::LinearOptions(c, o.input().num_classes).bias(false)));
  he_normal_(fc_->weight, c);  // w [C, num_classes]
}

void MacroSharedImpl::set_arc(const std::vector<int>& flat) {
  auto arc = macro::arc_from_flat(flat, static_cast<int>(options_.num_layers()));
  for (int layer = 0; layer < arc.num_layers(); ++layer) {
    require(arc.ops[layer] < options_.num_branches(),
            "macro architecture: layer {} has op {} ({}), but the shared child was built with "
            "child_num_branches={} (ops 0..{})",
            layer, arc.ops[layer], macro::kOps[arc.ops[layer]].name, options_.num_branches(),
            options_.num_branches() - 1);
  }
  arc_ = std::move(arc);
  has_arc_ = true;
}

torch::Tensor MacroSharedImpl::get(std::vector<std::vector<torch::Tensor>>& versions, int slot,
                                   int stage) {
  auto& v = versions[slot];
  while (static_cast<int>(v.size()) <= stage) {
    int s = static_cast<int>(v.size());
    v.push_back(reductions_[s - 1][slot]->forward(v.back()));
  }
  return v[stage];
}

ChildOutput MacroSharedImpl::forward(const torch::Tensor& images) {
  require(has_arc_, "macro shared child: forward() before set_arc()");
  const int n = arc_.num_layers();
  // versions[slot][stage]: slot 0 is the stem, slot i the output of layer i-1, at each pooling
  // stage. Only the (slot, stage) pairs a later layer reads are computed.
  std::vector<std::vector<torch::Tensor>> versions(n + 1);
  versions[0].push_back(stem_bn_->forward(stem_conv_->forward(images)));
  int stage = 0;
  for (int layer = 0; layer < n; ++layer) {
    auto out = branches_[layer][arc_.ops[layer]]->forward(get(versions, layer, stage));
    if (layer > 0) {
      // The authors add zeros for the unset bits (tf.cond); adding only the set ones is equal.
      for (int k = 0; k < layer; ++k) {
        if (arc_.skips[layer][k]) out = out + get(versions, k, stage);
      }
      out = skip_bn_[layer]->forward(out);
    }
    versions[layer + 1].resize(stage);  // placeholders below this stage are never read
    versions[layer + 1].push_back(out);
    if (std::find(pool_layers_.begin(), pool_layers_.end(), layer) != pool_layers_.end()) ++stage;
  }
  // No ReLU before the global pool, as in the authors' _model.
  auto x = get(versions, n, stage).mean({2, 3});  // (B, C)
  if (options_.keep_prob() < 1.0) x = dropout_->forward(x);
  return {fc_->forward(x), torch::Tensor()};
}

std::string MacroSharedImpl::summary() const {
  const auto& o = options_;
  std::string ops;
  for (int op = 0; op < o.num_branches(); ++op)
    ops += std::string(op ? " " : "") + macro::kOps[op].name;
  std::string s = fmt::format(
      "macro shared child: {} layers, {} filters, {} branches ({}), pooling after layers {} and "
      "{}, {} params\n",
      o.num_layers(), o.out_filters(), o.num_branches(), ops, pool_layers_[0], pool_layers_[1],
      num_params());
  if (has_arc_) s += "current arc:\n" + arc_.describe();
  return s;
}

}  // namespace enas
