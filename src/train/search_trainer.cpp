#include "enas/train/search_trainer.h"

#include <fmt/format.h>

#include <sstream>

#include "enas/child/batch_norm.h"
#include "enas/data/batch_loader.h"
#include "enas/space/arc_text.h"
#include "enas/train/child_step.h"
#include "enas/train/lr_schedule.h"
#include "enas/train/reinforce.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

namespace {

constexpr SearchTraits kImageSearchTraits{"search",
                                          "valid_acc",
                                          /*higher_is_better=*/true,
                                          /*rolls_back=*/false,
                                          "images",
                                          "Epoch {0}: Training controller",
                                          "Best architecture ({0}):\n{2}"};

}  // namespace

SearchTrainer::SearchTrainer(Session& session, SharedChild child, Controller controller,
                             const ImageDataset& data)
    : SearchLoop(kImageSearchTraits, session, std::move(controller), child),
      child_(std::move(child)),
      data_(data),
      valid_rng_(mix_seed(config_.seed, 0x7a11d)) {
  require(data_.valid.size() > 0, "search needs a validation split (--num_valids > 0)");
  child_->to(device_);
  steps_per_epoch_ = batches_per_epoch();
  derive_scope_ = " on the whole validation split";
  SgdOptions so;
  so.l2_reg = config_.child_l2_reg;
  so.clip_mode = config_.child_clip_mode;
  so.grad_bound = config_.child_grad_bound;
  so.skip_unused = config_.child_skip_unused_updates;
  sgd_ = std::make_unique<Sgd>(child_->parameters(), so);
  valid_ = to_device(data_.valid, data_.stats, device_, use_channels_last(config_));
  test_ = to_device(data_.test, data_.stats, device_, use_channels_last(config_));
  parts_.module("model", *child_).state("optimizer", *sgd_);
  add_controller_parts();
  parts_.loose(
      [this](torch::serialize::OutputArchive& a) {
        std::ostringstream o;
        o << valid_rng_;
        a.write("valid_rng", c10::IValue(o.str()));
        save_rng_state(a, device_);
      },
      [this](torch::serialize::InputArchive& a) {
        c10::IValue vrng;
        a.read("valid_rng", vrng);
        std::istringstream in(vrng.toStringRef());
        in >> valid_rng_;
        load_rng_state(a, device_);
      });
  // child_images_per_s: the last child pass's throughput (0 when none ran in this process's life).
  result_fields_ = {
      {"shared_valid_acc", -1.0}, {"shared_test_acc", -1.0}, {"child_images_per_s", 0.0}};
}

SearchTrainer::~SearchTrainer() = default;

int64_t SearchTrainer::batches_per_epoch() const {
  // As the loader counts them (a last batch smaller than the processes is left out).
  const int64_t rest = data_.train.size() % config_.batch_size;
  return data_.train.size() / config_.batch_size + (rest >= team_.size() ? 1 : 0);
}

double SearchTrainer::skip_slots() const {
  return std::max(1, space_.num_skips({config_.child_num_layers, config_.child_num_cells,
                                       config_.child_num_branches}));
}

int64_t SearchTrainer::next_valid_start() {
  const int64_t n = valid_.size(), b = std::min<int64_t>(config_.batch_size, n);
  return std::uniform_int_distribution<int64_t>(0, n - b)(valid_rng_);
}

double SearchTrainer::minibatch_accuracy(const std::vector<int>& arc) {
  // One validation minibatch of batch_size images, no augmentation (build_valid_rl).
  const int64_t n = valid_.size(), b = std::min<int64_t>(config_.batch_size, n);
  const int64_t start = next_valid_start();
  child_->set_arc(arc);
  const bool was_training = child_->is_training();
  child_->eval();
  torch::NoGradGuard guard;
  auto logits = child_->forward(valid_.images.narrow(0, start, b)).logits;  // (b, classes)
  double acc = logits.argmax(1).eq(valid_.labels.narrow(0, start, b)).sum().item<double>() / b;
  child_->train(was_training);
  return acc;
}

