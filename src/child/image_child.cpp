#include "enas/child/image_child.h"

namespace enas {

namespace {
bool in_aux_head(const std::string& name) { return name.rfind("aux_head.", 0) == 0; }
}  // namespace

int64_t ImageChildImpl::num_params() const {
  int64_t n = 0;
  for (const auto& item : named_parameters()) {
    if (!in_aux_head(item.key())) n += item.value().numel();
  }
  return n;
}

int64_t ImageChildImpl::num_aux_params() const {
  int64_t n = 0;
  for (const auto& item : named_parameters()) {
    if (in_aux_head(item.key())) n += item.value().numel();
  }
  return n;
}

}  // namespace enas
