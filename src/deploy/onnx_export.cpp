#include "enas/deploy/onnx_export.h"

#ifdef ENAS_WITH_ONNX
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "enas/child/batch_norm.h"
#include "enas/child/layers.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "enas/space/rnn.h"
#include "enas/util/error.h"
#include "onnx_graph.h"
#else
#include "enas/util/error.h"
#endif

namespace enas {

#ifndef ENAS_WITH_ONNX

bool onnx_export_available() { return false; }
int64_t onnx_opset() { return 13; }
std::string export_onnx(const TrainedRun&) {
  fail(
      "this enas was built without ONNX export (CMake -DENAS_WITH_ONNX=OFF); build it with "
      "Debian's libonnx-dev to export (docs/export.md)");
}

#else

bool onnx_export_available() { return true; }
int64_t onnx_opset() { return onnx_graph::kOpset; }

namespace {

using onnx_graph::Graph;
using Module = torch::nn::Module;
using ModulePtr = std::shared_ptr<Module>;

ModulePtr child(const Module& m, const std::string& name) {
  const auto children = m.named_children();
  const auto* found = children.find(name);
  require(found != nullptr, "ONNX export: the model has no part '{}' (a bug in enas)", name);
  return *found;
}

bool has_child(const Module& m, const std::string& name) {
  return m.named_children().find(name) != nullptr;
}

template <typename T>
std::shared_ptr<T> as(const ModulePtr& m, const std::string& what) {
  auto p = std::dynamic_pointer_cast<T>(m);
  require(p != nullptr, "ONNX export: {} is not the module expected (a bug in enas)", what);
  return p;
}

torch::nn::Conv2dImpl& conv_of(const Module& m, const std::string& name) {
  return *as<torch::nn::Conv2dImpl>(child(m, name), name);
}

BatchNormImpl& bn_of(const Module& m, const std::string& name) {
  return *as<BatchNormImpl>(child(m, name), name);
}

int64_t stride_of(const torch::nn::Conv2dImpl& conv) { return (*conv.options.stride())[0]; }

/// Batch norm with running statistics after a bias-free convolution, folded into it (exact up to
/// rounding): w' = w * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps). Computed in double.
std::pair<torch::Tensor, torch::Tensor> fold(const torch::Tensor& weight, const BatchNormImpl& bn) {
  require(bn.running_mean.defined() && bn.running_var.defined(),
          "ONNX export: a batch norm without running statistics (a bug in enas)");
  auto var = bn.running_var.detach().to(torch::kDouble);
  auto mean = bn.running_mean.detach().to(torch::kDouble);
  auto gamma = bn.weight.defined() ? bn.weight.detach().to(torch::kDouble) : torch::ones_like(var);
  auto beta = bn.bias.defined() ? bn.bias.detach().to(torch::kDouble) : torch::zeros_like(var);
  auto scale = gamma / torch::sqrt(var + bn.options.eps());
  auto w = weight.detach().to(torch::kDouble) * scale.view({-1, 1, 1, 1});
  return {w.to(torch::kFloat).contiguous(), (beta - mean * scale).to(torch::kFloat)};
}

/// The graph of an image child: each part of the network as the forward of its module computes
/// it in eval mode (child/micro_fixed.cpp, child/macro_fixed.cpp, child/ops.cpp).
class ImageExporter {
 public:
  ImageExporter(Graph& g, const Module& model) : g_(g), model_(model) {}

  /// conv (stride, padding k/2) then batch norm, folded.
  std::string conv_bn(const std::string& x, const torch::nn::Conv2dImpl& conv,
                      const BatchNormImpl& bn) {
    const int64_t pad = conv.weight.size(2) / 2;
    auto [w, b] = fold(conv.weight, bn);
    return g_.conv(x, w, b, stride_of(conv), {pad, pad, pad, pad}, conv.options.groups());
  }

