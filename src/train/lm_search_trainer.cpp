#include "enas/train/lm_search_trainer.h"

#include <fmt/format.h>

#include <algorithm>

#include "enas/space/arc_text.h"
#include "enas/train/reinforce.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

namespace {

constexpr SearchTraits kLmSearchTraits{"lm_search",
                                       "valid_ppl",
                                       /*higher_is_better=*/false,
                                       /*rolls_back=*/true,
                                       "tokens",
                                       "{1:-<80}\nTraining controller",
                                       "Best architecture ({0}): {1}\n{3}"};

}  // namespace

LmSearchTrainer::LmSearchTrainer(Session& session, RnnLm child, Controller controller,
                                 const Corpus& corpus)
    : SearchLoop(kLmSearchTraits, session, std::move(controller), child.ptr()),
      child_(std::move(child)) {
  child_->to(device_);
  train_rows_ = batchify(corpus.train, config_.batch_size).to(device_);
  // Segments have random lengths around bptt (enas_lm): the count of bptt-long ones.
  steps_per_epoch_ = std::max<int64_t>(1, (train_rows_.size(1) - 1) / config_.child_bptt_steps);
  valid_rows_ = batchify(corpus.valid, config_.batch_size).to(device_);
  valid_segments_ = fixed_length_segments(valid_rows_.size(1), config_.child_bptt_steps);
  require(!valid_segments_.empty(),
          "the validation stream ({} tokens) is too short for one segment of {} x {} tokens "
          "(--test_limit limits it)",
          corpus.valid.numel(), config_.batch_size, config_.child_bptt_steps);
  // Every candidate of derivation is scored on the same segments, so the comparison is fair.
  const int64_t n = static_cast<int64_t>(valid_segments_.size());
  const int64_t used =
      config_.derive_valid_batches > 0 ? std::min<int64_t>(config_.derive_valid_batches, n) : n;
  derive_segments_.assign(valid_segments_.begin(), valid_segments_.begin() + used);
  derive_scope_ =
      fmt::format(", each on {} validation segments",
                  config_.derive_valid_batches > 0 ? std::to_string(config_.derive_valid_batches)
                                                   : std::string("all"));
  parts_.module("model", *child_);
  add_controller_parts();
  parts_.loose(
      [this](torch::serialize::OutputArchive& a) {
        if (save_state_.defined()) a.write("lm_state", save_state_, /*is_buffer=*/true);
        save_rng_state(a, device_);
      },
      [this](torch::serialize::InputArchive& a) {
        resume_state_ = torch::Tensor();  // only a mid-epoch checkpoint has one
        a.try_read("lm_state", resume_state_, /*is_buffer=*/true);
        load_rng_state(a, device_);
      });
  result_fields_ = {{"shared_valid_ppl", -1.0}};
}

LmSearchTrainer::~LmSearchTrainer() = default;

ChildPass LmSearchTrainer::train_child(int64_t epoch, const RunProgress* from) {
  LmEpochHooks hooks;
  hooks.before_step = [this] { set_arc(sample_one()); };  // a fresh architecture per segment
  LmEpochPosition start;
  if (from) start = LmEpochPosition::from_json(from->position, resume_state_);
  // Every process trains its rows on the same architecture (the controller's stream is the same
  // everywhere).
  hooks.save = [&](const LmEpochPosition& at) {
    save_state_ = at.state;
    const std::string saved = save({epoch, at.segment}, at.to_json());
    save_state_ = torch::Tensor();
    return saved;
  };
  const LmEpoch e = train_lm_epoch(
      *child_, rows_of(train_rows_, team_), config_, epoch, at_.rollbacks, at_.step, reporter_,
      run_, [this] { return clock_.minutes(); }, hooks, from ? &start : nullptr, team_);
  return {e.finite, e.at.segment};
}

double LmSearchTrainer::reward_score(const std::vector<int>& arc) {
  // Cross-entropy on the next validation segment (state from zero), cycling through them.
  set_arc(arc);
  const Segment seg = valid_segments_[valid_cursor_];
  valid_cursor_ = (valid_cursor_ + 1) % static_cast<int64_t>(valid_segments_.size());
  return kLmRewardConstant / perplexity(lm_eval_loss(*child_, valid_rows_, {seg}, true));
}

void LmSearchTrainer::skip_reward(const std::vector<int>&) {
  valid_cursor_ = (valid_cursor_ + 1) % static_cast<int64_t>(valid_segments_.size());
}

UpdateLog LmSearchTrainer::log_update(int t, const ArcBatch& samples,
                                      const std::vector<double>& scores,
                                      const ReinforceStats& s) const {
  // enas_lm prints the update's first sample.
  const double ent0 = samples.entropy[0].item<double>();
  const double rw0 = reinforce_->reward(scores[0], ent0);
  UpdateLog log;
  log.line = fmt::format("step={:<5d} ent={:<7.3f} ppl={:<7.2f} rw={:<7.4f} bl={:<7.4f} arc=[{}]",
                         t * config_.controller_num_aggregate, ent0, kLmRewardConstant / rw0, rw0,
                         s.baseline, join_ints(samples.arcs[0]));
  for (double score : scores) log.samples.push_back({{"valid_ppl", kLmRewardConstant / score}});
  log.update = {{"valid_ppl", kLmRewardConstant / s.accuracy}};
  return log;
}

void LmSearchTrainer::evaluate(int64_t epochs_done) {
  // child.py eval_valid: the state reset before every segment, and (its sample_arc being an op)
  // a fresh architecture for each.
  const double ppl = perplexity(lm_eval_loss(*child_, valid_rows_, valid_segments_, true,
                                             [&](size_t) { set_arc(sample_one()); }));
  result_fields_["shared_valid_ppl"] = ppl;
  report_valid_ppl(reporter_, run_, "the shared child", epochs_done, at_.step, ppl, {});
}

double LmSearchTrainer::derive_score(const std::vector<int>& arc) {
  set_arc(arc);
  return perplexity(lm_eval_loss(*child_, valid_rows_, derive_segments_, /*reset_each=*/true));
}

void LmSearchTrainer::restored(const nlohmann::json& meta) {
  valid_cursor_ =
      meta.value("valid_cursor", int64_t{0}) % static_cast<int64_t>(valid_segments_.size());
}

}  // namespace enas
