#include "enas/child/ops.h"

#include "enas/child/depthwise.h"
#include "enas/space/macro.h"
#include "enas/util/error.h"

namespace enas {

namespace F = torch::nn::functional;

torch::Tensor sep_conv(const torch::Tensor& relu_x, const std::vector<torch::Tensor>& depthwise,
                       const std::vector<torch::Tensor>& pointwise, int64_t stride,
                       const StackNorm& norm) {
  torch::Tensor x = relu_x;
  for (size_t i = 0; i < depthwise.size(); ++i) {
    const int64_t pad = depthwise[i].size(-1) / 2;  // TF "SAME" for odd k
    x = depthwise_conv2d(x, depthwise[i], i == 0 ? stride : 1, pad);
    x = F::conv2d(x, pointwise[i]);
    // An inner norm's output has no reader but the next stack's ReLU: fused into the norm.
    x = norm(i, x, i + 1 < depthwise.size());
  }
  return x;
}

// ------------------------------------------------------------------ separable convs, fixed

SepConvStackImpl::SepConvStackImpl(int64_t channels, int64_t k, int64_t stride, int stacks)
    : stride_(stride) {
  for (int i = 0; i < stacks; ++i) {
    auto s = std::to_string(i);
    depthwise_.push_back(register_module(
        "depthwise" + s, make_conv(channels, channels, k, i == 0 ? stride : 1, channels)));
    pointwise_.push_back(register_module("pointwise" + s, make_conv(channels, channels, 1)));
    bn_.push_back(register_module("bn" + s, make_bn(channels)));
  }
}

torch::Tensor SepConvStackImpl::forward(const torch::Tensor& x) {
  return forward_relu(torch::relu(x));
}

torch::Tensor SepConvStackImpl::forward_relu(const torch::Tensor& relu_x) {
  std::vector<torch::Tensor> dw, pw;
  for (size_t i = 0; i < bn_.size(); ++i) {
    dw.push_back(depthwise_[i]->weight);
    pw.push_back(pointwise_[i]->weight);
  }
  return sep_conv(relu_x, dw, pw, stride_, [&](size_t i, const torch::Tensor& x, bool relu) {
    return relu ? bn_[i]->forward_relu(x) : bn_[i]->forward(x);
  });
}

// ----------------------------------------------------------------- separable convs, shared

MicroSharedConvImpl::MicroSharedConvImpl(int64_t num_inputs, int64_t c, int64_t k, int stacks) {
  for (int i = 0; i < stacks; ++i) {
    // The authors' variables are 2-d, w_depth [num_inputs, k*k*C] and w_point [num_inputs,
    // C*C], and keras' he_normal takes fan_in = shape[0] of a 2-d shape: std sqrt(2 /
    // num_inputs), not the fan-in of the conv. Faithful, if odd.
    auto dw = torch::empty({num_inputs, c, 1, k, k});
    he_normal_(dw, num_inputs);
    auto pw = torch::empty({num_inputs, c, c, 1, 1});
    he_normal_(pw, num_inputs);
    auto s = std::to_string(i);
    depthwise_.push_back(register_parameter("stack" + s + "_depthwise", dw));
    pointwise_.push_back(register_parameter("stack" + s + "_pointwise", pw));
    scale_.push_back(register_parameter("stack" + s + "_bn_scale", torch::ones({num_inputs, c})));
    offset_.push_back(
        register_parameter("stack" + s + "_bn_offset", torch::zeros({num_inputs, c})));
  }
}

torch::Tensor MicroSharedConvImpl::forward(const torch::Tensor& x, int64_t idx) {
  return forward_relu(torch::relu(x), idx);
}

torch::Tensor MicroSharedConvImpl::forward_relu(const torch::Tensor& relu_x, int64_t idx) {
  // select() views one row: autograd gives that row a gradient and the others zeros.
  std::vector<torch::Tensor> dw, pw;
  for (size_t i = 0; i < depthwise_.size(); ++i) {
    dw.push_back(depthwise_[i].select(0, idx));
    pw.push_back(pointwise_[i].select(0, idx));
  }
  // The authors' `fused_batch_norm(is_training=True)`: batch statistics only, eps 1e-5.
  return sep_conv(relu_x, dw, pw, 1, [&](size_t i, const torch::Tensor& x, bool relu) {
    const auto scale = scale_[i].select(0, idx), offset = offset_[i].select(0, idx);
    return relu ? batch_norm_relu_batch_stats(x, scale, offset, 1e-5)
                : batch_norm_batch_stats(x, scale, offset, 1e-5);
  });
}

const torch::Tensor& CellNode::relu() {
  if (!relu_.defined()) relu_ = torch::relu(x_);
  return relu_;
}

// --------------------------------------------------------------------------- micro ops

torch::nn::AnyModule make_fixed_micro_op(const OpSpec& op, int64_t c, int64_t stride) {
  using namespace torch::nn;
  switch (op.family) {
    case OpFamily::kSepConv:
      return AnyModule(SepConvStack(c, op.kernel, stride));
    case OpFamily::kAvgPool:
      return AnyModule(AvgPool2d(AvgPool2dOptions(op.kernel)
                                     .stride(stride)
                                     .padding(op.kernel / 2)
                                     .count_include_pad(false)));
    case OpFamily::kMaxPool:
      return AnyModule(
          MaxPool2d(MaxPool2dOptions(op.kernel).stride(stride).padding(op.kernel / 2)));
    case OpFamily::kIdentity:  // a factorised reduction when strided
      return stride > 1 ? AnyModule(FactorizedReduction(c, c)) : AnyModule(Identity());
    case OpFamily::kConv:
      break;
  }
  fail("micro op {}: its family has no fixed-child builder", op.name);
}

torch::Tensor run_fixed_micro_op(const OpSpec& op, torch::nn::AnyModule& module, CellNode& node) {
  if (op.family == OpFamily::kSepConv) return module.get<SepConvStack>()->forward_relu(node.relu());
  return module.forward(node.x());
}

SharedMicroOp make_shared_micro_op(const OpSpec& op, int64_t num_inputs, int64_t c) {
  switch (op.family) {
    case OpFamily::kSepConv:
      return {"conv" + std::to_string(op.kernel),
              torch::nn::AnyModule(MicroSharedConv(num_inputs, c, op.kernel))};
    case OpFamily::kAvgPool:
    case OpFamily::kMaxPool:
    case OpFamily::kIdentity:
      return {};
    case OpFamily::kConv:
      break;
  }
  fail("micro op {}: its family has no shared-child builder", op.name);
}

torch::Tensor run_shared_micro_op(const OpSpec& op, torch::nn::AnyModule& module, CellNode& node,
                                  int64_t idx) {
  switch (op.family) {
    case OpFamily::kSepConv:
      return module.get<MicroSharedConv>()->forward_relu(node.relu(), idx);
    case OpFamily::kAvgPool:
    case OpFamily::kMaxPool:
      return pool3x3(node.x(), op.family == OpFamily::kAvgPool, 1);
    case OpFamily::kIdentity:
      return node.x();
    case OpFamily::kConv:
      break;
  }
  fail("micro op {}: its family has no shared-child builder", op.name);
}

// --------------------------------------------------------------------------- macro ops

MacroBranchImpl::MacroBranchImpl(int op, int64_t cin, int64_t cout, bool search)
    : op_(op), search_(search) {
  // `inp_conv_1` of _conv_branch, `conv_1` of _pool_branch: [1, 1, cin, cout], fan-in cin.
  inp_conv_ = register_module("inp_conv", make_conv(cin, cout, 1));
  inp_bn_ = register_module("inp_bn", make_bn(cout));
  const OpSpec& spec = macro::kOps.at(op);
  const int64_t k = spec.kernel;
  switch (spec.family) {
    case OpFamily::kAvgPool:
    case OpFamily::kMaxPool:
      return;
    case OpFamily::kSepConv:
      // w_depth [k, k, C, 1] (fan-in k*k*C) and w_point [C, C] (2-d: fan-in C), as make_conv's.
      depthwise_ = register_module("depthwise", make_conv(cout, cout, k, 1, cout));
      out_conv_ = register_module("pointwise", make_conv(cout, cout, 1));
      break;
    case OpFamily::kConv:
      out_conv_ = register_module("conv", make_conv(cout, cout, k));  // w [k, k, C, C]
      break;
    case OpFamily::kIdentity:
      fail("macro op {}: its family has no builder", spec.name);
  }
  // The search's image_ops.batch_norm_with_mask has eps 1e-3; with whole channels its mask is
  // all true, so it is an ordinary batch norm.
  out_bn_ = register_module(
      "out_bn", search ? BatchNorm(torch::nn::BatchNorm2dOptions(cout).eps(1e-3).momentum(0.1))
                       : make_bn(cout));
}

torch::Tensor MacroBranchImpl::forward(const torch::Tensor& x) {
  const OpSpec& spec = macro::kOps[op_];
  if (spec.is_pool()) {
    auto h = torch::relu(inp_bn_->forward(inp_conv_->forward(x)));
    return pool3x3(h, spec.family == OpFamily::kAvgPool, 1);
  }
  auto h = torch::relu(inp_bn_->forward(inp_conv_->forward(search_ ? x : torch::relu(x))));
  if (depthwise_) {
    h = depthwise_forward(depthwise_, h, depthwise_->options.kernel_size()->at(0) / 2);
  }
  h = out_bn_->forward(out_conv_->forward(h));
  return search_ ? torch::relu(h) : h;
}

}  // namespace enas
