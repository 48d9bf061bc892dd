// `enas run` (and `enas` alone): the whole ENAS pipeline in one command. A search (its preset,
// default_search unless --preset names another), its derivation, then the training of the
// architecture it found (the search preset's final preset), each stage a run folder of its own
// under --out: OUT/search and OUT/train. OUT/pipeline.json records what the pipeline was started
// with and where each stage stands; --resume reads it, and continues whichever stage was
// interrupted.
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "cli.h"
#include "enas/config/presets.h"
#include "enas/deploy/onnx_export.h"
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
  std::vector<std::string> extra;   // flags given to a --resume that the record does not hold
  std::vector<std::string> given;   // which of the pipeline's own options the command line set
};

constexpr const char* kRecordName = "pipeline.json";

/// The pipeline's record: what it was started with, and where each stage stands (pending,
/// started, done). Written whole at the start and after each stage.
nlohmann::json record_of(const RunOptions& o, const std::string& search, const std::string& train) {
  return {{"kind", "enas run"},
          {"preset", o.preset},
          {"final_preset", o.final_preset},
          {"search_epochs", o.search_epochs},
          {"final_epochs", o.final_epochs},
          {"shared", o.shared},
          {"stages", {{"search", search}, {"train", train}}}};
}

/// Takes the pipeline's options from the record of `o.out`; options given again must agree
/// with it, flags for the stages are added after the recorded ones.
void restore_record(RunOptions& o) {
  std::error_code ec;
  require(fs::is_directory(o.out, ec), "--resume: {} does not exist (or is not a folder)", o.out);
  const std::string path = o.out + "/" + kRecordName;
  require(fs::exists(fs::symlink_status(path, ec)),
          "--resume: {} is not a pipeline's folder: it has no {} (the record `enas run` writes "
          "when it starts); resume a single run with `enas train --resume` or `enas search "
          "--resume`",
          o.out, kRecordName);
  const nlohmann::json r =
      parse_json(read_small_file(path, "pipeline record", kMaxConfigBytes), path);
  const auto text = [&](const char* key) {
    require(r.is_object() && r.contains(key) && r[key].is_string(), "{} is damaged: no \"{}\"",
            path, key);
    return r[key].get<std::string>();
  };
  const auto count = [&](const char* key) {
    require(r.contains(key) && r[key].is_number_integer(), "{} is damaged: no \"{}\"", path, key);
    return r[key].get<int>();
  };
  require(text("kind") == "enas run", "{} is not an enas pipeline's record", path);
  RunOptions was = o;
  was.preset = text("preset");
  was.final_preset = text("final_preset");
  was.search_epochs = count("search_epochs");
  was.final_epochs = count("final_epochs");
  require(r.contains("shared") && r["shared"].is_array(), "{} is damaged: no \"shared\"", path);
  was.shared.clear();
  for (const auto& a : r["shared"]) {
    require(a.is_string(), "{} is damaged: \"shared\" holds a non-string", path);
    was.shared.push_back(a.get<std::string>());
  }
  for (const auto& name : o.given) {
    const auto differs = [&](const std::string& now, const std::string& then) {
      require(now == then,
              "--resume continues the pipeline as it was started: --{} is {} in {}, not {} "
              "(start a new pipeline to change it)",
              name, then.empty() ? "its default" : then, path, now);
    };
    if (name == "preset") differs(o.preset, was.preset);
    if (name == "final_preset") differs(o.final_preset, was.final_preset);
    if (name == "search_epochs") {
      differs(std::to_string(o.search_epochs), std::to_string(was.search_epochs));
    }
    if (name == "final_epochs") {
      differs(std::to_string(o.final_epochs), std::to_string(was.final_epochs));
    }
  }
  // Flags given again (the same command line, or --threads) come after the recorded ones: the
  // last value wins, and a resumed stage refuses what it cannot change.
  if (o.shared != was.shared) was.extra = o.shared;
  o = was;
}

/// A final preset for another space or data set than the search's is an error.
void check_final_preset(const RunOptions& o) {
  if (o.final_preset.empty()) return;
  const Preset& final = find_preset(o.final_preset);
  require(final.command == "train", "enas run: --final_preset {} is not a training preset",
          o.final_preset);
  Config searched, trained;
  find_preset(o.preset).apply(searched);
  final.apply(trained);
  require(searched.search_for == trained.search_for && searched.dataset == trained.dataset,
          "enas run: --final_preset {} trains the {} space on {}, but --preset {} searches the {} "
          "space on {}: pick a final preset of the same space and data set (default: {})",
          o.final_preset, trained.search_for, trained.dataset, o.preset, searched.search_for,
          searched.dataset, final_preset_for(searched));
}

nlohmann::json read_json(const std::string& path) {
  return parse_json(read_small_file(path, "result file", kMaxConfigBytes), path);
}

bool finished(const std::string& dir) {
  return fs::exists(dir + "/result.json") && fs::exists(dir + "/config.json");
}

/// Whether the stage's folder holds a checkpoint to resume from.
bool has_checkpoint(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (parse_checkpoint_name(e.path().filename().string())) return true;
  }
  return false;
}

