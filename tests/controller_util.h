#pragma once
/// Helpers of the controller tests (test_controller.cpp, test_reinforce.cpp,
/// test_rnn_controller.cpp): options and controllers of the image spaces, the golden weights of
/// tests/golden/controller_golden.py, tensors read back as doubles.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "enas/controller/controller.h"
#include "enas/controller/macro_controller.h"
#include "enas/controller/micro_controller.h"
#include "golden/controller_golden.h"

namespace enas::test {

/// Fills every parameter with the golden formula: value k of the flattened (row-major) tensor is
/// float(scale * sin(freq * k + offset[name])). Fails on a parameter the golden script lacks.
inline void fill_golden(torch::nn::Module& module) {
  namespace golden = golden::controller;
  torch::NoGradGuard guard;
  for (auto& item : module.named_parameters()) {
    const double* offset = nullptr;
    for (const auto& [name, off] : golden::kWeightOffsets) {
      if (name == item.key()) offset = &off;
    }
    if (!offset) {
      ADD_FAILURE() << "parameter " << item.key() << " has no golden formula";
      continue;
    }
    auto& t = item.value();
    std::vector<float> v(t.numel());
    for (size_t k = 0; k < v.size(); ++k) {
      v[k] = static_cast<float>(golden::kWeightScale *
                                std::sin(golden::kWeightFreq * static_cast<double>(k) + *offset));
    }
    t.copy_(torch::tensor(v).view(t.sizes()));
  }
}

inline ControllerOptions macro_options(int64_t layers, int64_t branches, int64_t lstm,
                                       double tanh_c) {
  ControllerOptions o;
  o.num_layers = layers;
  o.num_branches = branches;
  o.lstm_size = lstm;
  o.tanh_constant = tanh_c;
  return o;
}

inline ControllerOptions micro_options(int64_t cells, int64_t branches, int64_t lstm, double tanh_c,
                                       double op_tanh_reduce) {
  ControllerOptions o;
  o.num_cells = cells;
  o.num_branches = branches;
  o.lstm_size = lstm;
  o.tanh_constant = tanh_c;
  o.op_tanh_reduce = op_tanh_reduce;
  return o;
}

inline Controller macro_controller(const ControllerOptions& o) {
  return std::make_shared<MacroControllerImpl>(o);
}
inline Controller micro_controller(const ControllerOptions& o) {
  return std::make_shared<MicroControllerImpl>(o);
}

/// A tensor's values as doubles, row-major.
inline std::vector<double> to_vector(const torch::Tensor& t) {
  auto d = t.detach().to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace enas::test
