#include "enas/train/search_trainer.h"

#include <fmt/format.h>

#include <cmath>

#include "enas/data/batch_loader.h"
#include "enas/space/arc_text.h"
#include "enas/space/space.h"
#include "enas/train/best_arc.h"
#include "enas/train/checkpoint.h"
#include "enas/train/child_step.h"
#include "enas/train/lr_schedule.h"
#include "enas/train/reinforce.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"
#include "enas/util/signals.h"

namespace enas {

SearchTrainer::SearchTrainer(const Config& config, SharedChild child, Controller controller,
                             const ImageDataset& data, const RunDir& run, Reporter& reporter,
                             torch::Device device)
    : config_(config),
      child_(std::move(child)),
      controller_(std::move(controller)),
      data_(data),
      run_(run),
      reporter_(reporter),
      device_(device),
      space_(space_named(config.search_for)),
      valid_rng_(mix_seed(config.seed, 0x7a11d)) {
  require(data_.valid.size() > 0, "search needs a validation split (--num_valids > 0)");
  child_->to(device_);
  SgdOptions so;
  so.l2_reg = config_.child_l2_reg;
  so.clip_mode = config_.child_clip_mode;
  so.grad_bound = config_.child_grad_bound;
  so.skip_unused = config_.child_skip_unused_updates;
  sgd_ = std::make_unique<Sgd>(child_->parameters(), so);
  reinforce_ = std::make_unique<Reinforce>(controller_, ReinforceOptions::from(config_));
  valid_ = to_device(data_.valid, data_.stats, device_, use_channels_last(config_));
  test_ = to_device(data_.test, data_.stats, device_, use_channels_last(config_));
  parts_.module("model", *child_)
      .state("optimizer", *sgd_)
      .module("controller", *controller_)
      .state("reinforce", *reinforce_)
      .loose(
          [this](torch::serialize::OutputArchive& a) {
            a.write("controller_rng", c10::IValue(controller_->rng_state()));
            std::ostringstream o;
            o << valid_rng_;
            a.write("valid_rng", c10::IValue(o.str()));
            save_rng_state(a, device_);
          },
          [this](torch::serialize::InputArchive& a) {
            c10::IValue rng, vrng;
            a.read("controller_rng", rng);
            controller_->set_rng_state(rng.toStringRef());
            a.read("valid_rng", vrng);
            std::istringstream in(vrng.toStringRef());
            in >> valid_rng_;
            load_rng_state(a, device_);
          });
}

int64_t SearchTrainer::batches_per_epoch() const {
  return (data_.train.size() + config_.batch_size - 1) / config_.batch_size;
}

SearchTrainer::~SearchTrainer() = default;

double SearchTrainer::minibatch_accuracy(const std::vector<int>& arc) {
  // One validation minibatch of batch_size images, no augmentation (build_valid_rl).
  const int64_t n = valid_.size(), b = std::min<int64_t>(config_.batch_size, n);
  const int64_t start = std::uniform_int_distribution<int64_t>(0, n - b)(valid_rng_);
  child_->set_arc(arc);
  const bool was_training = child_->is_training();
  child_->eval();
  torch::NoGradGuard guard;
  auto logits = child_->forward(valid_.images.narrow(0, start, b)).logits;
  double acc = logits.argmax(1).eq(valid_.labels.narrow(0, start, b)).sum().item<double>() / b;
  child_->train(was_training);
  return acc;
}

void SearchTrainer::train_child_epoch(int64_t epoch, int64_t& step, int64_t first_batch,
                                      const nlohmann::json& meter_state) {
  // (The loader is rebuilt per epoch; its order depends on (seed, epoch) only.)
  BatchLoaderOptions lo;
  lo.batch_size = config_.batch_size;
  lo.augment.cutout_size = config_.child_cutout_size;
  lo.seed = static_cast<uint64_t>(config_.seed);
  lo.device = device_;
  lo.channels_last = use_channels_last(config_);
  BatchLoader loader(data_.train, data_.stats, lo);
  const int64_t batches = loader.batches_per_epoch();
  const double lr = child_lr_schedule(config_).at_epoch(epoch);
  const auto t0 = RunClock::Clock::now();
  int64_t batch_index = first_batch;
  loader.start_epoch(epoch, first_batch);
  child_->train();
  EpochMeter meter(device_);
  if (first_batch > 0) meter.restore(meter_state);
  while (auto batch = loader.next()) {
    child_->set_arc(controller_->sample(1).arcs[0]);  // a fresh architecture per minibatch
    ++step;
    ++batch_index;
    const bool log_now = step % config_.log_every == 0;
    ChildStep s = train_child_step(*child_, *sgd_, *batch, lr, log_now);
    meter.add(s);
    if (log_now) reporter_.step(step_event(s, step, batches, lr, clock_.minutes()));
    if (stop_requested() && batch_index < batches) {
      meter.finish(epoch + 1, step, lr, 1);  // a diverged epoch is an error, never saved
      const std::string saved = save({epoch, batch_index}, step, {{"meter", meter.state()}});
      stop_run(run_, reporter_,
               fmt::format("in epoch {} after step {} ({} of {} batches)", epoch + 1, step,
                           batch_index, batches),
               saved);
    }
  }
  const EpochEvent ee = meter.finish(epoch + 1, step, lr, RunClock::since(t0));
  reporter_.epoch(ee);
}

void SearchTrainer::train_controller(int64_t epoch, int64_t step, int first) {
  reporter_.message(fmt::format("Epoch {}: Training controller", epoch + 1));
  const double skip_norm = std::max(1, space_.num_skips(sizes()));
  for (int t = first; t < config_.controller_train_steps; ++t) {
    ArcBatch samples = controller_->sample(config_.controller_num_aggregate);
    std::vector<double> accs;
    for (const auto& arc : samples.arcs) accs.push_back(minibatch_accuracy(arc));
    ReinforceStats s = reinforce_->update(samples, accs);
    for (size_t i = 0; i < samples.arcs.size(); ++i) {
      reporter_.arc({{"kind", "controller"},
                     {"epoch", epoch + 1},
                     {"ctrl_step", s.step},
                     {"arc", join_ints(samples.arcs[i])},
                     {"acc", accs[i]},
                     {"reward", reinforce_->reward(accs[i], samples.entropy[i].item<double>())}});
    }
    reporter_.message(fmt::format(
        "ctrl_step={:<6d} loss={:<7.3f} ent={:<5.2f} lr={:<6.4f} |g|={:<8.4f} acc={:<6.4f} "
        "bl={:<5.2f}{} mins={:<.2f}",
        s.step, s.loss, s.entropy, config_.controller_lr, s.grad_norm, s.accuracy, s.baseline,
        space_.has_skips() ? fmt::format(" skip_rate={:.3f}", s.skip_count / skip_norm)
                           : std::string(),
        clock_.minutes()));
    reporter_.record({{"kind", "controller"},
                      {"epoch", epoch + 1},
                      {"ctrl_step", s.step},
                      {"loss", s.loss},
                      {"entropy", s.entropy},
                      {"grad_norm", s.grad_norm},
                      {"acc", s.accuracy},
                      {"reward", s.reward},
                      {"baseline", s.baseline},
                      {"skip_rate", s.skip_count / skip_norm}});
    stop_between_controller_steps(
        run_, reporter_, epoch, t + 1, config_.controller_train_steps, [&] {
          return save({epoch, batches_per_epoch()}, step, {{"ctrl_t", t + 1}});
        });
  }
}

DerivedArc SearchTrainer::derive(int64_t samples) {
  DerivedArc best;
  best.valid_acc = -1;
  ArcBatch arcs = controller_->sample(samples);
  for (int64_t i = 0; i < samples; ++i) {
    child_->set_arc(arcs.arcs[i]);
    if (stop_requested()) {
      stop_run(run_, reporter_,
               fmt::format("while deriving ({} of {} architectures scored)", i, samples),
               run_.latest_checkpoint().value_or(""));
    }
    double acc = evaluate(*child_, valid_, config_.eval_batch_size).value();
    reporter_.arc({{"kind", "derive"}, {"arc", join_ints(arcs.arcs[i])}, {"valid_acc", acc}});
    if (acc > best.valid_acc) {
      best.valid_acc = acc;
      best.arc = arcs.arcs[i];
    }
  }
  best.samples = samples;
  return best;
}

std::string SearchTrainer::save(CheckpointId id, int64_t step, const nlohmann::json& position) {
  nlohmann::json meta = {{"epoch", id.epoch},
                         {"batch", id.batch},
                         {"step", step},
                         {"ctrl_step", reinforce_->steps()},
                         {"seconds", clock_.seconds()},
                         {"kind", "search"},
                         {"baseline", reinforce_->baseline()}};
  if (!position.is_null()) meta.update(position);
  reporter_.sync();
  return run_.save_checkpoint(id, meta,
                              [&](torch::serialize::OutputArchive& a) { parts_.save(a); });
}

nlohmann::json SearchTrainer::restore(const std::string& checkpoint) {
  return load_checkpoint(checkpoint, "search",
                         [&](torch::serialize::InputArchive& a) { parts_.load(a, checkpoint); });
}

SpaceSizes SearchTrainer::sizes() const {
  return {config_.child_num_layers, config_.child_num_cells, config_.child_num_branches};
}

SearchResult SearchTrainer::run(bool resume) {
  SearchResult result;
  int64_t start_epoch = 0, start_batch = 0, step = 0;
  int start_ctrl = 0;
  double seconds_before = 0;
  nlohmann::json meter_state;
  if (resume) {
    const std::string path = run_.checkpoint_to_resume();
    auto meta = restore(path);
    start_epoch = meta.at("epoch").get<int64_t>();
    start_batch = meta.value("batch", int64_t{0});
    start_ctrl = meta.value("ctrl_t", 0);
    meter_state = meta.value("meter", nlohmann::json());
    step = meta.at("step").get<int64_t>();
    seconds_before = meta.value("seconds", 0.0);
    require(start_batch <= batches_per_epoch(),
            "checkpoint {} is {} batches into an epoch of {} (was --batch_size or the data "
            "changed?)",
            path, start_batch, batches_per_epoch());
    announce_resume(reporter_, path, meta);
  }
  clock_.start(seconds_before);
  if (stop_requested()) stop_run(run_, reporter_, "before training began", "");
  run_.mark_started();
  for (int64_t epoch = start_epoch; epoch < config_.num_epochs; ++epoch) {
    const bool mid_epoch = epoch == start_epoch && start_batch > 0;
    // Mid-epoch, the checkpoint's generator state continues instead.
    if (!mid_epoch) torch::manual_seed(mix_seed(config_.seed, epoch, 0x5eed));
    if (!mid_epoch || start_batch < batches_per_epoch()) {
      train_child_epoch(epoch, step, mid_epoch ? start_batch : 0, meter_state);
    }
    if (config_.controller_training && controller_->trainable() &&
        (epoch + 1) % config_.controller_train_every == 0) {
      train_controller(epoch, step, mid_epoch ? start_ctrl : 0);
    }
    reporter_.message("Here are 10 architectures");
    ArcBatch shown = controller_->sample(10);
    for (const auto& arc : shown.arcs) {
      double acc = minibatch_accuracy(arc);
      reporter_.message(
          fmt::format("{}\nval_acc={:<6.4f}\n{}", space_.lines(arc), acc, std::string(80, '-')));
      reporter_.arc(
          {{"kind", "shown"}, {"epoch", epoch + 1}, {"arc", join_ints(arc)}, {"acc", acc}});
    }
    if ((epoch + 1) % config_.eval_every_epochs == 0 || epoch + 1 == config_.num_epochs) {
      reporter_.message(fmt::format("Epoch {}: Eval", epoch + 1));
      // As the authors' eval_once: a freshly sampled architecture for every batch.
      auto resample = [&](int64_t) { child_->set_arc(controller_->sample(1).arcs[0]); };
      for (const auto* split : {&valid_, &test_}) {
        if (split->size() == 0) continue;
        auto acc = evaluate(*child_, *split, config_.eval_batch_size, resample);
        reporter_.eval({epoch + 1, step, split == &valid_ ? "valid" : "test", acc.value(),
                        acc.correct, acc.total});
        (split == &valid_ ? result.valid_acc : result.test_acc) = acc.value();
      }
    }
    const std::string saved = save({epoch + 1, 0}, step);
    if (stop_requested() && epoch + 1 < config_.num_epochs) {
      stop_run(run_, reporter_, fmt::format("at the end of epoch {}", epoch + 1), saved);
    }
  }
  reporter_.message(fmt::format("Deriving: {} architectures on the whole validation split",
                                config_.derive_samples));
  result.best = derive(config_.derive_samples);
  write_best_arc(run_, config_,
                 {result.best.arc, "valid_acc", result.best.valid_acc, result.best.samples});
  reporter_.message(fmt::format("Best architecture (valid_acc {:.4f}):\n{}", result.best.valid_acc,
                                space_.lines(result.best.arc)));
  result.epochs = std::max<int64_t>(start_epoch, config_.num_epochs);
  result.steps = step;
  result.seconds = clock_.seconds();
  return result;
}

}  // namespace enas
