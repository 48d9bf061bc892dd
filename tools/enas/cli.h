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
#include "enas/run/session.h"
#include "enas/util/op_cost.h"

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
inline const std::vector<std::string> kCommands = {"run",    "train",  "search",  "derive",
                                                   "draw",   "report", "presets", "bench",
                                                   "launch", "export", "predict", "eval"};

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

/// How the command line's run opens its Session: `command` (train | search), --resume,
/// --resume_from, --json, and the configuration's `warnings`.
SessionOptions session_options(const State& state, const std::string& command,
                               const std::vector<std::string>& warnings);

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
/// `enas export`, `enas predict` and `enas eval` (cmd_deploy.cpp).
void add_deploy_commands(CLI::App& app, State& state);

/// Writes the ONNX model of the trained run in `run_path` to `out` ("": RUN/model.onnx);
/// returns its path (what `enas run` does at its end).
std::string export_run_model(const std::string& run_path, const std::string& out = "");

/// Controller speed at a search preset's settings: one architecture at a time (as the child
/// phase samples), a batch of num_aggregate, and one REINFORCE update (cmd_bench.cpp).
nlohmann::json bench_controller(const std::string& preset, int steps);

/// Penn Treebank benchmarks (bench_lm.cpp): `only` is lm, lm_shared, lm_final, lm_controller or
/// "" (all). `profile` prints the timed steps' operators to stderr (util/op_profile.h), with
/// their rates against `limits`.
nlohmann::json bench_lm(const std::string& only, int steps, int warmup, torch::Device device,
                        bool profile, const MachineLimits& limits);

/// Inference latency of the exported micro final child in ONNX Runtime against enas predict's
/// forward, at batch 1 and 64, `rounds` alternating rounds (bench_export.cpp).
nlohmann::json bench_export(int threads, int rounds);

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

}  // namespace enas::cli
