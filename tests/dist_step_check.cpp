// One data-parallel training step checked against one process: the gradient equivalence of
// docs/distributed.md. Run as `enas launch --exec --nproc_per_node 2 -- enas_dist_step_check
// micro|macro|rnn [contiguous]` (tests/e2e/test_launch.cpp; contiguous: NCHW memory instead of
// channels-last). Every process trains its part of a fixed batch of 8 with sync batch norm and
// the gradient all-reduce (no dropout or drop-path; the micro child's aux head on); then it trains,
// alone, a copy of the same child on the whole batch. It prints one JSON line: the largest
// difference of any weight or running statistic between the two, relative to that tensor's largest
// value (at least 1e-3), and whether its weights equal every other process's bit for bit, after
// that step and after three more steps of a child with dropout and drop-path on. `rnn` does the
// same for the Penn Treebank cell's step (lm_train_step: 8 rows, the activation and slowness
// terms, weight decay and clipping on, every dropout off, then on for the three steps), and adds
// the step's loss, gradient norm and carried state against one process's.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "enas/child/batch_norm.h"
#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/child/rnn_lm.h"
#include "enas/config/config.h"
#include "enas/config/presets.h"
#include "enas/dist/dist.h"
#include "enas/dist/team.h"
#include "enas/space/space.h"
#include "enas/train/child_step.h"
#include "enas/train/lm_step.h"
#include "enas/train/sgd.h"

namespace enas {
namespace {

constexpr int64_t kBatch = 8;

Config tiny(const std::string& space) {
  Config c;
  c.search_for = space;
  c.child_out_filters = 8;
  c.child_keep_prob = 1.0f;  // no dropout, no drop-path: the two runs draw nothing
  c.child_drop_path_keep_prob = 1.0f;
  c.child_use_aux_heads = space == kMicroSpace;  // its last batch norm sees 1x1 maps
  if (space == kMicroSpace) {
    c.child_num_layers = 1;
    c.child_num_cells = 2;
    c.child_fixed_arc = "0 2 1 4 0 0 2 3 0 1 1 4 2 3 0 2";
  } else {
    c.child_num_layers = 4;
    c.child_fixed_arc = "0 1 1 2 0 1 3 1 0 1";
  }
  return c;
}

bool g_channels_last = true;

ImageChild make(const Config& c) {
  torch::manual_seed(0);  // the same weights in every process
  ImageChild m = make_fixed_child(c, {3, 32, 32, 10});
  if (g_channels_last) to_channels_last(*m);
  m->train();
  return m;
}

std::vector<torch::Tensor> state_of(torch::nn::Module& m,
                                    std::vector<std::string>* names = nullptr) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.named_parameters()) {
    out.push_back(p.value().detach());
    if (names) names->push_back(p.key());
  }
  for (const auto& b : m.named_buffers()) {
    out.push_back(b.value().detach());
    if (names) names->push_back(b.key());
  }
  return out;
}

/// Whether every process holds `tensors` bit for bit (their mean over the processes is them).
bool same_everywhere(Dist& dist, const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.reshape({-1}).to(torch::kFloat));
  const torch::Tensor own = torch::cat(flat);
  torch::Tensor mean = own.clone();
  dist.all_reduce_mean({mean});
  return torch::equal(mean, own);
}

/// The largest difference between `a` and `b`, relative to each tensor's largest value in `b`,
/// and the name of the tensor where it is.
std::pair<double, std::string> worst_difference(const std::vector<torch::Tensor>& a,
                                                const std::vector<torch::Tensor>& b,
                                                const std::vector<std::string>& names) {
  double worst = 0;
  std::string worst_name;
  for (size_t i = 0; i < a.size(); ++i) {
    // Tensors whose values are all near zero (a bias before a batch norm gets no gradient but
    // rounding noise) are compared absolutely, at 1e-3 of a unit.
    const double scale = std::max(b[i].abs().max().item<double>(), 1e-3);
    const double d = (a[i] - b[i]).abs().max().item<double>() / scale;
    if (d > worst) {
      worst = d;
      worst_name = names[i];
    }
  }
  return {worst, worst_name};
}

double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

