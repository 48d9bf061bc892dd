// `enas bench`: training throughput of the fixed children at the authors' search sizes and of
// the data loader, as one JSON line. bench/compare_reference.sh runs the PyTorch reference beside
// it.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>

#include "cli.h"
#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/child/shared_child.h"
#include "enas/config/presets.h"
#include "enas/controller/controller.h"
#include "enas/data/batch_loader.h"
#include "enas/data/cifar10.h"
#include "enas/data/image_codec.h"
#include "enas/data/image_folder.h"
#include "enas/dist/dist.h"
#include "enas/space/arc_text.h"
#include "enas/space/authors_arcs.h"
#include "enas/space/macro.h"
#include "enas/space/space.h"
#include "enas/train/child_step.h"
#include "enas/train/reinforce.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/gemm.h"
#include "enas/util/op_profile.h"
#include "enas/util/runtime.h"

namespace enas::cli {

namespace {

struct BenchOptions {
  int threads = 0;
  int steps = 10;
  int warmup = 2;
  std::string device = "cpu";
  std::string memory_format = "auto";  // as enas train: auto | channels_last | contiguous
  std::string data;      // CIFAR-10 folder for the loader benchmark ("" = synthetic images)
  std::string only;      // machine | micro | macro | loader | controller | shared | lm* ("" = all)
  bool profile = false;  // print the timed steps' operators to stderr
  std::string dist_backend = "auto";  // allreduce: auto | gloo | nccl
  int dist_timeout = 300;             // allreduce: seconds a collective may wait
  MachineLimits limits;               // measured by run_bench before the children
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Times `warmup + steps` training steps of `model` on random images, each exactly as the trainers
/// take it (train_child_step); `before_step` runs inside the timing (a search samples there).
/// Then `replays` steps, `replay(i)` before each, are counted for the roofline.
nlohmann::json time_steps(ImageChildImpl& model, const Config& c, const BenchOptions& o,
                          torch::Device device, const std::function<void(int)>& before_step,
                          const std::function<void(int)>& replay, int replays) {
  const bool channels_last = use_channels_last(c);
  if (channels_last) to_channels_last(model);
  model.to(device);
  model.train();
  SgdOptions so;
  so.l2_reg = c.child_l2_reg;
  Sgd sgd(model.parameters(), so);
  Batch batch;
  batch.images = torch::randn({c.batch_size, 3, 32, 32}, torch::TensorOptions().device(device));
  if (channels_last) batch.images = batch.images.contiguous(torch::MemoryFormat::ChannelsLast);
  batch.labels = torch::randint(0, 10, {c.batch_size},
                                torch::TensorOptions().device(device).dtype(torch::kLong));
  std::vector<double> times;
  ChildStep s;
  std::unique_ptr<OpProfile> ops;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    if (i == o.warmup && o.profile) ops = std::make_unique<OpProfile>();
    synchronize(device);
    auto t0 = std::chrono::steady_clock::now();
    before_step(i);
    s = train_child_step(model, sgd, batch, 0.05, false);
    synchronize(device);
    if (i >= o.warmup) {
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  if (ops)
    fmt::print(stderr, "{}: {} layers, {} filters, {} steps\n{}", c.search_for, c.child_num_layers,
               c.child_out_filters, o.steps, ops->table(30, &o.limits));
  ops.reset();  // one profile at a time: the count below is one
  const double med = median(times);
  const nlohmann::json roofline = roofline_record(
      replays,
      [&](int i) {
        replay(i);
        train_child_step(model, sgd, batch, 0.05, false);
      },
      med, o.limits, device);
  return {{"layers", c.child_num_layers},
          {"filters", c.child_out_filters},
          {"batch", c.batch_size},
          {"median_step_s", med},
          {"min_step_s", *std::min_element(times.begin(), times.end())},
          {"images_per_s", c.batch_size / med},
          {"params", model.num_params()},
          {"params_aux", model.num_aux_params()},
          {"final_loss", s.loss.item<double>()},
          {"channels_last", channels_last},
          {"roofline", roofline}};
}

/// A fixed child at the given configuration.
nlohmann::json bench_child(Config c, const BenchOptions& o, torch::Device device) {
  c.memory_format = o.memory_format;
  torch::manual_seed(0);
  ImageChild model = make_fixed_child(c, {3, 32, 32, 10});
  const auto progress = [&](int i) { model->set_progress(i, 1000); };
  return time_steps(*model, c, o, device, progress, progress, 1);  // one architecture: one step
}

nlohmann::json bench_loader(const BenchOptions& o) {
  ImageSplit split;
  std::string source = "synthetic";
  if (!o.data.empty()) {
    ImageDataset d = load_cifar10(find_cifar10_dir(o.data));
    split = d.train;
    source = "cifar10";
  } else {
    split.images = torch::randint(0, 256, {50000, 3, 32, 32}, torch::kUInt8);
    split.labels = torch::randint(0, 10, {50000}, torch::kLong);
  }
  BatchLoaderOptions lo;
  lo.batch_size = 128;
  lo.augment.cutout_size = 16;
  lo.channels_last = o.memory_format != "contiguous";
  BatchLoader loader(split, channel_stats(split), lo);
  auto t0 = std::chrono::steady_clock::now();
  loader.start_epoch(0);
  int64_t n = 0;
  while (auto b = loader.next()) n += b->labels.size(0);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {{"images", n},
          {"seconds", s},
          {"images_per_s", n / s},
          {"source", source},
          {"augment", "pad4-crop-flip-cutout16"}};
}

double seconds_since(std::chrono::steady_clock::time_point t);

/// --dataset folder's reader on a folder it makes: 1,000 training and 200 test images of 64x48
/// (smooth colour ramps, half JPEG, half PNG) resized to 32x32, decoded on every core, then read
/// back from the cache.
nlohmann::json bench_folder() {
  const char* tmp = std::getenv("TMPDIR");
  std::string root = std::string(tmp && *tmp ? tmp : "/tmp") + "/enas-bench-folder-XXXXXX";
  require(::mkdtemp(root.data()) != nullptr, "bench: cannot make a folder under {}: {}", root,
          std::strerror(errno));
  struct Remove {
    std::string path;
    ~Remove() {
      std::error_code ignored;  // our own temporary folder
      std::filesystem::remove_all(path, ignored);
    }
  } remove{root};
  constexpr int kClasses = 10, kWidth = 64, kHeight = 48;
  int64_t bytes = 0;
  for (const auto& [split, per_class] : {std::pair{"train", 100}, {"test", 20}}) {
    for (int k = 0; k < kClasses; ++k) {
      const std::string folder = fmt::format("{}/data/{}/class{}", root, split, k);
      std::filesystem::create_directories(folder);
      for (int i = 0; i < per_class; ++i) {
        DecodedImage image{kWidth, kHeight, 3, {}};
        for (int y = 0; y < kHeight; ++y)
          for (int x = 0; x < kWidth; ++x)
            for (int c = 0; c < 3; ++c)
              image.pixels.push_back(
                  static_cast<uint8_t>((25 * k + 2 * x + 3 * y + 40 * c + i) % 256));
        const std::string file = i % 2 ? encode_jpeg(image) : encode_png(image);
        bytes += static_cast<int64_t>(file.size());
        write_file_atomic(fmt::format("{}/{}.{}", folder, i, i % 2 ? "jpg" : "png"), file);
      }
    }
  }
  ImageFolderOptions o;
  o.image_size = 32;
  o.cache_dir = root + "/cache";
  nlohmann::json j = {{"source", "synthetic 64x48, half JPEG (q90), half PNG"},
                      {"image_size", 32},
                      {"file_bytes", bytes}};
  for (const char* pass : {"decoded", "cached"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const ImageDataset d = load_image_folder(root + "/data", o, 0);
    const double s = seconds_since(t0);
    const int64_t n = d.train.size() + d.test.size();
    j["images"] = n;
    j[fmt::format("{}_seconds", pass)] = s;
    j[fmt::format("{}_images_per_s", pass)] = n / s;
  }
  return j;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// Shared-child training steps at a search preset's size, a fresh controller sample per step.
nlohmann::json bench_shared(const std::string& preset, const BenchOptions& o,
                            torch::Device device) {
  Config c;
  find_preset(preset).apply(c);
  c.memory_format = o.memory_format;
  torch::manual_seed(0);
  SharedChild child = make_shared_child(c, {3, 32, 32, 10});
  Controller ctrl = make_controller(c);
  std::vector<std::vector<int>> arcs;  // the timed steps' samples, replayed for the count
  nlohmann::json j = time_steps(
      *child, c, o, device,
      [&](int i) {
        auto arc = ctrl->sample(1).arcs[0];
        if (i >= o.warmup) arcs.push_back(arc);
        child->set_arc(arc);
      },
      [&](int i) { child->set_arc(arcs[i]); }, o.steps);
  j["preset"] = preset;
  return j;
}

/// The gradient all-reduce of a data-parallel micro search step (cifar10_micro_search's shared
/// child): run under `enas launch`; rank 0 prints the JSON.
int bench_allreduce(const BenchOptions& o, torch::Device device, int threads) {
  const DistEnv env = DistEnv::from_environment();
  require(env.active(),
          "bench --only allreduce needs several processes: run it under "
          "`enas launch --nproc_per_node 2 -- bench --only allreduce`");
  Dist dist(env, resolve_backend(o.dist_backend, device), std::chrono::seconds(o.dist_timeout));
  Config c;
  find_preset("cifar10_micro_search").apply(c);
  torch::manual_seed(env.rank);
  SharedChild child = make_shared_child(c, {3, 32, 32, 10});
  std::vector<torch::Tensor> grads;
  int64_t bytes = 0;
  for (const auto& p : child->parameters()) {
    grads.push_back(torch::randn_like(p).to(device));
    bytes += static_cast<int64_t>(grads.back().nbytes());
  }
  std::vector<double> ms;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    dist.all_reduce_mean(grads);
    const double t =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= o.warmup) ms.push_back(t);
  }
  const double m = median(ms);
  // The message of a sync batch norm layer (sum x, sum x^2 and rows of 36 channels, in double):
  // latency, not bandwidth. A layer's forward and backward each send one.
  std::vector<double> moments(2 * 36 + 1, 1.0);
  torch::Tensor small = torch::from_blob(moments.data(), {2 * 36 + 1}, torch::kDouble);
  constexpr int kSmall = 200;
  const auto s0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kSmall; ++i) dist.all_reduce_sum(small);
  const double small_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s0).count() /
      kSmall;
  const int n = env.world_size;
  if (env.rank == 0) {
    print_json_line({{"allreduce",
                      {{"world_size", n},
                       {"backend", dist.backend()},
                       {"threads", threads},
                       {"tensors", grads.size()},
                       {"bytes", bytes},
                       {"ms", m},
                       // What each rank sends and receives in a ring: 2 (n - 1) / n of the data.
                       {"bus_gb_per_s", 2.0 * (n - 1) / n * bytes / (m * 1e6)},
                       {"sync_bn_message_us", small_us},
                       {"steps", o.steps}}}});
  }
  return 0;
}

int run_bench(BenchOptions& o) {
  const int threads = set_threads(o.threads);
  const torch::Device device = parse_device(o.device);
  if (o.only == "allreduce") return bench_allreduce(o, device, threads);
  nlohmann::json j = {
      {"threads", threads},
      {"torch", TORCH_VERSION},
      {"blas", blas_library()},
      {"device", device.str()},
      {"memory_format", o.memory_format},
      {"steps", o.steps},
      {"warmup", o.warmup},
      {"products", onednn_gemm_available() ? "oneDNN sgemm" : "libtorch"}};  // util/gemm.h
  if (o.only == "export") {  // only when asked: it needs node and ONNX Runtime
    j["export"] = bench_export(threads, std::max(3, o.steps / 3));
    print_json_line(j);
    return 0;
  }
  if (o.only != "loader" && o.only != "controller" && o.only != "lm_controller") {
    nlohmann::json machine;
    o.limits = measure_machine(device, &machine);
    j["machine"] = machine;
    fmt::print(stderr, "machine: peak {:.1f} GFLOP/s (SGEMM {:.1f}), {:.1f} GB/s (triad)\n",
               o.limits.gflop_per_s, machine["sgemm_gflop_per_s"].get<double>(), o.limits.gb_per_s);
    if (o.only == "machine") {
      print_json_line(j);
      return 0;
    }
  }
  if (o.only.empty() || o.only == kMicroSpace) {
    // The micro final architecture at the search script's size.
    Config c;
    c.search_for = kMicroSpace;
    c.child_fixed_arc = kMicroFinalArc;
    c.child_num_layers = 6;
    c.child_out_filters = 20;
    c.batch_size = 160;
    c.child_keep_prob = 0.9f;
    c.child_drop_path_keep_prob = 0.6f;
    c.child_l2_reg = 1e-4f;
    j[kMicroSpace] = bench_child(c, o, device);
    fmt::print(stderr, "micro: {:.1f} images/s; {}\n", j[kMicroSpace]["images_per_s"].get<double>(),
               roofline_summary(j[kMicroSpace]["roofline"]));
  }
  if (o.only.empty() || o.only == kMacroSpace) {
    // The macro search size; the architecture is the first 12 layers of the authors' final one.
    Config c;
    c.search_for = kMacroSpace;
    auto flat = parse_int_list(kMacroFinalArc, kMacroSpace);
    flat.resize(macro::arc_length(12));
    c.child_fixed_arc = join_ints(flat);
    c.child_num_layers = 12;
    c.child_out_filters = 36;
    c.batch_size = 128;
    c.child_keep_prob = 0.9f;
    c.child_l2_reg = 2.5e-4f;
    j[kMacroSpace] = bench_child(c, o, device);
    fmt::print(stderr, "macro: {:.1f} images/s; {}\n", j[kMacroSpace]["images_per_s"].get<double>(),
               roofline_summary(j[kMacroSpace]["roofline"]));
  }
  if (o.only.empty() || o.only == "loader") {
    j["loader"] = bench_loader(o);
    j["loader"]["folder"] = bench_folder();
  }
  if (o.only.empty() || o.only == "controller") {
    j["controller"] = {{kMicroSpace, bench_controller("cifar10_micro_search", o.steps)},
                       {kMacroSpace, bench_controller("cifar10_macro_search", o.steps)}};
  }
  if (o.only.empty() || o.only == "shared") {
    j["shared"] = {{kMicroSpace, bench_shared("cifar10_micro_search", o, device)},
                   {kMacroSpace, bench_shared("cifar10_macro_search", o, device)}};
    for (const char* space : {kMicroSpace, kMacroSpace}) {
      const auto& r = j["shared"][space];
      fmt::print(stderr, "shared {}: {:.1f} images/s; {}\n", space, r["images_per_s"].get<double>(),
                 roofline_summary(r["roofline"]));
    }
  }
  if (o.only.empty() || o.only.rfind("lm", 0) == 0) {
    const nlohmann::json lm = bench_lm(o.only, o.steps, o.warmup, device, o.profile, o.limits);
    for (const auto& [key, value] : lm.items()) j[key] = value;
  }
  print_json_line(j);
  return 0;
}

}  // namespace

nlohmann::json bench_controller(const std::string& preset, int steps) {
  Config c;
  find_preset(preset).apply(c);
  Controller ctrl = make_controller(c);
  Reinforce reinforce(ctrl, ReinforceOptions::from(c));
  const int n = std::max(20, 10 * steps);
  ctrl->sample(1);  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) ctrl->sample(1);
  const double single_ms = 1000.0 * seconds_since(t0) / n;
  t0 = std::chrono::steady_clock::now();
  const int batches = std::max(2, steps);
  for (int i = 0; i < batches; ++i) ctrl->sample(c.controller_num_aggregate);
  const double batched_ms = 1000.0 * seconds_since(t0) / (batches * c.controller_num_aggregate);
  std::vector<double> accs(c.controller_num_aggregate, 0.5);
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < batches; ++i)
    reinforce.update(ctrl->sample(c.controller_num_aggregate), accs);
  const double update_ms = 1000.0 * seconds_since(t0) / batches;
  return {{"preset", preset},
          {"sample_ms", single_ms},
          {"samples_per_s", 1000.0 / single_ms},
          {"batched_sample_ms", batched_ms},
          {"batched_samples_per_s", 1000.0 / batched_ms},
          {"num_aggregate", c.controller_num_aggregate},
          {"update_ms", update_ms}};
}

