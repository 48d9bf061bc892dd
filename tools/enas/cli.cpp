#include "cli.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <type_traits>

#include "enas/config/presets.h"
#include "enas/dist/dist.h"
#include "enas/report/report.h"
#include "enas/space/arc_text.h"
#include "enas/space/space.h"
#include "enas/train/best_arc.h"
#include "enas/train/checkpoint.h"
#include "enas/train/progress.h"
#include "enas/train/search_loop.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/runtime.h"

namespace enas::cli {

namespace {

/// Value of `--name value` or `--name=value` in argv (the last one wins), or "".
std::string scan(int argc, char** argv, const std::vector<std::string>& names) {
  std::string found;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (const auto& n : names) {
      if (a == n && i + 1 < argc) found = argv[i + 1];
      if (a.rfind(n + "=", 0) == 0) found = a.substr(n.size() + 1);
    }
  }
  return found;
}

bool has_flag(int argc, char** argv, const std::string& name) {
  for (int i = 1; i < argc; ++i)
    if (argv[i] == name) return true;
  return false;
}

/// "data,data_path" -> "--data,--data_path"; bools also get the authors' "--noNAME".
std::string flag_names(const char* names, bool negatable) {
  std::string in(names), out, neg;
  size_t start = 0;
  while (start <= in.size()) {
    size_t comma = in.find(',', start);
    std::string n =
        in.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    out += (out.empty() ? "--" : ",--") + n;
    if (negatable) neg += ",!--no" + n;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out + neg;
}

/// A best_arc.txt may start with "# enas search_for=micro child_num_layers=6 ..." naming the
/// space and sizes the architecture belongs to: apply those.
void apply_arc_header(Config& c, const std::string& path) {
  std::istringstream in(read_small_file(path, "architecture file", kMaxConfigBytes));
  std::string line;
  std::getline(in, line);
  const auto header = parse_arc_header(line, path);
  if (!header) return;
  if (!header->search_for.empty()) c.search_for = header->search_for;
  if (!header->dataset.empty()) c.dataset = header->dataset;
  if (header->num_cells) c.child_num_cells = *header->num_cells;
  if (header->num_layers) c.child_num_layers = *header->num_layers;
}

/// Whether a --config file names `key`.
bool config_file_sets(const std::string& path, const std::string& key) {
  if (path.empty()) return false;
  const auto j = nlohmann::json::parse(read_small_file(path, "config file", kMaxConfigBytes),
                                       nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains(key);
}

}  // namespace

State prescan(int argc, char** argv) {
  State s;
  // `launch` and `run` pass their command's flags on untouched: each process or stage reads them.
  if (argc > 1 && (std::string(argv[1]) == "launch" || std::string(argv[1]) == "run")) return s;
  std::string preset = scan(argc, argv, {"--preset"});
  s.resume_from = scan(argc, argv, {"--resume_from"});
  const bool resume = has_flag(argc, argv, "--resume") || !s.resume_from.empty();
  require(!resume || preset.empty(),
          "--preset does not go with --resume: a resumed run keeps its configuration "
          "(config.json); change single flags instead");
  require(!resume || !has_flag(argc, argv, "--reset_output_dir"),
          "--resume and --reset_output_dir contradict each other: pick one");
  const std::string config_file = scan(argc, argv, {"--config"});
  const bool arc_given = !scan(argc, argv, {"--child_fixed_arc", "--fixed_arc"}).empty() ||
                         config_file_sets(config_file, "child_fixed_arc");
  const bool arc_file_given = !scan(argc, argv, {"--child_fixed_arc_file"}).empty() ||
                              !scan(argc, argv, {"--from_search"}).empty() ||
                              config_file_sets(config_file, "child_fixed_arc_file");
  require(!(arc_given && arc_file_given),
          "both an architecture (--child_fixed_arc) and a file of one (--child_fixed_arc_file "
          "or --from_search) are given: pass one");
  if (!preset.empty()) find_preset(preset).apply(s.config);
  s.config.preset = preset;
  // Derivation continues a search: its configuration is the search's.
  std::string checkpoint = scan(argc, argv, {"--checkpoint"});
  if (!checkpoint.empty()) {
    auto saved = std::filesystem::path(checkpoint).parent_path() / "config.json";
    require(std::filesystem::exists(saved), "--checkpoint: no config.json beside {}", checkpoint);
    apply_config_file(s.config, saved.string());
  }
  // Hand-off from a search: the matching final preset, the search's data and best_arc.txt.
  std::string from = scan(argc, argv, {"--from_search"});
  if (!from.empty()) {
    require(std::filesystem::exists(from + "/config.json") &&
                std::filesystem::exists(from + "/best_arc.txt"),
            "--from_search {}: expected a search run folder with config.json and best_arc.txt",
            from);
    Config searched;
    apply_config_file(searched, from + "/config.json");
    if (preset.empty()) {
      find_preset(final_preset_for(searched)).apply(s.config);
      s.config.preset = "from_search";
    }
    s.config.dataset = searched.dataset;
    s.config.data = searched.data;
    s.config.child_fixed_arc_file = from + "/best_arc.txt";
  }
  std::string arc_file = scan(argc, argv, {"--child_fixed_arc_file"});
  if (arc_file.empty()) arc_file = s.config.child_fixed_arc_file;
  if (!arc_file.empty()) apply_arc_header(s.config, arc_file);
  if (resume) {
    std::string out = scan(argc, argv, {"--out", "--output_dir"});
    require(!out.empty(), "--resume needs --out <run folder>");
    std::string saved = out + "/config.json";
    require(std::filesystem::exists(saved), "--resume: {} has no config.json", out);
    apply_config_file(s.config, saved);
    s.saved = s.config;
    s.saved_path = saved;
  }
  s.config_file = scan(argc, argv, {"--config"});
  if (!s.config_file.empty()) apply_config_file(s.config, s.config_file);
  return s;
}

void bind_config(CLI::App* sub, State& state, bool with_resume) {
  state.config.visit([&](const char* names, auto& field, const char* help, Scope) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, bool>) {
      sub->add_flag(flag_names(names, true), field, help)->capture_default_str();
    } else {
      // The last value wins, as with the authors' tf.app.flags and prescan(): scripts append
      // overrides. (CLI11's default rejects a repeated option.)
      sub->add_option(flag_names(names, false), field, help)
          ->capture_default_str()
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  });
  sub->add_option("--config", state.config_file, "JSON file of flag values (after --preset)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (with_resume) {
    sub->add_flag("--resume", state.resume,
                  "continue the run in --out from its newest checkpoint (its config.json, then "
                  "flags)");
    sub->add_option("--resume_from", state.resume_from,
                    "with --resume: continue from this checkpoint of the run folder (e.g. the one "
                    "before a damaged newest one)");
  }
  if (with_resume) {
    sub->add_option("--from_search", state.from_search,
                    "train a search's best_arc.txt with the matching final preset");
  }
  sub->add_flag("--dry-run,--dry_run", state.dry_run, "build the model, report it and exit");
  sub->add_flag("--json", state.json, "end standard output with one JSON line of results");
  // In the authors' macro scripts but unknown to their main.py (tf.app.flags ignored it).
  static int ignored = 0;
  sub->add_option("--child_num_cell_layers", ignored,
                  "accepted and ignored, as the authors' "
                  "main.py does");
}

/// Rewrites the run folder's report.html (report/report.h) at checkpoints, at most once a minute
/// (a report costs about a second of gnuplot: nothing next to an epoch of a real run, much next
/// to a tiny one), so that it can be opened during a long run; finish_run() writes the last one.
/// A report never fails a run: what it left out (no gnuplot, a failed plot) and a failure to
/// write it are warnings, each said once.
class ReportListener : public Listener {
 public:
  explicit ReportListener(std::string dir) : dir_(std::move(dir)) {}
  void on_sync() override {
    if (std::chrono::steady_clock::now() - written_ >= std::chrono::seconds(60)) refresh();
  }
  void refresh() {
    written_ = std::chrono::steady_clock::now();
    std::vector<std::string> left_out;
    try {
      left_out = write_report(dir_);
    } catch (const Error& e) {
      left_out = {std::string("report.html was not written: ") + e.what()};
    }
    for (const auto& w : left_out) {
      if (said_.insert(w).second) warn("report: " + w);
    }
  }