int check_rnn() {
  torch::set_num_threads(1);
  const DistEnv env = DistEnv::from_environment();
  auto dist = std::make_shared<Dist>(env, "gloo", std::chrono::seconds(60));
  const Team team(dist, /*sync_bn=*/false);
  constexpr int64_t kRows = 8, kTokens = 6, kVocab = 40, kHidden = 16;
  Config c;
  find_preset("ptb_final").apply(c);
  c.child_hidden_size = kHidden;
  c.child_fixed_arc = "0 1 1 0";
  c.child_num_layers = 2;
  c.child_beta = 1.0;          // both activation terms (the preset's alpha is 0.7)
  c.child_grad_bound = 1e-3f;  // so that the step clips (a fresh cell's norm is ~0.1)
  Config on = c;
  c.child_drop_e = c.child_drop_i = c.child_drop_x = c.child_drop_l = c.child_drop_o = 0;
  c.child_drop_w = 0;
  on.child_drop_w = 0.2f;  // every mask on, the weights' too
  auto make = [&](const Config& config) {
    torch::manual_seed(0);  // the same weights in every process
    RnnLm m = make_language_model(config, kVocab, /*shared=*/false);
    m->train();
    return m;
  };
  torch::manual_seed(1);
  const torch::Tensor x = torch::randint(0, kVocab, {kRows, kTokens}, torch::kLong);
  const torch::Tensor y = torch::randint(0, kVocab, {kRows, kTokens}, torch::kLong);
  const torch::Tensor state0 = 0.1 * torch::randn({kRows, kHidden});
  const LmStepOptions o = LmStepOptions::from(c);
  const double lr = 1.0;

  // This process's rows, the gradients averaged; the state assembled from every process's rows.
  RnnLm mine = make(c);
  const auto [begin, end] = team.part(kRows);
  torch::Tensor state = state0.narrow(0, begin, end - begin).clone();
  const LmStep step = lm_train_step(*mine, x.narrow(0, begin, end - begin),
                                    y.narrow(0, begin, end - begin), state, lr, o, team);
  const torch::Tensor whole_state = team.whole_rows(state, kRows);

  // The same step kept on the device as a GPU runs it (LmStepOptions::on_device: the processes'
  // losses averaged as tensors, the clipping scale computed there).
  RnnLm kept = make(c);
  torch::Tensor kept_state = state0.narrow(0, begin, end - begin).clone();
  LmStepOptions kept_options = o;
  kept_options.on_device = true;
  LmStep kept_step =
      lm_train_step(*kept, x.narrow(0, begin, end - begin), y.narrow(0, begin, end - begin),
                    kept_state, lr, kept_options, team);
  kept_step.read();

  RnnLm busy = make(on);
  torch::Tensor busy_state = state0.narrow(0, begin, end - begin).clone();
  torch::manual_seed(1000 + env.rank);
  for (int i = 0; i < 3; ++i) {
    lm_train_step(*busy, x.narrow(0, begin, end - begin), y.narrow(0, begin, end - begin),
                  busy_state, lr, o, team);
  }

  // One process, the whole batch.
  RnnLm ref = make(c);
  torch::Tensor ref_state = state0.clone();
  const LmStep ref_step = lm_train_step(*ref, x, y, ref_state, lr, o);

  std::vector<std::string> names;
  const auto a = state_of(*mine, &names), b = state_of(*ref);
  const auto [worst, worst_name] = worst_difference(a, b, names);
  const double kept_worst = worst_difference(state_of(*kept), b, names).first;
  const double state_diff =
      (whole_state - ref_state).abs().max().item<double>() / ref_state.abs().max().item<double>();
  const bool identical = same_everywhere(*dist, a);
  const bool identical_after = same_everywhere(*dist, state_of(*busy));
  std::printf(
      "{\"rank\": %d, \"space\": \"rnn\", \"max_rel_diff\": %.3g, \"worst_tensor\": \"%s\", "
      "\"loss_rel_diff\": %.3g, \"grad_norm\": %.4g, \"grad_norm_rel_diff\": %.3g, "
      "\"state_rel_diff\": %.3g, \"kept_max_rel_diff\": %.3g, \"kept_loss_rel_diff\": %.3g, "
      "\"kept_tokens\": %lld, \"clipped\": %s, \"identical\": %s, "
      "\"identical_after_steps_with_dropout\": %s}\n",
      env.rank, worst, worst_name.c_str(), relative(step.loss, ref_step.loss), step.grad_norm,
      relative(step.grad_norm, ref_step.grad_norm), state_diff, kept_worst,
      relative(kept_step.loss, ref_step.loss), static_cast<long long>(kept_step.tokens),
      ref_step.grad_norm > o.grad_bound ? "true" : "false", identical ? "true" : "false",
      identical_after ? "true" : "false");
  return 0;
}

