#include "enas/train/search_loop.h"

#include <fmt/format.h>

#include "enas/space/arc_text.h"
#include "enas/train/reinforce.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"
#include "enas/util/signals.h"

namespace enas {

SearchLoop::SearchLoop(const SearchTraits& traits, Session& session, Controller controller,
                       std::shared_ptr<torch::nn::Module> child)
    : TrainerCore(session),
      traits_(traits),
      controller_(std::move(controller)),
      space_(space_named(config_.search_for)),
      // The controller stays on the CPU: its steps are tiny and sequential.
      reinforce_(std::make_unique<Reinforce>(controller_, ReinforceOptions::from(config_))),
      child_module_(std::move(child)) {}

SearchLoop::~SearchLoop() = default;

void SearchLoop::add_controller_parts() {
  parts_.module("controller", *controller_)
      .state("reinforce", *reinforce_)
      .loose(
          [this](torch::serialize::OutputArchive& a) {
            a.write("controller_rng", c10::IValue(controller_->rng_state()));
          },
          [this](torch::serialize::InputArchive& a) {
            c10::IValue rng;
            a.read("controller_rng", rng);
            controller_->set_rng_state(rng.toStringRef());
          });
}

std::string SearchLoop::save(CheckpointId id, const nlohmann::json& position) {
  nlohmann::json meta = {{"epoch", id.epoch},
                         {"batch", id.batch},
                         {"step", at_.step},
                         {"ctrl_step", reinforce_->steps()},
                         {"seconds", clock_.seconds()},
                         {"kind", traits_.kind},
                         {"baseline", reinforce_->baseline()}};
  if (traits_.rolls_back) meta["rollbacks"] = at_.rollbacks;
  if (!position.is_null()) meta["position"] = position;
  meta.update(meta_fields());
  reporter_.sync();  // arcs.jsonl holds every update the checkpoint has
  return write_checkpoint(id, meta);
}

nlohmann::json SearchLoop::restore(const std::string& checkpoint) {
  auto meta = read_checkpoint(checkpoint, traits_.kind);
  restored(meta);
  return meta;
}

void SearchLoop::train_controller(int64_t epoch, int first) {
  reporter_.message(fmt::format(fmt::runtime(traits_.controller_banner), epoch + 1, ""));
  for (int t = first; t < config_.controller_train_steps; ++t) {
    // The num_aggregate samples of one update see the same policy (the authors'
    // SyncReplicasOptimizer applies nothing until it has them all): one batched draw.
    ArcBatch samples = controller_->sample(config_.controller_num_aggregate);
    // Each process scores its share (sample i on process i mod size); the sum gives every
    // process all the scores, and so the same update.
    std::vector<double> scores(samples.arcs.size(), 0.0);
    for (size_t i = 0; i < samples.arcs.size(); ++i) {
      if (static_cast<int>(i % team_.size()) == team_.rank()) {
        scores[i] = reward_score(samples.arcs[i]);
      } else {
        skip_reward(samples.arcs[i]);
      }
    }
    team_.sum(scores);
    const ReinforceStats s = reinforce_->update(samples, scores);
    const UpdateLog log = log_update(t, samples, scores, s);
    reporter_.tick({"controller", epoch, s.step, 0});
    reporter_.message(log.line);
    for (size_t i = 0; i < samples.arcs.size(); ++i) {
      nlohmann::json line = {{"kind", "controller"},
                             {"epoch", epoch + 1},
                             {"ctrl_step", s.step},
                             {"arc", join_ints(samples.arcs[i])}};
      line.update(log.samples.at(i));
      reporter_.arc(line);
    }
    nlohmann::json record = {{"kind", "controller"}, {"epoch", epoch + 1},
                             {"ctrl_step", s.step},  {"loss", s.loss},
                             {"entropy", s.entropy}, {"grad_norm", s.grad_norm},
                             {"reward", s.reward},   {"baseline", s.baseline}};
    record.update(log.update);
    reporter_.record(record);
    team_.agreed_stop();  // a signal one process saw is every process's
    stop_between_controller_steps(
        run_, reporter_, epoch, t + 1, config_.controller_train_steps, [&] {
          return save({epoch, std::max<int64_t>(pass_steps_, 1)}, {{"ctrl_t", t + 1}});
        });
  }
}

BestArc SearchLoop::derive(int64_t samples) {
  BestArc best{{}, traits_.score_name, 0, samples};
  const ArcBatch arcs = controller_->sample(samples);
  // As the controller's rewards: architecture i is scored by process i mod size.
  std::vector<double> scores(static_cast<size_t>(samples), 0.0);
  auto report = [&](int64_t i) {
    const auto& arc = arcs.arcs[i];
    const double score = scores[i];
    reporter_.arc({{"kind", "derive"}, {"arc", join_ints(arc)}, {traits_.score_name, score}});
    const bool better = traits_.higher_is_better ? score > best.score : score < best.score;
    if (!best.arc || better) {
      best.score = score;
      best.arc = Architecture::of(space_, arc);
    }
  };
  for (int64_t i = 0; i < samples; ++i) {
    if (team_.agreed_stop() != 0) {
      stop_run(run_, reporter_,
               fmt::format("while deriving ({} of {} architectures scored)", i, samples),
               run_.latest_checkpoint().value_or(""));
    }
    if (i % team_.size() == team_.rank()) scores[i] = derive_score(arcs.arcs[i]);
    if (team_.alone()) report(i);  // as it is scored
  }
  if (!team_.alone()) {
    team_.sum(scores);
    for (int64_t i = 0; i < samples; ++i) report(i);
  }
  return best;
}

SearchResult SearchLoop::run() {
  // Every process starts from rank 0's child and controller (a resume then loads the same
  // checkpoint everywhere).
  std::vector<torch::Tensor> state = child_module_->parameters();
  for (const auto& t : child_module_->buffers()) state.push_back(t);
  for (const auto& t : controller_->parameters()) state.push_back(t);
  team_.copy_from_leader(state);
  RunCheckpoints checkpoints(run_, reporter_, [this](const std::string& p) { return restore(p); });
  const bool resume = resume_;
  if (resume) at_ = checkpoints.resume();
  clock_.start(at_.seconds);
  if (team_.agreed_stop() != 0) stop_run(run_, reporter_, "before training began", "");
  if (!resume && traits_.rolls_back) save({0, 0});  // what a rollback in epoch 1 returns to
  run_.mark_started();
  clock_.start(at_.seconds);
  const bool controller_trains = config_.controller_training && controller_->trainable();
  report_plan(
      at_.epoch, steps_per_epoch_,
      controller_trains ? config_.controller_train_steps / config_.controller_train_every : 0,
      traits_.unit);
  while (at_.epoch < config_.num_epochs) {
    const int64_t epoch = at_.epoch;
    const bool mid_epoch = at_.batch > 0;
    const RunProgress from = at_;
    at_.batch = 0;  // later epochs start at their beginning
    // Dropout and the child's streams draw from torch's generator: reseeding per epoch makes a
    // resumed run draw what the uninterrupted one would (mid-epoch, the checkpoint's state
    // continues instead); a rollback's retry draws a new stream.
    // Each process draws its own stream (rank 0 the one a single process draws); one other
    // than rank 0 resumed mid-epoch starts its own there.
    const uint64_t stream = 0x5eed + static_cast<uint64_t>(at_.rollbacks) +
                            0x1000 * static_cast<uint64_t>(team_.rank());
    if (!mid_epoch) torch::manual_seed(mix_seed(config_.seed, epoch, stream));
    if (mid_epoch && !team_.leader()) {
      torch::manual_seed(mix_seed(mix_seed(config_.seed, epoch, stream), from.batch));
    }
    // A checkpoint written between controller updates has its child pass behind it, ended at
    // the step the checkpoint is named after.
    if (mid_epoch && from.position.contains("ctrl_t")) {
      pass_steps_ = from.batch;
    } else {
      const ChildPass pass = train_child(epoch, mid_epoch ? &from : nullptr);
      if (!pass.finite) {
        at_ = checkpoints.roll_back();
        continue;
      }
      pass_steps_ = pass.steps;
    }
    checkpoints.epoch_done();
    if (config_.controller_training && controller_->trainable() &&
        (epoch + 1) % config_.controller_train_every == 0) {
      train_controller(epoch, mid_epoch ? from.position.value("ctrl_t", 0) : 0);
    }
    after_controller(epoch);
    at_.epoch = epoch + 1;
    if (at_.epoch % config_.eval_every_epochs == 0 || at_.epoch == config_.num_epochs) {
      evaluate(at_.epoch);
    }
    const std::string saved = save({at_.epoch, 0});
    if (team_.agreed_stop() != 0 && at_.epoch < config_.num_epochs) {
      stop_run(run_, reporter_, fmt::format("at the end of epoch {}", at_.epoch), saved);
    }
  }
  reporter_.message(
      fmt::format("Deriving: {} architectures{}", config_.derive_samples, derive_scope_));
  SearchResult result;
  result.best = derive(config_.derive_samples);
  write_best_arc(run_, config_, result.best);
  const Architecture& pick = *result.best.arc;
  reporter_.message(fmt::format(fmt::runtime(traits_.best_format), score_text(result.best),
                                pick.text(), pick.lines(), pick.describe()));
  result.epochs = at_.epoch;
  result.steps = at_.step;
  result.seconds = clock_.seconds();
  result.fields = result_fields_;
  if (traits_.rolls_back) result.fields["rollbacks"] = at_.rollbacks;
  return result;
}

}  // namespace enas
