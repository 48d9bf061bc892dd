#include "enas/child/macro_shared.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/util/error.h"

namespace enas {

MacroSharedImpl::MacroSharedImpl(MacroSharedOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  require(o.num_layers() >= 1, "child_num_layers must be >= 1, got {}", o.num_layers());
  require(o.num_branches() >= 4 && o.num_branches() <= macro::kNumOps,
          "child_num_branches must be 4..{} for a macro search, got {}", macro::kNumOps,
          o.num_branches());
  model_.build(*this,
               MacroModelOptions()
                   .input(o.input())
                   .num_layers(o.num_layers())
                   .out_filters(o.out_filters())
                   .keep_prob(o.keep_prob())
                   .double_at_pools(false),  // `out_filters *= 2` only with a fixed arc
               [&](int64_t layer, int64_t c) {
                 std::vector<MacroBranch> ops;
                 for (int op = 0; op < o.num_branches(); ++op) {
                   ops.push_back(register_module(fmt::format("layer{}_branch{}", layer, op),
                                                 MacroBranch(op, c, c, /*search=*/true)));
                 }
                 branches_.push_back(std::move(ops));
                 // `skip/bn`: batch norm of the sum of the op's output and the selected
                 // earlier outputs.
                 skip_bn_.push_back(
                     layer > 0 ? register_module(fmt::format("layer{}_skip_bn", layer), make_bn(c))
                               : BatchNorm(nullptr));
               });
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

ChildOutput MacroSharedImpl::forward(const torch::Tensor& images) {
  require(has_arc_, "macro shared child: forward() before set_arc()");
  return model_.forward(images, [&](int layer, const MacroModel::Input& input) {
    auto out = branches_[layer][arc_.ops[layer]]->forward(input(layer));
    if (layer == 0) return out;
    // The authors add zeros for the unset bits (tf.cond); adding only the set ones is equal.
    for (int k = 0; k < layer; ++k) {
      if (arc_.skips[layer][k]) out = out + input(k);
    }
    return skip_bn_[layer]->forward(out);
  });
}

std::string MacroSharedImpl::summary() const {
  const auto& o = options_;
  std::string ops;
  for (int op = 0; op < o.num_branches(); ++op)
    ops += std::string(op ? " " : "") + macro::kOps[op].name;
  std::string s = fmt::format(
      "macro shared child: {} layers, {} filters, {} branches ({}), pooling after layers {} and "
      "{}, {} params\n",
      o.num_layers(), o.out_filters(), o.num_branches(), ops, model_.pool_layers()[0],
      model_.pool_layers()[1], num_params());
  if (has_arc_) s += "current arc:\n" + arc_.describe();
  return s;
}

}  // namespace enas
