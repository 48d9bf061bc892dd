#include "enas/train/child_step.h"

#include <fmt/format.h>

#include <cmath>

#include "enas/train/checkpoint.h"
#include "enas/util/error.h"
#include "enas/util/signals.h"

namespace enas {

namespace F = torch::nn::functional;

ChildStep train_child_step(ImageChildImpl& model, Sgd& sgd, const Batch& batch, double lr,
                           bool want_norm) {
  ChildStep s;
  s.batch = batch.labels.size(0);
  auto out = model.forward(batch.images);
  s.loss = F::cross_entropy(out.logits, batch.labels);
  auto total = s.loss;
  if (out.aux_logits.defined()) {
    total = total + kAuxLossWeight * F::cross_entropy(out.aux_logits, batch.labels);
  }
  sgd.zero_grad();
  total.backward();
  s.grad_norm = sgd.step(lr, want_norm);
  s.loss = s.loss.detach();
  s.correct = out.logits.detach().argmax(1).eq(batch.labels).sum();
  return s;
}

StepEvent step_event(const ChildStep& s, int64_t step, int64_t batches_per_epoch, double lr,
                     double minutes) {
  StepEvent e;
  e.epoch = step / batches_per_epoch;  // as the authors print it
  e.step = step;
  e.loss = s.loss.item<double>();
  require(std::isfinite(e.loss),
          "the training loss became {} at step {}: the model diverged; lower the learning rate "
          "(--child_lr_max, or --child_lr without cosine)",
          e.loss, step);
  e.lr = lr;
  e.grad_norm = s.grad_norm.defined() ? s.grad_norm.item<double>() : 0.0;
  e.correct = s.correct.item<int64_t>();
  e.batch = s.batch;
  e.minutes = minutes;
  return e;
}

EpochMeter::EpochMeter(torch::Device device)
    : loss_sum_(torch::zeros({}, torch::TensorOptions().device(device))),
      correct_sum_(torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kLong))) {}

void EpochMeter::add(const ChildStep& s) {
  loss_sum_ += s.loss * s.batch;
  correct_sum_ += s.correct;
  seen_ += s.batch;
}

EpochEvent EpochMeter::finish(int64_t epochs_done, int64_t step, double lr, double seconds) const {
  EpochEvent e;
  e.epoch = epochs_done;
  e.step = step;
  const int64_t n = std::max<int64_t>(1, seen_);
  e.train_loss = loss_sum_.item<double>() / n;
  require(std::isfinite(e.train_loss),
          "the training loss became {} in epoch {}: the model diverged and nothing of this epoch "
          "was saved; lower the learning rate (--child_lr_max, or --child_lr without cosine)",
          e.train_loss, epochs_done);
  e.train_acc = static_cast<double>(correct_sum_.item<int64_t>()) / n;
  e.lr = lr;
  e.seconds = seconds;
  e.images_per_s = static_cast<double>(seen_ - seen_before_) / std::max(1e-9, seconds);
  return e;
}

nlohmann::json EpochMeter::state() const {
  // The float sum read as a double and written back is the same float: the resumed epoch's
  // mean is the uninterrupted one's, bit for bit.
  return {{"loss_sum", loss_sum_.item<double>()},
          {"correct_sum", correct_sum_.item<int64_t>()},
          {"seen", seen_}};
}

void EpochMeter::restore(const nlohmann::json& state) {
  loss_sum_.fill_(state.at("loss_sum").get<double>());
  correct_sum_.fill_(state.at("correct_sum").get<int64_t>());
  seen_ = seen_before_ = state.at("seen").get<int64_t>();
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
  EpochMeter meter(loader.device());
  if (pass.first_batch > 0) meter.restore(pass.meter);
  while (auto batch = loader.next()) {
    if (hooks.before_step) hooks.before_step(step);
    ++step;
    ++batch_index;
    const bool log_now = step % pass.log_every == 0;
    ChildStep s = train_child_step(model, sgd, *batch, pass.lr, log_now);
    meter.add(s);
    if (log_now) reporter.step(step_event(s, step, batches, pass.lr, clock.minutes()));
    if (stop_requested() && batch_index < batches) {
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