ChildPass SearchTrainer::train_child(int64_t epoch, const RunProgress* from) {
  require(!from || from->batch <= batches_per_epoch(),
          "the checkpoint is {} batches into an epoch of {} (was --batch_size or the data "
          "changed?)",
          from ? from->batch : 0, batches_per_epoch());
  // (The loader is rebuilt per epoch; its order depends on (seed, epoch) only.)
  BatchLoader loader(data_.train, data_.stats,
                     train_loader_options(config_, device_, team_, data_.augment_pad));
  sgd_->on_gradients(team_.gradient_averager());
  // Only the child pass syncs batch norm: the processes score different architectures on
  // different minibatches in the controller's phase.
  const SyncBatchNorm sync_bn(team_, device_);
  ImagePass pass;
  pass.team = team_;
  pass.epoch = epoch;
  pass.lr = child_lr_schedule(config_).at_epoch(epoch);
  pass.log_every = config_.log_every;
  if (from) {
    pass.first_batch = from->batch;
    pass.meter = from->position.value("meter", nlohmann::json());
  }
  ImagePassHooks hooks;
  hooks.before_step = [this](int64_t) { child_->set_arc(sample_one()); };  // one per minibatch
  hooks.save = [&](int64_t batch, const nlohmann::json& meter) {
    return save({epoch, batch}, {{"meter", meter}});
  };
  const EpochEvent ee =
      train_image_epoch(*child_, *sgd_, loader, pass, at_.step, reporter_, run_, clock_, hooks);
  result_fields_["child_images_per_s"] = ee.images_per_s;
  // Without sync batch norm each process's running statistics are its own: rank 0's count.
  if (!team_.sync_bn()) team_.copy_from_leader(child_->buffers());
  // A diverged epoch is an error (EpochMeter), never rolled back.
  return {true, batches_per_epoch()};
}

UpdateLog SearchTrainer::log_update(int, const ArcBatch& samples, const std::vector<double>& scores,
                                    const ReinforceStats& s) const {
  UpdateLog log;
  log.line = fmt::format(
      "ctrl_step={:<6d} loss={:<7.3f} ent={:<5.2f} lr={:<6.4f} |g|={:<8.4f} acc={:<6.4f} "
      "bl={:<5.2f}{} mins={:<.2f}",
      s.step, s.loss, s.entropy, config_.controller_lr, s.grad_norm, s.accuracy, s.baseline,
      space_.has_skips() ? fmt::format(" skip_rate={:.3f}", s.skip_count / skip_slots())
                         : std::string(),
      clock_.minutes());
  for (size_t i = 0; i < scores.size(); ++i) {
    log.samples.push_back(
        {{"acc", scores[i]},
         {"reward", reinforce_->reward(scores[i], samples.entropy[i].item<double>())}});
  }
  log.update = {{"acc", s.accuracy}, {"skip_rate", s.skip_count / skip_slots()}};
  return log;
}

void SearchTrainer::after_controller(int64_t epoch) {
  reporter_.message("Here are 10 architectures");
  const ArcBatch shown = controller_->sample(10);
  for (const auto& arc : shown.arcs) {
    const double acc = minibatch_accuracy(arc);
    reporter_.message(
        fmt::format("{}\nval_acc={:<6.4f}\n{}", space_.lines(arc), acc, std::string(80, '-')));
    reporter_.arc({{"kind", "shown"}, {"epoch", epoch + 1}, {"arc", join_ints(arc)}, {"acc", acc}});
  }
}

void SearchTrainer::evaluate(int64_t epochs_done) {
  // As the authors' eval_once: a freshly sampled architecture for every batch.
  const SplitAccuracy acc =
      evaluate_splits(*child_, valid_, test_, config_.eval_batch_size, epochs_done, at_.step,
                      reporter_, [&](int64_t) { child_->set_arc(sample_one()); });
  result_fields_["shared_valid_acc"] = acc.valid;
  result_fields_["shared_test_acc"] = acc.test;  // -1 without a test split
}

double SearchTrainer::derive_score(const std::vector<int>& arc) {
  child_->set_arc(arc);
  return enas::evaluate(*child_, valid_, config_.eval_batch_size).value();
}

}  // namespace enas
