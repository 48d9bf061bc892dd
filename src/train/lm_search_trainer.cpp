#include "enas/train/lm_search_trainer.h"

#include <fmt/format.h>

#include <cmath>

#include "enas/space/arc_text.h"
#include "enas/train/lm_trainer.h"
#include "enas/train/reinforce.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

namespace {

using Clock = std::chrono::steady_clock;

rnn::Arc to_arc(const std::vector<int>& flat) { return rnn::arc_from_flat(flat); }

}  // namespace

LmSearchTrainer::LmSearchTrainer(const Config& config, RnnLm child, Controller controller,
                                 const Corpus& corpus, const RunDir& run, Reporter& reporter,
                                 torch::Device device)
    : config_(config),
      child_(std::move(child)),
      controller_(std::move(controller)),
      run_(run),
      reporter_(reporter),
      device_(device) {
  child_->to(device_);  // the controller stays on the CPU, as in the CIFAR-10 search
  reinforce_ = std::make_unique<Reinforce>(controller_, ReinforceOptions::from(config_));
  train_rows_ = batchify(corpus.train, config_.batch_size).to(device_);
  valid_rows_ = batchify(corpus.valid, config_.batch_size).to(device_);
  valid_segments_ = fixed_length_segments(valid_rows_.size(1), config_.child_bptt_steps);
  require(!valid_segments_.empty(),
          "the validation stream ({} tokens) is too short for one segment of {} x {} tokens "
          "(--test_limit limits it)",
          corpus.valid.numel(), config_.batch_size, config_.child_bptt_steps);
  arcs_log_.open(run_.file("arcs.jsonl"), std::ios::app);
  require(arcs_log_.good(), "cannot write {}", run_.file("arcs.jsonl"));
}

LmSearchTrainer::~LmSearchTrainer() = default;

double LmSearchTrainer::elapsed() const {
  return seconds_before_ + std::chrono::duration<double>(Clock::now() - started_).count();
}

double LmSearchTrainer::reward_loss(const std::vector<int>& arc) {
  child_->set_arc(to_arc(arc));
  const Segment seg = valid_segments_[valid_cursor_];
  valid_cursor_ = (valid_cursor_ + 1) % static_cast<int64_t>(valid_segments_.size());
  return lm_eval_loss(*child_, valid_rows_, {seg}, /*reset_each=*/true);
}

double LmSearchTrainer::evaluate_valid() {
  // child.py eval_valid: the state reset before every segment, and (its sample_arc being an op)
  // a fresh architecture for each.
  return lm_eval_loss(*child_, valid_rows_, valid_segments_, /*reset_each=*/true,
                      [&](size_t) { child_->set_arc(to_arc(controller_->sample(1).arcs[0])); });
}

bool LmSearchTrainer::train_child_epoch(int64_t epoch, int64_t& step, int64_t rollbacks) {
  LmEpochHooks hooks;
  // A fresh architecture per segment.
  hooks.before_step = [this] { child_->set_arc(to_arc(controller_->sample(1).arcs[0])); };
  return train_lm_epoch(
             *child_, train_rows_, config_, epoch, rollbacks, step, reporter_,
             [this] { return elapsed() / 60; }, hooks)
      .finite;
}

void LmSearchTrainer::train_controller(int64_t epoch) {
  reporter_.message(std::string(80, '-'));
  reporter_.message("Training controller");
  for (int t = 0; t < config_.controller_train_steps; ++t) {
    // The num_aggregate samples of one update see the same policy (their SyncReplicasOptimizer
    // applies nothing until it has them all), so they are drawn in one batched pass.
    ArcBatch samples = controller_->sample(config_.controller_num_aggregate);
    std::vector<double> scores;
    for (const auto& arc : samples.arcs) {
      scores.push_back(kLmRewardConstant / perplexity(reward_loss(arc)));
    }
    ReinforceStats s = reinforce_->update(samples, scores);
    const double ent0 = samples.entropy[0].item<double>();
    const double rw0 = reinforce_->reward(scores[0], ent0);
    reporter_.message(
        fmt::format("step={:<5d} ent={:<7.3f} ppl={:<7.2f} rw={:<7.4f} bl={:<7.4f} "
                    "arc=[{}]",
                    t * config_.controller_num_aggregate, ent0, kLmRewardConstant / rw0, rw0,
                    s.baseline, join_ints(samples.arcs[0])));
    for (size_t i = 0; i < samples.arcs.size(); ++i) {
      arcs_log_ << nlohmann::json{{"kind", "controller"},
                                  {"epoch", epoch + 1},
                                  {"ctrl_step", s.step},
                                  {"arc", join_ints(samples.arcs[i])},
                                  {"valid_ppl", kLmRewardConstant / scores[i]}}
                       .dump()
                << '\n';
    }
    reporter_.record({{"kind", "controller"},
                      {"epoch", epoch + 1},
                      {"ctrl_step", s.step},
                      {"loss", s.loss},
                      {"entropy", s.entropy},
                      {"grad_norm", s.grad_norm},
                      {"reward", s.reward},
                      {"baseline", s.baseline},
                      {"valid_ppl", kLmRewardConstant / s.accuracy}});
  }
  arcs_log_.flush();
}

