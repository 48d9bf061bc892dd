#pragma once
/// The macro-space head (general_controller.py, search_whole_channels): per layer an op, then
/// skip decisions by attention over the earlier layers' anchors.
#include "enas/controller/controller.h"

namespace enas {

class MacroControllerImpl : public ControllerImpl {
 public:
  explicit MacroControllerImpl(ControllerOptions options);
  int64_t arc_length() const override;

 protected:
  ArcBatch run(int64_t batch, const std::vector<std::vector<int>>* forced) override;

 private:
};

}  // namespace enas