 private:
  std::string dir_;
  std::set<std::string> said_;
  std::chrono::steady_clock::time_point written_ = std::chrono::steady_clock::now();
};

namespace {

PipelineStage pipeline_stage;  // set by `enas run` around each stage

/// The console, log.txt, metrics.jsonl, (a search's) arcs.jsonl and report.html of `run`, and
/// on a terminal the progress line; from here on warnings are part of its record.
void open_reporter(Run& run, const std::string& command, const Config& c, bool json) {
  // First: it clears its line before the console's listener prints one.
  if (!json && ProgressListener::wanted(stderr)) {
    run.reporter.add(std::make_shared<ProgressListener>());
  }
  run.reporter.add(std::make_shared<ConsoleListener>(run.dir.file("log.txt")));
  run.reporter.add(std::make_shared<MetricsListener>(run.dir.file("metrics.jsonl")));
  if (command == "search") {
    run.reporter.add(std::make_shared<ArcsListener>(run.dir.file("arcs.jsonl")));
  }
  if (c.report) {
    run.report = std::make_shared<ReportListener>(run.dir.path());
    run.reporter.add(run.report);  // after the files it reads
  }
  set_warning_sink([reporter = run.reporter](const std::string& text) mutable {
    reporter.message("warning: " + text);
  });
}

}  // namespace

void set_pipeline_stage(PipelineStage stage) { pipeline_stage = stage; }

std::vector<std::string> check_config(State& s) {
  if (!s.resume_from.empty()) s.resume = true;
  validate(s.config);
  if (!s.resume || !s.saved) return {};
  return resume_changes(*s.saved, s.config, s.saved_path);
}

Run start_run(State& s, const std::string& command, const std::vector<std::string>& warnings,
              const Team& team) {
  Config& c = s.config;
  if (!team.leader()) {
    // Rank 0 owns the folder: it names it (a default name carries its clock) and the
    // checkpoint it resumes from, or fails, and then this process fails too.
    c.out = team.from_leader("");
    const std::string checkpoint = team.from_leader("");
    set_warning_sink([](const std::string&) {});  // rank 0 reports every warning
    return Run{RunDir::follow(c.out, command, checkpoint), Reporter(), nullptr};
  }
  // A resumed run's config.json may say reset_output_dir (how it started): not for a resume.
  const bool reset = c.reset_output_dir && !s.resume;
  Run run{RunDir::open(c.out, command, s.resume, reset, s.resume_from), Reporter(), nullptr};
  c.out = run.dir.path();
  open_reporter(run, command, c, s.json);
  const PipelineStage stage = pipeline_stage.count > 0 ? pipeline_stage : PipelineStage{1, 1};
  run.reporter.record({{"kind", "stage"},
                       {"command", command},
                       {"stage", stage.index},
                       {"stages", stage.count},
                       {"space", c.search_for},
                       {"dataset", c.dataset}});
  run.reporter.message(std::string(80, '-'));
  // The preset's own values are the base: what the user changed stands out.
  Config base;
  for (const auto& p : all_presets()) {
    if (p.name == c.preset) p.apply(base);
  }
  run.reporter.message(
      format_config_summary(c, base, command == "train" ? kTrainMode : kSearchMode));
  for (const auto& w : warnings) warn(w);
  // A damaged checkpoint, or one of another command's run, is reported now, before minutes of
  // loading data.
  if (s.resume) expect_checkpoint_kind(run.dir.checkpoint_to_resume(), command, c.dataset);
  run.dir.set_config(to_json(c).dump(2) + "\n");
  team.from_leader(run.dir.path());
  team.from_leader(s.resume ? run.dir.checkpoint_to_resume() : "");
  return run;
}

void expect_checkpoint_kind(const std::string& checkpoint, const std::string& command,
                            const std::string& dataset) {
  std::string kind = command == "train" ? "final" : "search";
  if (dataset == "ptb") kind = "lm_" + kind;
  load_checkpoint(checkpoint, kind, [](torch::serialize::InputArchive&) {});
}

Compute setup_compute(const Config& c) {
  const int threads = set_threads(c.threads);
  return {threads, parse_device(c.device)};
}

Team join_team(const Config& c, const torch::Device& device) {
  const DistEnv env = DistEnv::from_environment();
  if (!env.active()) return Team();
  require(c.batch_size % env.world_size == 0,
          "a batch of {} does not split evenly across {} processes: pick a --batch_size that is "
          "a multiple of the world size",
          c.batch_size, env.world_size);
  auto dist = std::make_shared<Dist>(env, resolve_backend(c.dist_backend, device),
                                     std::chrono::seconds(c.dist_timeout));
  return Team(std::move(dist), c.sync_bn);
}

std::string processes_text(const Team& team) {
  if (team.alone()) return "";
  return fmt::format(", {} processes ({} backend)", team.size(), team.backend());
}

Run open_for_derive(const std::string& checkpoint, const Config& config, const Team& team) {
  std::string dir = std::filesystem::path(checkpoint).parent_path().string();
  if (dir.empty()) dir = ".";
  if (!team.leader()) {
    // After rank 0 has the folder (or has failed, and then this process fails too).
    team.from_leader("");
    set_warning_sink([](const std::string&) {});  // rank 0 reports every warning
    return Run{RunDir::follow(dir, "search", checkpoint), Reporter(), nullptr};
  }
  Run run{RunDir::open(dir, "search", /*resume=*/true, /*reset=*/false), Reporter(), nullptr};
  open_reporter(run, "search", config, /*json=*/true);
  team.from_leader(run.dir.path());
  return run;
}

int derive_from(SearchLoop& trainer, const std::string& checkpoint, Run& run, const State& s,
                const Team& team) {
  trainer.set_team(team);
  trainer.restore(checkpoint);
  const BestArc best = trainer.derive(s.config.derive_samples);
  write_best_arc(run.dir, s.config, best);
  run.reporter.message(fmt::format("Best of {} architectures: {}: {}", best.samples,
                                   score_text(best), join_ints(best.arc)));
  refresh_report(run);
  if (s.json && run.dir.writes()) {
    print_json_line({{"best_arc", join_ints(best.arc)},
                     {best.score_name, best.score},
                     {"samples", best.samples},
                     {"best_arc_file", run.dir.file("best_arc.txt")}});
  }
  return 0;
}

nlohmann::json run_result(const Run& run, int64_t epochs, int64_t steps, int64_t params,
                          double seconds) {
  return {{"epochs", epochs},
          {"steps", steps},
          {"params", params},
          {"seconds", seconds},
          {"run_dir", run.dir.path()}};
}

void refresh_report(const Run& run) {
  if (run.report) run.report->refresh();
}

void finish_run(const Run& run, const State& s, const nlohmann::json& result) {
  run.dir.write_file("result.json", result.dump(2) + "\n");
  refresh_report(run);
  if (s.json && run.dir.writes()) print_json_line(result);
}

void finish_search(const Run& run, const State& s, const SearchResult& r, int64_t params) {
  nlohmann::json result = run_result(run, r.epochs, r.steps, params, r.seconds);
  result.update({{"best_arc", join_ints(r.best.arc)},
                 {r.best.score_name, r.best.score},
                 {"best_arc_file", run.dir.file("best_arc.txt")}});
  result.update(r.fields);
  finish_run(run, s, result);
}

void print_json_line(const nlohmann::json& j) {
  std::fflush(stdout);
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

}  // namespace enas::cli
