// `enas run` (and `enas` alone): the whole ENAS pipeline in one command. A search (its preset,
// default_search unless --preset names another), its derivation, then the training of the
// architecture it found (the search preset's final preset), each stage a run folder of its own
// under --out: OUT/search and OUT/train. --resume continues whichever stage was interrupted.
#include <fmt/format.h>

#include <filesystem>

#include "cli.h"
#include "enas/config/presets.h"
#include "enas/run/run_dir.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/text.h"

namespace enas::cli {

namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string preset = "default_search";  // the search stage's preset
  std::string final_preset;               // "": the search preset's own final preset
  int search_epochs = 0;                  // 0: the preset's
  int final_epochs = 0;                   // 0: the preset's
  std::string out;                        // "": runs/run-<date>-<time>
  bool resume = false;
  bool json = false;
  bool dry_run = false;
  std::vector<std::string> shared;  // every other flag: given to both stages
};

nlohmann::json read_json(const std::string& path) {
  return parse_json(read_small_file(path, "result file", kMaxConfigBytes), path);
}

bool finished(const std::string& dir) {
  return fs::exists(dir + "/result.json") && fs::exists(dir + "/config.json");
}

/// The stage's command line: a fresh start with its preset, or --resume of its folder.
std::vector<std::string> stage_args(const std::string& command, const std::string& dir,
                                    const std::string& preset, int epochs, const RunOptions& o) {
  std::vector<std::string> args{command};
  const bool resuming = o.resume && fs::exists(dir + "/config.json");
  if (resuming) {
    args.push_back("--resume");  // its configuration is its config.json's
  } else if (!preset.empty()) {
    args.insert(args.end(), {"--preset", preset});
  }
  args.insert(args.end(), o.shared.begin(), o.shared.end());
  args.insert(args.end(), {"--out", dir});
  if (epochs > 0) args.insert(args.end(), {"--num_epochs", std::to_string(epochs)});
  return args;
}

void banner(int stage, const std::string& what, const std::string& dir) {
  write_stdout(fmt::format("==== stage {}/2: {} -> {}\n", stage, what, dir));
  std::fflush(stdout);
}

int run_pipeline(RunOptions o) {
  const Preset& search = find_preset(o.preset);
  require(search.command == "search",
          "enas run: --preset {} is a preset for `{}`; the pipeline starts with a search preset "
          "({})",
          o.preset, search.command, [] {
            std::string names;
            for (const auto& p : all_presets()) {
              if (p.command == "search") names += (names.empty() ? "" : ", ") + p.name;
            }
            return names;
          }());
  if (!o.final_preset.empty()) {
    require(find_preset(o.final_preset).command == "train",
            "enas run: --final_preset {} is not a training preset", o.final_preset);
  }
  for (const auto& a : o.shared) {
    for (const char* own : {"--from_search", "--child_fixed_arc", "--child_fixed_arc_file",
                            "--resume_from", "--config"}) {
      require(a != own && a.rfind(std::string(own) + "=", 0) != 0,
              "enas run: {} does not go with the pipeline (the search decides the architecture "
              "and each stage keeps its own run folder); use `enas search` and `enas train`",
              own);
    }
  }
  require_text("--out", o.out);
  if (o.out.empty()) {
    require(!o.resume, "--resume needs --out <the pipeline's folder>");
    o.out = default_run_path("run");
  }
  const std::string search_dir = o.out + "/search", train_dir = o.out + "/train";
  if (o.dry_run) {
    // The final stage trains what the search finds: nothing to build before it has.
    std::vector<std::string> args = stage_args("search", search_dir, o.preset, o.search_epochs, o);
    args.push_back("--dry-run");
    if (o.json) args.push_back("--json");
    return run_subcommand(args);
  }
  if (!o.resume) {
    require(!fs::exists(o.out), "{} exists: continue it with --resume, or pick another --out",
            o.out);
  }
  fs::create_directories(o.out);

  if (finished(search_dir) && fs::exists(search_dir + "/best_arc.txt")) {
    fmt::print("==== stage 1/2: search done ({}), skipped\n", search_dir);
  } else {
    banner(1, fmt::format("search ({})", o.preset), search_dir);
    set_pipeline_stage({1, 2});
    const int rc = run_subcommand(stage_args("search", search_dir, o.preset, o.search_epochs, o));
    if (rc != 0) return rc;
  }

  if (finished(train_dir)) {
    fmt::print("==== stage 2/2: training done ({}), skipped\n", train_dir);
  } else {
    std::vector<std::string> args =
        stage_args("train", train_dir, o.final_preset, o.final_epochs, o);
    if (args[1] != "--resume") args.insert(args.begin() + 1, {"--from_search", search_dir});
    banner(2, "training the found architecture", train_dir);
    set_pipeline_stage({2, 2});
    const int rc = run_subcommand(args);
    set_pipeline_stage({});
    if (rc != 0) return rc;
  }

  const nlohmann::json s = read_json(search_dir + "/result.json");
  const nlohmann::json t = read_json(train_dir + "/result.json");
  nlohmann::json result = {{"best_arc", s.value("best_arc", "")},
                           {"search_dir", search_dir},
                           {"train_dir", train_dir},
                           {"search_seconds", s.value("seconds", 0.0)},
                           {"train_seconds", t.value("seconds", 0.0)}};
  for (const char* key : {"test_acc", "valid_ppl", "test_ppl"}) {
    if (t.contains(key)) result[key] = t.at(key);
  }
  const std::string score = t.contains("test_acc")
                                ? fmt::format("test accuracy {:.4f}", t.value("test_acc", 0.0))
                                : fmt::format("test perplexity {:.2f}", t.value("test_ppl", 0.0));
  fmt::print("==== found {}\n     trained: {}; reports: {}/report.html, {}/report.html\n",
             result["best_arc"].get<std::string>(), score, search_dir, train_dir);
  write_file_atomic(o.out + "/result.json", result.dump(2) + "\n");
  if (o.json) print_json_line(result);
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand(
      "run",
      "the whole pipeline: search, derive, train the found architecture (enas alone runs it on "
      "Fashion-MNIST); other flags go to both stages");
  static RunOptions o;
  sub->add_option("--preset", o.preset, "the search's preset")->capture_default_str();
  sub->add_option("--final_preset", o.final_preset,
                  "the training's preset (default: the search preset's own)");
  sub->add_option("--search_epochs", o.search_epochs, "the search's epochs (0: the preset's)");
  sub->add_option("--final_epochs", o.final_epochs, "the training's epochs (0: the preset's)");
  sub->add_option("--out,--output_dir", o.out,
                  "the pipeline's folder: OUT/search and OUT/train (default runs/run-<time>)");
  sub->add_flag("--resume", o.resume, "continue the stage that was interrupted");
  sub->add_flag("--json", o.json, "end standard output with one JSON line of results");
  sub->add_flag("--dry-run,--dry_run", o.dry_run, "build the search's models, report, exit");
  sub->allow_extras();
  sub->callback([&state, sub] {
    o.shared = sub->remaining();
    state.run = [] { return run_pipeline(o); };
  });
}

}  // namespace enas::cli
