#pragma once
/// The macro-space child for a fixed architecture (final training), after the authors'
/// general_child.py `_fixed_layer` with whole_channels, in the skeleton of `_model`
/// (macro_model.h), its ops from the op table (ops.h). Unlike their fixed path, ops 1
/// and 3 are true separable convs and ops 4 and 5 (pooling) can be built
/// (docs/differences-from-authors.md).
#include <torch/torch.h>

#include "enas/child/layers.h"
#include "enas/child/macro_model.h"
#include "enas/child/ops.h"
#include "enas/space/macro.h"

namespace enas {

struct MacroFixedOptions {
  explicit MacroFixedOptions(macro::Arc arc) : arc_(std::move(arc)) {}
  TORCH_ARG(macro::Arc, arc);
  TORCH_ARG(ImageShape, input) = {};
  TORCH_ARG(int64_t, out_filters) = 96;  // child_out_filters, doubled at each pooling
  TORCH_ARG(double, keep_prob) = 0.5;    // child_keep_prob: dropout before the FC layer
};

class MacroFixedImpl : public ImageChildImpl {
 public:
  explicit MacroFixedImpl(MacroFixedOptions options);
  ChildOutput forward(const torch::Tensor& images) override;
  std::string summary() const override;

 private:
  MacroFixedOptions options_;
  MacroModel model_;
  std::vector<MacroBranch> branches_;
  std::vector<ReluConvBn> skip_convs_;  // (num_layers), undefined for layer 0
};
TORCH_MODULE(MacroFixed);

}  // namespace enas
