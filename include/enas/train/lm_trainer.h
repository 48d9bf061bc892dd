#pragma once
/// Final training of a fixed recurrent cell on Penn Treebank (enas_lm's fixed.py / fixed_lib.py):
/// plain SGD at lr * len / bptt on random-length segments, the state carried across segments and
/// reset at each epoch's end, validation after every epoch, weight averaging once validation
/// stops improving (then used for validation and test), test at batch size 1, a checkpoint per
/// epoch, and a rollback to the last one when the loss stops being finite.
#include <torch/torch.h>

#include <vector>

#include "enas/child/rnn_lm.h"
#include "enas/data/corpus.h"
#include "enas/train/lm_step.h"
#include "enas/train/trainer_core.h"

namespace enas {

struct LmTrainResult {
  int64_t epochs = 0, steps = 0;
  double valid_ppl = -1, test_ppl = -1;  // -1: never evaluated
  double train_ppl = -1;                 // of the last epoch
  double tokens_per_s = 0;               // training throughput of the last epoch
  double seconds = 0;                    // resumed runs included
  bool averaged = false;                 // whether weight averaging had started
  int64_t rollbacks = 0;
};

/// Continuous weight averaging (fixed_lib.py _create_average_ops): once started, after every
/// step avg += (w - avg) / n.
class WeightAverage {
 public:
  explicit WeightAverage(std::vector<torch::Tensor> params) : params_(std::move(params)) {}
  bool started() const { return started_; }
  void start() { started_ = true; }
  void update();
  /// Swaps the averages into the parameters (and back): evaluation uses them.
  void swap();
  void save(torch::serialize::OutputArchive& a) const;
  void load(torch::serialize::InputArchive& a);

 private:
  std::vector<torch::Tensor> params_, avg_;
  bool started_ = false;
  int64_t count_ = 0;
};

class LmFinalTrainer : public TrainerCore {
 public:
  LmFinalTrainer(Session& session, RnnLm model, const Corpus& corpus);

  /// Trains to config.num_epochs (a resumed session from the newest checkpoint), then tests.
  LmTrainResult run();

 private:
  /// One pass over the training stream (from `from` when resuming mid-epoch). Returns false when
  /// the loss stopped being finite; on a stop signal saves and throws Interrupted.
  bool train_epoch(int64_t epoch, int64_t& step, LmTrainResult& result,
                   const LmEpochPosition* from);
  double evaluate_valid();
  double evaluate_test();
  /// Writes checkpoint `id` (`at`: the pass's position when mid-epoch); returns its path.
  std::string save(CheckpointId id, int64_t step, const LmTrainResult& r,
                   const LmEpochPosition* at = nullptr);
  nlohmann::json restore(const std::string& path);

  RnnLm model_;
  torch::Tensor train_rows_, valid_rows_, test_rows_;  // batchified streams on the device
  WeightAverage average_;
  std::vector<double> valid_history_;
  torch::Tensor resume_state_;  // a mid-epoch checkpoint's carried state
  torch::Tensor save_state_;    // the carried state a mid-epoch save writes
};

}  // namespace enas
