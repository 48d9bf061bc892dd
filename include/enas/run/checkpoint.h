#pragma once
/// Reading checkpoints back, and the two moments a run's history turns: a stop on a signal and a
/// resume. A checkpoint's bytes are verified (util/zip_verify.h) and its kind and tensor shapes
/// checked before anything of it is used; docs/reliability.md has the whole contract.
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/run/run_dir.h"

namespace enas {

class Reporter;

/// Ends a run stopped by a signal: says where it stopped (`where`, e.g. "in epoch 3 after step
/// 120"), which checkpoint holds it ("" when nothing was saved) and how to continue, on the
/// console, in log.txt and in metrics.jsonl; then throws Interrupted (util/signals.h).
[[noreturn]] void stop_run(const RunDir& run, Reporter& reporter, const std::string& where,
                           const std::string& checkpoint);

/// Between two controller updates of a search (`done` of `total` in epoch `epoch`, 0-based): on a
/// stop signal, and when updates remain, saves through `save` (which returns the checkpoint's
/// path) and ends the run with stop_run; else returns.
void stop_between_controller_steps(const RunDir& run, Reporter& reporter, int64_t epoch, int done,
                                   int total, const std::function<std::string()>& save);

/// Says that the run continues from `checkpoint` (console, log.txt) and writes the "resume"
/// record of metrics.jsonl (its epoch, batch, step and ctrl_step from `meta`): read_metrics()
/// drops what the interrupted process logged past that point, since it is trained again.
void announce_resume(Reporter& reporter, const std::string& checkpoint, const nlohmann::json& meta);

/// Reads checkpoint `path` after verifying its bytes: `kind` is what the caller can continue
/// (final | search | lm_final | lm_search; a checkpoint of another kind is an error saying what it
/// is), `read` gets the archive. Returns its meta.
nlohmann::json load_checkpoint(const std::string& path, const std::string& kind,
                               const std::function<void(torch::serialize::InputArchive&)>& read);

/// Loads `module` from `archive`, checking that every parameter and buffer keeps its shape
/// (Module::load replaces a tensor whatever its shape). Errors name the checkpoint and the tensor.
void load_module_checked(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                         const std::string& checkpoint);

/// What a trainer's checkpoint holds besides its meta: modules, loaded with the shape check of
/// load_module_checked, and other state (optimisers, REINFORCE, weight averages: anything with
/// save(OutputArchive&) and load(InputArchive&)), each as a sub-archive under its name, plus
/// loose values. Every trainer declares its parts once and saves and restores through them.
class CheckpointParts {
 public:
  using Save = std::function<void(torch::serialize::OutputArchive&)>;
  using Load = std::function<void(torch::serialize::InputArchive&)>;

  CheckpointParts& module(std::string name, torch::nn::Module& module);
  template <typename T>
  CheckpointParts& state(std::string name, T& object) {
    parts_.push_back({std::move(name), true, [&object](auto& a) { object.save(a); },
                      [&object](auto& a) { object.load(a); }, nullptr});
    return *this;
  }
  /// Entries written into the checkpoint's own archive (random streams, a carried state).
  CheckpointParts& loose(Save save, Load load);

  void save(torch::serialize::OutputArchive& archive) const;
  /// Loads every part of `archive`, read from `checkpoint` (named in errors).
  void load(torch::serialize::InputArchive& archive, const std::string& checkpoint) const;

 private:
  struct Part {
    std::string name;
    bool sub_archive;
    Save save;
    Load load;
    torch::nn::Module* module;  // loaded with the shape check
  };
  std::vector<Part> parts_;
};

/// Where a run stands, as the checkpoint it continues from records it.
struct RunProgress {
  int64_t epoch = 0, step = 0, rollbacks = 0;
  double seconds = 0;       // wall time spent before this process
  int64_t batch = 0;        // batches (segments) into epoch `epoch`; 0: at its start
  nlohmann::json position;  // mid-epoch: what the pass needs to continue (see RunCheckpoints)
};

/// What every trainer does around its epochs: resume from the checkpoint --resume names, and
/// (language models) go back to the newest epoch-end checkpoint when the loss stops being finite
/// (enas_lm's rollback on InvalidArgumentError). `restore(path)` loads a checkpoint into the
/// trainer and returns its meta.
class RunCheckpoints {
 public:
  using Restore = std::function<nlohmann::json(const std::string& path)>;
  using Check = std::function<void(const std::string& path, const RunProgress& at)>;
  RunCheckpoints(const RunDir& run, Reporter& reporter, Restore restore)
      : run_(run), reporter_(reporter), restore_(std::move(restore)) {}

  /// Restores the checkpoint --resume names (RunDir::checkpoint_to_resume), lets `check` refuse
  /// it (an enas::Error), announces the resume and returns the progress.
  RunProgress resume(const Check& check = {});
  /// Restores the newest epoch-end checkpoint after a non-finite loss; the progress returned counts
  /// one more rollback (a new random stream for the retried epoch). Throws enas::Error after 5 in a
  /// row: a run that diverges from every checkpoint needs another rate, not more tries.
  RunProgress roll_back();
  /// A finished epoch ends a series of rollbacks.
  void epoch_done() { in_a_row_ = 0; }

 private:
  RunProgress read(const std::string& path, nlohmann::json* meta = nullptr);
  const RunDir& run_;
  Reporter& reporter_;
  Restore restore_;
  int64_t in_a_row_ = 0;
};

}  // namespace enas
