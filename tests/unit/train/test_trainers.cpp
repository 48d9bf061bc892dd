// The trainers in process (no binary): a Session (run/session.h) opened on a temporary folder,
// as the CLI opens one, and the four trainers run in it for a few steps on tiny data held in
// memory. What the end-to-end tests check through the command line, here without it: resume bit
// for bit, checkpoints kept, a search's records, derivation from a checkpoint, the reporter's
// events.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "enas/child/factory.h"
#include "enas/controller/controller.h"
#include "enas/report/metrics.h"
#include "enas/run/session.h"
#include "enas/train/final_trainer.h"
#include "enas/train/lm_search_trainer.h"
#include "enas/train/lm_trainer.h"
#include "enas/train/search_trainer.h"
#include "enas/util/files.h"
#include "enas/util/signals.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const ImageShape kTiny{1, 8, 8, 3};

/// 48 training, 16 validation and 16 test images of kTiny's shape: a bright row whose place is
/// the label, over noise (deterministic).
ImageDataset tiny_images() {
  torch::manual_seed(11);
  auto split = [](int64_t n) {
    ImageSplit s;
    s.labels = torch::randint(0, kTiny.num_classes, {n}, torch::kLong);
    s.images = torch::randint(0, 100, {n, kTiny.channels, kTiny.height, kTiny.width}, torch::kByte);
    for (int64_t i = 0; i < n; ++i) s.images[i][0][2 * s.labels[i].item<int64_t>()].fill_(250);
    return s;
  };
  ImageDataset d;
  d.name = "tiny";
  d.train = split(48);
  d.valid = split(16);
  d.test = split(16);
  d.stats = channel_stats(d.train);
  d.num_classes = kTiny.num_classes;
  return d;
}

/// A micro child of one layer per stack and two blocks a cell, 4 filters: steps of milliseconds.
Config tiny_micro(const std::string& out, int epochs) {
  Config c;
  c.search_for = "micro";
  c.dataset = "fashion_mnist";  // what best_arc.txt's header names; the data is tiny_images()
  c.child_num_layers = 1;
  c.child_num_cells = 2;
  c.child_out_filters = 4;
  c.child_fixed_arc = "0 2 0 0 1 4 0 1 1 2 0 1 0 0 1 3";
  c.child_use_aux_heads = false;
  c.batch_size = 8;
  c.eval_batch_size = 16;
  c.num_epochs = epochs;
  c.log_every = 2;
  c.threads = 1;
  c.report = false;  // no gnuplot
  c.memory_format = "contiguous";
  c.controller_train_steps = 2;
  c.controller_num_aggregate = 2;
  c.controller_train_every = 1;
  c.derive_samples = 3;
  c.out = out;
  validate(c);
  return c;
}

SessionOptions options(const std::string& command, bool resume = false) {
  SessionOptions o;
  o.command = command;
  o.resume = resume;
  o.json = true;  // no progress line, whatever stderr is
  return o;
}

/// Every parameter and buffer of `m`, flattened in order (bitwise comparison).
torch::Tensor flat_state(torch::nn::Module& m) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : m.parameters()) parts.push_back(t.detach().reshape({-1}).to(torch::kDouble));
  for (const auto& t : m.buffers()) parts.push_back(t.detach().reshape({-1}).to(torch::kDouble));
  return torch::cat(parts);
}

/// Counts the reporter's events (what a progress display or a plot listens to).
struct CountingListener : Listener {
  int ticks = 0, steps = 0, epochs = 0, evals = 0;
  void on_tick(const TickEvent&) override { ++ticks; }
  void on_step(const StepEvent&) override { ++steps; }
  void on_epoch(const EpochEvent&) override { ++epochs; }
  void on_eval(const EvalEvent&) override { ++evals; }
};

/// Asks for a stop at the `at`-th training step, as Ctrl-C would (util/signals.h); the request
/// is cleared when the listener dies.
struct StopAtStep : Listener {
  explicit StopAtStep(int at) : at(at) {}
  ~StopAtStep() override { clear_stop_request(); }
  void on_tick(const TickEvent& e) override {
    if (std::string(e.phase) == "child" && ++seen == at) request_stop(SIGINT);
  }
  int at, seen = 0;
};

