#pragma once
/// A run as one command lives it: the compute it runs on, the processes it runs with, its folder
/// (run_dir.h), its reporter (the console, log.txt, metrics.jsonl, a search's arcs.jsonl,
/// report.html and, on a terminal, the progress line) and its end (result.json). The CLI opens
/// one Session per command; every trainer takes it, and in-process tests open one on a temporary
/// folder as the CLI would.
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/config/config.h"
#include "enas/dist/team.h"
#include "enas/run/best_arc.h"
#include "enas/run/reporter.h"
#include "enas/run/run_dir.h"
#include "enas/space/architecture.h"
#include "enas/util/error.h"

namespace enas {

/// Where a command computes: --threads set (all cores by default) and --device parsed.
struct Compute {
  int threads = 1;
  torch::Device device = torch::kCPU;
};
Compute setup_compute(const Config& config);

/// The processes of a run: one alone, or with WORLD_SIZE > 1 the group torchrun's variables
/// describe, met over --dist_backend within --dist_timeout (docs/distributed.md). A --batch_size
/// the processes cannot split evenly is an enas::Error before anyone waits for the others; after
/// the rendezvous, processes given another `command` or other flags than rank 0 all refuse.
Team join_team(const Config& config, const torch::Device& device, const std::string& command = "");

/// Where `enas run` is in its pipeline: stage `index` of `count` (0 of 0 outside it). The
/// run's "stage" record and its progress display say so.
struct PipelineStage {
  int index = 0, count = 0;
};
void set_pipeline_stage(PipelineStage stage);

/// Checks that `checkpoint` is intact and of the kind `command` (train | search) continues on
/// `dataset`; else an enas::Error saying what it is.
void expect_checkpoint_kind(const std::string& checkpoint, const std::string& command,
                            const std::string& dataset);

/// Prints the final JSON line of a command to standard output.
void print_json_line(const nlohmann::json& j);

/// How a command opens its run.
struct SessionOptions {
  std::string command = "train";      // train | search | derive (a search's folder, appended to)
  bool resume = false;                // continue the folder's newest checkpoint (or resume_from's)
  std::string resume_from;            // with resume: this checkpoint of the folder instead
  std::string checkpoint;             // derive: the search checkpoint whose folder is opened
  bool json = false;                  // --json: the result's JSON line ends standard output
  std::vector<std::string> warnings;  // said after the configuration (and so in log.txt)
};

class ReportWriter;

class Session {
 public:
  /// Sets the compute up, joins the team, opens (rank 0) or follows (the others) the run folder
  /// of `config.out` (a derivation: the checkpoint's), builds the reporter, prints the
  /// configuration and the warnings and, for a resume, checks the checkpoint it continues from.
  /// While it lives, warnings are part of the run's record (a follower's are rank 0's to say).
  Session(Config config, SessionOptions options);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The run's configuration: `config.out` is the folder's path.
  const Config& config() const { return config_; }
  const RunDir& dir() const { return dir_; }
  Reporter& reporter() { return reporter_; }
  const Team& team() const { return team_; }
  torch::Device device() const { return compute_.device; }
  bool resume() const { return options_.resume; }
  bool json() const { return options_.json; }

  /// "N threads, device D" and, for several processes, ", P processes (B backend)".
  std::string compute_text() const;
  /// Draws `arc` as NAME.svg in the folder (best_arc.h).
  void draw(const Architecture& arc, const std::string& name) const;
  /// Rewrites report.html now (nothing with --noreport or on a follower process).
  void refresh_report() const;

  /// The fields of every run's result.json: epochs, steps, params, seconds and run_dir.
  nlohmann::json result(int64_t epochs, int64_t steps, int64_t params, double seconds) const;
  /// The run's end: result.json (not for a derivation, whose folder is the search's), the last
  /// report.html and, with --json, `result` as the last line of standard output.
  void finish(const nlohmann::json& result) const;

 private:
  /// Opens (rank 0) or follows the folder, with the exchanges that tell the others its path.
  RunDir open_folder();
  void open_reporter();

  /// Where warnings went before the session: put back when the session ends, or when opening
  /// it fails half-way (a member, so that it is undone whatever constructor step throws).
  struct SinkRestorer {
    WarningSink previous;
    bool set = false;
    ~SinkRestorer();
    void replace(WarningSink sink);
  };
  SinkRestorer sink_;  // declared before dir_: open_folder() sets it
  Config config_;
  SessionOptions options_;
  Compute compute_;
  Team team_;
  RunDir dir_;
  Reporter reporter_;
  std::shared_ptr<ReportWriter> report_;  // report.html's writer; null with --noreport
};

}  // namespace enas
