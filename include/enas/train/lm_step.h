#pragma once
/// The parts of a language-model training loop that final training and search share: one SGD
/// step with enas_lm's regularisers and clipping, perplexity over a stream, and the stream's
/// placement on the device.
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "enas/child/rnn_lm.h"
#include "enas/data/lm_batches.h"
#include "enas/dist/team.h"
#include "enas/run/reporter.h"
#include "enas/run/run_dir.h"

namespace enas {

struct Config;

/// enas_lm's loss terms and update, from the configuration.
struct LmStepOptions {
  double alpha = 0;          // child_alpha: activation L2
  double beta = 0;           // child_beta: slowness
  double weight_decay = 0;   // child_weight_decay: on RnnLm::decayed_weights()
  double grad_bound = 0.25;  // child_grad_bound: global-norm clipping (0 = none)
  int64_t bptt = 35;         // the rate is scaled by segment length / bptt
  // Keep the step's numbers on the device (LmStep::values) and clip there: a step on a GPU then
  // never waits for it. Off, they are read back every step (free on the CPU, where the clipping
  // scale is the double bound / norm, as the golden values were made).
  bool on_device = false;
  static LmStepOptions from(const Config& c);
};

/// What one step saw.
struct LmStep {
  double loss = 0;       // mean cross-entropy of the segment
  double l2 = 0;         // sum(w^2) of the decayed weights (the |w| of enas_lm's log)
  double grad_norm = 0;  // global norm before clipping
  double lr = 0;         // the rate applied: lr * len / bptt
  int64_t tokens = 0;
  // With LmStepOptions::on_device: (3) float64 on the device, loss, l2 and grad_norm, which the
  // three doubles above then leave at 0 until read() copies them over (one transfer).
  torch::Tensor values;
  void read();
};

/// loss + weight_decay * sum(w^2) + alpha * mean(s^2) + beta * mean((s_t - s_{t-1})^2), backward,
/// clip by global norm, w -= lr * len / bptt * g (plain SGD, as enas_lm) over
/// model.step_parameters(). `state` (B, H) is read and replaced by the state after the segment.
/// With a `team`, x and y are this process's rows of the whole batch: the gradients are averaged
/// over the processes before the norm is taken, and the loss and tokens returned are the whole
/// batch's (every process returns the same step).
LmStep lm_train_step(RnnLmImpl& model, const torch::Tensor& x, const torch::Tensor& y,
                     torch::Tensor& state, double lr, const LmStepOptions& options,
                     const Team& team = {});

/// This process's rows of batchified `rows` (R, L), split as team.part(R) splits R; R must divide
/// by the team's size (an enas::Error naming --batch_size otherwise).
torch::Tensor rows_of(const torch::Tensor& rows, const Team& team);

/// Mean cross-entropy per token of `model` (eval mode) over batchified `rows` (R, L) read in
/// `segments`. The state starts at zero; `reset_each` zeroes it before every segment (enas_lm's
/// search validates so), else it is carried. `before_segment(i)` runs first (a search resamples
/// its architecture there). With a `team`, `rows` are this process's part and the mean is the
/// whole's.
double lm_eval_loss(RnnLmImpl& model, const torch::Tensor& rows,
                    const std::vector<Segment>& segments, bool reset_each,
                    const std::function<void(size_t)>& before_segment = {}, const Team& team = {});

/// Where a pass stands after `segment` segments: what a checkpoint written mid-epoch (on a
/// signal) holds so that the pass continues exactly.
struct LmEpochPosition {
  int64_t segment = 0;  // segments done
  double loss_sum = 0;  // their summed losses
  int64_t tokens = 0;   // their tokens
  torch::Tensor state;  // (B, H) the state carried into the next segment, every row of the batch

  /// segment, loss_sum and tokens (the state goes into the archive).
  nlohmann::json to_json() const;
  static LmEpochPosition from_json(const nlohmann::json& j, torch::Tensor state);
};

/// The result of one pass. `finite` false when a loss stopped being finite (the pass stops);
/// `stopped` when a stop signal came (the pass stops after the step; `at` says where).
/// What a training pass adds to the shared loop: hooks around each step.
struct LmEpochHooks {
  std::function<void()> before_step;  // the search: a fresh cell per segment
  std::function<void()> after_step;   // final training: the weight average
  std::function<int()> avg_flag;      // final training: the log's avg= (none: not printed)
  /// Writes the checkpoint of a pass stopped by a signal at `at` and returns its path (as
  /// ImagePassHooks::save: child_step.h). Unset: the pass never stops early.
  std::function<std::string(const LmEpochPosition& at)> save;
  // LmStepOptions::on_device for the pass; unset: when the rows are not on the CPU (the tests
  // set it to run the GPU's bookkeeping on the CPU).
  std::optional<bool> step_on_device;
};

struct LmEpoch {
  bool finite = true;
  LmEpochPosition at;
  double train_ppl = 0, tokens_per_s = 0;
};

/// One pass over batchified training `rows` (enas_lm's epoch): random-length segments drawn from
/// (seed, epoch, rollbacks), the state from zero and carried, one lm_train_step per segment,
/// enas_lm's log line and an lm_step record every log_every steps. `minutes` gives the run's time.
/// `from` continues a pass that stopped there. With a `team`, `rows` are this process's part
/// (rows_of) and the processes step together: the same segments, averaged gradients, the whole
/// batch's losses, and a stop any of them sees. On a stop signal before the last segment it
/// saves through hooks.save and ends the run in `run` (stop_run), as train_image_epoch does.
LmEpoch train_lm_epoch(RnnLmImpl& model, const torch::Tensor& rows, const Config& config,
                       int64_t epoch, int64_t rollbacks, int64_t& step, Reporter& reporter,
                       const RunDir& run, const std::function<double()>& minutes,
                       const LmEpochHooks& hooks = {}, const LmEpochPosition* from = nullptr,
                       const Team& team = {});

/// The log line of a training step in enas_lm's format (avg < 0: no avg= field).
std::string lm_step_line(int64_t epoch, int64_t step, double ppl, double lr, double l2,
                         double grad_norm, double minutes, int avg = -1);

/// exp(loss), saturating instead of overflowing.
double perplexity(double loss);

/// Reports a validation perplexity after epoch `epoch` (console and the "lm_eval" record of
/// metrics.jsonl, with `extra`'s fields); an overflowed one is an enas::Error saying that `what`
/// (the model, the shared child) diverged and which checkpoint is the newest.
void report_valid_ppl(Reporter& reporter, const RunDir& run, const char* what, int64_t epoch,
                      int64_t step, double ppl, const nlohmann::json& extra);

}  // namespace enas
