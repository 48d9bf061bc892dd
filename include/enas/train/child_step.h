#pragma once
/// One SGD step of an image child, the running sums of an epoch and the epoch itself: the part of
/// a training loop that final training and search share.
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "enas/child/image_child.h"
#include "enas/data/batch_loader.h"
#include "enas/dist/team.h"
#include "enas/run/reporter.h"
#include "enas/run/run_clock.h"
#include "enas/run/run_dir.h"
#include "enas/train/sgd.h"

namespace enas {

struct Config;

/// The aux head's loss weight (micro_child.py _build_train).
inline constexpr double kAuxLossWeight = 0.4;

/// What one step leaves on the device; nothing here has been read back to the host.
struct ChildStep {
  torch::Tensor loss;       // 0-d, the main cross-entropy (what the authors log)
  torch::Tensor correct;    // 0-d int64, correct predictions in the batch
  torch::Tensor grad_norm;  // 0-d, or undefined unless asked for
  int64_t batch = 0;
};

/// CE(logits) + 0.4 CE(aux logits), zero_grad, backward, one update at `lr`. The loss that is
/// differentiated is multiplied by `loss_scale` (a shard's weight in its whole batch, so that
/// averaging the processes' gradients gives the whole batch's).
ChildStep train_child_step(ImageChildImpl& model, Sgd& sgd, const Batch& batch, double lr,
                           bool want_norm, double loss_scale = 1.0);

/// The log record of a step, over the whole batch of `team`: reads the step's values back (one
/// host sync; an exchange when the team has several processes); throws enas::Error when the
/// loss is not finite.
StepEvent step_event(const ChildStep& s, int64_t step, int64_t batches_per_epoch, double lr,
                     double minutes, const Team& team = {});

/// Running loss and accuracy of an epoch, summed on the device and read once at its end.
class EpochMeter {
 public:
  /// Sums over `team`'s processes: finish() and state() are exchanges (every process calls them).
  explicit EpochMeter(torch::Device device, Team team = {});
  void add(const ChildStep& s);
  /// The epoch's record; throws enas::Error when the mean loss is not finite. `seconds` is the
  /// time of this process's part of the epoch (images/s counts that part only).
  EpochEvent finish(int64_t epochs_done, int64_t step, double lr, double seconds) const;

  /// The sums so far (one host sync), for a checkpoint written mid-epoch; restore() continues
  /// from them exactly.
  nlohmann::json state() const;
  /// Continues from state(); the team's leader holds the sums restored.
  void restore(const nlohmann::json& state);

 private:
  /// {loss sum, correct, seen, seen before this process started} over the team.
  std::vector<double> totals() const;
  torch::Tensor loss_sum_, correct_sum_;
  int64_t seen_ = 0, seen_before_ = 0;
  Team team_;
};

/// Where an image child's epoch starts, and what it logs.
struct ImagePass {
  int64_t epoch = 0;        // 0-based
  double lr = 0;            // the epoch's rate
  int64_t first_batch = 0;  // > 0: resuming mid-epoch, with the epoch's sums so far in `meter`
  nlohmann::json meter;     // EpochMeter::state()
  int64_t log_every = 50;
  Team team;  // the processes training it (each on its shard of every batch)
};

/// What the trainer does around the steps of an image child's epoch.
struct ImagePassHooks {
  /// Before each step, with the steps done so far (the search samples an architecture, final
  /// training tells drop-path its progress).
  std::function<void(int64_t step)> before_step;
  /// Writes the checkpoint of an epoch stopped by a signal after `batch` batches (`meter`: its
  /// sums so far) and returns its path.
  std::function<std::string(int64_t batch, const nlohmann::json& meter)> save;
};

/// The loader options of an image child's training split, as final training and the search read
/// it: batches of batch_size (this process's shard of each), shuffled per (seed, epoch), the
/// authors' augmentation with child_cutout_size (`pad` zeros around each image before its crop),
/// on `device` in the run's memory format.
BatchLoaderOptions train_loader_options(const Config& config, torch::Device device,
                                        const Team& team, int64_t pad);

/// One epoch of an image child over `loader`: a step per batch from pass.first_batch on, a step
/// record every log_every steps, and the epoch's record (returned and reported) at its end. On a
/// stop signal before the last batch (seen by any process of pass.team) it saves through
/// hooks.save and ends the run (stop_run).
EpochEvent train_image_epoch(ImageChildImpl& model, Sgd& sgd, BatchLoader& loader,
                             const ImagePass& pass, int64_t& step, Reporter& reporter,
                             const RunDir& run, const RunClock& clock, const ImagePassHooks& hooks);

}  // namespace enas
