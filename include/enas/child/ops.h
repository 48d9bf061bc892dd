#pragma once
/// The op table of the image spaces: how every op family of space/ops.h is built and run, by the
/// fixed and the shared child of both spaces. An op is a function of its weights (`sep_conv`);
/// the fixed child's modules own theirs, the shared child's hold them stacked over a block's
/// inputs and pass one row. An op of a new family is a case in each function of src/child/ops.cpp
/// and nothing in the children; a family a child has no builder for is an `error:` naming the op.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "enas/child/layers.h"
#include "enas/space/ops.h"

namespace enas {

/// Stack i's batch norm of x; `relu` fuses the next stack's ReLU into it.
using StackNorm = std::function<torch::Tensor(size_t i, const torch::Tensor& x, bool relu)>;

/// A separable conv as a function of its weights: for each stack i, depthwise kxk (`depthwise[i]`,
/// (C, 1, k, k); `stride` on the first stack only) -> pointwise 1x1 (`pointwise[i]`, (C, C, 1, 1))
/// -> norm(i), with a ReLU between stacks. `relu_x` is relu(x): a cell computes it once per node.
torch::Tensor sep_conv(const torch::Tensor& relu_x, const std::vector<torch::Tensor>& depthwise,
                       const std::vector<torch::Tensor>& pointwise, int64_t stride,
                       const StackNorm& norm);  // (B, C, H, W) -> (B, C, H/stride, W/stride)

/// `_fixed_conv(stack_convs=2)` of micro_child.py: sep_conv with the child's own weights and
/// batch norms (running statistics).
class SepConvStackImpl : public torch::nn::Module {
 public:
  SepConvStackImpl(int64_t channels, int64_t k, int64_t stride, int stacks = 2);
  torch::Tensor forward(const torch::Tensor& x);  // (B, C, H, W) -> (B, C, H/stride, W/stride)
  /// The same, given relu(x).
  torch::Tensor forward_relu(const torch::Tensor& relu_x);

 private:
  int64_t stride_;
  std::vector<torch::nn::Conv2d> depthwise_, pointwise_;
  std::vector<BatchNorm> bn_;
};
TORCH_MODULE(SepConvStack);

/// `_enas_conv` of micro_child.py for one (layer, block, side, filter size): sep_conv whose
/// weights are stacked over the block's `num_inputs` possible inputs; forward(x, idx) uses row
/// idx of each, and batch norms with batch statistics only.
class MicroSharedConvImpl : public torch::nn::Module {
 public:
  MicroSharedConvImpl(int64_t num_inputs, int64_t channels, int64_t k, int stacks = 2);
  torch::Tensor forward(const torch::Tensor& x, int64_t idx);  // (B, C, H, W) -> same
  /// The same given relu(x).
  torch::Tensor forward_relu(const torch::Tensor& relu_x, int64_t idx);

 private:
  std::vector<torch::Tensor> depthwise_;  // (num_inputs, C, 1, k, k)
  std::vector<torch::Tensor> pointwise_;  // (num_inputs, C, C, 1, 1)
  std::vector<torch::Tensor> scale_;      // (num_inputs, C), ones
  std::vector<torch::Tensor> offset_;     // (num_inputs, C), zeros
};
TORCH_MODULE(MicroSharedConv);

/// A micro cell's node as its ops read it; relu(node) is computed once however many separable
/// convs read the node (the authors' arc reads input 0 six times).
class CellNode {
 public:
  explicit CellNode(torch::Tensor x) : x_(std::move(x)) {}
  const torch::Tensor& x() const { return x_; }
  const torch::Tensor& relu();

 private:
  torch::Tensor x_, relu_;
};

/// The fixed child's module for a micro op at `stride` on `c` channels (after calibration every
/// node has c, so the authors' projections after pooling and identity are never built).
torch::nn::AnyModule make_fixed_micro_op(const OpSpec& op, int64_t c, int64_t stride);
/// Runs a module of make_fixed_micro_op on `node`.
torch::Tensor run_fixed_micro_op(const OpSpec& op, torch::nn::AnyModule& module, CellNode& node);

/// The shared child's weights of one op for one (block, side): `name` is their module's name in
/// the layer (after "cell<b>_<x|y>_"); an op without weights has an empty module.
struct SharedMicroOp {
  std::string name;
  torch::nn::AnyModule module;
};
SharedMicroOp make_shared_micro_op(const OpSpec& op, int64_t num_inputs, int64_t c);
/// Runs op `op` of the shared child on input `idx` of its block, whose value is `node`.
torch::Tensor run_shared_micro_op(const OpSpec& op, torch::nn::AnyModule& module, CellNode& node,
                                  int64_t idx);

/// The op of one macro layer, `_conv_branch` (conv families) or `_pool_branch` (pools) of
/// general_child.py: 1x1 -> BN -> ReLU -> the op -> BN for convs; 1x1 -> BN -> ReLU -> 3x3 pool
/// at stride 1 for pools. The fixed child (`search` false) puts a ReLU in front of a conv op's
/// 1x1; the shared one (`search` true) none, and ends a conv op with BN of eps 1e-3 (the authors'
/// batch_norm_with_mask) and a ReLU.
class MacroBranchImpl : public torch::nn::Module {
 public:
  MacroBranchImpl(int op, int64_t cin, int64_t cout, bool search = false);
  torch::Tensor forward(const torch::Tensor& x);  // (B, cin, H, W) -> (B, cout, H, W)

 private:
  int op_;
  bool search_;
  torch::nn::Conv2d inp_conv_{nullptr}, depthwise_{nullptr}, out_conv_{nullptr};
  BatchNorm inp_bn_{nullptr}, out_bn_{nullptr};
};
TORCH_MODULE(MacroBranch);

}  // namespace enas
