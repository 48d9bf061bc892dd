// `enas train`: final training of a fixed architecture from scratch.
#include <fmt/format.h>

#include "cli.h"
#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/data/datasets.h"
#include "enas/space/arc_text.h"
#include "enas/train/best_arc.h"
#include "enas/train/final_trainer.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas::cli {

namespace {

int run_train(State& s) {
  Config& c = s.config;
  const std::vector<std::string> warnings = check_config(s);
  if (space_named(c.search_for).language()) return run_train_lm(s, warnings);
  const auto [threads, device] = setup_compute(c);
  const ImageShape shape = dataset_shape(c.dataset);
  torch::manual_seed(c.seed);
  ImageChild model = make_fixed_child(c, shape);  // validates the architecture before any I/O
  const std::string arc = fixed_arc_text(c);

  if (s.dry_run) {
    fmt::print("{}", model->summary());
    fmt::print("Model has {} params (aux head {}), {} threads, device {}\n", model->num_params(),
               model->num_aux_params(), threads, device.str());
    if (s.json) {
      print_json_line({{"params", model->num_params()},
                       {"params_aux", model->num_aux_params()},
                       {"search_for", c.search_for},
                       {"dataset", c.dataset},
                       {"arc", join_ints(parse_int_list(arc, "architecture"))}});
    }
    return 0;
  }

  const Team team = join_team(c, device);
  Run started = start_run(s, "train", warnings, team);
  const RunDir& run = started.dir;
  Reporter& reporter = started.reporter;
  draw_arc(run, c, parse_int_list(arc, "architecture"), "arc");
  reporter.message(model->summary());
  reporter.message(fmt::format("Model has {} params (aux head {})", model->num_params(),
                               model->num_aux_params()));

  ImageDataset data = load_image_dataset(c);
  reporter.message(fmt::format("{}: {} training, {} test images; mean {} std {}", data.name,
                               data.train.size(), data.test.size(), fmt::join(data.stats.mean, ","),
                               fmt::join(data.stats.std, ",")));
  if (use_channels_last(c)) to_channels_last(*model);
  FinalTrainer trainer(c, model, data, run, reporter, device);
  trainer.set_team(team);
  reporter.message(fmt::format("{} steps per epoch, {} threads, device {}{}",
                               trainer.batches_per_epoch(), threads, device.str(),
                               processes_text(team)));
  TrainResult r = trainer.run(s.resume);
  reporter.message(fmt::format("Done: {} epochs, test_accuracy {:.4f}, {:.1f} s, run folder {}",
                               r.epochs, r.test_acc, r.seconds, run.path()));
  nlohmann::json result = run_result(started, r.epochs, r.steps, model->num_params(), r.seconds);
  result.update({{"params_aux", model->num_aux_params()},
                 {"arc", join_ints(parse_int_list(arc, "architecture"))},
                 {"test_acc", r.test_acc},
                 {"train_loss", r.train_loss},
                 {"images_per_s", r.images_per_s}});
  finish_run(started, s, result);
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand("train", "train a fixed architecture from scratch");
  bind_config(sub, state, /*with_resume=*/true);
  sub->callback([&state] { state.run = [&state] { return run_train(state); }; });
}

}  // namespace enas::cli
