#include "enas/train/final_trainer.h"

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "enas/data/batch_loader.h"
#include "enas/train/child_step.h"
#include "enas/train/evaluate.h"
#include "enas/train/lr_schedule.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Shapes of every parameter and buffer of `module`, by name.
std::map<std::string, std::vector<int64_t>> tensor_shapes(const torch::nn::Module& module) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : module.named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  for (const auto& b : module.named_buffers()) shapes[b.key()] = b.value().sizes().vec();
  return shapes;
}

}  // namespace

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
}

FinalTrainer::~FinalTrainer() = default;

int64_t FinalTrainer::batches_per_epoch() const {
  return (data_.train.size() + config_.batch_size - 1) / config_.batch_size;
}

void FinalTrainer::save(int64_t epochs_done, int64_t step, double seconds, double test_acc) {
  nlohmann::json meta = {{"epoch", epochs_done}, {"step", step},    {"seconds", seconds},
                         {"test_acc", test_acc}, {"kind", "final"}, {"arc", ""}};
  run_.save_checkpoint(epochs_done, meta, [&](torch::serialize::OutputArchive& archive) {
    torch::serialize::OutputArchive model_archive, optim_archive;
    model_->save(model_archive);
    sgd_->save(optim_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optim_archive);
  });
}

TrainResult FinalTrainer::run(bool resume) {
  TrainResult result;
  int64_t start_epoch = 0, step = 0;
  double seconds_before = 0;
  if (resume) {
    auto path = run_.latest_checkpoint();
    require(path.has_value(), "--resume: {} holds no checkpoint", run_.path());
    auto meta = load_checkpoint(*path, [&](torch::serialize::InputArchive& archive) {
      torch::serialize::InputArchive model_archive, optim_archive;
      archive.read("model", model_archive);
      archive.read("optimizer", optim_archive);
      // Module::load replaces each tensor by the checkpoint's whatever its shape, so a changed
      // size (--child_out_filters) would only fail later, deep in a convolution: compare shapes.
      const auto expected = tensor_shapes(*model_);
      try {
        model_->load(model_archive);
      } catch (const c10::Error& e) {
        fail(
            "checkpoint {} does not match this model (was the architecture or a size changed?): "
            "{}",
            *path, e.what_without_backtrace());
      }
      for (const auto& [name, shape] : tensor_shapes(*model_)) {
        require(expected.at(name) == shape,
                "checkpoint {} does not match this model (was the architecture or a size "
                "changed?): {} is [{}] there, [{}] here",
                *path, name, fmt::join(shape, ", "), fmt::join(expected.at(name), ", "));
      }
      sgd_->load(optim_archive);
    });
    start_epoch = meta.at("epoch").get<int64_t>();
    step = meta.at("step").get<int64_t>();
    seconds_before = meta.value("seconds", 0.0);
    result.test_acc = meta.value("test_acc", -1.0);
    reporter_.message(
        fmt::format("Resuming from {} (epoch {}, step {})", *path, start_epoch, step));
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
  const auto t_start = Clock::now();
  model_->train();
  for (int64_t epoch = start_epoch; epoch < config_.num_epochs; ++epoch) {
    // Dropout and drop-path draw from torch's generator: reseeding per epoch makes a resumed run
    // draw what the uninterrupted one would have.
    torch::manual_seed(mix_seed(config_.seed, epoch, 0x5eed));
    const double lr = schedule.at_epoch(epoch);
    const auto t_epoch = Clock::now();
    loader.start_epoch(epoch);
    EpochMeter meter(device_);
    while (auto batch = loader.next()) {
      model_->set_progress(step, batches * config_.num_epochs);
      ++step;
      const bool log_now = step % config_.log_every == 0;
      ChildStep s = train_child_step(*model_, *sgd_, *batch, lr, log_now);
      meter.add(s);
      if (log_now) {
        reporter_.step(
            step_event(s, step, batches, lr, (seconds_before + seconds_since(t_start)) / 60.0));
      }
    }
    const EpochEvent ee = meter.finish(epoch + 1, step, lr, seconds_since(t_epoch));
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
    save(epoch + 1, step, seconds_before + seconds_since(t_start), result.test_acc);
  }
  result.epochs = std::max<int64_t>(start_epoch, config_.num_epochs);
  result.steps = step;
  result.seconds = seconds_before + seconds_since(t_start);
  return result;
}

}  // namespace enas
