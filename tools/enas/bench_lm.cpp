// `enas bench --only lm_shared | lm_final | lm_controller`: Penn Treebank throughput at
// enas_lm's sizes, on random tokens (the content does not change the work). bench/ptb_reference.py
// is the straightforward PyTorch version of the same steps.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "cli.h"
#include "enas/child/factory.h"
#include "enas/config/presets.h"
#include "enas/controller/controller.h"
#include "enas/data/datasets.h"
#include "enas/train/lm_search_trainer.h"
#include "enas/train/lm_step.h"
#include "enas/util/op_profile.h"
#include "enas/util/runtime.h"

namespace enas::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Training steps of the preset's child on (batch, bptt) segments of random tokens; the shared
/// child gets a fresh controller sample per step, inside the timing, as the search does.
nlohmann::json time_lm_steps(const std::string& preset, int steps, int warmup, torch::Device device,
                             bool profile, const MachineLimits& limits) {
  Config c;
  find_preset(preset).apply(c);
  const bool shared = c.child_fixed_arc.empty();
  torch::manual_seed(0);
  RnnLm model = make_language_model(c, kPtbVocabSize, shared);
  Controller ctrl = shared ? make_controller(c) : nullptr;
  model->to(device);
  model->train();
  const LmStepOptions so = LmStepOptions::from(c);
  const int64_t b = c.batch_size, t = c.child_bptt_steps;
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto stream = torch::randint(0, kPtbVocabSize, {b, t + 1}, opts);
  auto x = stream.narrow(1, 0, t), y = stream.narrow(1, 1, t);
  torch::Tensor state = model->zero_state(b);
  std::vector<double> times;
  LmStep s;
  std::unique_ptr<OpProfile> ops;
  std::vector<std::vector<int>> arcs;  // the timed steps' samples, replayed for the count
  for (int i = 0; i < warmup + steps; ++i) {
    if (i == warmup && profile) ops = std::make_unique<OpProfile>();
    synchronize(device);
    const auto t0 = Clock::now();
    if (shared) {
      arcs.push_back(ctrl->sample(1).arcs[0]);
      model->set_arc(rnn::arc_from_flat(arcs.back()));
    }
    s = lm_train_step(*model, x, y, state, c.child_lr, so);
    synchronize(device);
    if (i >= warmup) times.push_back(seconds_since(t0));
  }
  if (ops) fmt::print(stderr, "{}: {} steps\n{}", preset, steps, ops->table(30, &limits));
  ops.reset();  // one profile at a time: the count below is one
  std::sort(times.begin(), times.end());
  const double med = times[times.size() / 2];
  const nlohmann::json roofline = roofline_record(
      shared ? steps : 1,  // a fixed cell does the same work every step
      [&](int i) {
        if (shared) model->set_arc(rnn::arc_from_flat(arcs[warmup + i]));
        lm_train_step(*model, x, y, state, c.child_lr, so);
      },
      med, limits, device);
  return {{"preset", preset},
          {"hidden", c.child_hidden_size},
          {"batch", b},
          {"bptt", t},
          {"nodes", model->options().num_nodes()},
          {"median_step_s", med},
          {"min_step_s", times.front()},
          {"tokens_per_s", b * t / med},
          {"final_loss", s.loss},
          {"params", model->num_params()},
          {"roofline", roofline}};
}

}  // namespace

nlohmann::json bench_lm(const std::string& only, int steps, int warmup, torch::Device device,
                        bool profile, const MachineLimits& limits) {
  nlohmann::json j;
  if (only.empty() || only == "lm" || only == "lm_shared") {
    j["lm_shared"] = time_lm_steps("ptb_search", steps, warmup, device, profile, limits);
    fmt::print(stderr, "lm_shared: {:.0f} tokens/s; {}\n",
               j["lm_shared"]["tokens_per_s"].get<double>(),
               roofline_summary(j["lm_shared"]["roofline"]));
  }
  if (only.empty() || only == "lm" || only == "lm_final") {
    j["lm_final"] = time_lm_steps("ptb_final", steps, warmup, device, profile, limits);
    fmt::print(stderr, "lm_final: {:.0f} tokens/s; {}\n",
               j["lm_final"]["tokens_per_s"].get<double>(),
               roofline_summary(j["lm_final"]["roofline"]));
  }
  if (only.empty() || only == "lm" || only == "lm_controller") {
    j["lm_controller"] = bench_controller("ptb_search", steps);
  }
  return j;
}

}  // namespace enas::cli