/// `listener`, owned by the caller, as one of the reporter's.
std::shared_ptr<Listener> borrowed(Listener* listener) {
  return std::shared_ptr<Listener>(listener, [](Listener*) {});
}

/// Whether `dir` holds a mid-epoch checkpoint ckpt-<epoch>-<batch>.pt of epoch index `epoch`.
bool has_mid_epoch_checkpoint(const std::string& dir, int epoch) {
  const std::string prefix = "ckpt-" + std::to_string(epoch) + "-";
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) return true;
  }
  return false;
}

/// Trains tiny_micro's architecture for `epochs` in `out` (resuming it when asked), `listener`
/// (if any) hearing the reporter; returns the result and the trained model's state.
std::pair<TrainResult, torch::Tensor> train_micro(const ImageDataset& data, const std::string& out,
                                                  int epochs, bool resume,
                                                  Listener* listener = nullptr) {
  const Config c = tiny_micro(out, epochs);
  torch::manual_seed(c.seed);
  ImageChild model = make_fixed_child(c, kTiny);
  Session session(c, options("train", resume));
  if (listener) session.reporter().add(borrowed(listener));
  FinalTrainer trainer(session, model, data);
  const TrainResult r = trainer.run();
  session.finish(session.result(r.epochs, r.steps, model->num_params(), r.seconds));
  return {r, flat_state(*model)};
}

TEST(FinalTrainer, ResumedRunEqualsUninterrupted) {
  const ImageDataset data = tiny_images();
  TempDir tmp;
  CountingListener counts;
  const auto [whole, whole_state] = train_micro(data, tmp.file("a"), 2, false, &counts);
  train_micro(data, tmp.file("b"), 1, false);
  const auto [resumed, resumed_state] = train_micro(data, tmp.file("b"), 2, /*resume=*/true);
  EXPECT_EQ(whole.epochs, 2);
  EXPECT_EQ(whole.steps, 2 * 6);  // 48 images in batches of 8
  EXPECT_EQ(resumed.steps, whole.steps);
  EXPECT_EQ(resumed.test_acc, whole.test_acc);
  EXPECT_TRUE(torch::equal(resumed_state, whole_state));
  // The image epoch's events: a tick every step, a logged step every log_every, one epoch event
  // and an evaluation of each split (valid and test) per epoch.
  EXPECT_EQ(counts.ticks, 12);
  EXPECT_EQ(counts.steps, 6);
  EXPECT_EQ(counts.epochs, 2);
  EXPECT_EQ(counts.evals, 4);
}

TEST(FinalTrainer, AStopMidEpochSavesWhereItStandsAndTheResumeEqualsUninterrupted) {
  const ImageDataset data = tiny_images();
  TempDir tmp;
  const auto [whole, whole_state] = train_micro(data, tmp.file("a"), 2, false);
  {
    StopAtStep stop(9);  // the third step of the second epoch (6 steps an epoch)
    try {
      train_micro(data, tmp.file("b"), 2, false, &stop);
      ADD_FAILURE() << "the run did not stop";
    } catch (const Interrupted& e) {
      EXPECT_EQ(e.signal(), SIGINT);
    }
  }
  EXPECT_TRUE(fs::exists(tmp.file("b/ckpt-1-3.pt")));  // epoch index 1, 3 batches done
  const auto [resumed, resumed_state] = train_micro(data, tmp.file("b"), 2, /*resume=*/true);
  EXPECT_EQ(resumed.steps, whole.steps);
  EXPECT_EQ(resumed.test_acc, whole.test_acc);
  EXPECT_TRUE(torch::equal(resumed_state, whole_state));
}

TEST(FinalTrainer, KeepsTheNewestTwoEpochCheckpoints) {
  const ImageDataset data = tiny_images();
  TempDir tmp;
  const std::string out = tmp.file("run");
  train_micro(data, out, 3, false);
  EXPECT_FALSE(fs::exists(out + "/ckpt-1.pt"));
  EXPECT_TRUE(fs::exists(out + "/ckpt-2.pt"));
  EXPECT_TRUE(fs::exists(out + "/ckpt-3.pt"));
  // Each is a final training's, intact: the kind check reads it back.
  expect_checkpoint_kind(out + "/ckpt-3.pt", "train", "fashion_mnist");
  EXPECT_PRED2(test::contains, test::error_of([&] {
                 expect_checkpoint_kind(out + "/ckpt-3.pt", "search", "fashion_mnist");
               }),
               "final");
}

