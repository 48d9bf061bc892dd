// `enas bench --only export`: the inference latency of the exported micro final child (the
// authors' cells at cifar10_micro_final's size) in ONNX Runtime, against `enas predict`'s
// forward of the same network, at batch 1 and 64 on the same threads. ONNX Runtime runs in node
// (tests/onnx/ort_run.js, the npm package onnxruntime-node in $ENAS_ORT_DIR), as the export test
// runs it; without it the entry says so and times enas alone.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "cli.h"
#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/config/presets.h"
#include "enas/data/class_names.h"
#include "enas/deploy/onnx_export.h"
#include "enas/deploy/predict.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/text.h"

namespace enas::cli {

namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& s) { return "'" + s + "'"; }

/// The script beside the sources this binary was built from, or $ENAS_ORT_SCRIPT.
std::string ort_script() {
  if (const char* s = std::getenv("ENAS_ORT_SCRIPT")) return s;
  return ENAS_SOURCE_DIR "/tests/onnx/ort_run.js";
}

std::string ort_dir() {
  const char* env = std::getenv("ENAS_ORT_DIR");
  std::string dir = env && *env ? env : "";
  if (dir.empty()) {
    const char* cache = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    dir = cache && *cache ? std::string(cache) + "/enas/onnxruntime-node"
                          : std::string(home ? home : "") + "/.cache/enas/onnxruntime-node";
  }
  return fs::exists(dir + "/node_modules/onnxruntime-node") ? dir : "";
}

/// Median seconds of one forward at `batch` in ONNX Runtime, `repeats` timed after 3 untimed.
double ort_latency(const std::string& folder, const std::string& model, int64_t batch, int threads,
                   int repeats) {
  const std::string req = folder + "/request.json", res = folder + "/result.json";
  write_file_atomic(req, nlohmann::json({{"model", model},
                                         {"kind", "latency"},
                                         {"shape", {batch, 3, 32, 32}},
                                         {"threads", threads},
                                         {"repeats", repeats}})
                             .dump());
  const std::string command = "node " + quoted(ort_script()) + " " + quoted(ort_dir()) + " " +
                              quoted(req) + " " + quoted(res);
  require(std::system(command.c_str()) == 0, "bench export: `{}` failed", command);
  return parse_json(read_small_file(res, "ONNX Runtime's timing", 1 << 20), res)
      .at("median_s")
      .get<double>();
}

/// Median seconds of predict_probs on `batch` images, `repeats` timed after 3 untimed.
double enas_latency(const TrainedRun& run, int64_t batch, int repeats) {
  const torch::Tensor pixels = torch::full({batch, 3, 32, 32}, 128, torch::kUInt8);
  for (int i = 0; i < 3; ++i) predict_probs(run, pixels, batch);
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    predict_probs(run, pixels, batch);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// Seconds per round as milliseconds: median and range.
nlohmann::json summary(std::vector<double> v) {
  for (double& x : v) x *= 1000;
  nlohmann::json j = {{"rounds_ms", v}};
  std::sort(v.begin(), v.end());
  j.update({{"median_ms", v[v.size() / 2]}, {"min_ms", v.front()}, {"max_ms", v.back()}});
  return j;
}

}  // namespace

nlohmann::json bench_export(int threads, int rounds) {
  TrainedRun run;
  find_preset("cifar10_micro_final").apply(run.config);
  run.dir = "(bench: cifar10_micro_final, untrained weights)";
  run.finished = true;
  run.arc = fixed_architecture(run.config);
  run.classes = builtin_class_names("cifar10");
  run.stats = {{0.49f, 0.48f, 0.45f}, {0.25f, 0.24f, 0.26f}};
  torch::manual_seed(1);
  run.image = make_fixed_child(run.config, run.shape, *run.arc);
  run.image->eval();
  if (use_channels_last(run.config)) to_channels_last(*run.image);
  nlohmann::json j = {{"network", "cifar10_micro_final (15 layers, 36 filters)"},
                      {"params", run.image->num_params()},
                      {"threads", threads},
                      {"rounds", rounds}};
  const std::string ort = ort_dir();
  const bool with_ort = onnx_export_available() && !ort.empty();
  if (!with_ort) {
    j["onnxruntime"] = onnx_export_available()
                           ? "not installed: npm install --ignore-scripts onnxruntime-node@1 "
                             "in $ENAS_ORT_DIR"
                           : "this build has no ONNX export";
  }
  const std::string folder = fs::temp_directory_path() / fmt::format("enas-bench-{}", getpid());
  fs::create_directories(folder);
  const std::string model = folder + "/model.onnx";
  if (with_ort) write_file_atomic(model, export_onnx(run));
  for (const int64_t batch : {int64_t{1}, int64_t{64}}) {
    const int repeats = batch == 1 ? 20 : 5;
    std::vector<double> mine, theirs;
    for (int r = 0; r < rounds; ++r) {  // alternating, so that a slow period hits both sides
      if (with_ort) theirs.push_back(ort_latency(folder, model, batch, threads, repeats));
      mine.push_back(enas_latency(run, batch, repeats));
    }
    nlohmann::json entry = {{"enas", summary(mine)}, {"repeats", repeats}};
    if (with_ort) {
      entry["onnxruntime"] = summary(theirs);
      entry["onnxruntime_over_enas"] = entry["onnxruntime"]["median_ms"].get<double>() /
                                       entry["enas"]["median_ms"].get<double>();
    }
    j[fmt::format("batch_{}", batch)] = entry;
    fmt::print(stderr, "export: batch {}: enas {:.2f} ms{}\n", batch,
               entry["enas"]["median_ms"].get<double>(),
               with_ort ? fmt::format(", ONNX Runtime {:.2f} ms",
                                      entry["onnxruntime"]["median_ms"].get<double>())
                        : std::string());
  }
  std::error_code ec;
  fs::remove_all(folder, ec);
  return j;
}

}  // namespace enas::cli
