#include "enas/train/final_trainer.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "enas/data/batch_loader.h"
#include "enas/train/checkpoint.h"
#include "enas/train/child_step.h"
#include "enas/train/evaluate.h"
#include "enas/train/lr_schedule.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"
#include "enas/util/signals.h"

namespace enas {

FinalTrainer::FinalTrainer(const Config& config, ImageChild model, const ImageDataset& data,
                           const RunDir& run, Reporter& reporter, torch::Device device)
    : config_(config),
      model_(std::move(model)),
      data_(data),
      run_(run),
      reporter_(reporter),
      device_(device) {
  SgdOptions o;
  o.l2_reg = config_.child_l2_reg;
  o.clip_mode = config_.child_clip_mode;
  o.grad_bound = config_.child_grad_bound;
  // Every trainable weight, the aux head's included: the authors leave the aux head at its random
  // initialisation (docs/differences.md), we train it.
  sgd_ = std::make_unique<Sgd>(model_->parameters(), o);
  parts_.module("model", *model_)
      .state("optimizer", *sgd_)
      .loose([this](torch::serialize::OutputArchive& a) { save_rng_state(a, device_); },
             [this](torch::serialize::InputArchive& a) { has_rng_ = load_rng_state(a, device_); });
}

FinalTrainer::~FinalTrainer() = default;

int64_t FinalTrainer::batches_per_epoch() const {
  return (data_.train.size() + config_.batch_size - 1) / config_.batch_size;
}

std::string FinalTrainer::save(CheckpointId id, int64_t step, double test_acc,
                               const nlohmann::json& meter) {
  nlohmann::json meta = {
      {"epoch", id.epoch},    {"batch", id.batch}, {"step", step},  {"seconds", clock_.seconds()},
      {"test_acc", test_acc}, {"kind", "final"},   {"meter", meter}};
  return run_.save_checkpoint(id, meta,
                              [&](torch::serialize::OutputArchive& a) { parts_.save(a); });
}

TrainResult FinalTrainer::run(bool resume) {
  TrainResult result;
  int64_t start_epoch = 0, start_batch = 0, step = 0;
  double seconds_before = 0;
  nlohmann::json meter_state;
  if (resume) {
    const std::string path = run_.checkpoint_to_resume();
    has_rng_ = false;
    auto meta = load_checkpoint(path, "final",
                                [&](torch::serialize::InputArchive& a) { parts_.load(a, path); });
    start_epoch = meta.at("epoch").get<int64_t>();
    start_batch = meta.value("batch", int64_t{0});
    step = meta.at("step").get<int64_t>();
    seconds_before = meta.value("seconds", 0.0);
    result.test_acc = meta.value("test_acc", -1.0);
    meter_state = meta.value("meter", nlohmann::json());
    require(start_batch == 0 || (has_rng_ && meter_state.is_object()),
            "checkpoint {} was written mid-epoch but lacks its random state", path);
    announce_resume(reporter_, path, meta);
  }
  model_->to(device_);

  BatchLoaderOptions lo;
  lo.batch_size = config_.batch_size;
  lo.shuffle = true;
  lo.augment.cutout_size = config_.child_cutout_size;
  lo.seed = static_cast<uint64_t>(config_.seed);
  lo.device = device_;
  lo.channels_last = use_channels_last(config_);
  BatchLoader loader(data_.train, data_.stats, lo);
  const DeviceSplit test = to_device(data_.test, data_.stats, device_, use_channels_last(config_));
  const DeviceSplit valid =
      to_device(data_.valid, data_.stats, device_, use_channels_last(config_));

  const LrSchedule schedule = child_lr_schedule(config_);
  const int64_t batches = loader.batches_per_epoch();
  require(start_batch < batches,
          "checkpoint is {} batches into an epoch of {} (was --batch_size "
          "or the data changed?)",
          start_batch, batches);
  clock_.start(seconds_before);
  if (stop_requested()) stop_run(run_, reporter_, "before training began", "");
  run_.mark_started();
  model_->train();
  for (int64_t epoch = start_epoch; epoch < config_.num_epochs; ++epoch) {
    const bool mid_epoch = epoch == start_epoch && start_batch > 0;
    // Dropout and drop-path draw from torch's generator: reseeding per epoch makes a resumed run
    // draw what the uninterrupted one would have (mid-epoch, the checkpoint's state continues).
    if (!mid_epoch) torch::manual_seed(mix_seed(config_.seed, epoch, 0x5eed));
    const double lr = schedule.at_epoch(epoch);
    const auto t_epoch = RunClock::Clock::now();
    int64_t batch_index = mid_epoch ? start_batch : 0;
    loader.start_epoch(epoch, batch_index);
    EpochMeter meter(device_);
    if (mid_epoch) meter.restore(meter_state);
    while (auto batch = loader.next()) {
      model_->set_progress(step, batches * config_.num_epochs);
      ++step;
      ++batch_index;
      const bool log_now = step % config_.log_every == 0;
      ChildStep s = train_child_step(*model_, *sgd_, *batch, lr, log_now);
      meter.add(s);
      if (log_now) reporter_.step(step_event(s, step, batches, lr, clock_.minutes()));
      if (stop_requested() && batch_index < batches) {
        meter.finish(epoch + 1, step, lr, 1);  // a diverged epoch is an error, never saved
        const std::string saved = save({epoch, batch_index}, step, result.test_acc, meter.state());
        stop_run(run_, reporter_,
                 fmt::format("in epoch {} after step {} ({} of {} batches)", epoch + 1, step,
                             batch_index, batches),
                 saved);
      }
    }
    const EpochEvent ee = meter.finish(epoch + 1, step, lr, RunClock::since(t_epoch));
    reporter_.epoch(ee);
    result.train_loss = ee.train_loss;
    result.images_per_s = ee.images_per_s;

    const bool last = epoch + 1 == config_.num_epochs;
    if ((epoch + 1) % config_.eval_every_epochs == 0 || last) {
      reporter_.message(fmt::format("Epoch {}: Eval", epoch + 1));
      for (const auto* split : {&valid, &test}) {
        if (split->size() == 0) continue;
        auto acc = evaluate(*model_, *split, config_.eval_batch_size);
        EvalEvent ev{epoch + 1,   step,        split == &valid ? "valid" : "test",
                     acc.value(), acc.correct, acc.total};
        reporter_.eval(ev);
        if (split == &test) result.test_acc = acc.value();
      }
    }
    const std::string saved = save({epoch + 1, 0}, step, result.test_acc, {});
    if (stop_requested() && !last) {
      stop_run(run_, reporter_, fmt::format("at the end of epoch {}", epoch + 1), saved);
    }
  }
  result.epochs = std::max<int64_t>(start_epoch, config_.num_epochs);
  result.steps = step;
  result.seconds = clock_.seconds();
  return result;
}

}  // namespace enas
