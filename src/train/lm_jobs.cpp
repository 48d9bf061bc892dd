// The language model's jobs (Penn Treebank or any corpus): enas_lm's recurrent cell, trained
// (fixed) or searched.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/controller/controller.h"
#include "enas/data/datasets.h"
#include "enas/train/jobs.h"
#include "enas/train/jobs_common.h"
#include "enas/train/lm_search_trainer.h"
#include "enas/train/lm_trainer.h"
#include "enas/util/files.h"
#include "enas/util/runtime.h"

namespace enas {

namespace {

/// A vocabulary file is read whole: WikiText-103's 267,735 words take 2.5 MB.
constexpr uint64_t kMaxVocabularyBytes = uint64_t{64} << 20;

/// The corpus, checked against the vocabulary the run folder recorded (vocab.txt, one word a line
/// in id order): a resumed or derived run whose data changed would give its ids other words.
/// A new run records it.
Corpus load_corpus(Session& session) {
  const Config& c = session.config();
  Corpus corpus = load_corpus(data_request(c));
  if (corpus.folded > 0) {
    session.reporter().message(fmt::format(
        "{} distinct training words seen fewer than {} times are {} (--vocab_min_count)",
        corpus.folded, c.vocab_min_count, kUnk));
  }
  session.reporter().message(fmt::format(
      "{}: vocabulary {}; train_size {}, valid_size {}, test_size {}", corpus.dir,
      corpus.vocab.size(), corpus.train.numel(), corpus.valid.numel(), corpus.test.numel()));
  const std::string text = vocabulary_text(corpus.vocab);
  const std::string recorded = session.dir().file("vocab.txt");
  if (std::filesystem::exists(recorded)) {
    const std::string before = read_small_file(recorded, "vocabulary", kMaxVocabularyBytes);
    if (before != text) {
      size_t line = 1;
      for (size_t i = 0; i < std::min(before.size(), text.size()) && before[i] == text[i]; ++i) {
        line += before[i] == '\n';
      }
      fail(
          "the corpus in {} no longer has the vocabulary this run was started with ({}: {} "
          "words, now {}; they differ from line {}): the data changed, and the model's ids would "
          "name other words; point --data at the run's corpus",
          corpus.dir, recorded, std::count(before.begin(), before.end(), '\n'), corpus.vocab.size(),
          line);
    }
  } else {
    session.dir().write_file("vocab.txt", text);
  }
  return corpus;
}

/// Final training of a fixed cell (enas_lm's fixed_lib.py).
class LmTrainJob : public Job {
 public:
  explicit LmTrainJob(const Config& c) : config_(c) { build(kPtbVocabSize); }

  std::string describe(const Compute& compute) const override {
    return fmt::format("{}Model has {} params, {} threads, device {}\n", model_->summary(),
                       model_->num_params(), compute.threads, compute.device.str());
  }
  nlohmann::json describe_json() const override {
    return {{"params", model_->num_params()},
            {"search_for", config_.search_for},
            {"dataset", config_.dataset},
            {"arc", model_->arc().to_string()}};
  }

  nlohmann::json run(Session& session) override {
    Reporter& reporter = session.reporter();
    session.draw(Architecture::of(rnn::space(), model_->arc().code), "arc");
    const Corpus corpus = load_corpus(session);
    // A corpus of another vocabulary: the model is rebuilt at its size.
    if (corpus.vocab.size() != kPtbVocabSize) build(corpus.vocab.size());
    reporter.message(model_->summary());
    reporter.message(
        fmt::format("Model has {} params, {}", model_->num_params(), session.compute_text()));
    LmFinalTrainer trainer(session, model_, corpus);
    const LmTrainResult r = trainer.run();
    reporter.message(
        fmt::format("Done: {} epochs, valid_ppl {:.2f}, test_ppl {:.2f}, {:.1f} s, "
                    "run folder {}",
                    r.epochs, r.valid_ppl, r.test_ppl, r.seconds, session.dir().path()));
    nlohmann::json result = session.result(r.epochs, r.steps, model_->num_params(), r.seconds);
    result.update({{"arc", model_->arc().to_string()},
                   {"valid_ppl", r.valid_ppl},
                   {"test_ppl", r.test_ppl},
                   {"train_ppl", r.train_ppl},
                   {"averaged", r.averaged},
                   {"rollbacks", r.rollbacks},
                   {"tokens_per_s", r.tokens_per_s}});
    return result;
  }

 private:
  void build(int64_t vocab_size) {
    torch::manual_seed(config_.seed);
    model_ = make_language_model(config_, vocab_size, /*shared=*/false);
  }

  Config config_;
  RnnLm model_{nullptr};
};

/// A search of the recurrent cell (enas_lm's search.py).
class LmSearchJob : public Job {
 public:
  explicit LmSearchJob(const Config& c) : config_(c) { build(kPtbVocabSize); }

  std::string describe(const Compute&) const override {
    return fmt::format("{}Shared child has {} params ({} per architecture); controller {} params\n",
                       child_->summary(), child_->num_params(), child_->num_params_per_arc(),
                       count_params(controller_->parameters()));
  }
  nlohmann::json describe_json() const override {
    return {{"params", child_->num_params()},
            {"params_per_arc", child_->num_params_per_arc()},
            {"controller_params", count_params(controller_->parameters())}};
  }

  nlohmann::json run(Session& session) override {
    const Corpus corpus = load_corpus(session);
    if (corpus.vocab.size() != kPtbVocabSize) build(corpus.vocab.size());
    session.reporter().message(fmt::format("Shared child has {} params ({} per architecture), {}",
                                           child_->num_params(), child_->num_params_per_arc(),
                                           session.compute_text()));
    LmSearchTrainer trainer(session, child_, controller_, corpus);
    return search_result(session, trainer.run(), child_->num_params());
  }

  nlohmann::json derive(Session& session, const std::string& checkpoint) override {
    const Corpus corpus = load_corpus(session);
    if (corpus.vocab.size() != kPtbVocabSize) build(corpus.vocab.size());
    LmSearchTrainer trainer(session, child_, controller_, corpus);
    return derive_in(session, trainer, checkpoint);
  }

 private:
  void build(int64_t vocab_size) {
    torch::manual_seed(config_.seed);
    child_ = make_language_model(config_, vocab_size, /*shared=*/true);
    controller_ = make_controller(config_);
  }

  Config config_;
  RnnLm child_{nullptr};
  Controller controller_;
};

}  // namespace

std::unique_ptr<Job> make_lm_train_job(const Config& config) {
  return std::make_unique<LmTrainJob>(config);
}

std::unique_ptr<Job> make_lm_search_job(const Config& config) {
  return std::make_unique<LmSearchJob>(config);
}

}  // namespace enas
