#include "onnx_graph.h"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include "enas/util/error.h"

namespace enas::onnx_graph {

namespace {

void set_shape(onnx::ValueInfoProto* v, int32_t type, const std::vector<int64_t>& shape) {
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(type);
  auto* s = t->mutable_shape();
  for (int64_t d : shape) {
    if (d < 0) {
      s->add_dim()->set_dim_param("N");
    } else {
      s->add_dim()->set_dim_value(d);
    }
  }
}

int64_t pooled(int64_t size, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi) {
  return (size + pad_lo + pad_hi - k) / stride + 1;
}

}  // namespace

std::string Graph::fresh(const std::string& hint) {
  const int n = used_[hint]++;
  return n == 0 ? hint : fmt::format("{}_{}", hint, n);
}

std::string Graph::input(const std::string& name, std::vector<int64_t> shape, int32_t type) {
  set_shape(g_->add_input(), type, shape);
  g_->mutable_input(g_->input_size() - 1)->set_name(name);
  used_[name]++;
  shapes_[name] = std::move(shape);
  return name;
}

void Graph::output(const std::string& value, const std::string& name) {
  std::string out = value;
  if (value != name) {
    auto* n = g_->add_node();
    n->set_op_type("Identity");
    n->set_name(fresh("Identity"));
    n->add_input(value);
    n->add_output(name);
    shapes_[name] = shapes_.at(value);
    out = name;
  }
  set_shape(g_->add_output(), onnx::TensorProto::FLOAT, shapes_.at(out));
  g_->mutable_output(g_->output_size() - 1)->set_name(out);
}

std::string Graph::constant(const std::string& hint, const torch::Tensor& value) {
  const torch::Tensor t = value.detach().to(torch::kCPU).contiguous();
  require(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kLong,
          "ONNX export: constant {} is of an unsupported type", hint);
  const std::string name = fresh(hint);
  auto* init = g_->add_initializer();
  init->set_name(name);
  init->set_data_type(t.scalar_type() == torch::kFloat ? onnx::TensorProto::FLOAT
                                                       : onnx::TensorProto::INT64);
  for (int64_t d : t.sizes()) init->add_dims(d);
  // raw_data is little-endian, as every machine libtorch runs on here.
  init->set_raw_data(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  shapes_[name] = t.sizes().vec();
  return name;
}

std::string Graph::node(const std::string& op, const std::vector<std::string>& inputs,
                        std::vector<int64_t> out_shape, const std::vector<Attr>& attrs) {
  auto* n = g_->add_node();
  n->set_op_type(op);
  n->set_name(fresh(op));
  for (const auto& in : inputs) n->add_input(in);
  const std::string out = fresh(op + "_out");
  n->add_output(out);
  for (const auto& a : attrs) {
    auto* attr = n->add_attribute();
    attr->set_name(a.name);
    if (a.single) {
      attr->set_type(onnx::AttributeProto::INT);
      attr->set_i(a.ints.at(0));
    } else {
      attr->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) attr->add_ints(v);
    }
  }
  shapes_[out] = std::move(out_shape);
  return out;
}

std::string Graph::conv(const std::string& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, int64_t stride, std::vector<int64_t> pads,
                        int64_t groups) {
  const auto& in = shape(x);  // (N, C, H, W)
  const int64_t k = weight.size(2);
  std::vector<std::string> inputs{x, constant("conv_w", weight.to(torch::kFloat))};
  if (bias.defined()) inputs.push_back(constant("conv_b", bias.to(torch::kFloat)));
  std::vector<int64_t> out{in[0], weight.size(0), pooled(in[2], k, stride, pads[0], pads[2]),
                           pooled(in[3], weight.size(3), stride, pads[1], pads[3])};
  return node("Conv", inputs, out,
              {ints("kernel_shape", {k, weight.size(3)}), ints("strides", {stride, stride}),
               ints("pads", pads), one("group", groups)});
}

std::string Graph::relu(const std::string& x) { return node("Relu", {x}, shape(x)); }

std::string Graph::add(const std::string& a, const std::string& b) {
  require(shape(a) == shape(b), "ONNX export: adding values of different shapes");
  return node("Add", {a, b}, shape(a));
}

std::string Graph::concat(const std::vector<std::string>& xs, int64_t axis) {
  if (xs.size() == 1) return xs[0];
  std::vector<int64_t> out = shape(xs[0]);
  for (size_t i = 1; i < xs.size(); ++i) out[axis] += shape(xs[i])[axis];
  return node("Concat", xs, out, {one("axis", axis)});
}

std::string Graph::pool(const std::string& x, bool average, int64_t k, int64_t stride,
                        int64_t pad) {
  const auto& in = shape(x);
  std::vector<int64_t> out{in[0], in[1], pooled(in[2], k, stride, pad, pad),
                           pooled(in[3], k, stride, pad, pad)};
  std::vector<Attr> attrs{ints("kernel_shape", {k, k}), ints("strides", {stride, stride}),
                          ints("pads", {pad, pad, pad, pad})};
  if (average) attrs.push_back(one("count_include_pad", 0));
  return node(average ? "AveragePool" : "MaxPool", {x}, out, attrs);
}

std::string Graph::global_mean(const std::string& x) {
  const auto& in = shape(x);
  auto pooled4 = node("GlobalAveragePool", {x}, {in[0], in[1], 1, 1});
  return node("Flatten", {pooled4}, {in[0], in[1]}, {one("axis", 1)});
}

std::string Graph::linear(const std::string& x, const torch::Tensor& weight,
                          const torch::Tensor& bias) {
  std::vector<std::string> inputs{x, constant("fc_w", weight.to(torch::kFloat))};
  if (bias.defined()) inputs.push_back(constant("fc_b", bias.to(torch::kFloat)));
  return node("Gemm", inputs, {shape(x)[0], weight.size(0)}, {one("transB", 1)});
}

onnx::ModelProto new_model(const std::string& graph_name) {
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  model.set_producer_name("enas");
#ifdef ENAS_VERSION
  model.set_producer_version(ENAS_VERSION);
#endif
  model.mutable_graph()->set_name(graph_name);
  return model;
}

void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  auto* p = model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

std::string finish(onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions{true, 1, false});
  } catch (const std::exception& e) {
    fail("ONNX export: the graph fails ONNX's checker (a bug in enas, please report it): {}",
         e.what());
  }
  std::string bytes;
  require(model.SerializeToString(&bytes), "ONNX export: the model could not be serialised");
  return bytes;
}

}  // namespace enas::onnx_graph
