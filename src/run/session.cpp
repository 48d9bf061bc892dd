#include "enas/run/session.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include "enas/config/presets.h"
#include "enas/data/datasets.h"
#include "enas/dist/dist.h"
#include "enas/report/report.h"
#include "enas/run/checkpoint.h"
#include "enas/run/progress.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"
#include "enas/util/text.h"

namespace enas {

/// Rewrites the run folder's report.html (report/report.h) at checkpoints, at most once a minute
/// (a report costs about a second of gnuplot: nothing next to an epoch of a real run, much next
/// to a tiny one), so that it can be opened during a long run; Session::finish writes the last
/// one. A report never fails a run: what it left out (no gnuplot, a failed plot) and a failure
/// to write it are warnings, each said once.
class ReportWriter : public Listener {
 public:
  explicit ReportWriter(std::string dir) : dir_(std::move(dir)) {}
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

}  // namespace

void set_pipeline_stage(PipelineStage stage) { pipeline_stage = stage; }

Compute setup_compute(const Config& c) {
  const int threads = set_threads(c.threads);
  return {threads, parse_device(c.device)};
}

namespace {

/// Every process of a run must be given what defines it alike (a different --seed trained two
/// models; a different --batch_size aborted one process inside Gloo): rank 0's values go to all,
/// each compares them with its own, and all refuse together when any differs.
void agree_on_config(const Team& team, const Config& c, const std::string& command) {
  // Where each process runs and writes may differ: its device, threads and folder.
  static const std::set<std::string> kOwn = {"out", "device", "threads", "report"};
  nlohmann::json mine = to_json(c);
  for (const auto& key : kOwn) mine.erase(key);
  mine["command"] = command;  // `enas train` beside `enas search` would never meet
  const nlohmann::json leaders = nlohmann::json::parse(team.from_leader(mine.dump()));
  std::string differs;
  for (auto it = mine.begin(); it != mine.end() && differs.empty(); ++it) {
    if (!leaders.contains(it.key()) || leaders[it.key()] != it.value()) {
      if (it.key() == "command") {
        differs = fmt::format("this process (rank {}) runs `enas {}`, rank 0 `enas {}`",
                              team.rank(), command, leaders.value("command", std::string("?")));
        break;
      }
      differs = fmt::format(
          "this process (rank {}) has --{} {}, rank 0 has {}", team.rank(), it.key(),
          escaped(it.value().dump()),
          leaders.contains(it.key()) ? escaped(leaders[it.key()].dump()) : "no such flag");
    }
  }
  std::vector<double> disagree = {differs.empty() ? 0.0 : 1.0};
  team.sum(disagree);
  if (disagree[0] == 0) return;
  fail(
      "the {} processes were started with different flags: {}; every process must get the "
      "same command",
      team.size(),
      differs.empty() ? fmt::format("{} of them differ from rank 0 (their lines say how)",
                                    static_cast<int>(disagree[0]))
                      : differs);
}

}  // namespace

Team join_team(const Config& c, const torch::Device& device, const std::string& command) {
  const DistEnv env = DistEnv::from_environment();
  if (!env.active()) return Team();
  require(c.batch_size % env.world_size == 0,
          "a batch of {} does not split evenly across {} processes: pick a --batch_size that is "
          "a multiple of the world size",
          c.batch_size, env.world_size);
  auto dist = std::make_shared<Dist>(env, resolve_backend(c.dist_backend, device),
                                     std::chrono::seconds(c.dist_timeout));
  Team team(std::move(dist), c.sync_bn);
  agree_on_config(team, c, command);
  return team;
}

void expect_checkpoint_kind(const std::string& checkpoint, const std::string& command,
                            const std::string& dataset) {
  std::string kind = command == "train" ? "final" : "search";
  if (dataset_named(dataset).text) kind = "lm_" + kind;
  load_checkpoint(checkpoint, kind, [](torch::serialize::InputArchive&) {});
}

namespace {

/// A finished run (its last epoch's checkpoint and result.json written) has nothing to resume:
/// resuming it rewrote result.json with the new process's empty counters.
void refuse_finished(const RunDir& dir, const Config& c) {
  std::error_code ec;
  if (!std::filesystem::exists(dir.file("result.json"), ec)) return;
  const auto all = dir.checkpoints();
  if (all.empty() || !all.back().first.at_epoch_end() || all.back().first.epoch < c.num_epochs) {
    return;
  }
  const int64_t done = all.back().first.epoch;
  fail(
      "{} is a finished run: its {} epochs are done (result.json), so there is nothing to "
      "resume; to train it further, resume with --num_epochs N for some N > {}",
      dir.path(), done, done);
}

}  // namespace

void print_json_line(const nlohmann::json& j) { write_stdout(j.dump() + "\n"); }

Session::Session(Config config, SessionOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      compute_(setup_compute(config_)),
      team_(join_team(config_, compute_.device, options_.command)),
      dir_(open_folder()) {
  if (!team_.leader()) return;
  open_reporter();
  if (options_.command == "derive") {
    team_.from_leader(dir_.path());
    return;
  }
  const Config& c = config_;
  const PipelineStage stage = pipeline_stage.count > 0 ? pipeline_stage : PipelineStage{1, 1};
  reporter_.record({{"kind", "stage"},
                    {"command", options_.command},
                    {"stage", stage.index},
                    {"stages", stage.count},
                    {"space", c.search_for},
                    {"dataset", c.dataset}});
  reporter_.message(std::string(80, '-'));
  // The preset's own values are the base: what the user changed stands out.
  Config base;
  for (const auto& p : all_presets()) {
    if (p.name == c.preset) p.apply(base);
  }
  reporter_.message(
      format_config_summary(c, base, options_.command == "train" ? kTrainMode : kSearchMode));
  for (const auto& w : options_.warnings) warn(w);
  // A damaged checkpoint, or one of another command's run, is reported now, before minutes of
  // loading data (open_folder has checked the newest one already, before anything was written).
  if (options_.resume && !options_.resume_from.empty()) {
    expect_checkpoint_kind(dir_.checkpoint_to_resume(), options_.command, c.dataset);
  }
  dir_.set_config(to_json(c).dump(2) + "\n");
  team_.from_leader(dir_.path());
  team_.from_leader(options_.resume ? dir_.checkpoint_to_resume() : "");
}

RunDir Session::open_folder() {
  Config& c = config_;
  const bool derive = options_.command == "derive";
  // A derivation appends to its search's folder, whose checkpoints are a search's.
  const std::string command = derive ? "search" : options_.command;
  if (derive) {
    c.out = std::filesystem::path(options_.checkpoint).parent_path().string();
    if (c.out.empty()) c.out = ".";
  }
  if (!team_.leader()) {
    // Rank 0 owns the folder: it names it (a default name carries its clock) and the
    // checkpoint it resumes from, or fails, and then this process fails too.
    std::string checkpoint = options_.checkpoint;
    if (derive) {
      team_.from_leader("");
    } else {
      c.out = team_.from_leader("");
      checkpoint = team_.from_leader("");
    }
    sink_.replace([](const std::string&) {});  // rank 0 reports them
    return RunDir::follow(c.out, command, checkpoint);
  }
  if (derive) return RunDir::open(c.out, command, /*resume=*/true, /*reset=*/false);
  // A resumed run's config.json may say reset_output_dir (how it started): not for a resume.
  const bool reset = c.reset_output_dir && !options_.resume;
  RunDir dir = RunDir::open(c.out, command, options_.resume, reset, options_.resume_from);
  if (options_.resume && options_.resume_from.empty()) {
    // Before anything is written: another command's checkpoint, then a finished run (a
    // checkpoint before its end may still be asked for with --resume_from).
    expect_checkpoint_kind(dir.checkpoint_to_resume(), command, c.dataset);
    refuse_finished(dir, c);
  }
  c.out = dir.path();
  return dir;
}

Session::SinkRestorer::~SinkRestorer() {
  if (set) set_warning_sink(std::move(previous));
}

void Session::SinkRestorer::replace(WarningSink sink) {
  WarningSink before = set_warning_sink(std::move(sink));
  if (!set) previous = std::move(before);  // the outermost: what to restore
  set = true;
}

void Session::open_reporter() {
  const bool search = options_.command != "train";
  // First: it clears its line before the console's listener prints one. A derivation draws
  // none (its output is a few lines).
  if (!options_.json && options_.command != "derive" && ProgressListener::wanted(stderr)) {
    reporter_.add(std::make_shared<ProgressListener>());
  }
  reporter_.add(std::make_shared<ConsoleListener>(dir_.file("log.txt")));
  reporter_.add(std::make_shared<MetricsListener>(dir_.file("metrics.jsonl")));
  if (search) reporter_.add(std::make_shared<ArcsListener>(dir_.file("arcs.jsonl")));
  if (config_.report) {
    report_ = std::make_shared<ReportWriter>(dir_.path());
    reporter_.add(report_);  // after the files it reads
  }
  sink_.replace([reporter = reporter_](const std::string& text) mutable {
    reporter.message("warning: " + text);
  });
}

std::string Session::compute_text() const {
  std::string text = fmt::format("{} threads, device {}", compute_.threads, compute_.device.str());
  if (!team_.alone())
    text += fmt::format(", {} processes ({} backend)", team_.size(), team_.backend());
  return text;
}

void Session::draw(const Architecture& arc, const std::string& name) const {
  draw_arc(dir_, arc, name);
}

void Session::refresh_report() const {
  if (report_) report_->refresh();
}

nlohmann::json Session::result(int64_t epochs, int64_t steps, int64_t params,
                               double seconds) const {
  return {{"epochs", epochs},
          {"steps", steps},
          {"params", params},
          {"seconds", seconds},
          {"run_dir", dir_.path()}};
}

void Session::finish(const nlohmann::json& result) const {
  if (options_.command != "derive") dir_.write_file("result.json", result.dump(2) + "\n");
  refresh_report();
  if (options_.json && dir_.writes()) print_json_line(result);
}

}  // namespace enas
