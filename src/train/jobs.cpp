#include "enas/train/jobs.h"

#include <fmt/format.h>

#include "enas/child/factory.h"
#include "enas/child/layers.h"
#include "enas/controller/controller.h"
#include "enas/data/datasets.h"
#include "enas/space/arc_text.h"
#include "enas/space/space.h"
#include "enas/train/final_trainer.h"
#include "enas/train/jobs_common.h"
#include "enas/train/search_trainer.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

nlohmann::json Job::derive(Session& session, const std::string& checkpoint) {
  fail("only a search derives: `enas derive` takes a search's checkpoint, not {}", checkpoint);
}

nlohmann::json derive_in(Session& session, SearchLoop& trainer, const std::string& checkpoint) {
  trainer.restore(checkpoint);
  const BestArc best = trainer.derive(session.config().derive_samples);
  write_best_arc(session.dir(), session.config(), best);
  session.reporter().message(fmt::format("Best of {} architectures: {}: {}", best.samples,
                                         score_text(best), best.arc->text()));
  return {{"best_arc", best.arc->text()},
          {best.score_name, best.score},
          {"samples", best.samples},
          {"best_arc_file", session.dir().file("best_arc.txt")}};
}

nlohmann::json search_result(const Session& session, const SearchResult& r, int64_t params) {
  nlohmann::json result = session.result(r.epochs, r.steps, params, r.seconds);
  result.update({{"best_arc", r.best.arc->text()},
                 {r.best.score_name, r.best.score},
                 {"best_arc_file", session.dir().file("best_arc.txt")}});
  result.update(r.fields);
  return result;
}

namespace {

/// data.json: what the model was trained on (classes, input shape, the normalisation measured on
/// the training split), so that a model taken out of the run is fed as it was trained.
void record_data(const Session& session, const ImageDataset& data) {
  nlohmann::json j = {{"dataset", data.name},
                      {"num_classes", data.num_classes},
                      {"channels", data.train.images.size(1)},
                      {"height", data.train.images.size(2)},
                      {"width", data.train.images.size(3)},
                      {"mean", data.stats.mean},
                      {"std", data.stats.std}};
  if (!data.class_names.empty()) j["classes"] = data.class_names;
  session.dir().write_file("data.json", j.dump(2) + "\n");
}

/// Final training of an image child (the authors' main.py with a child_fixed_arc).
class ImageTrainJob : public Job {
 public:
  explicit ImageTrainJob(const Config& c) : config_(c), arc_(fixed_architecture(c)) {
    torch::manual_seed(c.seed);
    model_ = make_fixed_child(c, dataset_shape(data_request(c)), arc_);
  }

  std::string describe(const Compute& compute) const override {
    return fmt::format("{}Model has {} params (aux head {}), {} threads, device {}\n",
                       model_->summary(), model_->num_params(), model_->num_aux_params(),
                       compute.threads, compute.device.str());
  }
  nlohmann::json describe_json() const override {
    return {{"params", model_->num_params()},
            {"params_aux", model_->num_aux_params()},
            {"search_for", config_.search_for},
            {"dataset", config_.dataset},
            {"arc", arc_.text()}};
  }

  nlohmann::json run(Session& session) override {
    const Config& c = session.config();
    Reporter& reporter = session.reporter();
    session.draw(arc_, "arc");
    reporter.message(model_->summary());
    reporter.message(fmt::format("Model has {} params (aux head {})", model_->num_params(),
                                 model_->num_aux_params()));
    const ImageDataset data = load_image_dataset(data_request(c));
    if (!data.load_note.empty()) reporter.message(data.load_note);
    record_data(session, data);
    reporter.message(fmt::format("{}: {} training, {} test images; mean {} std {}", data.name,
                                 data.train.size(), data.test.size(),
                                 fmt::join(data.stats.mean, ","), fmt::join(data.stats.std, ",")));
    if (use_channels_last(c)) to_channels_last(*model_);
    FinalTrainer trainer(session, model_, data);
    reporter.message(
        fmt::format("{} steps per epoch, {}", trainer.batches_per_epoch(), session.compute_text()));
    const TrainResult r = trainer.run();
    reporter.message(fmt::format("Done: {} epochs, test_accuracy {:.4f}, {:.1f} s, run folder {}",
                                 r.epochs, r.test_acc, r.seconds, session.dir().path()));
    nlohmann::json result = session.result(r.epochs, r.steps, model_->num_params(), r.seconds);
    result.update({{"params_aux", model_->num_aux_params()},
                   {"arc", arc_.text()},
                   {"test_acc", r.test_acc},
                   {"train_loss", r.train_loss},
                   {"images_per_s", r.images_per_s}});
    return result;
  }

 private:
  Config config_;
  Architecture arc_;
  ImageChild model_{nullptr};
};

/// A search of an image space (the authors' main.py without a fixed architecture).
class ImageSearchJob : public Job {
 public:
  explicit ImageSearchJob(const Config& c) {
    torch::manual_seed(c.seed);
    child_ = make_shared_child(c, dataset_shape(data_request(c)));
    controller_ = make_controller(c);
    if (use_channels_last(c)) to_channels_last(*child_);
  }

  std::string describe(const Compute&) const override {
    return fmt::format("{}Shared child has {} params (aux head {}); controller {} params\n",
                       child_->summary(), child_->num_params(), child_->num_aux_params(),
                       count_params(controller_->parameters()));
  }
  nlohmann::json describe_json() const override {
    return {{"params", child_->num_params()},
            {"params_aux", child_->num_aux_params()},
            {"controller_params", count_params(controller_->parameters())}};
  }

  nlohmann::json run(Session& session) override {
    const Config& c = session.config();
    const ImageDataset data = load_image_dataset(data_request(c), c.num_valids);
    if (!data.load_note.empty()) session.reporter().message(data.load_note);
    record_data(session, data);
    session.reporter().message(fmt::format("{}: {} training, {} validation, {} test images",
                                           data.name, data.train.size(), data.valid.size(),
                                           data.test.size()));
    session.reporter().message(fmt::format("Shared child has {} params (aux head {}), {}",
                                           child_->num_params(), child_->num_aux_params(),
                                           session.compute_text()));
    SearchTrainer trainer(session, child_, controller_, data);
    return search_result(session, trainer.run(), child_->num_params());
  }

  nlohmann::json derive(Session& session, const std::string& checkpoint) override {
    const Config& c = session.config();
    const ImageDataset data = load_image_dataset(data_request(c), c.num_valids);
    SearchTrainer trainer(session, child_, controller_, data);
    return derive_in(session, trainer, checkpoint);
  }

 private:
  SharedChild child_;
  Controller controller_;
};

}  // namespace

std::unique_ptr<Job> make_train_job(const Config& config) {
  if (space_named(config.search_for).language()) return make_lm_train_job(config);
  return std::make_unique<ImageTrainJob>(config);
}

std::unique_ptr<Job> make_search_job(const Config& config) {
  if (space_named(config.search_for).language()) return make_lm_search_job(config);
  return std::make_unique<ImageSearchJob>(config);
}

}  // namespace enas
