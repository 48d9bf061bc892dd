// `enas search`: ENAS architecture search (shared child + controller), then derivation.
// `enas derive`: derivation from a search checkpoint at any time.
#include <fmt/format.h>

#include <filesystem>

#include "cli.h"
#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/controller/controller.h"
#include "enas/data/datasets.h"
#include "enas/space/arc_text.h"
#include "enas/train/best_arc.h"
#include "enas/train/search_trainer.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas::cli {

namespace {

struct SearchSetup {
  SharedChild child;
  Controller controller;
};

SearchSetup build(const Config& c) {
  torch::manual_seed(c.seed);
  SearchSetup s;
  s.child = make_shared_child(c, dataset_shape(c.dataset));
  s.controller = make_controller(c);
  if (use_channels_last(c)) to_channels_last(*s.child);
  return s;
}

int run_search(State& s) {
  Config& c = s.config;
  const std::vector<std::string> warnings = check_config(s);
  if (space_named(c.search_for).language()) return run_search_lm(s, warnings);
  const auto [threads, device] = setup_compute(c);
  SearchSetup setup = build(c);
  if (s.dry_run) {
    fmt::print("{}Shared child has {} params (aux head {}); controller {} params\n",
               setup.child->summary(), setup.child->num_params(), setup.child->num_aux_params(),
               count_params(setup.controller->parameters()));
    if (s.json) {
      print_json_line({{"params", setup.child->num_params()},
                       {"params_aux", setup.child->num_aux_params()},
                       {"controller_params", count_params(setup.controller->parameters())}});
    }
    return 0;
  }
  const Team team = join_team(c, device);
  Run started = start_run(s, "search", warnings, team);
  const RunDir& run = started.dir;
  Reporter& reporter = started.reporter;
  ImageDataset data = load_image_dataset(c, c.num_valids);
  reporter.message(fmt::format("{}: {} training, {} validation, {} test images", data.name,
                               data.train.size(), data.valid.size(), data.test.size()));
  reporter.message(fmt::format("Shared child has {} params (aux head {}), {} threads, device {}",
                               setup.child->num_params(), setup.child->num_aux_params(), threads,
                               device.str()));
  SearchTrainer trainer(c, setup.child, setup.controller, data, run, reporter, device);
  trainer.set_team(team);
  // Every process starts from rank 0's child and controller (a resume then loads the same
  // checkpoint everywhere).
  std::vector<torch::Tensor> state = setup.child->parameters();
  for (const auto& t : setup.child->buffers()) state.push_back(t);
  for (const auto& t : setup.controller->parameters()) state.push_back(t);
  team.copy_from_leader(state);
  finish_search(started, s, trainer.run(s.resume), setup.child->num_params());
  return 0;
}

int run_derive(State& s, const std::string& checkpoint) {
  require(std::filesystem::exists(checkpoint), "--checkpoint {} does not exist", checkpoint);
  Config& c = s.config;
  validate(c);
  expect_checkpoint_kind(checkpoint, "search", c.dataset);
  if (space_named(c.search_for).language()) return run_derive_lm(s, checkpoint);
  const torch::Device device = setup_compute(c).device;
  SearchSetup setup = build(c);
  const Team team = join_team(c, device);
  Run run = open_for_derive(checkpoint, s.config, team);
  ImageDataset data = load_image_dataset(c, c.num_valids);
  SearchTrainer trainer(c, setup.child, setup.controller, data, run.dir, run.reporter, device);
  return derive_from(trainer, checkpoint, run, s, team);
}

}  // namespace

void add_search_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand("search", "ENAS search: shared child + controller, then derive");
  bind_config(sub, state, /*with_resume=*/true);
  sub->callback([&state] { state.run = [&state] { return run_search(state); }; });

  auto* derive = app.add_subcommand(
      "derive", "score sampled architectures of a search checkpoint on the validation split");
  bind_config(derive, state, /*with_resume=*/false);
  static std::string checkpoint;
  derive->add_option("--checkpoint", checkpoint, "a search's ckpt-<epoch>.pt")->required();
  derive->callback([&state] { state.run = [&state] { return run_derive(state, checkpoint); }; });
}

}  // namespace enas::cli
