#include "enas/train/lm_trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "enas/run/checkpoint.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

void WeightAverage::update() {
  torch::NoGradGuard guard;
  if (avg_.empty()) {
    for (const auto& p : params_) avg_.push_back(p.detach().clone());
  }
  ++count_;
  // The n-th update: avg = w / n + avg (n - 1) / n. The first copies w.
  for (size_t i = 0; i < params_.size(); ++i) {
    avg_[i].add_(params_[i].detach() - avg_[i], 1.0 / static_cast<double>(count_));
  }
}

void WeightAverage::swap() {
  if (avg_.empty()) return;
  torch::NoGradGuard guard;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto tmp = params_[i].detach().clone();
    params_[i].detach().copy_(avg_[i]);
    avg_[i].copy_(tmp);
  }
}

void WeightAverage::save(torch::serialize::OutputArchive& a) const {
  a.write("started", torch::tensor(static_cast<int64_t>(started_)));
  a.write("count", torch::tensor(count_));
  for (size_t i = 0; i < avg_.size(); ++i) a.write("avg" + std::to_string(i), avg_[i], true);
}

void WeightAverage::load(torch::serialize::InputArchive& a) {
  torch::Tensor started, count;
  a.read("started", started);
  a.read("count", count);
  started_ = started.item<int64_t>() != 0;
  count_ = count.item<int64_t>();
  avg_.clear();
  if (count_ > 0) {
    for (size_t i = 0; i < params_.size(); ++i) {
      torch::Tensor t;
      a.read("avg" + std::to_string(i), t, true);
      avg_.push_back(t.to(params_[i].device()));
    }
  }
}

LmFinalTrainer::LmFinalTrainer(Session& session, RnnLm model, const Corpus& corpus)
    : TrainerCore(session), model_(std::move(model)), average_(model_->parameters()) {
  model_->to(device_);  // in place: average_ keeps referring to the same parameters
  // The streams live on the device: a segment is then a view, never a copy from the host.
  train_rows_ = batchify(corpus.train, config_.batch_size).to(device_);
  valid_rows_ = batchify(corpus.valid, config_.batch_size).to(device_);
  test_rows_ = batchify(corpus.test, 1).to(device_);
  require(valid_rows_.size(1) > config_.child_bptt_steps,
          "the validation stream ({} tokens) is too short for one segment of {} x {} tokens "
          "(--test_limit limits it)",
          corpus.valid.numel(), config_.batch_size, config_.child_bptt_steps);
  parts_.module("model", *model_)
      .state("average", average_)
      .loose(
          [this](torch::serialize::OutputArchive& a) {
            if (save_state_.defined()) a.write("lm_state", save_state_, /*is_buffer=*/true);
            save_rng_state(a, device_);
          },
          [this](torch::serialize::InputArchive& a) {
            a.try_read("lm_state", resume_state_, /*is_buffer=*/true);
            load_rng_state(a, device_);
          });
}

double LmFinalTrainer::evaluate_valid() {
  // fixed.py: the state starts at zero and is carried across validation segments.
  // Each process reads its rows; the rows are independent, so the sum is the whole's.
  return lm_eval_loss(*model_, rows_of(valid_rows_, team_),
                      fixed_length_segments(valid_rows_.size(1), config_.child_bptt_steps),
                      /*reset_each=*/false, {}, team_);
}

double LmFinalTrainer::evaluate_test() {
  // fixed_lib.py reads the test stream at batch size 1, one token per step, the state carried:
  // segments of bptt tokens with the state carried compute the same losses, faster. One row
  // carried through the whole stream cannot be split: every process reads it all (the same
  // weights give the same result everywhere).
  return lm_eval_loss(*model_, test_rows_,
                      fixed_length_segments(test_rows_.size(1), config_.child_bptt_steps, true),
                      /*reset_each=*/false);
}

bool LmFinalTrainer::train_epoch(int64_t epoch, int64_t& step, LmTrainResult& result,
                                 const LmEpochPosition* from) {
  LmEpochHooks hooks;
  hooks.after_step = [this] {
    if (average_.started()) average_.update();
  };
  hooks.avg_flag = [this] { return average_.started() ? 1 : 0; };
  hooks.save = [&](const LmEpochPosition& at) {
    return save({epoch, at.segment}, step, result, &at);
  };
  const LmEpoch e = train_lm_epoch(
      *model_, rows_of(train_rows_, team_), config_, epoch, result.rollbacks, step, reporter_, run_,
      [this] { return clock_.minutes(); }, hooks, from, team_);
  if (!e.finite) return false;
  result.train_ppl = e.train_ppl;
  result.tokens_per_s = e.tokens_per_s;
  return true;
}

