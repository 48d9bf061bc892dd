#pragma once
/// ENAS search (the authors' main.py train() without a fixed architecture): one shared child
/// trained on a fresh sampled architecture per minibatch, and the controller trained by
/// REINFORCE on the child's accuracy on validation minibatches after each child epoch; at the end
/// the best of `derive_samples` sampled architectures on the whole validation split.
#include <torch/torch.h>

#include <memory>
#include <random>

#include "enas/child/shared_child.h"
#include "enas/config/config.h"
#include "enas/controller/controller.h"
#include "enas/data/image_dataset.h"
#include "enas/space/space.h"
#include "enas/train/checkpoint.h"
#include "enas/train/evaluate.h"
#include "enas/train/reporter.h"
#include "enas/train/run_clock.h"
#include "enas/train/run_dir.h"

namespace enas {

class Sgd;
class Reinforce;

/// The result of derivation.
struct DerivedArc {
  std::vector<int> arc;  // authors' flat format
  double valid_acc = 0;  // on the whole validation split
  int64_t samples = 0;   // architectures scored
};

struct SearchResult {
  int64_t epochs = 0, steps = 0;
  double seconds = 0;
  double valid_acc = -1, test_acc = -1;  // the shared child, a fresh architecture per batch
  DerivedArc best;
};

class SearchTrainer {
 public:
  SearchTrainer(const Config& config, SharedChild child, Controller controller,
                const ImageDataset& data, const RunDir& run, Reporter& reporter,
                torch::Device device);
  ~SearchTrainer();

  /// Searches to config.num_epochs (resuming from the newest checkpoint when asked), then derives
  /// and writes best_arc.txt / best_arc.json into the run folder.
  SearchResult run(bool resume);

  /// Samples `samples` architectures and scores each on the whole validation split.
  DerivedArc derive(int64_t samples);

  /// Restores child, controller and their optimisers from a checkpoint; returns its meta.
  nlohmann::json restore(const std::string& checkpoint);

 private:
  /// Trains the shared child on epoch `epoch` from batch `first_batch` (`meter`: the epoch's
  /// sums so far when resuming mid-epoch). On a stop signal: saves and throws Interrupted.
  void train_child_epoch(int64_t epoch, int64_t& step, int64_t first_batch,
                         const nlohmann::json& meter);
  /// Controller updates `first` .. controller_train_steps - 1 of epoch `epoch`; on a stop signal
  /// between two of them: saves and throws Interrupted.
  void train_controller(int64_t epoch, int64_t step, int first);
  double minibatch_accuracy(const std::vector<int>& arc);
  /// Writes checkpoint `id`; `position` adds where inside the epoch it stands (ctrl_t, meter).
  std::string save(CheckpointId id, int64_t step, const nlohmann::json& position = {});
  int64_t batches_per_epoch() const;
  SpaceSizes sizes() const;

  Config config_;
  SharedChild child_;
  Controller controller_;
  const ImageDataset& data_;
  const RunDir& run_;
  Reporter& reporter_;
  torch::Device device_;
  const Space& space_;
  std::unique_ptr<Sgd> sgd_;
  std::unique_ptr<Reinforce> reinforce_;
  DeviceSplit valid_, test_;
  std::mt19937_64 valid_rng_;  // picks the reward minibatches
  CheckpointParts parts_;
  RunClock clock_;
};

}  // namespace enas
