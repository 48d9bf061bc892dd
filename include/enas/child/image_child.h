#pragma once
/// The interface every CIFAR-10-style child (fixed or shared-weight, macro or micro) offers the
/// trainers: images in, logits (and auxiliary logits) out.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "enas/data/image_shape.h"

namespace enas {

/// What a child returns. `aux_logits` is undefined in eval mode or without an auxiliary head.
struct ChildOutput {
  torch::Tensor logits;      // (B, num_classes)
  torch::Tensor aux_logits;  // (B, num_classes) or undefined
};

/// Base of the image children. Subclasses register their modules; the aux head, when there is
/// one, is registered under the name "aux_head" so that counts can exclude it.
class ImageChildImpl : public torch::nn::Module {
 public:
  virtual ~ImageChildImpl() = default;
  /// images: (B, C, H, W), normalised.
  virtual ChildOutput forward(const torch::Tensor& images) = 0;
  /// The trainer's global step and the steps of the whole run, for schedules inside the model
  /// (the micro child's drop-path ramp).
  void set_progress(int64_t step, int64_t total_steps) {
    global_step_ = step;
    total_steps_ = total_steps;
  }
  /// Trainable parameters outside the auxiliary head (what the authors' "Model has N params"
  /// counts).
  int64_t num_params() const;
  /// Trainable parameters of the auxiliary head alone (0 without one).
  int64_t num_aux_params() const;
  /// A multi-line summary of the network for logs.
  virtual std::string summary() const = 0;

 protected:
  int64_t global_step_ = 0;
  int64_t total_steps_ = 1;
};

using ImageChild = std::shared_ptr<ImageChildImpl>;

}  // namespace enas
