// `enas train | search | derive` on Penn Treebank: the recurrent cell of enas_lm.
#include <fmt/format.h>

#include <filesystem>

#include "cli.h"
#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/controller/controller.h"
#include "enas/data/datasets.h"
#include "enas/space/arc_text.h"
#include "enas/train/best_arc.h"
#include "enas/train/lm_search_trainer.h"
#include "enas/train/lm_trainer.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas::cli {

namespace {

Corpus load_corpus(const Config& c, Reporter& reporter) {
  Corpus corpus = load_ptb_corpus(c);
  reporter.message(fmt::format("{}: vocabulary {}; train_size {}, valid_size {}, test_size {}",
                               corpus.dir, corpus.vocab.size(), corpus.train.numel(),
                               corpus.valid.numel(), corpus.test.numel()));
  return corpus;
}

}  // namespace

int run_train_lm(State& s, const std::vector<std::string>& warnings) {
  Config& c = s.config;
  const auto [threads, device] = setup_compute(c);
  torch::manual_seed(c.seed);
  RnnLm model = make_language_model(c, kPtbVocabSize, /*shared=*/false);
  if (s.dry_run) {
    fmt::print("{}Model has {} params, {} threads, device {}\n", model->summary(),
               model->num_params(), threads, device.str());
    if (s.json) {
      print_json_line({{"params", model->num_params()},
                       {"search_for", c.search_for},
                       {"dataset", c.dataset},
                       {"arc", model->arc().to_string()}});
    }
    return 0;
  }
  const Team team = join_team(c, device);
  Run started = start_run(s, "train", warnings, team);
  const RunDir& run = started.dir;
  Reporter& reporter = started.reporter;
  draw_arc(run, c, model->arc().code, "arc");
  Corpus corpus = load_corpus(c, reporter);
  if (corpus.vocab.size() != kPtbVocabSize) {
    torch::manual_seed(c.seed);  // a corpus of another vocabulary: rebuild at its size
    model = make_language_model(c, corpus.vocab.size(), false);
  }
  reporter.message(model->summary());
  reporter.message(fmt::format("Model has {} params, {} threads, device {}{}", model->num_params(),
                               threads, device.str(), processes_text(team)));
  LmFinalTrainer trainer(c, model, corpus, run, reporter, device);
  trainer.set_team(team);
  LmTrainResult r = trainer.run(s.resume);
  reporter.message(
      fmt::format("Done: {} epochs, valid_ppl {:.2f}, test_ppl {:.2f}, {:.1f} s, "
                  "run folder {}",
                  r.epochs, r.valid_ppl, r.test_ppl, r.seconds, run.path()));
  nlohmann::json result = run_result(started, r.epochs, r.steps, model->num_params(), r.seconds);
  result.update({{"arc", model->arc().to_string()},
                 {"valid_ppl", r.valid_ppl},
                 {"test_ppl", r.test_ppl},
                 {"train_ppl", r.train_ppl},
                 {"averaged", r.averaged},
                 {"rollbacks", r.rollbacks},
                 {"tokens_per_s", r.tokens_per_s}});
  finish_run(started, s, result);
  return 0;
}

namespace {

struct LmSearchSetup {
  RnnLm child{nullptr};
  Controller controller;
};

LmSearchSetup build_search(const Config& c, int64_t vocab_size) {
  torch::manual_seed(c.seed);
  LmSearchSetup s;
  s.child = make_language_model(c, vocab_size, /*shared=*/true);
  s.controller = make_controller(c);
  return s;
}

}  // namespace

int run_search_lm(State& s, const std::vector<std::string>& warnings) {
  Config& c = s.config;
  const auto [threads, device] = setup_compute(c);
  LmSearchSetup setup = build_search(c, kPtbVocabSize);
  const int64_t controller_params = count_params(setup.controller->parameters());
  if (s.dry_run) {
    fmt::print("{}Shared child has {} params ({} per architecture); controller {} params\n",
               setup.child->summary(), setup.child->num_params(), setup.child->num_params_per_arc(),
               controller_params);
    if (s.json) {
      print_json_line({{"params", setup.child->num_params()},
                       {"params_per_arc", setup.child->num_params_per_arc()},
                       {"controller_params", controller_params}});
    }
    return 0;
  }
  const Team team = join_team(c, device);
  Run started = start_run(s, "search", warnings, team);
  const RunDir& run = started.dir;
  Reporter& reporter = started.reporter;
  Corpus corpus = load_corpus(c, reporter);
  if (corpus.vocab.size() != kPtbVocabSize) setup = build_search(c, corpus.vocab.size());
  reporter.message(
      fmt::format("Shared child has {} params ({} per architecture), {} threads, "
                  "device {}{}",
                  setup.child->num_params(), setup.child->num_params_per_arc(), threads,
                  device.str(), processes_text(team)));
  LmSearchTrainer trainer(c, setup.child, setup.controller, corpus, run, reporter, device);
  trainer.set_team(team);
  // Every process starts from rank 0's child and controller (as the image search).
  std::vector<torch::Tensor> state = setup.child->parameters();
  for (const auto& t : setup.controller->parameters()) state.push_back(t);
  team.copy_from_leader(state);
  finish_search(started, s, trainer.run(s.resume), setup.child->num_params());
  return 0;
}

int run_derive_lm(State& s, const std::string& checkpoint) {
  Config& c = s.config;
  const torch::Device device = setup_compute(c).device;
  const Team team = join_team(c, device);
  Run run = open_for_derive(checkpoint, s.config, team);
  Corpus corpus = load_corpus(c, run.reporter);
  LmSearchSetup setup = build_search(c, corpus.vocab.size());
  LmSearchTrainer trainer(c, setup.child, setup.controller, corpus, run.dir, run.reporter, device);
  return derive_from(trainer, checkpoint, run, s, team);
}

}  // namespace enas::cli
