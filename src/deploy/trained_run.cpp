#include "enas/deploy/trained_run.h"

#include <fmt/format.h>

#include <filesystem>
#include <sstream>

#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/data/class_names.h"
#include "enas/data/datasets.h"
#include "enas/run/checkpoint.h"
#include "enas/run/run_dir.h"
#include "enas/space/space.h"
#include "enas/train/lm_trainer.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/text.h"

namespace enas {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxSmallJson = 1 << 20;
/// WikiText-103's vocabulary is 2.5 MB; a vocabulary file is read whole.
constexpr uint64_t kMaxVocabBytes = uint64_t{64} << 20;

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  return parse_json(read_small_file(path, what, kMaxSmallJson), path);
}

/// The training run inside `path`: the folder itself, or a pipeline's train/ stage.
std::string training_folder(const std::string& path) {
  std::error_code ec;
  require(fs::is_directory(path, ec), "{} is not a run folder (no such folder)", path);
  if (fs::exists(path + "/config.json", ec)) return path;
  if (fs::exists(path + "/train/config.json", ec)) return path + "/train";
  if (fs::exists(path + "/search/config.json", ec)) {
    fail(
        "{} is a pipeline whose training stage has not started: only its search (search/) is "
        "there, which holds shared weights, not a trained model; continue it with `enas run "
        "--resume --out {}`",
        path, path);
  }
  fail(
      "{} is not a run folder: it has no config.json (give the folder of `enas train` or of "
      "`enas run`)",
      path);
}

/// The newest checkpoint of `dir`, its id and its meta (the kind read without loading tensors).
struct Newest {
  std::string path;
  CheckpointId id;
};

Newest newest_checkpoint(const std::string& dir) {
  Newest best;
  bool found = false;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto id = parse_checkpoint_name(it->path().filename().string());
    if (!id) continue;
    if (!found || best.id < *id) best = {it->path().string(), *id};
    found = true;
  }
  require(found, "{} holds no checkpoint: the run stopped before its first one was written", dir);
  return best;
}

std::vector<std::string> read_vocab(const std::string& path) {
  std::error_code ec;
  require(fs::exists(path, ec),
          "{} is missing: the run's vocabulary is needed to read its model (runs before vocab.txt "
          "was written cannot be opened)",
          path);
  std::istringstream in(read_small_file(path, "vocabulary", kMaxVocabBytes));
  std::vector<std::string> words;
  for (std::string line; std::getline(in, line);) words.push_back(line);
  require(!words.empty(), "{} is empty", path);
  return words;
}

/// The architecture the run trained: result.json's when finished, else the configuration's.
Architecture trained_architecture(const std::string& dir, Config& c) {
  std::error_code ec;
  if (fs::exists(dir + "/result.json", ec)) {
    const auto result = read_json_file(dir + "/result.json", "result");
    if (result.contains("arc") && result["arc"].is_string()) {
      c.child_fixed_arc = result["arc"].get<std::string>();
      c.child_fixed_arc_file.clear();
    }
  }
  try {
    return fixed_architecture(c);
  } catch (const Error& e) {
    fail("cannot read the architecture of {}: {}", dir, e.what());
  }
}