TEST(SearchLoop, SearchesRecordsEveryUpdateAndDerivesAgainFromItsCheckpoint) {
  const ImageDataset data = tiny_images();
  TempDir tmp;
  const std::string out = tmp.file("search");
  Config c = tiny_micro(out, 2);
  SearchResult r;
  {
    torch::manual_seed(c.seed);
    SharedChild child = make_shared_child(c, kTiny);
    Controller controller = make_controller(c);
    Session session(c, options("search"));
    SearchTrainer trainer(session, child, controller, data);
    r = trainer.run();
  }
  EXPECT_EQ(r.epochs, 2);
  EXPECT_EQ(r.steps, 12);
  EXPECT_EQ(r.best.samples, 3);
  ASSERT_TRUE(r.best.arc.has_value());
  EXPECT_EQ(r.best.arc->decisions().size(), 16u);  // 2 cells x 2 blocks x 4 numbers
  EXPECT_EQ(r.best.arc->space().name(), std::string("micro"));
  EXPECT_EQ(r.best.score_name, "valid_acc");
  EXPECT_TRUE(r.fields.contains("shared_valid_acc"));
  const std::string best = read_small_file(out + "/best_arc.txt", "best arc", 1 << 16);
  EXPECT_EQ(best.rfind("# enas search_for=micro", 0), 0u) << best;
  // arcs.jsonl: every sample of every update (2 epochs x 2 updates x 2 samples), then the 3
  // architectures derivation scored.
  int controller = 0, derived = 0;
  std::ifstream arcs(out + "/arcs.jsonl");
  for (std::string line; std::getline(arcs, line);) {
    const auto j = nlohmann::json::parse(line);
    controller += j.at("kind") == "controller";
    derived += j.at("kind") == "derive";
  }
  EXPECT_EQ(controller, 8);
  EXPECT_EQ(derived, 3);

  // `enas derive` on the last checkpoint samples and scores what the search's own derivation
  // did: the checkpoint holds the controller's stream and the weights it used.
  torch::manual_seed(c.seed + 1);  // whatever the fresh models hold, the checkpoint replaces it
  SharedChild child = make_shared_child(c, kTiny);
  Controller controller_again = make_controller(c);
  SessionOptions o = options("derive");
  o.checkpoint = out + "/ckpt-2.pt";
  Session session(c, o);
  SearchTrainer trainer(session, child, controller_again, data);
  EXPECT_EQ(trainer.restore(o.checkpoint).at("epoch"), 2);
  const BestArc again = trainer.derive(c.derive_samples);
  EXPECT_EQ(again.arc, r.best.arc);
  EXPECT_EQ(again.score, r.best.score);
}

/// A corpus of `vocab` words as random token streams (deterministic).
Corpus tiny_corpus(int64_t vocab) {
  torch::manual_seed(5);
  std::vector<std::string> words{kEos};
  for (int64_t i = 1; i < vocab; ++i) words.push_back("w" + std::to_string(i));
  Corpus c;
  c.dir = "memory";
  c.vocab = Vocabulary::from_words(words);
  c.train = torch::randint(0, vocab, {600}, torch::kLong);
  c.valid = torch::randint(0, vocab, {200}, torch::kLong);
  c.test = torch::randint(0, vocab, {100}, torch::kLong);
  return c;
}

Config tiny_lm(const std::string& out, int epochs) {
  Config c;
  c.search_for = "rnn";
  c.dataset = "ptb";
  c.child_hidden_size = 16;
  c.batch_size = 4;
  c.child_bptt_steps = 8;
  c.child_fixed_arc = "0 1 1 0";
  c.child_num_layers = 3;
  c.num_epochs = epochs;
  c.log_every = 5;
  c.threads = 1;
  c.report = false;
  c.controller_train_steps = 2;
  c.controller_num_aggregate = 2;
  c.controller_train_every = 1;
  c.derive_samples = 2;
  c.out = out;
  validate(c);
  return c;
}

