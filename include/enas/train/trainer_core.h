#pragma once
/// What every trainer holds (final training and search, images and Penn Treebank): what it takes
/// from its Session (configuration, run folder, reporter, device, processes, whether it resumes),
/// the parts of its checkpoints and the run's clock; and the two ways its checkpoints are written
/// and read.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "enas/config/config.h"
#include "enas/dist/team.h"
#include "enas/run/checkpoint.h"
#include "enas/run/reporter.h"
#include "enas/run/run_clock.h"
#include "enas/run/run_dir.h"
#include "enas/run/session.h"

namespace enas {

class TrainerCore {
 protected:
  /// `session` outlives the trainer.
  explicit TrainerCore(Session& session)
      : config_(session.config()),
        run_(session.dir()),
        reporter_(session.reporter()),
        device_(session.device()),
        team_(session.team()),
        resume_(session.resume()) {}

  /// Writes checkpoint `id` with `meta` and every declared part; returns its path.
  std::string write_checkpoint(CheckpointId id, const nlohmann::json& meta) const {
    return run_.save_checkpoint(id, meta,
                                [&](torch::serialize::OutputArchive& a) { parts_.save(a); });
  }
  /// Verifies checkpoint `path`, checks that it is of `kind` and loads every declared part;
  /// returns its meta.
  nlohmann::json read_checkpoint(const std::string& path, const std::string& kind) const {
    return load_checkpoint(path, kind,
                           [&](torch::serialize::InputArchive& a) { parts_.load(a, path); });
  }

  /// The "plan" record (metrics.jsonl, and what a progress display counts with): the epochs of
  /// the run, where it starts, and the steps of an epoch's child pass and controller rounds.
  void report_plan(int64_t start_epoch, int64_t steps_per_epoch, int64_t controller_steps_per_epoch,
                   const char* unit) const {
    reporter_.record({{"kind", "plan"},
                      {"epochs", config_.num_epochs},
                      {"start_epoch", start_epoch},
                      {"steps_per_epoch", steps_per_epoch},
                      {"controller_steps_per_epoch", controller_steps_per_epoch},
                      {"unit", unit}});
  }

  Config config_;
  const RunDir& run_;
  Reporter& reporter_;
  torch::Device device_;
  CheckpointParts parts_;  // declared once by each trainer's constructor
  RunClock clock_;
  Team team_;    // the processes training together (one alone: docs/distributed.md)
  bool resume_;  // run() continues the folder's checkpoint
};

}  // namespace enas