void add_bench_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand("bench", "training throughput of the children and the loader");
  static BenchOptions o;
  sub->add_option("--threads", o.threads, "intra-op threads (0 = all cores)")
      ->capture_default_str();
  sub->add_option("--steps", o.steps, "timed steps")->capture_default_str();
  sub->add_option("--warmup", o.warmup, "untimed steps first")->capture_default_str();
  sub->add_option("--device", o.device, "cpu | cuda")->capture_default_str();
  sub->add_option("--memory_format", o.memory_format, "auto | channels_last | contiguous")
      ->capture_default_str();
  sub->add_option("--data", o.data, "CIFAR-10 folder for the loader benchmark");
  sub->add_flag("--profile", o.profile,
                "print where the timed steps' time goes, per operator and input shape (stderr)");
  sub->add_option("--only", o.only,
                  "machine | micro | macro | loader | controller | shared | lm (lm_shared, "
                  "lm_final, lm_controller) | allreduce (under enas launch) | export (ONNX "
                  "Runtime against enas predict; only when named)");
  sub->add_option("--dist_backend", o.dist_backend, "allreduce: auto | gloo | nccl")
      ->capture_default_str();
  sub->add_option("--dist_timeout", o.dist_timeout,
                  "allreduce: seconds a collective may wait for the other processes")
      ->capture_default_str();
  sub->callback([&state] { state.run = [] { return run_bench(o); }; });
}

}  // namespace enas::cli