/// The stage's command line: --resume of its folder where it holds a checkpoint, else a fresh
/// start with its preset (over what a stage stopped before its first checkpoint left).
std::vector<std::string> stage_args(const std::string& command, const std::string& dir,
                                    const std::string& preset, int epochs, const RunOptions& o) {
  std::vector<std::string> args{command};
  std::error_code ec;
  const bool resuming = o.resume && has_checkpoint(dir);
  if (resuming) {
    args.push_back("--resume");  // its configuration is its config.json's
  } else {
    if (!preset.empty()) args.insert(args.end(), {"--preset", preset});
    if (fs::exists(dir, ec)) args.push_back("--reset_output_dir");
  }
  args.insert(args.end(), o.shared.begin(), o.shared.end());
  args.insert(args.end(), o.extra.begin(), o.extra.end());
  args.insert(args.end(), {"--out", dir});
  if (epochs > 0) args.insert(args.end(), {"--num_epochs", std::to_string(epochs)});
  return args;
}

void banner(int stage, const std::string& what, const std::string& dir) {
  write_stdout(fmt::format("==== stage {}/2: {} -> {}\n", stage, what, dir));
}

int run_pipeline(RunOptions o) {
  // Each process would make the pipeline's folder and record its own; the stages themselves run
  // on several processes.
  if (const char* w = std::getenv("WORLD_SIZE"); w && std::atoi(w) > 1) {
    fail(
        "enas run is the pipeline of one process (WORLD_SIZE={} here): run its stages under "
        "enas launch instead, `enas launch ... -- search --out S`, then `enas launch ... -- "
        "train --from_search S`",
        escaped(w));
  }
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
  require_text("--out", o.out);
  if (o.resume) {
    require(!o.out.empty(), "--resume needs --out <the pipeline's folder>");
    restore_record(o);
  }
  check_final_preset(o);
  for (const auto& a : o.resume ? o.extra : o.shared) {
    for (const char* own : {"--from_search", "--child_fixed_arc", "--child_fixed_arc_file",
                            "--resume_from", "--config"}) {
      require(a != own && a.rfind(std::string(own) + "=", 0) != 0,
              "enas run: {} does not go with the pipeline (the search decides the architecture "
              "and each stage keeps its own run folder); use `enas search` and `enas train`",
              own);
    }
  }
  if (o.out.empty()) o.out = default_run_path("run");
  const std::string search_dir = o.out + "/search", train_dir = o.out + "/train";
  if (o.dry_run) {
    // The final stage trains what the search finds: nothing to build before it has.
    std::vector<std::string> args = stage_args("search", search_dir, o.preset, o.search_epochs, o);
    args.push_back("--dry-run");
    if (o.json) args.push_back("--json");
    return run_subcommand(args);
  }
  const std::string record = o.out + "/" + kRecordName;
  if (!o.resume) {
    require(!fs::exists(o.out), "{} exists: continue it with --resume, or pick another --out",
            o.out);
    fs::create_directories(o.out);
    write_file_atomic(record, record_of(o, "started", "pending").dump(2) + "\n");
  }

  if (finished(search_dir) && fs::exists(search_dir + "/best_arc.txt")) {
    write_stdout(fmt::format("==== stage 1/2: search done ({}), skipped\n", search_dir));
  } else {
    banner(1, fmt::format("search ({})", o.preset), search_dir);
    set_pipeline_stage({1, 2});
    const int rc = run_subcommand(stage_args("search", search_dir, o.preset, o.search_epochs, o));
    if (rc != 0 && !o.resume && !fs::exists(search_dir)) {
      // A new pipeline whose search never started (a bad flag) leaves no folder behind.
      std::error_code ec;
      fs::remove(record, ec);
      fs::remove(o.out, ec);  // only if empty: never a stranger's file
    }
    if (rc != 0) return rc;
  }
  write_file_atomic(record, record_of(o, "done", "started").dump(2) + "\n");

  if (finished(train_dir)) {
    write_stdout(fmt::format("==== stage 2/2: training done ({}), skipped\n", train_dir));
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
  write_file_atomic(record, record_of(o, "done", "done").dump(2) + "\n");

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
  // The found model out (docs/export.md). The training is saved whatever happens here: a failed
  // export is said, and `enas export` retries it.
  std::string model = o.out + "/model.onnx";
  if (!onnx_export_available()) {
    model = "none (this build has no ONNX export)";
  } else {
    try {
      export_run_model(train_dir, o.out + "/model.onnx");
      result["model"] = model;
    } catch (const Error& e) {
      warn(fmt::format("the trained model was not exported: {} (`enas export {}` retries)",
                       e.what(), o.out));
      model = "not exported";
    }
  }
  write_stdout(
      fmt::format("==== found {}\n     trained: {}; model: {}\n     reports: {}/report.html, "
                  "{}/report.html\n",
                  result["best_arc"].get<std::string>(), score, model, search_dir, train_dir));
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
    o.given.clear();
    for (const char* name : {"preset", "final_preset", "search_epochs", "final_epochs"}) {
      if (sub->get_option("--" + std::string(name))->count() > 0) o.given.push_back(name);
    }
    state.run = [] { return run_pipeline(o); };
  });
}

}  // namespace enas::cli
