#include "enas/train/lm_search_trainer.h"

#include <fmt/format.h>

#include <cmath>

#include "enas/space/arc_text.h"
#include "enas/train/best_arc.h"
#include "enas/train/checkpoint.h"
#include "enas/train/lm_trainer.h"
#include "enas/train/reinforce.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"
#include "enas/util/signals.h"

namespace enas {

namespace {

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
  parts_.module("model", *child_)
      .module("controller", *controller_)
      .state("reinforce", *reinforce_)
      .loose(
          [this](torch::serialize::OutputArchive& a) {
            a.write("controller_rng", c10::IValue(controller_->rng_state()));
            if (save_state_.defined()) a.write("lm_state", save_state_, /*is_buffer=*/true);
            save_rng_state(a, device_);
          },
          [this](torch::serialize::InputArchive& a) {
            c10::IValue rng;
            a.read("controller_rng", rng);
            controller_->set_rng_state(rng.toStringRef());
            a.try_read("lm_state", resume_state_, /*is_buffer=*/true);
            load_rng_state(a, device_);
          });
}

LmSearchTrainer::~LmSearchTrainer() = default;

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

bool LmSearchTrainer::train_child_epoch(int64_t epoch, int64_t& step, int64_t rollbacks,
                                        const LmEpochPosition* from) {
  LmEpochHooks hooks;
  // A fresh architecture per segment.
  hooks.before_step = [this] { child_->set_arc(to_arc(controller_->sample(1).arcs[0])); };
  const LmEpoch e = train_lm_epoch(
      *child_, train_rows_, config_, epoch, rollbacks, step, reporter_,
      [this] { return clock_.minutes(); }, hooks, from);
  if (e.stopped) {
    const std::string saved =
        save({epoch, e.at.segment}, step, rollbacks, e.at.to_json(), e.at.state);
    stop_run(run_, reporter_,
             fmt::format("in epoch {} after step {} ({} segments)", epoch + 1, step, e.at.segment),
             saved);
  }
  child_segments_ = e.at.segment;
  return e.finite;
}

void LmSearchTrainer::train_controller(int64_t epoch, int64_t step, int64_t rollbacks, int first) {
  reporter_.message(std::string(80, '-'));
  reporter_.message("Training controller");
  for (int t = first; t < config_.controller_train_steps; ++t) {
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
      reporter_.arc({{"kind", "controller"},
                     {"epoch", epoch + 1},
                     {"ctrl_step", s.step},
                     {"arc", join_ints(samples.arcs[i])},
                     {"valid_ppl", kLmRewardConstant / scores[i]}});
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
    // Named after the child pass it follows (all its segments done).
    stop_between_controller_steps(
        run_, reporter_, epoch, t + 1, config_.controller_train_steps, [&] {
          return save({epoch, std::max<int64_t>(child_segments_, 1)}, step, rollbacks,
                      {{"ctrl_t", t + 1}, {"child_segments", child_segments_}});
        });
  }
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
  for (size_t i = 0; i < arcs.arcs.size(); ++i) {
    const auto& arc = arcs.arcs[i];
    if (stop_requested()) {
      stop_run(run_, reporter_,
               fmt::format("while deriving ({} of {} architectures scored)", i, samples),
               run_.latest_checkpoint().value_or(""));
    }
    child_->set_arc(to_arc(arc));
    const double ppl = perplexity(lm_eval_loss(*child_, valid_rows_, segs, /*reset_each=*/true));
    reporter_.arc({{"kind", "derive"}, {"arc", join_ints(arc)}, {"valid_ppl", ppl}});
    if (best.arc.empty() || ppl < best.valid_ppl) {
      best.valid_ppl = ppl;
      best.arc = arc;
    }
  }
  best.samples = samples;
  return best;
}

std::string LmSearchTrainer::save(CheckpointId id, int64_t step, int64_t rollbacks,
                                  const nlohmann::json& position, const torch::Tensor& state) {
  nlohmann::json meta = {{"epoch", id.epoch},
                         {"batch", id.batch},
                         {"step", step},
                         {"ctrl_step", reinforce_->steps()},
                         {"seconds", clock_.seconds()},
                         {"kind", "lm_search"},
                         {"rollbacks", rollbacks},
                         {"valid_cursor", valid_cursor_},
                         {"baseline", reinforce_->baseline()}};
  if (!position.is_null()) meta["position"] = position;
  reporter_.sync();
  save_state_ = state;
  const std::string path =
      run_.save_checkpoint(id, meta, [&](torch::serialize::OutputArchive& a) { parts_.save(a); });
  save_state_ = torch::Tensor();
  return path;
}

nlohmann::json LmSearchTrainer::restore(const std::string& checkpoint) {
  resume_state_ = torch::Tensor();
  auto meta = load_checkpoint(checkpoint, "lm_search", [&](torch::serialize::InputArchive& a) {
    parts_.load(a, checkpoint);
  });
  valid_cursor_ =
      meta.value("valid_cursor", int64_t{0}) % static_cast<int64_t>(valid_segments_.size());
  return meta;
}

LmSearchResult LmSearchTrainer::run(bool resume) {
  LmSearchResult result;
  LmCheckpoints checkpoints(run_, reporter_, [this](const std::string& p) { return restore(p); });
  LmProgress at;
  if (resume) at = checkpoints.resume();
  clock_.start(at.seconds);
  if (stop_requested()) stop_run(run_, reporter_, "before training began", "");
  if (!resume) save({0, 0}, 0, 0);  // what a rollback in the first epoch returns to
  run_.mark_started();
  clock_.start(at.seconds);
  int64_t& epoch = at.epoch;
  int64_t& step = at.step;
  while (epoch < config_.num_epochs) {
    result.rollbacks = at.rollbacks;
    const bool mid_epoch = at.batch > 0;
    const nlohmann::json position = mid_epoch ? at.position : nlohmann::json::object();
    at.batch = 0;  // later epochs start at their beginning
    if (!mid_epoch) torch::manual_seed(mix_seed(config_.seed, epoch, 0x5eed + at.rollbacks));
    if (!mid_epoch || position.contains("segment")) {
      LmEpochPosition from;
      if (mid_epoch) from = LmEpochPosition::from_json(position, resume_state_);
      if (!train_child_epoch(epoch, step, at.rollbacks, mid_epoch ? &from : nullptr)) {
        at = checkpoints.roll_back();
        continue;
      }
    }
    checkpoints.epoch_done();
    if (position.contains("ctrl_t")) child_segments_ = position.value("child_segments", 1);
    if (config_.controller_training && controller_->trainable() &&
        (epoch + 1) % config_.controller_train_every == 0) {
      train_controller(epoch, step, at.rollbacks, position.value("ctrl_t", 0));
    }
    ++epoch;
    if (epoch % config_.eval_every_epochs == 0 || epoch == config_.num_epochs) {
      result.valid_ppl = perplexity(evaluate_valid());
      report_valid_ppl(reporter_, run_, "the shared child", epoch, step, result.valid_ppl, {});
    }
    const std::string saved = save({epoch, 0}, step, result.rollbacks);
    if (stop_requested() && epoch < config_.num_epochs) {
      stop_run(run_, reporter_, fmt::format("at the end of epoch {}", epoch), saved);
    }
  }
  reporter_.message(fmt::format(
      "Deriving: {} architectures, each on {} validation segments", config_.derive_samples,
      config_.derive_valid_batches > 0 ? std::to_string(config_.derive_valid_batches)
                                       : std::string("all")));
  result.best = derive(config_.derive_samples);
  write_best_arc(run_, config_,
                 {result.best.arc, "valid_ppl", result.best.valid_ppl, result.best.samples});
  reporter_.message(fmt::format("Best architecture (valid_ppl {:.2f}): {}\n{}",
                                result.best.valid_ppl, join_ints(result.best.arc),
                                to_arc(result.best.arc).describe()));
  result.epochs = epoch;
  result.steps = step;
  result.seconds = clock_.seconds();
  return result;
}

}  // namespace enas