  /// ReluConvBn: relu -> 1x1 conv -> batch norm.
  std::string relu_conv_bn(const std::string& x, const Module& m) {
    return conv_bn(g_.relu(x), conv_of(m, "conv"), bn_of(m, "bn"));
  }

  /// FactorizedReduction: path 1 reads pixels (2i, 2j), path 2 (2i+1, 2j+1), as one 2x2
  /// stride-2 convolution whose kernel holds each path's weights at one tap; an odd map is
  /// padded at the bottom and right.
  std::string factorized(const std::string& x, const Module& m) {
    namespace F = torch::nn::functional;
    const auto& in = g_.shape(x);
    auto w1 = F::pad(conv_of(m, "path1").weight.detach(), F::PadFuncOptions({0, 1, 0, 1}));
    auto w2 = F::pad(conv_of(m, "path2").weight.detach(), F::PadFuncOptions({1, 0, 1, 0}));
    auto [w, b] = fold(torch::cat({w1, w2}, 0), bn_of(m, "bn"));
    return g_.conv(x, w, b, 2, {0, 0, in[2] % 2, in[3] % 2});
  }

  /// SepConvStack on relu(x): per stack depthwise kxk -> pointwise 1x1 -> batch norm (folded),
  /// a ReLU between stacks.
  std::string sep_stack(const std::string& relu_x, const Module& m) {
    std::string x = relu_x;
    for (int i = 0; has_child(m, "depthwise" + std::to_string(i)); ++i) {
      const auto s = std::to_string(i);
      const auto& dw = conv_of(m, "depthwise" + s);
      const int64_t pad = dw.weight.size(2) / 2;
      if (i > 0) x = g_.relu(x);
      x = g_.conv(x, dw.weight.detach().contiguous(), {}, stride_of(dw), {pad, pad, pad, pad},
                  dw.weight.size(0));
      x = conv_bn(x, conv_of(m, "pointwise" + s), bn_of(m, "bn" + s));
    }
    return x;
  }

  std::string stem(const std::string& x) {
    return conv_bn(x, conv_of(model_, "stem_conv"), bn_of(model_, "stem_bn"));
  }

  std::string head(const std::string& x) {
    auto& fc = *as<torch::nn::LinearImpl>(child(model_, "fc"), "fc");
    return g_.linear(g_.global_mean(x), fc.weight.detach(),
                     fc.bias.defined() ? fc.bias.detach() : torch::Tensor());
  }

  // ------------------------------------------------------------------------------ micro
  std::string micro(const std::string& image, const micro::Arc& arc, int64_t num_layers) {
    const micro::Plan plan(num_layers);
    std::string s0 = stem(image), s1 = s0;
    for (int64_t layer = 0; layer < plan.num_cells_built; ++layer) {
      const bool reduce = plan.reduces(layer);
      std::string next = micro_cell(*child(model_, fmt::format("layer{}", layer)),
                                    reduce ? arc.reduce : arc.normal, s0, s1);
      s0 = s1;
      s1 = next;
    }
    return head(g_.relu(s1));  // the micro child pools relu(s1)
  }

