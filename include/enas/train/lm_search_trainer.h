#pragma once
/// ENAS search of the recurrent cell on Penn Treebank (enas_lm's search.py): the shared child
/// trained on a fresh sampled architecture per segment; after each child epoch the controller
/// trained by REINFORCE on 80 / perplexity of one validation segment per sample (state from
/// zero), then validation with a fresh architecture per segment; at the end, derivation: the
/// best of `derive_samples` sampled architectures by validation perplexity.
#include <torch/torch.h>

#include <memory>

#include "enas/child/rnn_lm.h"
#include "enas/config/config.h"
#include "enas/controller/controller.h"
#include "enas/data/ptb.h"
#include "enas/train/checkpoint.h"
#include "enas/train/lm_step.h"
#include "enas/train/reporter.h"
#include "enas/train/run_clock.h"
#include "enas/train/run_dir.h"

namespace enas {

class Reinforce;

/// enas_lm's REWARD_CONSTANT: reward = 80 / perplexity (+ the entropy bonus).
inline constexpr double kLmRewardConstant = 80.0;

struct LmDerived {
  std::vector<int> arc;  // enas_lm format
  double valid_ppl = 0;  // on derive_valid_batches validation segments
  int64_t samples = 0;
};

struct LmSearchResult {
  int64_t epochs = 0, steps = 0, rollbacks = 0;
  double seconds = 0;
  double valid_ppl = -1;  // the shared child, a fresh architecture per segment
  LmDerived best;
};

class LmSearchTrainer {
 public:
  LmSearchTrainer(const Config& config, RnnLm child, Controller controller, const Corpus& corpus,
                  const RunDir& run, Reporter& reporter, torch::Device device);
  ~LmSearchTrainer();

  /// Searches to config.num_epochs (resuming when asked), derives, writes best_arc.txt/.json.
  LmSearchResult run(bool resume);
  /// Samples `samples` architectures; each is scored on derive_valid_batches segments.
  LmDerived derive(int64_t samples);
  /// Restores child, controller and REINFORCE state; returns the checkpoint's meta.
  nlohmann::json restore(const std::string& checkpoint);

 private:
  /// One pass of the shared child (from `from` when resuming mid-epoch); false when the loss
  /// stopped being finite. On a stop signal: saves and throws Interrupted.
  bool train_child_epoch(int64_t epoch, int64_t& step, int64_t rollbacks,
                         const LmEpochPosition* from);
  /// Controller updates `first` .. controller_train_steps - 1; on a stop signal between two of
  /// them: saves and throws Interrupted.
  void train_controller(int64_t epoch, int64_t step, int64_t rollbacks, int first);
  /// Cross-entropy of `arc` on the next validation segment (state from zero), cycling.
  double reward_loss(const std::vector<int>& arc);
  double evaluate_valid();
  /// Writes checkpoint `id`; `position` (meta) and `state` (the carried state) when mid-epoch.
  std::string save(CheckpointId id, int64_t step, int64_t rollbacks,
                   const nlohmann::json& position = {}, const torch::Tensor& state = {});

  Config config_;
  RnnLm child_;
  Controller controller_;
  const RunDir& run_;
  Reporter& reporter_;
  torch::Device device_;
  std::unique_ptr<Reinforce> reinforce_;
  torch::Tensor train_rows_, valid_rows_;
  std::vector<Segment> valid_segments_;
  int64_t valid_cursor_ = 0;    // the next reward segment
  int64_t child_segments_ = 0;  // segments of the last child pass
  torch::Tensor resume_state_;  // a mid-epoch checkpoint's carried state
  torch::Tensor save_state_;    // the carried state a mid-epoch save writes
  CheckpointParts parts_;
  RunClock clock_;
};

}  // namespace enas
