#pragma once
/// A run folder belongs to one run. It holds config.json, log.txt, metrics.jsonl, arcs.jsonl,
/// result.json, best_arc.txt / .json and checkpoints, all written through util/files.h; a lock
/// (.enas.lock, flock) keeps a second process out for the run's life. A folder holding files that
/// no run writes is refused; --reset_output_dir deletes only what a run writes; a run that fails
/// before its first step leaves no folder behind. docs/reliability.md has the whole contract.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace enas {

/// Where a checkpoint stands: `epoch` epochs done, then `batch` steps into the next one (0: at the
/// epoch's end). Its file is ckpt-<epoch>.pt, or ckpt-<epoch>-<batch>.pt when written mid-epoch
/// (on a signal).
struct CheckpointId {
  int64_t epoch = 0, batch = 0;
  std::string file_name() const;
  bool at_epoch_end() const { return batch == 0; }
  bool operator<(const CheckpointId& o) const {
    return epoch != o.epoch ? epoch < o.epoch : batch < o.batch;
  }
};

/// The id of a checkpoint file name ("ckpt-3.pt", "ckpt-3-17.pt"), or nullopt.
std::optional<CheckpointId> parse_checkpoint_name(const std::string& name);

/// Whether `name` is a file a run writes (and so --reset_output_dir may delete).
bool is_run_file(const std::string& name);

/// A fresh run folder's name: runs/<command>-<date>-<time> (-2, -3, ... when taken).
std::string default_run_path(const std::string& command);

class RunDir {
 public:
  /// Opens `path` ("" = runs/<command>-<date>-<time>) for `command` (train | search), creating it
  /// when missing, and locks it. An empty folder starts a run; one that holds a run needs `resume`
  /// (continue it) or `reset` (delete the run's files first); one that holds other files is
  /// refused. `resume_from` (with `resume`) names the checkpoint to continue from.
  static RunDir open(const std::string& path, const std::string& command, bool resume, bool reset,
                     const std::string& resume_from = "");

  /// The run folder as every process but rank 0 of a distributed run sees it
  /// (docs/distributed.md): rank 0 opened and owns it; this one reads its checkpoints and
  /// writes, creates, locks and deletes nothing. `resume_checkpoint`: the checkpoint rank 0
  /// chose to resume from ("" for a new run).
  static RunDir follow(const std::string& path, const std::string& command,
                       const std::string& resume_checkpoint);

  /// Whether this process writes the folder (false for follow()'s).
  bool writes() const;
  const std::string& path() const;
  std::string file(const std::string& name) const { return path() + "/" + name; }
  /// "enas <command> --resume --out <path>": how to continue this run.
  std::string resume_command() const;

  /// Writes `text` to the folder's `name` atomically (util/files.h); a follower writes nothing,
  /// here and in every method below.
  void write_file(const std::string& name, const std::string& text) const;

  /// The run's configuration (config.json's text), written when the run starts: a resume that
  /// fails leaves the folder's config.json as it was.
  void set_config(const std::string& json_text) const;
  /// Training begins: config.json is written, and a failure no longer removes the folder.
  void mark_started() const;

  /// The folder's checkpoints, oldest first.
  std::vector<std::pair<CheckpointId, std::string>> checkpoints() const;
  std::optional<std::string> latest_checkpoint() const;
  /// The newest checkpoint written at an epoch's end (where a rollback returns to).
  std::optional<std::string> latest_epoch_checkpoint() const;
  /// The checkpoint --resume continues from, verified (util/zip_verify.h): --resume_from's, else
  /// the newest. A damaged newest checkpoint is an error naming the intact one before it and
  /// the flag that continues from it. Checkpoints newer than the one chosen are renamed
  /// <name>.superseded, so that they are never taken for this run's newest again.
  std::string checkpoint_to_resume() const;

  /// Writes checkpoint `id` (`fill` fills the archive; `meta` is stored beside it) atomically, and
  /// keeps the newest two epoch-end checkpoints plus a newer mid-epoch one. Returns its path.
  std::string save_checkpoint(
      CheckpointId id, const nlohmann::json& meta,
      const std::function<void(torch::serialize::OutputArchive&)>& fill) const;

 private:
  struct State;
  explicit RunDir(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace enas