  std::string micro_cell(const Module& m, const micro::Cell& cell, const std::string& s0,
                         const std::string& s1) {
    std::vector<std::string> nodes;
    const auto calib_x = child(m, "calib_x");
    if (std::dynamic_pointer_cast<FactorizedReductionImpl>(calib_x)) {
      nodes.push_back(factorized(g_.relu(s0), *calib_x));  // built with relu_first
    } else if (std::dynamic_pointer_cast<ReluConvBnImpl>(calib_x)) {
      nodes.push_back(relu_conv_bn(s0, *calib_x));
    } else {
      nodes.push_back(s0);
    }
    const auto calib_y = child(m, "calib_y");
    const std::string y =
        std::dynamic_pointer_cast<ReluConvBnImpl>(calib_y) ? relu_conv_bn(s1, *calib_y) : s1;
    nodes.push_back(relu_conv_bn(y, *child(m, "layer_base")));
    std::map<int, std::string> relu;  // relu(node) once per node, as CellNode does
    auto relu_of = [&](int i) {
      if (!relu.count(i)) relu[i] = g_.relu(nodes[i]);
      return relu[i];
    };
    for (int b = 0; b < cell.num_blocks(); ++b) {
      std::string h[2];
      for (int side = 0; side < 2; ++side) {
        const int idx = cell.index(b, side);
        const OpSpec& op = micro::kOps[cell.op(b, side)];
        const auto module = child(m, fmt::format("block{}_{}", b, side ? "y" : "x"));
        switch (op.family) {
          case OpFamily::kSepConv:
            h[side] = sep_stack(relu_of(idx), *module);
            break;
          case OpFamily::kAvgPool: {
            const auto& o = as<torch::nn::AvgPool2dImpl>(module, "an average pool")->options;
            h[side] = g_.pool(nodes[idx], true, (*o.kernel_size())[0], (*o.stride())[0],
                              (*o.padding())[0]);
            break;
          }
          case OpFamily::kMaxPool: {
            const auto& o = as<torch::nn::MaxPool2dImpl>(module, "a max pool")->options;
            h[side] = g_.pool(nodes[idx], false, (*o.kernel_size())[0], (*o.stride())[0],
                              (*o.padding())[0]);
            break;
          }
          case OpFamily::kIdentity:
            h[side] = std::dynamic_pointer_cast<FactorizedReductionImpl>(module)
                          ? factorized(nodes[idx], *module)
                          : nodes[idx];
            break;
          case OpFamily::kConv:
            fail("ONNX export: micro op {} has no exporter", op.name);
        }
      }
      nodes.push_back(g_.add(h[0], h[1]));
    }
    std::vector<std::string> outs;
    for (int i : cell.loose_ends()) {
      const auto combine = child(m, fmt::format("combine{}", i));
      outs.push_back(std::dynamic_pointer_cast<FactorizedReductionImpl>(combine)
                         ? factorized(nodes[i], *combine)
                         : nodes[i]);
    }
    return g_.concat(outs);
  }

  // ------------------------------------------------------------------------------ macro
  std::string macro(const std::string& image, const macro::Arc& arc) {
    const int n = arc.num_layers();
    const auto pools = macro::pool_layers(n);
    auto pools_after = [&](int layer) {
      return std::find(pools.begin(), pools.end(), layer) != pools.end();
    };
    // versions[slot][stage], reduced lazily as MacroModel::get does.
    std::vector<std::vector<std::string> > versions(n + 1);
    versions[0].push_back(stem(image));
    auto get = [&](int slot, int stage) {
      auto& v = versions[slot];
      while (static_cast<int>(v.size()) <= stage) {
        const int s = static_cast<int>(v.size());
        v.push_back(
            factorized(v.back(), *child(model_, fmt::format("pool{}_from{}", s - 1, slot))));
      }
      return v[stage];
    };
    int stage = 0;
    for (int layer = 0; layer < n; ++layer) {
      std::string out = macro_branch(
          get(layer, stage), *child(model_, fmt::format("layer{}_op", layer)), arc.ops[layer]);
      if (layer > 0) {
        std::vector<std::string> parts;
        for (int k = 0; k < layer; ++k) {
          if (arc.skips[layer][k]) parts.push_back(get(k, stage));
        }
        parts.push_back(out);
        out = relu_conv_bn(g_.concat(parts), *child(model_, fmt::format("layer{}_skip", layer)));
      }
      versions[layer + 1].resize(stage);
      versions[layer + 1].push_back(out);
      if (pools_after(layer)) ++stage;
    }
    return head(get(n, stage));  // no ReLU before the macro child's pool
  }

