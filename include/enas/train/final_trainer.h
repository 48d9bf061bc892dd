#pragma once
/// Final training of a fixed architecture from scratch (the authors' main.py train() with a
/// child_fixed_arc): SGD with Nesterov momentum, L2, the SGDR schedule, the aux loss, evaluation
/// on the test set, a checkpoint per epoch and exact resume.
#include <torch/torch.h>

#include "enas/child/image_child.h"
#include "enas/data/image_dataset.h"
#include "enas/train/trainer_core.h"

namespace enas {

class Sgd;

struct TrainResult {
  int64_t epochs = 0;       // epochs completed (including those before a resume)
  int64_t steps = 0;        // global step
  double test_acc = -1;     // last test accuracy (-1: never evaluated)
  double train_loss = 0;    // mean loss of the last epoch
  double seconds = 0;       // wall time of training and evaluation, resumed runs included
  double images_per_s = 0;  // training throughput of the last epoch
};

class FinalTrainer : public TrainerCore {
 public:
  /// Trains `model` on `data` in `session` (both outlive the trainer).
  FinalTrainer(Session& session, ImageChild model, const ImageDataset& data);
  ~FinalTrainer();

  /// Trains to config.num_epochs; a resumed session first restores the run folder's newest
  /// checkpoint (model, optimiser, step, epoch; data order and randomness follow from them).
  TrainResult run();

  /// Optimiser steps in one epoch: ceil(train size / batch size).
  int64_t batches_per_epoch() const;

 private:
  /// Writes checkpoint `id` (`meter`: the epoch's sums when mid-epoch); returns its path.
  std::string save(CheckpointId id, int64_t step, double test_acc, const nlohmann::json& meter);

  ImageChild model_;
  const ImageDataset& data_;
  std::unique_ptr<Sgd> sgd_;
  bool has_rng_ = false;  // the checkpoint restored had the generators' state
};

}  // namespace enas
