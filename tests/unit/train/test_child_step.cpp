// The image epoch in process (train/child_step.h): its steps, hooks, logs and sums on a tiny
// child, and a stop mid-epoch whose saved sums, continued, give the uninterrupted epoch bit for
// bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "enas/child/image_child.h"
#include "enas/data/batch_loader.h"
#include "enas/data/image_dataset.h"
#include "enas/run/reporter.h"
#include "enas/run/run_dir.h"
#include "enas/train/child_step.h"
#include "enas/util/signals.h"
#include "test_util.h"

namespace enas {
namespace {

using test::TempDir;

/// conv 3x3 -> ReLU -> global pool -> FC: a child of milliseconds a step.
class TinyChildImpl : public ImageChildImpl {
 public:
  TinyChildImpl() {
    conv_ = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)));
    fc_ = register_module("fc", torch::nn::Linear(4, 3));
  }
  ChildOutput forward(const torch::Tensor& images) override {
    return {fc_->forward(torch::relu(conv_->forward(images)).mean({2, 3})), torch::Tensor()};
  }
  std::string summary() const override { return "tiny"; }

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(TinyChild);

/// 28 images of 1x8x8 in 3 classes: batches of 8, 8, 8 and 4.
ImageSplit tiny_split() {
  torch::manual_seed(5);
  ImageSplit s;
  s.labels = torch::randint(0, 3, {28}, torch::kLong);
  s.images = torch::randint(0, 255, {28, 1, 8, 8}, torch::kByte);
  return s;
}

std::unique_ptr<BatchLoader> loader_of(const ImageSplit& split) {
  BatchLoaderOptions o;
  o.batch_size = 8;
  o.seed = 3;
  return std::make_unique<BatchLoader>(split, channel_stats(split), o);
}

struct Events : Listener {
  std::vector<int64_t> ticks, steps;
  std::vector<EpochEvent> epochs;
  void on_tick(const TickEvent& e) override { ticks.push_back(e.step); }
  void on_step(const StepEvent& e) override { steps.push_back(e.step); }
  void on_epoch(const EpochEvent& e) override { epochs.push_back(e); }
};

/// A fresh child and optimiser from seed 1: two of them start equal.
struct Learner {
  Learner()
      : child([] {
          torch::manual_seed(1);
          return TinyChild();
        }()),
        sgd(child->parameters(), SgdOptions{}) {}
  TinyChild child;
  Sgd sgd;
};

bool same_weights(TinyChild& a, TinyChild& b) {
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    if (!torch::equal(pa[i], pb[i])) return false;
  }
  return true;
}

class ImageEpoch : public test::SeededTest {};

TEST_F(ImageEpoch, StepsEveryBatchLogsEveryNAndSumsTheEpoch) {
  TempDir dir;
  auto run = RunDir::open(dir.path(), "train", false, false);
  const ImageSplit split = tiny_split();
  auto loader = loader_of(split);
  Learner l;
  auto before = l.child->parameters()[0].clone();
  Reporter reporter;
  auto events = std::make_shared<Events>();
  reporter.add(events);
  ImagePass pass;
  pass.lr = 0.05;
  pass.log_every = 2;
  std::vector<int64_t> seen;
  ImagePassHooks hooks;
  hooks.before_step = [&](int64_t step) { seen.push_back(step); };
  hooks.save = [](int64_t, const nlohmann::json&) -> std::string {
    ADD_FAILURE() << "saved without a stop";
    return "";
  };
  int64_t step = 10;  // the run's global step so far
  const EpochEvent e =
      train_image_epoch(*l.child, l.sgd, *loader, pass, step, reporter, run, RunClock(), hooks);
  EXPECT_EQ(step, 14);
  EXPECT_EQ(seen, (std::vector<int64_t>{10, 11, 12, 13}));
  EXPECT_EQ(events->ticks, (std::vector<int64_t>{11, 12, 13, 14}));
  EXPECT_EQ(events->steps, (std::vector<int64_t>{12, 14}));
  ASSERT_EQ(events->epochs.size(), 1u);
  EXPECT_EQ(e.epoch, 1);
  EXPECT_EQ(e.step, 14);
  EXPECT_DOUBLE_EQ(e.lr, 0.05);
  EXPECT_TRUE(std::isfinite(e.train_loss) && e.train_loss > 0) << e.train_loss;
  EXPECT_GE(e.train_acc, 0.0);
  EXPECT_LE(e.train_acc, 1.0);
  // 28 images: the accuracy is a count of them.
  const double correct = e.train_acc * 28;
  EXPECT_NEAR(correct, std::round(correct), 1e-9);
  EXPECT_FALSE(torch::equal(before, l.child->parameters()[0]));
}

TEST_F(ImageEpoch, AStopSavesItsSumsAndTheContinuationIsTheWholeEpoch) {
  TempDir dir;
  auto run = RunDir::open(dir.path(), "train", false, false);
  const ImageSplit split = tiny_split();
  ImagePass pass;
  pass.epoch = 2;
  pass.lr = 0.05;
  pass.log_every = 100;

  Learner whole;
  auto whole_loader = loader_of(split);
  Reporter quiet;
  int64_t whole_step = 0;
  const EpochEvent expected = train_image_epoch(*whole.child, whole.sgd, *whole_loader, pass,
                                                whole_step, quiet, run, RunClock(), {});

  // The same epoch, stopped by a signal during its second step.
  Learner parts;
  auto loader = loader_of(split);
  int64_t step = 0, saved_batch = -1;
  nlohmann::json saved_meter;
  ImagePassHooks hooks;
  hooks.before_step = [](int64_t s) {
    if (s == 1) request_stop(SIGINT);
  };
  hooks.save = [&](int64_t batch, const nlohmann::json& meter) {
    saved_batch = batch;
    saved_meter = meter;
    return run.file("ckpt-3-2.pt");
  };
  EXPECT_THROW(train_image_epoch(*parts.child, parts.sgd, *loader, pass, step, quiet, run,
                                 RunClock(), hooks),
               Interrupted);
  clear_stop_request();
  EXPECT_EQ(saved_batch, 2);
  EXPECT_EQ(step, 2);

  // Continued from batch 2 with the saved sums (the weights and momenta are still in memory).
  ImagePass rest = pass;
  rest.first_batch = saved_batch;
  rest.meter = saved_meter;
  auto rest_loader = loader_of(split);
  const EpochEvent e = train_image_epoch(*parts.child, parts.sgd, *rest_loader, rest, step, quiet,
                                         run, RunClock(), {});
  EXPECT_EQ(step, whole_step);
  EXPECT_EQ(e.step, expected.step);
  EXPECT_EQ(e.train_loss, expected.train_loss);
  EXPECT_EQ(e.train_acc, expected.train_acc);
  EXPECT_TRUE(same_weights(whole.child, parts.child));
}

}  // namespace
}  // namespace enas