  std::string macro_branch(const std::string& x, const Module& m, int op) {
    const OpSpec& spec = macro::kOps.at(op);
    if (spec.is_pool()) {
      auto h = g_.relu(conv_bn(x, conv_of(m, "inp_conv"), bn_of(m, "inp_bn")));
      return g_.pool(h, spec.family == OpFamily::kAvgPool, 3, 1, 1);
    }
    auto h = g_.relu(conv_bn(g_.relu(x), conv_of(m, "inp_conv"), bn_of(m, "inp_bn")));
    if (has_child(m, "depthwise")) {
      const auto& dw = conv_of(m, "depthwise");
      const int64_t pad = dw.weight.size(2) / 2;
      h = g_.conv(h, dw.weight.detach().contiguous(), {}, 1, {pad, pad, pad, pad},
                  dw.weight.size(0));
      return conv_bn(h, conv_of(m, "pointwise"), bn_of(m, "out_bn"));
    }
    return conv_bn(h, conv_of(m, "conv"), bn_of(m, "out_bn"));
  }

 private:
  Graph& g_;
  const Module& model_;
};

std::string json_text(const nlohmann::json& j) { return j.dump(); }

/// What every exported file says about where it came from.
void run_metadata(onnx::ModelProto& model, const TrainedRun& run) {
  onnx_graph::add_metadata(model, "space", run.config.search_for);
  onnx_graph::add_metadata(model, "arc", run.arc->text());
  onnx_graph::add_metadata(model, "dataset", run.config.dataset);
#ifdef ENAS_VERSION
  onnx_graph::add_metadata(model, "producer", std::string("enas ") + ENAS_VERSION);
#endif
  onnx_graph::add_metadata(model, "checkpoint", describe_checkpoint(run));
}

/// (1, C, 1, 1) float constant of per-channel values.
torch::Tensor per_channel(const std::vector<float>& v) {
  return torch::tensor(v, torch::kFloat).view({1, -1, 1, 1});
}

std::string export_image(const TrainedRun& run) {
  auto model = onnx_graph::new_model("enas_" + run.config.search_for);
  Graph g(model.mutable_graph());
  const auto& s = run.shape;
  const std::string image = g.input("image", {-1, s.channels, s.height, s.width});
  // The run's normalisation, in the order the loader computes it: (v / 255 - mean) / std, a
  // channel of std 0 divided by 1 (data/normalize_table.h).
  std::vector<float> std_div;
  for (float v : run.stats.std) std_div.push_back(v > 0.0f ? v : 1.0f);
  const auto shape = g.shape(image);
  auto x = g.node("Div", {image, g.constant("pixel_scale", torch::full({}, 255.0f))}, shape);
  x = g.node("Sub", {x, g.constant("mean", per_channel(run.stats.mean))}, shape);
  x = g.node("Div", {x, g.constant("std", per_channel(std_div))}, shape);
  ImageExporter e(g, *run.image);
  const std::string logits =
      run.config.search_for == "micro"
          ? e.micro(x, micro::arc_from_flat(run.arc->decisions()), run.config.child_num_layers)
          : e.macro(x, macro::arc_from_flat(run.arc->decisions()));
  g.output(logits, "logits");
  g.output(g.node("Softmax", {"logits"}, g.shape("logits"), {onnx_graph::one("axis", 1)}), "probs");
  onnx_graph::add_metadata(model, "classes", json_text(run.classes));
  onnx_graph::add_metadata(model, "input",
                           json_text({{"name", "image"},
                                      {"layout", "NCHW"},
                                      {"channels", s.channels},
                                      {"height", s.height},
                                      {"width", s.width},
                                      {"values", "raw pixels 0-255, float32"}}));
  onnx_graph::add_metadata(model, "mean", json_text(run.stats.mean));
  onnx_graph::add_metadata(model, "std", json_text(run.stats.std));
  onnx_graph::add_metadata(model, "normalization", "(pixel / 255 - mean) / std, in the graph");
  run_metadata(model, run);
  return onnx_graph::finish(model);
}

std::string export_language_model(const TrainedRun& run) {
  auto model = onnx_graph::new_model("enas_rnn_cell");
  Graph g(model.mutable_graph());
  const RnnLmImpl& lm = *run.lm;
  const int64_t h = lm.options().hidden(), v = lm.options().vocab_size();
  const rnn::Arc& arc = lm.arc();
  const auto params = lm.named_parameters();
  const torch::Tensor w_emb = params["w_emb"].detach(), w_prev = params["w_prev"].detach();
  const std::string token = g.input("token", {-1}, onnx::TensorProto::INT64);
  const std::string state = g.input("state", {-1, h});
  const std::string emb_w = g.constant("w_emb", w_emb);  // (V, H), also the softmax's (tied)
  const std::string emb = g.node("Gather", {emb_w, token}, {-1, h}, {onnx_graph::one("axis", 0)});
  // product(a, w (K, 2H)) split into the candidate's and the gate's columns: no Split node.
  auto half = [&](const std::string& a, const torch::Tensor& w, int64_t part) {
    return g.node("MatMul", {a, g.constant("w", w.narrow(1, part * h, h).contiguous())}, {-1, h});
  };
  // s + g (c - s): a node's highway output from its input s.
  auto highway = [&](const std::string& s, const std::string& c, const std::string& gate) {
    auto d = g.node("Sub", {c, s}, {-1, h});
    return g.node("Add", {s, g.node("Mul", {gate, d}, {-1, h})}, {-1, h});
  };
  // Node 0: [x_t, s_{t-1}] @ w_prev, tanh candidate.
  const torch::Tensor w_x = w_prev.narrow(0, 0, h), w_s = w_prev.narrow(0, h, h);
  auto pre_c = g.node("Add", {half(emb, w_x, 0), half(state, w_s, 0)}, {-1, h});
  auto pre_g = g.node("Add", {half(emb, w_x, 1), half(state, w_s, 1)}, {-1, h});
  std::vector<std::string> layers{
      highway(state, g.node("Tanh", {pre_c}, {-1, h}), g.node("Sigmoid", {pre_g}, {-1, h}))};
  for (int k = 1; k <= arc.num_nodes(); ++k) {
    const torch::Tensor w = params[fmt::format("w_node_{}", k - 1)].detach();
    const std::string q = layers[arc.prev(k - 1)];
    std::string c = half(q, w, 0);
    switch (arc.func(k - 1)) {
      case rnn::kTanh:
        c = g.node("Tanh", {c}, {-1, h});
        break;
      case rnn::kRelu:
        c = g.node("Relu", {c}, {-1, h});
        break;
      case rnn::kSigmoid:
        c = g.node("Sigmoid", {c}, {-1, h});
        break;
      default:
        break;  // identity
    }
    layers.push_back(highway(q, c, g.node("Sigmoid", {half(q, w, 1)}, {-1, h})));
  }
  // The cell's output, and the next state: the mean of nodes 1..N.
  std::vector<std::string> outs(layers.begin() + 1, layers.end());
  auto sum = outs.size() == 1 ? outs[0] : g.node("Sum", outs, {-1, h});
  auto mean = g.node(
      "Div", {sum, g.constant("num_nodes", torch::full({}, static_cast<float>(arc.num_nodes())))},
      {-1, h});
  g.output(g.node("Gemm", {mean, emb_w}, {-1, v}, {onnx_graph::one("transB", 1)}), "logits");
  g.output(mean, "new_state");
  onnx_graph::add_metadata(model, "vocab", json_text(run.vocab));
  onnx_graph::add_metadata(model, "hidden", std::to_string(h));
  onnx_graph::add_metadata(model, "averaged_weights", run.averaged ? "true" : "false");
  run_metadata(model, run);
  return onnx_graph::finish(model);
}

}  // namespace

std::string export_onnx(const TrainedRun& run) {
  torch::NoGradGuard guard;
  std::string bytes = run.language() ? export_language_model(run) : export_image(run);
  return bytes;
}

#endif

}  // namespace enas
