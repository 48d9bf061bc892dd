#include "enas/child/macro_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/space/macro.h"
#include "enas/util/error.h"

namespace enas {

void MacroModel::build(torch::nn::Module& child, MacroModelOptions options,
                       const BuildLayer& build) {
  options_ = std::move(options);
  const auto& o = options_;
  require(o.out_filters() >= 2 && o.out_filters() % 2 == 0,
          "child_out_filters must be even and >= 2 (factorised reductions split it in two), got {}",
          o.out_filters());
  int64_t c = o.out_filters();
  stem_conv_ = child.register_module("stem_conv", make_conv(o.input().channels, c, 3));
  stem_bn_ = child.register_module("stem_bn", make_bn(c));
  pool_layers_ = macro::pool_layers(o.num_layers());
  for (int64_t layer = 0; layer < o.num_layers(); ++layer) {
    build(layer, c);
    if (!pools_after(layer)) continue;
    const int64_t out = o.double_at_pools() ? 2 * c : c;
    std::vector<FactorizedReduction> stage;
    for (int64_t slot = 0; slot < layer + 2; ++slot) {
      stage.push_back(child.register_module(fmt::format("pool{}_from{}", reductions_.size(), slot),
                                            FactorizedReduction(c, out)));
    }
    reductions_.push_back(std::move(stage));
    c = out;
  }
  dropout_ = child.register_module("dropout", torch::nn::Dropout(1.0 - o.keep_prob()));
  fc_ = child.register_module(
      "fc", torch::nn::Linear(torch::nn::LinearOptions(c, o.input().num_classes).bias(false)));
  he_normal_(fc_->weight, c);  // w [C, num_classes]
}

bool MacroModel::pools_after(int64_t layer) const {
  return std::find(pool_layers_.begin(), pool_layers_.end(), layer) != pool_layers_.end();
}

torch::Tensor MacroModel::get(std::vector<std::vector<torch::Tensor>>& versions, int slot,
                              int stage) {
  auto& v = versions[slot];
  while (static_cast<int>(v.size()) <= stage) {
    int s = static_cast<int>(v.size());
    v.push_back(reductions_[s - 1][slot]->forward(v.back()));
  }
  return v[stage];
}

ChildOutput MacroModel::forward(const torch::Tensor& images, const RunLayer& run) {
  const int n = static_cast<int>(options_.num_layers());
  // versions[slot][stage]: slot 0 is the stem, slot i the output of layer i-1, at each pooling
  // stage. Only the (slot, stage) pairs a later layer reads are computed.
  std::vector<std::vector<torch::Tensor>> versions(n + 1);
  versions[0].push_back(stem_bn_->forward(stem_conv_->forward(images)));
  int stage = 0;
  for (int layer = 0; layer < n; ++layer) {
    auto out = run(layer, [&](int slot) { return get(versions, slot, stage); });
    versions[layer + 1].resize(stage);  // placeholders below this stage are never read
    versions[layer + 1].push_back(out);
    if (pools_after(layer)) ++stage;
  }
  // The authors put no ReLU before the macro child's global pool.
  auto x = get(versions, n, stage).mean({2, 3});  // (B, C)
  if (options_.keep_prob() < 1.0) x = dropout_->forward(x);
  return {fc_->forward(x), torch::Tensor()};
}

}  // namespace enas
