#include "enas/child/macro_fixed.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/util/error.h"

namespace enas {

MacroFixedImpl::MacroFixedImpl(MacroFixedOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  const auto& arc = o.arc();
  const int64_t n = arc.num_layers();
  require(o.out_filters() >= 2 && o.out_filters() % 2 == 0,
          "child_out_filters must be even and >= 2 (factorised reductions split it in two), got {}",
          o.out_filters());
  int64_t c = o.out_filters();
  stem_conv_ = register_module("stem_conv", make_conv(o.input().channels, c, 3));
  stem_bn_ = register_module("stem_bn", make_bn(c));
  pool_layers_ = macro::pool_layers(n);
  for (int64_t layer = 0; layer < n; ++layer) {
    branches_.push_back(
        register_module(fmt::format("layer{}_op", layer), MacroBranch(arc.ops[layer], c, c)));
    if (layer > 0) {
      int64_t inputs = 1;
      for (int bit : arc.skips[layer]) inputs += bit;
      skip_convs_.push_back(
          register_module(fmt::format("layer{}_skip", layer), ReluConvBn(inputs * c, c)));
    } else {
      skip_convs_.emplace_back(nullptr);
    }
    if (std::find(pool_layers_.begin(), pool_layers_.end(), layer) != pool_layers_.end()) {
      std::vector<FactorizedReduction> stage;
      for (int64_t slot = 0; slot < layer + 2; ++slot) {
        stage.push_back(register_module(fmt::format("pool{}_from{}", reductions_.size(), slot),
                                        FactorizedReduction(c, 2 * c)));
      }
      reductions_.push_back(std::move(stage));
      c *= 2;
    }
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(1.0 - o.keep_prob()));
  fc_ = register_module(
      "fc", torch::nn::Linear(torch::nn::LinearOptions(c, o.input().num_classes).bias(false)));
  he_normal_(fc_->weight, c);
}

torch::Tensor MacroFixedImpl::get(std::vector<std::vector<torch::Tensor>>& versions, int slot,
                                  int stage) {
  auto& v = versions[slot];
  while (static_cast<int>(v.size()) <= stage) {
    int s = static_cast<int>(v.size());
    v.push_back(reductions_[s - 1][slot]->forward(v.back()));
  }
  return v[stage];
}

ChildOutput MacroFixedImpl::forward(const torch::Tensor& images) {
  const auto& arc = options_.arc();
  const int n = arc.num_layers();
  // versions[slot][stage]: slot 0 is the stem, slot i the output of layer i-1, at each pooling.
  std::vector<std::vector<torch::Tensor>> versions(n + 1);
  versions[0].push_back(stem_bn_->forward(stem_conv_->forward(images)));
  int stage = 0;
  for (int layer = 0; layer < n; ++layer) {
    auto out = branches_[layer]->forward(get(versions, layer, stage));
    if (layer > 0) {
      std::vector<torch::Tensor> parts;
      for (int k = 0; k < layer; ++k) {
        if (arc.skips[layer][k]) parts.push_back(get(versions, k, stage));
      }
      parts.push_back(out);
      out = skip_convs_[layer]->forward(torch::cat(parts, 1));
    }
    versions[layer + 1].resize(stage);  // placeholders below this stage are never read
    versions[layer + 1].push_back(out);
    if (std::find(pool_layers_.begin(), pool_layers_.end(), layer) != pool_layers_.end()) ++stage;
  }
  // The authors put no ReLU before the macro child's global pool.
  auto x = get(versions, n, stage).mean({2, 3});
  if (options_.keep_prob() < 1.0) x = dropout_->forward(x);
  return {fc_->forward(x), torch::Tensor()};
}

std::string MacroFixedImpl::summary() const {
  std::string s = options_.arc().describe();
  s += fmt::format("pooling after layers {} and {}\n", pool_layers_[0], pool_layers_[1]);
  return s;
}

}  // namespace enas
