#pragma once
// Shared pieces of the `enas` command line: the configuration every subcommand binds to, and
// the subcommands' registration functions (one file each).
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "enas/config/config.h"
#include "enas/dist/team.h"
#include "enas/train/reporter.h"
#include "enas/train/run_dir.h"
#include "enas/util/op_cost.h"

namespace enas {
class SearchLoop;
struct SearchResult;
}  // namespace enas

namespace enas::cli {

/// What the command line decided: the effective configuration and our non-config switches.
struct State {
  Config config;
  std::string config_file;   // --config FILE
  bool resume = false;       // --resume
  bool dry_run = false;      // --dry-run
  bool json = false;         // --json
  std::string from_search;   // --from_search RUN
  std::string resume_from;   // --resume_from CHECKPOINT (implies --resume)
  std::function<int()> run;  // set by the subcommand that was chosen
  // With --resume: the run's saved configuration and where it came from (its config.json).
  std::optional<Config> saved;
  std::string saved_path;
};

/// The subcommands, for messages and suggestions.
inline const std::vector<std::string> kCommands = {"run",    "train",   "search", "derive", "draw",
                                                   "report", "presets", "bench",  "launch"};

/// Parses `args` (a subcommand and its flags, as after `enas`) and runs that command: what
/// main() does, and how `enas run` runs its stages. Bad flags print their error and return 2;
/// the library's errors propagate (main() reports them).
int run_subcommand(const std::vector<std::string>& args);

/// Builds the configuration from defaults, --preset, a resumed run's config.json and --config
/// FILE, before the flags are parsed on top of it (so --help shows the effective defaults).
State prescan(int argc, char** argv);

/// Validates the configuration and, for --resume,
/// compares it with the run's config.json: a changed model is an error, other changes come back as
/// warnings (util/error.h: warn()).
std::vector<std::string> check_config(State& state);

/// Where a command computes: --threads set (all cores by default) and --device parsed.
struct Compute {
  int threads;
  torch::Device device;
};
Compute setup_compute(const Config& config);

/// The processes of this run: one alone, or with WORLD_SIZE > 1 the group torchrun's variables
/// describe, met over --dist_backend within --dist_timeout (docs/distributed.md). A --batch_size
/// the processes cannot split evenly is an enas::Error before anyone waits for the others.
Team join_team(const Config& config, const torch::Device& device);

/// ", N processes (B backend)" for a team of several, "" alone: the end of a run's
/// "threads, device" line.
std::string processes_text(const Team& team);

class ReportListener;

/// A run in progress: its folder and the reporter of its console, log.txt and metrics.jsonl.
struct Run {
  RunDir dir;
  Reporter reporter;
  std::shared_ptr<ReportListener> report;  // report.html's writer; null with --noreport
};

/// Rewrites the run's report.html now (nothing with --noreport or on a follower process).
void refresh_report(const Run& run);

/// Where `enas run` is in its pipeline: stage `index` of `count` (0 of 0 outside it). The
/// run's "stage" record and its progress display say so.
struct PipelineStage {
  int index = 0, count = 0;
};
void set_pipeline_stage(PipelineStage stage);

/// Opens the run folder for `command` (train | search), builds the reporter, prints the
/// configuration and `warnings` (which also go to log.txt, as every later warning does), and
/// has config.json written when training starts.
/// With several processes in `team`, rank 0 opens the folder and reports; the others follow it
/// (RunDir::follow: they write nothing) and report nothing.
Run start_run(State& state, const std::string& command, const std::vector<std::string>& warnings,
              const Team& team = {});

/// Checks that `checkpoint` is intact and of the kind `command` (train | search) continues on
/// `dataset`; else an enas::Error saying what it is.
void expect_checkpoint_kind(const std::string& checkpoint, const std::string& command,
                            const std::string& dataset);

/// Opens the run folder of a search's `checkpoint` to derive from it (locked; its log, metrics
/// and arcs appended to; `config`, the search's with the flags, decides its report). With several
/// processes rank 0 opens it and the others follow.
Run open_for_derive(const std::string& checkpoint, const Config& config, const Team& team = {});

/// `enas derive`'s work once the trainer is built: restores `checkpoint`, derives (the
/// architectures shared among `team`'s processes), writes best_arc.txt / best_arc.json into the
/// run folder and reports the winner (with --json, as the last line). Returns the exit code.
int derive_from(SearchLoop& trainer, const std::string& checkpoint, Run& run, const State& state,
                const Team& team = {});

/// The fields of every run's result.json: epochs, steps, params, seconds and run_dir.
nlohmann::json run_result(const Run& run, int64_t epochs, int64_t steps, int64_t params,
                          double seconds);

/// Writes result.json into the run folder and, with --json, prints it as the last line.
void finish_run(const Run& run, const State& state, const nlohmann::json& result);

/// finish_run for a search: run_result's fields, the derived best_arc and its score, the
/// search's own fields and best_arc_file.
void finish_search(const Run& run, const State& state, const SearchResult& result, int64_t params);

/// Registers every Config field as a flag of `sub` under the authors' names, plus --config,
/// --resume (when `with_resume`), --dry-run and --json.
void bind_config(CLI::App* sub, State& state, bool with_resume);

void add_run_command(CLI::App& app, State& state);
void add_draw_command(CLI::App& app, State& state);
void add_report_command(CLI::App& app, State& state);
void add_train_command(CLI::App& app, State& state);
void add_presets_command(CLI::App& app, State& state);
void add_bench_command(CLI::App& app, State& state);
void add_search_command(CLI::App& app, State& state);
void add_launch_command(CLI::App& app, State& state);

/// The Penn Treebank versions of train, search and derive (cmd_lm.cpp); the commands hand over
/// to them when --dataset is ptb.
int run_train_lm(State& state, const std::vector<std::string>& warnings);
int run_search_lm(State& state, const std::vector<std::string>& warnings);
int run_derive_lm(State& state, const std::string& checkpoint);

/// Controller speed at a search preset's settings: one architecture at a time (as the child
/// phase samples), a batch of num_aggregate, and one REINFORCE update (cmd_bench.cpp).
nlohmann::json bench_controller(const std::string& preset, int steps);

/// Penn Treebank benchmarks (bench_lm.cpp): `only` is lm, lm_shared, lm_final, lm_controller or
/// "" (all). `profile` prints the timed steps' operators to stderr (util/op_profile.h), with
/// their rates against `limits`.
nlohmann::json bench_lm(const std::string& only, int steps, int warmup, torch::Device device,
                        bool profile, const MachineLimits& limits);

/// The machine's roofs at the configured threads, measured (bench_roofline.cpp): the peak is the
/// faster of an SGEMM and oneDNN's 1x1 convolutions, the bandwidth a triad's, the best of a few
/// repetitions each. `record` gets the details.
MachineLimits measure_machine(torch::Device device, nlohmann::json* record);

/// What a benchmark's step does and how close it comes to the roofline: runs `replay(i)` for
/// i in [0, n), the timed steps again, under the cost rules (util/op_cost.h), and sets their
/// mean work against the timed steps' median of `median_s` seconds.
/// One line of a roofline record for stderr: the step's work, its rate, its fraction.
std::string roofline_summary(const nlohmann::json& roofline);

nlohmann::json roofline_record(int n, const std::function<void(int)>& replay, double median_s,
                               const MachineLimits& limits, torch::Device device);

/// Prints the final JSON line of a command to stdout.
void print_json_line(const nlohmann::json& j);

}  // namespace enas::cli