LmDerived LmSearchTrainer::derive(int64_t samples) {
  LmDerived best;
  best.valid_ppl = std::numeric_limits<double>::infinity();
  const int64_t n = static_cast<int64_t>(valid_segments_.size());
  const int64_t used =
      config_.derive_valid_batches > 0 ? std::min<int64_t>(config_.derive_valid_batches, n) : n;
  // Every candidate is scored on the same segments, so the comparison is fair.
  const std::vector<Segment> segs(valid_segments_.begin(), valid_segments_.begin() + used);
  ArcBatch arcs = controller_->sample(samples);
  for (const auto& arc : arcs.arcs) {
    child_->set_arc(to_arc(arc));
    const double ppl = perplexity(lm_eval_loss(*child_, valid_rows_, segs, /*reset_each=*/true));
    arcs_log_
        << nlohmann::json{{"kind", "derive"}, {"arc", join_ints(arc)}, {"valid_ppl", ppl}}.dump()
        << '\n';
    if (best.arc.empty() || ppl < best.valid_ppl) {
      best.valid_ppl = ppl;
      best.arc = arc;
    }
  }
  arcs_log_.flush();
  best.samples = samples;
  return best;
}

void LmSearchTrainer::save(int64_t epochs_done, int64_t step, int64_t rollbacks) {
  nlohmann::json meta = {{"epoch", epochs_done},
                         {"step", step},
                         {"seconds", elapsed()},
                         {"kind", "lm_search"},
                         {"rollbacks", rollbacks},
                         {"valid_cursor", valid_cursor_},
                         {"baseline", reinforce_->baseline()}};
  run_.save_checkpoint(epochs_done, meta, [&](torch::serialize::OutputArchive& a) {
    torch::serialize::OutputArchive child, controller, reinforce;
    child_->save(child);
    controller_->save(controller);
    reinforce_->save(reinforce);
    a.write("model", child);
    a.write("controller", controller);
    a.write("reinforce", reinforce);
    a.write("controller_rng", c10::IValue(controller_->rng_state()));
  });
}

nlohmann::json LmSearchTrainer::restore(const std::string& checkpoint) {
  auto meta = load_checkpoint(checkpoint, [&](torch::serialize::InputArchive& a) {
    torch::serialize::InputArchive child, controller, reinforce;
    a.read("model", child);
    a.read("controller", controller);
    a.read("reinforce", reinforce);
    try {
      child_->load(child);
      controller_->load(controller);
    } catch (const c10::Error& e) {
      fail("checkpoint {} does not match this search (was a size changed?): {}", checkpoint,
           e.what_without_backtrace());
    }
    reinforce_->load(reinforce);
    c10::IValue rng;
    a.read("controller_rng", rng);
    controller_->set_rng_state(rng.toStringRef());
  });
  require(meta.value("kind", "") == "lm_search",
          "checkpoint {} is not a Penn Treebank search checkpoint", checkpoint);
  valid_cursor_ =
      meta.value("valid_cursor", int64_t{0}) % static_cast<int64_t>(valid_segments_.size());
  return meta;
}

LmSearchResult LmSearchTrainer::run(bool resume) {
  LmSearchResult result;
  LmCheckpoints checkpoints(run_, reporter_, [this](const std::string& p) { return restore(p); });
  LmProgress at;
  if (resume) {
    at = checkpoints.resume();
    seconds_before_ = at.seconds;
  } else {
    save(0, 0, 0);  // what a rollback in the first epoch returns to
  }
  started_ = Clock::now();
  int64_t& epoch = at.epoch;
  int64_t& step = at.step;
  while (epoch < config_.num_epochs) {
    result.rollbacks = at.rollbacks;
    torch::manual_seed(mix_seed(config_.seed, epoch, 0x5eed + at.rollbacks));
    if (!train_child_epoch(epoch, step, at.rollbacks)) {
      at = checkpoints.roll_back();
      continue;
    }
    checkpoints.epoch_done();
    if (config_.controller_training && controller_->trainable() &&
        (epoch + 1) % config_.controller_train_every == 0) {
      train_controller(epoch);
    }
    ++epoch;
    if (epoch % config_.eval_every_epochs == 0 || epoch == config_.num_epochs) {
      result.valid_ppl = perplexity(evaluate_valid());
      reporter_.message(fmt::format("valid_ppl={:<.2f}", result.valid_ppl));
      reporter_.record({{"kind", "lm_eval"},
                        {"epoch", epoch},
                        {"step", step},
                        {"split", "valid"},
                        {"ppl", result.valid_ppl}});
    }
    save(epoch, step, result.rollbacks);
  }
  reporter_.message(fmt::format(
      "Deriving: {} architectures, each on {} validation segments", config_.derive_samples,
      config_.derive_valid_batches > 0 ? std::to_string(config_.derive_valid_batches)
                                       : std::string("all")));
  result.best = derive(config_.derive_samples);
  write_lm_best_arc(run_, config_, result.best);
  reporter_.message(fmt::format("Best architecture (valid_ppl {:.2f}): {}\n{}",
                                result.best.valid_ppl, join_ints(result.best.arc),
                                to_arc(result.best.arc).describe()));
  result.epochs = epoch;
  result.steps = step;
  result.seconds = elapsed();
  return result;
}

void write_lm_best_arc(const RunDir& run, const Config& c, const LmDerived& best) {
  const std::string arc = join_ints(best.arc);
  run.write_file("best_arc.txt",
                 fmt::format("# enas search_for=rnn dataset=ptb child_num_layers={} "
                             "valid_ppl={:.2f}\n{}\n",
                             best.arc.size() / 2, best.valid_ppl, arc));
  run.write_file("best_arc.json", nlohmann::json{{"arc", arc},
                                                 {"valid_ppl", best.valid_ppl},
                                                 {"samples", best.samples},
                                                 {"search_for", "rnn"},
                                                 {"child_num_layers", best.arc.size() / 2},
                                                 {"dataset", "ptb"}}
                                          .dump(2) +
                                      "\n");
}

}  // namespace enas
