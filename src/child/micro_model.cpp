#include "enas/child/micro_model.h"

#include <fmt/format.h>

#include "enas/util/error.h"

namespace enas {

namespace F = torch::nn::functional;

AuxHeadImpl::AuxHeadImpl(int64_t in_channels, int64_t in_size, int64_t num_classes) {
  require(in_size >= 5,
          "the auxiliary head needs a map of at least 5x5 where it stands, got {}x{}: use larger "
          "images (--image_size) or no auxiliary head (--nochild_use_aux_heads)",
          in_size, in_size);
  int64_t k = (in_size - 5) / 3 + 1;  // size after the 5x5/3 VALID average pool
  pad_lo_ = (k - 1) / 2;              // TF "SAME" at stride 1 pads bottom/right more
  pad_hi_ = k - 1 - pad_lo_;
  proj_ = register_module("proj", make_conv(in_channels, 128, 1));
  proj_bn_ = register_module("proj_bn", make_bn(128));
  conv_ =
      register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(128, 768, k).bias(false)));
  he_normal_(conv_->weight, k * k * 128);
  bn_ = register_module("bn", make_bn(768));
  fc_ = register_module("fc",
                        torch::nn::Linear(torch::nn::LinearOptions(768, num_classes).bias(false)));
  he_normal_(fc_->weight, 768);
}

torch::Tensor AuxHeadImpl::forward(const torch::Tensor& input) {
  auto x = F::avg_pool2d(torch::relu(input), F::AvgPool2dFuncOptions(5).stride(3));
  x = torch::relu(proj_bn_->forward(proj_->forward(x)));
  if (pad_lo_ + pad_hi_ > 0) x = F::pad(x, F::PadFuncOptions({pad_lo_, pad_hi_, pad_lo_, pad_hi_}));
  x = torch::relu(bn_->forward(conv_->forward(x)));
  return fc_->forward(x.mean({2, 3}));
}

void MicroModel::build(torch::nn::Module& child, MicroModelOptions options,
                       const BuildLayer& build) {
  options_ = std::move(options);
  const auto& o = options_;
  require(o.num_layers() >= 0, "child_num_layers must be >= 0, got {}", o.num_layers());
  require(o.out_filters() >= 2 && o.out_filters() % 2 == 0,
          "child_out_filters must be even and >= 2 (factorised reductions split it in two), got {}",
          o.out_filters());
  plan_ = micro::Plan(o.num_layers());
  const int64_t stem_c = 3 * o.out_filters();
  stem_conv_ = child.register_module("stem_conv", make_conv(o.input().channels, stem_c, 3));
  stem_bn_ = child.register_module("stem_bn", make_bn(stem_c, true, o.stem_stats()));

  if (o.use_aux_heads() && plan_.aux_after < plan_.num_cells_built) aux_index_ = plan_.aux_after;

  Shape prev{stem_c, o.input().height}, cur = prev;
  int64_t filters = o.out_filters();
  for (int64_t layer = 0; layer < plan_.num_cells_built; ++layer) {
    const bool reduce = plan_.reduces(layer);
    if (reduce) filters *= 2;
    const Shape out = build(layer, reduce, filters, prev, cur);
    prev = cur;
    cur = out;
    if (layer == aux_index_) {
      aux_head_ =
          child.register_module("aux_head", AuxHead(cur.first, cur.second, o.input().num_classes));
    }
  }
  dropout_ = child.register_module("dropout", torch::nn::Dropout(1.0 - o.keep_prob()));
  fc_ = child.register_module(
      "fc",
      torch::nn::Linear(torch::nn::LinearOptions(cur.first, o.input().num_classes).bias(false)));
  he_normal_(fc_->weight, cur.first);
}

ChildOutput MicroModel::forward(const torch::Tensor& images, bool training, const RunLayer& run) {
  ChildOutput out;
  auto x = stem_bn_->forward(stem_conv_->forward(images));  // (B, 3C, H, W)
  torch::Tensor s0 = x, s1 = x;
  for (int64_t layer = 0; layer < plan_.num_cells_built; ++layer) {
    auto next = run(layer, s0, s1);
    s0 = s1;
    s1 = next;
    if (training && layer == aux_index_) out.aux_logits = aux_head_->forward(s1);
  }
  x = torch::relu(s1).mean({2, 3});                          // (B, C_last)
  if (options_.keep_prob() < 1.0) x = dropout_->forward(x);  // identity in eval mode
  out.logits = fc_->forward(x);
  return out;
}

}  // namespace enas