/// Trains the cell of tiny_lm for `epochs` on `corpus` in `out` (resuming it when asked),
/// `listener` (if any) hearing the reporter; returns the result and the trained weights.
std::pair<LmTrainResult, torch::Tensor> train_lm(const Corpus& corpus, const std::string& out,
                                                 int epochs, bool resume,
                                                 Listener* listener = nullptr) {
  const Config c = tiny_lm(out, epochs);
  torch::manual_seed(c.seed);
  RnnLm model = make_language_model(c, corpus.vocab.size(), /*shared=*/false);
  Session session(c, options("train", resume));
  if (listener) session.reporter().add(borrowed(listener));
  LmFinalTrainer trainer(session, model, corpus);
  const LmTrainResult r = trainer.run();
  return {r, flat_state(*model)};
}

TEST(LmFinalTrainer, AStopMidPassSavesThroughItsHookAndTheResumeEqualsUninterrupted) {
  TempDir tmp;
  const Corpus corpus = tiny_corpus(30);
  const auto [whole, whole_state] = train_lm(corpus, tmp.file("a"), 2, false);
  {
    StopAtStep stop(5);  // inside the first pass
    try {
      train_lm(corpus, tmp.file("b"), 2, false, &stop);
      ADD_FAILURE() << "the run did not stop";
    } catch (const Interrupted& e) {
      EXPECT_EQ(e.signal(), SIGINT);
    }
  }
  EXPECT_TRUE(has_mid_epoch_checkpoint(tmp.file("b"), 0));
  const auto [resumed, resumed_state] = train_lm(corpus, tmp.file("b"), 2, /*resume=*/true);
  EXPECT_EQ(resumed.steps, whole.steps);
  EXPECT_EQ(resumed.valid_ppl, whole.valid_ppl);
  EXPECT_EQ(resumed.test_ppl, whole.test_ppl);
  EXPECT_TRUE(torch::equal(resumed_state, whole_state));
}

TEST(LmFinalTrainer, TrainsAveragesNothingYetAndTests) {
  TempDir tmp;
  const Config c = tiny_lm(tmp.file("lm"), 2);
  const Corpus corpus = tiny_corpus(30);
  torch::manual_seed(c.seed);
  RnnLm model = make_language_model(c, corpus.vocab.size(), /*shared=*/false);
  Session session(c, options("train"));
  LmFinalTrainer trainer(session, model, corpus);
  const LmTrainResult r = trainer.run();
  EXPECT_EQ(r.epochs, 2);
  EXPECT_GT(r.steps, 0);
  EXPECT_TRUE(std::isfinite(r.valid_ppl) && r.valid_ppl > 1) << r.valid_ppl;
  EXPECT_TRUE(std::isfinite(r.test_ppl) && r.test_ppl > 1) << r.test_ppl;
  EXPECT_EQ(r.rollbacks, 0);
  EXPECT_TRUE(fs::exists(tmp.file("lm/ckpt-2.pt")));
  expect_checkpoint_kind(tmp.file("lm/ckpt-2.pt"), "train", "ptb");
}

TEST(LmSearchTrainer, SearchesAndDerivesACellOfItsNodes) {
  TempDir tmp;
  const Config c = tiny_lm(tmp.file("lm-search"), 1);
  const Corpus corpus = tiny_corpus(30);
  torch::manual_seed(c.seed);
  RnnLm child = make_language_model(c, corpus.vocab.size(), /*shared=*/true);
  Controller controller = make_controller(c);
  Session session(c, options("search"));
  LmSearchTrainer trainer(session, child, controller, corpus);
  const SearchResult r = trainer.run();
  EXPECT_EQ(r.epochs, 1);
  EXPECT_EQ(r.best.score_name, "valid_ppl");
  ASSERT_TRUE(r.best.arc.has_value());
  EXPECT_EQ(r.best.arc->decisions().size(), 6u);  // 3 nodes: (previous node, function) each
  EXPECT_TRUE(std::isfinite(r.best.score) && r.best.score > 1);
  const auto updates = read_metrics(tmp.file("lm-search/metrics.jsonl"));
  int controller_records = 0;
  for (const auto& j : updates) controller_records += j.value("kind", "") == "controller";
  EXPECT_EQ(controller_records, 2);
}

}  // namespace
}  // namespace enas