std::string LmFinalTrainer::save(CheckpointId id, int64_t step, const LmTrainResult& r,
                                 const LmEpochPosition* at) {
  nlohmann::json meta = {{"epoch", id.epoch},
                         {"batch", id.batch},
                         {"step", step},
                         {"seconds", clock_.seconds()},
                         {"kind", "lm_final"},
                         {"valid_ppl", r.valid_ppl},
                         {"valid_history", valid_history_},
                         {"rollbacks", r.rollbacks},
                         {"arc", model_->arc().to_string()}};
  if (at) meta["position"] = at->to_json();
  save_state_ = at ? at->state : torch::Tensor();
  const std::string path = write_checkpoint(id, meta);
  save_state_ = torch::Tensor();
  return path;
}

nlohmann::json LmFinalTrainer::restore(const std::string& path) {
  resume_state_ = torch::Tensor();
  auto meta = read_checkpoint(path, "lm_final");
  valid_history_ = meta.value("valid_history", std::vector<double>{});
  return meta;
}

LmTrainResult LmFinalTrainer::run() {
  LmTrainResult result;
  RunCheckpoints checkpoints(run_, reporter_, [this](const std::string& p) { return restore(p); });
  RunProgress at;
  if (resume_) {
    at = checkpoints.resume();
    if (!valid_history_.empty()) result.valid_ppl = valid_history_.back();
  }
  rows_of(train_rows_, team_);  // a batch the processes cannot share fails before any work
  // Every process starts from rank 0's weights (as DDP does), whatever its initialisation.
  team_.copy_from_leader(model_->parameters());
  clock_.start(at.seconds);
  if (team_.agreed_stop() != 0) stop_run(run_, reporter_, "before training began", "");
  if (!resume_) save({0, 0}, 0, result);  // what a rollback in the first epoch returns to
  run_.mark_started();
  // Segments have random lengths around bptt (enas_lm): the count of bptt-long ones.
  report_plan(at.epoch, std::max<int64_t>(1, (train_rows_.size(1) - 1) / config_.child_bptt_steps),
              0, "tokens");
  clock_.start(at.seconds);
  int64_t& epoch = at.epoch;
  int64_t& step = at.step;
  while (epoch < config_.num_epochs) {
    result.rollbacks = at.rollbacks;
    const bool mid_epoch = at.batch > 0;
    LmEpochPosition from;
    // Dropout draws from torch's generator, a stream per process (rank 0's is the one a single
    // process draws); the checkpoint's continues rank 0's, the others start their own there.
    const uint64_t stream = mix_seed(config_.seed, epoch, 0x5eed + at.rollbacks);
    const uint64_t mine = team_.leader() ? stream : mix_seed(stream, 0x1000 * team_.rank());
    if (mid_epoch) {
      from = LmEpochPosition::from_json(at.position, resume_state_);
      if (!team_.leader()) torch::manual_seed(mix_seed(mine, at.batch));
    } else {
      torch::manual_seed(mine);
    }
    at.batch = 0;  // later epochs start at their beginning
    if (!train_epoch(epoch, step, result, mid_epoch ? &from : nullptr)) {
      at = checkpoints.roll_back();
      continue;
    }
    checkpoints.epoch_done();
    ++epoch;
    if (average_.started()) average_.swap();
    result.valid_ppl = perplexity(evaluate_valid());
    if (average_.started()) average_.swap();
    report_valid_ppl(reporter_, run_, "the model", epoch, step, result.valid_ppl,
                     {{"train_ppl", result.train_ppl},
                      {"tokens_per_s", result.tokens_per_s},
                      {"averaging", average_.started()}});
    // fixed.py: average once this epoch is worse than the best before the last `threshold`.
    const size_t threshold = static_cast<size_t>(config_.best_valid_ppl_threshold);
    if (!average_.started() && valid_history_.size() > threshold &&
        result.valid_ppl >
            *std::min_element(valid_history_.begin(), valid_history_.end() - threshold)) {
      reporter_.message("Starting moving_avg");
      average_.start();
    }
    valid_history_.push_back(result.valid_ppl);
    const std::string saved = save({epoch, 0}, step, result);
    if (team_.agreed_stop() != 0 && epoch < config_.num_epochs) {
      stop_run(run_, reporter_, fmt::format("at the end of epoch {}", epoch), saved);
    }
  }
  if (average_.started()) average_.swap();
  result.test_ppl = perplexity(evaluate_test());
  if (average_.started()) average_.swap();
  reporter_.message(fmt::format("step={:<6d} test_ppl={:<.2f}", step, result.test_ppl));
  require(std::isfinite(result.test_ppl), "the test perplexity overflowed: the model diverged");
  reporter_.record({{"kind", "lm_eval"},
                    {"epoch", epoch},
                    {"step", step},
                    {"split", "test"},
                    {"ppl", result.test_ppl}});
  result.epochs = epoch;
  result.steps = step;
  result.averaged = average_.started();
  result.seconds = clock_.seconds();
  return result;
}

}  // namespace enas
