#pragma once
/// Private to src/deploy: a thin layer over ONNX's own C++ classes (onnx::GraphProto and its
/// nodes), so that the exporters read as the forwards they mirror. Every value carries its static
/// shape (the batch dimension as -1), from which the next node's attributes are computed.
#include <onnx/onnx_pb.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace enas::onnx_graph {

/// The opset every graph is written for (docs/export.md): 13 has every op used here in the form
/// used (Split and ReduceSum take their sizes and axes as inputs from 13 on).
inline constexpr int64_t kOpset = 13;

struct Attr {
  std::string name;
  std::vector<int64_t> ints;  // an INTS attribute, or an INT one when `single`
  bool single = false;
};
inline Attr ints(std::string name, std::vector<int64_t> v) {
  return {std::move(name), std::move(v)};
}
inline Attr one(std::string name, int64_t v) { return {std::move(name), {v}, true}; }

class Graph {
 public:
  explicit Graph(onnx::GraphProto* graph) : g_(graph) {}

  /// A graph input: float (or int64) with `shape`, -1 for the batch dimension ("N").
  std::string input(const std::string& name, std::vector<int64_t> shape,
                    int32_t type = onnx::TensorProto::FLOAT);
  /// Declares `value` a graph output under `name` (an Identity node when the names differ).
  void output(const std::string& value, const std::string& name);
  /// A constant tensor (float32 or int64), stored as an initializer; returns its name.
  std::string constant(const std::string& hint, const torch::Tensor& t);
  /// A node of `op` on `inputs` with one output, whose shape the caller gives.
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   std::vector<int64_t> out_shape, const std::vector<Attr>& attrs = {});

  const std::vector<int64_t>& shape(const std::string& value) const { return shapes_.at(value); }

  // The ops of the exporters, each returning its output's name.
  /// 2-d convolution with weight (O, I/g, k, k), an optional bias, `stride`, padding
  /// (top, left, bottom, right) and `groups`.
  std::string conv(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias,
                   int64_t stride, std::vector<int64_t> pads, int64_t groups = 1);
  std::string relu(const std::string& x);
  std::string add(const std::string& a, const std::string& b);
  std::string concat(const std::vector<std::string>& xs, int64_t axis = 1);
  /// 3x3-style pooling with symmetric padding `pad` (average: valid pixels only).
  std::string pool(const std::string& x, bool average, int64_t k, int64_t stride, int64_t pad);
  /// Global average pool to (N, C).
  std::string global_mean(const std::string& x);
  /// x (N, K) times weight (M, K) transposed, plus an optional bias: (N, M).
  std::string linear(const std::string& x, const torch::Tensor& weight,
                     const torch::Tensor& bias = {});

 private:
  std::string fresh(const std::string& hint);
  onnx::GraphProto* g_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::map<std::string, int> used_;
};

/// The model around a graph: IR version, opset, producer. Checked (onnx::checker with shape
/// inference) and serialised by finish().
onnx::ModelProto new_model(const std::string& graph_name);
void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value);
/// Runs ONNX's checker and strict shape inference; returns the serialised bytes. A failure is an
/// enas::Error (a bug here, never the user's).
std::string finish(onnx::ModelProto& model);

}  // namespace enas::onnx_graph