void load_image_run(TrainedRun& run) {
  const std::string data_json = run.dir + "/data.json";
  std::error_code ec;
  require(fs::exists(data_json, ec),
          "{} is missing: it records the classes and the normalisation the model was trained "
          "with (written by runs since the image-folder release; retrain to get it)",
          data_json);
  const auto d = read_json_file(data_json, "data description");
  try {
    run.shape.channels = d.at("channels").get<int64_t>();
    run.shape.height = d.at("height").get<int64_t>();
    run.shape.width = d.at("width").get<int64_t>();
    run.shape.num_classes = d.at("num_classes").get<int64_t>();
    run.stats.mean = d.at("mean").get<std::vector<float>>();
    run.stats.std = d.at("std").get<std::vector<float>>();
    if (d.contains("classes")) run.classes = d["classes"].get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{} is not a data description enas wrote: {}", data_json, e.what());
  }
  require(static_cast<int64_t>(run.stats.mean.size()) == run.shape.channels &&
              static_cast<int64_t>(run.stats.std.size()) == run.shape.channels,
          "{}: {} means and {} stds for {} channels", data_json, run.stats.mean.size(),
          run.stats.std.size(), run.shape.channels);
  if (run.classes.empty()) {
    run.classes = builtin_class_names(run.config.dataset, run.config.cifar100_labels);
  }
  if (static_cast<int64_t>(run.classes.size()) != run.shape.num_classes) {
    run.classes.clear();
    for (int64_t i = 0; i < run.shape.num_classes; ++i) run.classes.push_back(std::to_string(i));
  }
  torch::manual_seed(run.config.seed);
  run.image = make_fixed_child(run.config, run.shape, *run.arc);
  load_checkpoint(run.checkpoint, "final", [&](torch::serialize::InputArchive& archive) {
    torch::serialize::InputArchive sub;
    archive.read("model", sub);
    load_module_checked(*run.image, sub, run.checkpoint);
  });
  // The memory format the run trained in (the exporter reads either).
  if (use_channels_last(run.config)) to_channels_last(*run.image);
  run.image->eval();
}

void load_language_run(TrainedRun& run) {
  run.vocab = read_vocab(run.dir + "/vocab.txt");
  torch::manual_seed(run.config.seed);
  run.lm = make_language_model(run.config, static_cast<int64_t>(run.vocab.size()), false);
  WeightAverage average(run.lm->parameters());
  load_checkpoint(run.checkpoint, "lm_final", [&](torch::serialize::InputArchive& archive) {
    torch::serialize::InputArchive sub;
    archive.read("model", sub);
    load_module_checked(*run.lm, sub, run.checkpoint);
    torch::serialize::InputArchive avg;
    archive.read("average", avg);
    average.load(avg);
  });
  // As the run's own test evaluation: the averaged weights once averaging has started.
  run.averaged = average.started();
  if (run.averaged) average.swap();
  run.lm->eval();
}

}  // namespace

TrainedRun open_trained_run(const std::string& path) {
  require_text("the run folder argument", path);
  TrainedRun run;
  run.dir = training_folder(path);
  apply_config_file(run.config, run.dir + "/config.json");
  const Newest newest = newest_checkpoint(run.dir);
  run.checkpoint = newest.path;
  run.epoch = newest.id.epoch;
  // The kind first: a search's folder is said to be one, not "not a final checkpoint".
  const auto meta = load_checkpoint(run.checkpoint, "", [](torch::serialize::InputArchive&) {});
  const std::string kind = meta.value("kind", "");
  if (kind == "search" || kind == "lm_search") {
    fail(
        "{} is a search's folder: its checkpoints hold the shared weights of every architecture, "
        "not a trained model; train the architecture it found with `enas train --from_search {}` "
        "(or use `enas run`, which does both), then export that run",
        run.dir, run.dir);
  }
  require(kind == "final" || kind == "lm_final", "{}: checkpoint {} is of an unknown kind '{}'",
          run.dir, run.checkpoint, kind);
  std::error_code ec;
  run.finished = fs::exists(run.dir + "/result.json", ec) && newest.id.at_epoch_end() &&
                 newest.id.epoch >= run.config.num_epochs;
  run.arc = trained_architecture(run.dir, run.config);
  if (kind == "lm_final") {
    load_language_run(run);
  } else {
    load_image_run(run);
  }
  if (!run.finished) {
    warn(fmt::format("{} has not finished training: using its newest checkpoint, {} ({})", run.dir,
                     fs::path(run.checkpoint).filename().string(), describe_checkpoint(run)));
  }
  return run;
}

std::string describe_checkpoint(const TrainedRun& run) {
  if (run.finished) return fmt::format("finished, {} epochs", run.epoch);
  return fmt::format("epoch {} of {}", run.epoch, run.config.num_epochs);
}

}  // namespace enas