int check(const std::string& space) {
  if (space == kRnnSpace) return check_rnn();
  torch::set_num_threads(1);
  const DistEnv env = DistEnv::from_environment();
  Dist dist(env, "gloo", std::chrono::seconds(60));
  const Config c = tiny(space);
  torch::manual_seed(1);
  Batch whole{torch::randn({kBatch, 3, 32, 32})
                  .contiguous(g_channels_last ? torch::MemoryFormat::ChannelsLast
                                              : torch::MemoryFormat::Contiguous),
              torch::randint(0, 10, {kBatch}, torch::kLong)};
  SgdOptions so;
  so.l2_reg = 1e-4;
  const double lr = 0.05;

  // This process's part, with sync batch norm and the gradient all-reduce.
  ImageChild mine = make(c);
  Sgd sgd(mine->parameters(), so);
  sgd.on_gradients([&](const std::vector<torch::Tensor>& g) { dist.all_reduce_mean(g); });
  set_batch_norm_reducer([&](std::vector<double>& sums) {
    torch::Tensor t =
        torch::from_blob(sums.data(), {static_cast<int64_t>(sums.size())}, torch::kDouble);
    dist.all_reduce_sum(t);
  });
  const int64_t part = kBatch / env.world_size;
  Batch mine_batch{whole.images.narrow(0, env.rank * part, part),
                   whole.labels.narrow(0, env.rank * part, part)};
  train_child_step(*mine, sgd, mine_batch, lr, false);

  // Several steps with everything on (dropout, drop-path, the micro aux head), each process drawing
  // its own random stream: the weights stay the same everywhere.
  Config on = c;
  on.child_keep_prob = 0.8f;
  on.child_drop_path_keep_prob = 0.8f;
  ImageChild busy = make(on);
  Sgd busy_sgd(busy->parameters(), so);
  busy_sgd.on_gradients([&](const std::vector<torch::Tensor>& g) { dist.all_reduce_mean(g); });
  torch::manual_seed(1000 + env.rank);
  for (int64_t step = 0; step < 3; ++step) {
    busy->set_progress(step, 3);
    train_child_step(*busy, busy_sgd, mine_batch, lr, false);
  }
  set_batch_norm_reducer({});

  // One process, the whole batch.
  ImageChild ref = make(c);
  Sgd ref_sgd(ref->parameters(), so);
  // In contiguous memory the processes' batch norms run our kernel (sync needs its sums); so
  // does the reference here, to compare the data parallelism, not two kernels (libtorch's
  // contiguous batch norm and ours differ by up to 1.7e-5 in a bias after this step).
  if (!g_channels_last) set_batch_norm_reducer([](std::vector<double>&) {});
  train_child_step(*ref, ref_sgd, whole, lr, false);
  set_batch_norm_reducer({});

  std::vector<std::string> names;
  const auto a = state_of(*mine, &names), b = state_of(*ref);
  const auto [worst, worst_name] = worst_difference(a, b, names);
  const bool identical = same_everywhere(dist, a);
  const bool identical_after = same_everywhere(dist, state_of(*busy));
  std::printf(
      "{\"rank\": %d, \"space\": \"%s\", \"max_rel_diff\": %.3g, \"worst_tensor\": \"%s\", "
      "\"identical\": %s, \"identical_after_steps_with_dropout\": %s}\n",
      env.rank, space.c_str(), worst, worst_name.c_str(), identical ? "true" : "false",
      identical_after ? "true" : "false");
  return 0;
}

}  // namespace
}  // namespace enas

int main(int argc, char** argv) {
  try {
    if (argc < 2 || argc > 3 || (argc == 3 && std::string(argv[2]) != "contiguous")) {
      std::fprintf(stderr, "usage: enas_dist_step_check micro|macro|rnn [contiguous]\n");
      return 2;
    }
    enas::g_channels_last = argc == 2;
    return enas::check(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
