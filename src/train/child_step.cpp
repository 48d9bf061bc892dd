#include "enas/train/child_step.h"

#include <fmt/format.h>

#include <cmath>

#include "enas/config/config.h"
#include "enas/run/checkpoint.h"
#include "enas/util/error.h"
#include "enas/util/signals.h"

namespace enas {

namespace F = torch::nn::functional;

ChildStep train_child_step(ImageChildImpl& model, Sgd& sgd, const Batch& batch, double lr,
                           bool want_norm, double loss_scale) {
  ChildStep s;
  s.batch = batch.labels.size(0);
  auto out = model.forward(batch.images);
  s.loss = F::cross_entropy(out.logits, batch.labels);
  auto total = s.loss;
  if (out.aux_logits.defined()) {
    total = total + kAuxLossWeight * F::cross_entropy(out.aux_logits, batch.labels);
  }
  if (loss_scale != 1.0) total = total * loss_scale;
  sgd.zero_grad();
  total.backward();
  s.grad_norm = sgd.step(lr, want_norm);
  s.loss = s.loss.detach();
  s.correct = out.logits.detach().argmax(1).eq(batch.labels).sum();
  return s;
}

StepEvent step_event(const ChildStep& s, int64_t step, int64_t batches_per_epoch, double lr,
                     double minutes, const Team& team) {
  StepEvent e;
  e.epoch = step / batches_per_epoch;  // as the authors print it
  e.step = step;
  e.loss = s.loss.item<double>();
  e.correct = s.correct.item<int64_t>();
  e.batch = s.batch;
  if (!team.alone()) {
    std::vector<double> v{e.loss * static_cast<double>(e.batch), static_cast<double>(e.correct),
                          static_cast<double>(e.batch)};
    team.sum(v);
    e.loss = v[0] / std::max(1.0, v[2]);
    e.correct = static_cast<int64_t>(v[1]);
    e.batch = static_cast<int64_t>(v[2]);
  }
  require(std::isfinite(e.loss),
          "the training loss became {} at step {}: the model diverged; lower the learning rate "
          "(--child_lr_max, or --child_lr without cosine)",
          e.loss, step);
  e.lr = lr;
  e.grad_norm = s.grad_norm.defined() ? s.grad_norm.item<double>() : 0.0;
  e.minutes = minutes;
  return e;
}

EpochMeter::EpochMeter(torch::Device device, Team team)
    : loss_sum_(torch::zeros({}, torch::TensorOptions().device(device))),
      correct_sum_(torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kLong))),
      team_(std::move(team)) {}

void EpochMeter::add(const ChildStep& s) {
  loss_sum_ += s.loss * s.batch;
  correct_sum_ += s.correct;
  seen_ += s.batch;
}

std::vector<double> EpochMeter::totals() const {
  std::vector<double> v{loss_sum_.item<double>(), static_cast<double>(correct_sum_.item<int64_t>()),
                        static_cast<double>(seen_), static_cast<double>(seen_before_)};
  team_.sum(v);
  return v;
}

EpochEvent EpochMeter::finish(int64_t epochs_done, int64_t step, double lr, double seconds) const {
  EpochEvent e;
  e.epoch = epochs_done;
  e.step = step;
  const std::vector<double> t = totals();
  const double n = std::max(1.0, t[2]);
  e.train_loss = t[0] / n;
  require(std::isfinite(e.train_loss),
          "the training loss became {} in epoch {}: the model diverged and nothing of this epoch "
          "was saved; lower the learning rate (--child_lr_max, or --child_lr without cosine)",
          e.train_loss, epochs_done);
  e.train_acc = t[1] / n;
  e.lr = lr;
  e.seconds = seconds;
  e.images_per_s = (t[2] - t[3]) / std::max(1e-9, seconds);
  return e;
}

nlohmann::json EpochMeter::state() const {
  // The float sum read as a double and written back is the same float: the resumed epoch's
  // mean is the uninterrupted one's, bit for bit.
  const std::vector<double> t = totals();
  return {{"loss_sum", t[0]},
          {"correct_sum", static_cast<int64_t>(t[1])},
          {"seen", static_cast<int64_t>(t[2])}};
}

void EpochMeter::restore(const nlohmann::json& state) {
  if (!team_.leader()) return;  // the sums are counted once, by the leader
  loss_sum_.fill_(state.at("loss_sum").get<double>());
  correct_sum_.fill_(state.at("correct_sum").get<int64_t>());
  seen_ = seen_before_ = state.at("seen").get<int64_t>();
}

BatchLoaderOptions train_loader_options(const Config& config, torch::Device device,
                                        const Team& team, int64_t pad) {
  BatchLoaderOptions o;
  o.augment.pad = pad;
  o.batch_size = config.batch_size;
  o.shuffle = true;
  o.augment.cutout_size = config.child_cutout_size;
  o.seed = static_cast<uint64_t>(config.seed);
  o.device = device;
  o.channels_last = use_channels_last(config);
  o.shard = team.rank();
  o.shards = team.size();
  return o;
}

EpochEvent train_image_epoch(ImageChildImpl& model, Sgd& sgd, BatchLoader& loader,
                             const ImagePass& pass, int64_t& step, Reporter& reporter,
                             const RunDir& run, const RunClock& clock,
                             const ImagePassHooks& hooks) {
  const int64_t batches = loader.batches_per_epoch();
  const auto t0 = RunClock::Clock::now();
  int64_t batch_index = pass.first_batch;
  loader.start_epoch(pass.epoch, pass.first_batch);
  model.train();
  EpochMeter meter(loader.device(), pass.team);
  if (pass.first_batch > 0) meter.restore(pass.meter);
  while (auto batch = loader.next()) {
    if (hooks.before_step) hooks.before_step(step);
    ++step;
    ++batch_index;
    const bool log_now = step % pass.log_every == 0;
    // A shard's weight in its batch: 1 when the batch splits evenly.
    const double scale = batch->whole > 0
                             ? static_cast<double>(pass.team.size() * batch->labels.size(0)) /
                                   static_cast<double>(batch->whole)
                             : 1.0;
    ChildStep s = train_child_step(model, sgd, *batch, pass.lr, log_now, scale);
    meter.add(s);
    reporter.tick({"child", pass.epoch, step, batch->labels.size(0) * pass.team.size()});
    if (log_now) {
      reporter.step(step_event(s, step, batches, pass.lr, clock.minutes(), pass.team));
    }
    if (pass.team.agreed_stop() != 0 && batch_index < batches) {
      meter.finish(pass.epoch + 1, step, pass.lr, 1);  // a diverged epoch is an error, never saved
      const std::string saved = hooks.save(batch_index, meter.state());
      stop_run(run, reporter,
               fmt::format("in epoch {} after step {} ({} of {} batches)", pass.epoch + 1, step,
                           batch_index, batches),
               saved);
    }
  }
  const EpochEvent e = meter.finish(pass.epoch + 1, step, pass.lr, RunClock::since(t0));
  reporter.epoch(e);
  return e;
}

}  // namespace enas
