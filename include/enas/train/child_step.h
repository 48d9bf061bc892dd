#pragma once
/// One SGD step of an image child and the running sums of an epoch: the part of a training loop
/// that final training and search share.
#include <torch/torch.h>

#include "enas/child/image_child.h"
#include "enas/data/batch_loader.h"
#include "enas/train/reporter.h"
#include "enas/train/sgd.h"

namespace enas {

/// The aux head's loss weight (micro_child.py _build_train).
inline constexpr double kAuxLossWeight = 0.4;

/// What one step leaves on the device; nothing here has been read back to the host.
struct ChildStep {
  torch::Tensor loss;       // 0-d, the main cross-entropy (what the authors log)
  torch::Tensor correct;    // 0-d int64, correct predictions in the batch
  torch::Tensor grad_norm;  // 0-d, or undefined unless asked for
  int64_t batch = 0;
};

/// CE(logits) + 0.4 CE(aux logits), zero_grad, backward, one update at `lr`.
ChildStep train_child_step(ImageChildImpl& model, Sgd& sgd, const Batch& batch, double lr,
                           bool want_norm);

/// The log record of a step: reads the step's values back (one host sync); throws enas::Error
/// when the loss is not finite.
StepEvent step_event(const ChildStep& s, int64_t step, int64_t batches_per_epoch, double lr,
                     double minutes);

/// Running loss and accuracy of an epoch, summed on the device and read once at its end.
class EpochMeter {
 public:
  explicit EpochMeter(torch::Device device);
  void add(const ChildStep& s);
  /// The epoch's record; throws enas::Error when the mean loss is not finite. `seconds` is the
  /// time of this process's part of the epoch (images/s counts that part only).
  EpochEvent finish(int64_t epochs_done, int64_t step, double lr, double seconds) const;

  /// The sums so far (one host sync), for a checkpoint written mid-epoch; restore() continues
  /// from them exactly.
  nlohmann::json state() const;
  void restore(const nlohmann::json& state);

 private:
  torch::Tensor loss_sum_, correct_sum_;
  int64_t seen_ = 0, seen_before_ = 0;
};

}  // namespace enas
