#include "enas/train/final_trainer.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "enas/child/batch_norm.h"
#include "enas/data/batch_loader.h"
#include "enas/run/checkpoint.h"
#include "enas/train/child_step.h"
#include "enas/train/evaluate.h"
#include "enas/train/lr_schedule.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"
#include "enas/util/signals.h"

namespace enas {

FinalTrainer::FinalTrainer(Session& session, ImageChild model, const ImageDataset& data)
    : TrainerCore(session), model_(std::move(model)), data_(data) {
  SgdOptions o;
  o.l2_reg = config_.child_l2_reg;
  o.clip_mode = config_.child_clip_mode;
  o.grad_bound = config_.child_grad_bound;
  // Every trainable weight, the aux head's included: the authors leave the aux head at its random
  // initialisation (docs/differences-from-authors.md), we train it.
  sgd_ = std::make_unique<Sgd>(model_->parameters(), o);
  parts_.module("model", *model_)
      .state("optimizer", *sgd_)
      .loose([this](torch::serialize::OutputArchive& a) { save_rng_state(a, device_); },
             [this](torch::serialize::InputArchive& a) { has_rng_ = load_rng_state(a, device_); });
}

FinalTrainer::~FinalTrainer() = default;

int64_t FinalTrainer::batches_per_epoch() const {
  // As the loader counts them: with several processes a last batch smaller than their number
  // is left out.
  const int64_t rest = data_.train.size() % config_.batch_size;
  return data_.train.size() / config_.batch_size + (rest >= team_.size() ? 1 : 0);
}

std::string FinalTrainer::save(CheckpointId id, int64_t step, double test_acc,
                               const nlohmann::json& meter) {
  nlohmann::json meta = {
      {"epoch", id.epoch},    {"batch", id.batch}, {"step", step},  {"seconds", clock_.seconds()},
      {"test_acc", test_acc}, {"kind", "final"},   {"meter", meter}};
  return write_checkpoint(id, meta);
}

TrainResult FinalTrainer::run() {
  TrainResult result;
  RunProgress at;
  RunCheckpoints checkpoints(run_, reporter_, [&](const std::string& path) {
    has_rng_ = false;
    auto meta = read_checkpoint(path, "final");
    result.test_acc = meta.value("test_acc", -1.0);
    return meta;
  });
  if (resume_) {
    at = checkpoints.resume([this](const std::string& path, const RunProgress& p) {
      require(p.batch == 0 || (has_rng_ && p.position.value("meter", nlohmann::json()).is_object()),
              "checkpoint {} was written mid-epoch but lacks its random state", path);
    });
  }
  model_->to(device_);
  // Every process starts from rank 0's weights (as DDP does), whatever its initialisation.
  std::vector<torch::Tensor> state = model_->parameters();
  for (const auto& b : model_->buffers()) state.push_back(b);
  team_.copy_from_leader(state);
  sgd_->on_gradients(team_.gradient_averager());
  const SyncBatchNorm sync_bn(team_, device_);

  BatchLoader loader(data_.train, data_.stats,
                     train_loader_options(config_, device_, team_, data_.augment_pad));
  const DeviceSplit test = to_device(data_.test, data_.stats, device_, use_channels_last(config_));
  const DeviceSplit valid =
      to_device(data_.valid, data_.stats, device_, use_channels_last(config_));

  const LrSchedule schedule = child_lr_schedule(config_);
  const int64_t batches = loader.batches_per_epoch();
  require(at.batch < batches,
          "checkpoint is {} batches into an epoch of {} (was --batch_size "
          "or the data changed?)",
          at.batch, batches);
  clock_.start(at.seconds);
  if (team_.agreed_stop() != 0) stop_run(run_, reporter_, "before training began", "");
  run_.mark_started();
  report_plan(at.epoch, batches, 0, "images");
  ImagePassHooks hooks;
  hooks.before_step = [&](int64_t step) {
    model_->set_progress(step, batches * config_.num_epochs);  // drop-path's schedule
  };
  for (int64_t epoch = at.epoch; epoch < config_.num_epochs; ++epoch) {
    const bool mid_epoch = epoch == at.epoch && at.batch > 0;
    // Dropout and drop-path draw from torch's generator: reseeding per epoch makes a resumed run
    // draw what the uninterrupted one would have (mid-epoch, the checkpoint's state continues).
    // Each process draws its own (rank 0 the stream one process draws); a process other than
    // rank 0 resumed mid-epoch starts a stream of its own there, since the checkpoint holds
    // rank 0's.
    const uint64_t stream = 0x5eed + 0x1000 * static_cast<uint64_t>(team_.rank());
    if (!mid_epoch) torch::manual_seed(mix_seed(config_.seed, epoch, stream));
    if (mid_epoch && !team_.leader()) {
      torch::manual_seed(mix_seed(mix_seed(config_.seed, epoch, stream), at.batch));
    }
    ImagePass pass;
    pass.team = team_;
    pass.epoch = epoch;
    pass.lr = schedule.at_epoch(epoch);
    pass.log_every = config_.log_every;
    if (mid_epoch) {
      pass.first_batch = at.batch;
      pass.meter = at.position.at("meter");
    }
    hooks.save = [&](int64_t batch, const nlohmann::json& meter) {
      return save({epoch, batch}, at.step, result.test_acc, meter);
    };
    const EpochEvent ee =
        train_image_epoch(*model_, *sgd_, loader, pass, at.step, reporter_, run_, clock_, hooks);
    result.train_loss = ee.train_loss;
    result.images_per_s = ee.images_per_s;

    const bool last = epoch + 1 == config_.num_epochs;
    // Without sync batch norm each process's running statistics are its own: rank 0's count.
    if (!team_.sync_bn()) team_.copy_from_leader(model_->buffers());
    if ((epoch + 1) % config_.eval_every_epochs == 0 || last) {
      const SplitAccuracy acc = evaluate_splits(*model_, valid, test, config_.eval_batch_size,
                                                epoch + 1, at.step, reporter_, {}, team_);
      if (test.size() > 0) result.test_acc = acc.test;
    }
    const std::string saved = save({epoch + 1, 0}, at.step, result.test_acc, {});
    if (team_.agreed_stop() != 0 && !last) {
      stop_run(run_, reporter_, fmt::format("at the end of epoch {}", epoch + 1), saved);
    }
  }
  result.epochs = std::max<int64_t>(at.epoch, config_.num_epochs);
  result.steps = at.step;
  result.seconds = clock_.seconds();
  return result;
}

}  // namespace enas
