#include "enas/child/macro_fixed.h"

#include <fmt/format.h>

namespace enas {

MacroFixedImpl::MacroFixedImpl(MacroFixedOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  const auto& arc = o.arc();
  model_.build(*this,
               MacroModelOptions()
                   .input(o.input())
                   .num_layers(arc.num_layers())
                   .out_filters(o.out_filters())
                   .keep_prob(o.keep_prob())
                   .double_at_pools(true),
               [&](int64_t layer, int64_t c) {
                 branches_.push_back(register_module(fmt::format("layer{}_op", layer),
                                                     MacroBranch(arc.ops[layer], c, c)));
                 if (layer == 0) {
                   skip_convs_.emplace_back(nullptr);
                   return;
                 }
                 // `_fixed_layer`: the op's output and the selected earlier outputs,
                 // concatenated, through ReLU -> 1x1 conv -> BN.
                 int64_t inputs = 1;
                 for (int bit : arc.skips[layer]) inputs += bit;
                 skip_convs_.push_back(register_module(fmt::format("layer{}_skip", layer),
                                                       ReluConvBn(inputs * c, c)));
               });
}

ChildOutput MacroFixedImpl::forward(const torch::Tensor& images) {
  const auto& arc = options_.arc();
  return model_.forward(images, [&](int layer, const MacroModel::Input& input) {
    auto out = branches_[layer]->forward(input(layer));
    if (layer == 0) return out;
    std::vector<torch::Tensor> parts;
    for (int k = 0; k < layer; ++k) {
      if (arc.skips[layer][k]) parts.push_back(input(k));
    }
    parts.push_back(out);
    return skip_convs_[layer]->forward(torch::cat(parts, 1));
  });
}

std::string MacroFixedImpl::summary() const {
  std::string s = options_.arc().describe();
  const auto& pools = model_.pool_layers();
  s += fmt::format("pooling after layers {} and {}\n", pools[0], pools[1]);
  return s;
}

}  // namespace enas
