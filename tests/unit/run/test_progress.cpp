// The terminal's progress line (src/train/progress.cpp): what it shows from synthetic ticks on a
// fake clock, its ETA arithmetic, its throttled redraws, and its clearing before console lines.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/run/progress.h"
#include "enas/run/reporter.h"

namespace enas {
namespace {

const std::string kClear = "\r\033[K";

// A listener drawing into `writes` on a clock the test moves.
class Bar {
 public:
  explicit Bar(int width = 300)
      : listener(std::make_shared<ProgressListener>(
            ProgressListener::Sink([this](const std::string& s) { writes.push_back(s); }),
            ProgressListener::Clock([this] { return now; }), width)) {}

  void stage(const std::string& command, int64_t epochs, int64_t steps, int64_t controller_steps,
             int64_t stages = 1, int64_t start_epoch = 0, const std::string& unit = "images") {
    listener->on_record({{"kind", "stage"},
                         {"command", command},
                         {"stage", 1},
                         {"stages", stages},
                         {"epochs", epochs},
                         {"start_epoch", start_epoch},
                         {"steps_per_epoch", steps},
                         {"controller_steps_per_epoch", controller_steps},
                         {"unit", unit}});
  }
  // A tick at time `t`.
  void tick(double t, const char* phase, int64_t epoch, int64_t step, int64_t items) {
    now = t;
    TickEvent e;
    e.phase = phase;
    e.epoch = epoch;
    e.step = step;
    e.items = items;
    listener->on_tick(e);
  }
  // The text of every draw, in order ("\r" + text + "\033[K").
  std::vector<std::string> draws() const {
    std::vector<std::string> out;
    for (const auto& w : writes) {
      if (w == kClear) continue;
      EXPECT_EQ(w.substr(0, 1), "\r");
      EXPECT_EQ(w.substr(w.size() - 3), "\033[K");
      out.push_back(w.substr(1, w.size() - 4));
    }
    return out;
  }
  std::string last() const {
    const auto d = draws();
    return d.empty() ? "" : d.back();
  }

  double now = 0;
  std::vector<std::string> writes;
  std::shared_ptr<ProgressListener> listener;
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Progress, TrainLineShowsEpochStepRateAndEta) {
  Bar bar;
  bar.stage("train", 3, 100, 0);
  // 10 steps of 32 images, 0.5 s apart: 64 images/s, 90 steps x 0.5 s left in the epoch, and
  // two more epochs of 100 x 0.5 s.
  for (int i = 0; i < 10; ++i) bar.tick(0.5 * i, "child", 0, i + 1, 32);
  const std::string line = bar.last();
  EXPECT_EQ(line, "train  epoch 1/3  child 10/100  64.0 img/s  epoch ETA 0:00:45  run ETA 0:02:25")
      << line;
  StepEvent step;
  step.loss = 1.5;
  step.correct = 16;
  step.batch = 32;
  bar.listener->on_step(step);
  bar.tick(5.0, "child", 0, 11, 32);
  EXPECT_TRUE(has(bar.last(), "64.0 img/s  loss 1.500 acc 0.500  epoch ETA 0:00:4")) << bar.last();
}

TEST(Progress, NoEtaBeforeTwoTicks) {
  Bar bar;
  bar.stage("train", 3, 100, 0);
  bar.tick(7.0, "child", 0, 1, 32);
  EXPECT_EQ(bar.last(), "train  epoch 1/3  child 1/100  epoch ETA --  run ETA --");
  bar.tick(7.5, "child", 0, 2, 32);
  EXPECT_TRUE(has(bar.last(), "epoch ETA 0:00:49  run ETA 0:02:29")) << bar.last();
}

TEST(Progress, SearchEtaCountsChildAndControllerSteps) {
  Bar bar;
  bar.stage("search", 3, 10, 5, /*stages=*/2);
  // Epoch 1: child steps of 1 s; the controller's cost is unknown until it has run.
  for (int i = 0; i < 10; ++i) bar.tick(i, "child", 0, i + 1, 16);
  EXPECT_TRUE(has(bar.last(), "search 1/2  epoch 1/3  child 10/10  16.0 img/s  epoch ETA --"))
      << bar.last();
  // Controller steps of 2 s: 3 left x 2 s; each epoch is 10 x 1 s + 5 x 2 s (none whole yet).
  bar.tick(11, "controller", 0, 1, 0);
  bar.tick(13, "controller", 0, 2, 0);
  EXPECT_TRUE(has(bar.last(), "controller 2/5  2.0 s/step  epoch ETA 0:00:06  stage ETA 0:00:46"))
      << bar.last();
  bar.tick(15, "controller", 0, 3, 0);
  bar.tick(17, "controller", 0, 4, 0);
  bar.tick(19, "controller", 0, 5, 0);
  // Epoch 2, 3 child steps in: 7 x 1 s + 5 x 2 s left; epoch 1 took 20 s from tick to tick.
  bar.tick(20, "child", 1, 11, 16);
  bar.tick(21, "child", 1, 12, 16);
  bar.tick(22, "child", 1, 13, 16);
  EXPECT_TRUE(has(bar.last(),
                  "epoch 2/3  child 3/10  16.0 img/s  epoch ETA 0:00:17  stage ETA "
                  "0:00:37"))
      << bar.last();
}

TEST(Progress, ResumedStageCountsFromItsEpoch) {
  Bar bar;
  bar.stage("train", 10, 100, 0, 1, /*start_epoch=*/5);
  // Resumed 40 batches into epoch 6 (5 done): global steps 541...
  for (int i = 0; i < 10; ++i) bar.tick(0.5 * i, "child", 5, 541 + i, 32);
  EXPECT_TRUE(has(bar.last(),
                  "epoch 6/10  child 50/100  64.0 img/s  epoch ETA 0:00:25  run ETA "
                  "0:03:45"))
      << bar.last();
}

TEST(Progress, EpochStepsCountFromTheLastStepOfTheEpochBefore) {
  // The LM's epochs have a varying number of segments: 12 steps where 10 were announced.
  Bar bar;
  bar.stage("train", 2, 10, 0, 1, 0, "tokens");
  for (int i = 0; i < 12; ++i) bar.tick(i, "child", 0, i + 1, 700);
  EXPECT_TRUE(has(bar.last(), "child 10/10  700 tok/s  epoch ETA 0:00:00")) << bar.last();
  bar.listener->on_record({{"kind", "lm_step"}, {"ppl", 123.456}});
  bar.tick(12, "child", 1, 13, 700);
  EXPECT_TRUE(has(bar.last(), "epoch 2/2  child 1/10")) << bar.last();
  EXPECT_TRUE(has(bar.last(), "ppl 123.46")) << bar.last();
}

TEST(Progress, RateFollowsRecentTicks) {
  Bar bar;
  bar.stage("train", 1, 1000, 0);
  int64_t step = 0;
  double t = 0;
  for (int i = 0; i < 10; ++i, t += 4) bar.tick(t, "child", 0, ++step, 32);  // 8 images/s
  for (size_t i = 0; i < TickWindow::kTicks + 5; ++i, t += 0.5) {
    bar.tick(t, "child", 0, ++step, 32);  // 64 images/s
  }
  EXPECT_TRUE(has(bar.last(), " 64.0 img/s")) << bar.last();
}

TEST(Progress, AnEvaluationIsNoStepsTime) {
  Bar bar;
  bar.stage("train", 2, 100, 0);
  for (int i = 0; i < 5; ++i) bar.tick(0.5 * i, "child", 0, i + 1, 32);
  bar.listener->on_eval(EvalEvent{});
  bar.tick(60, "child", 0, 6, 32);  // the evaluation took a minute
  bar.tick(60.5, "child", 0, 7, 32);
  EXPECT_TRUE(has(bar.last(), "child 7/100  64.0 img/s  epoch ETA 0:00:47")) << bar.last();
}

TEST(Progress, RedrawsAtMostEveryFifthOfASecond) {
  Bar bar;
  bar.stage("search", 1, 1000, 50);
  // 17 ticks 1/16 s apart over 1 s: drawn at 0, 0.25, 0.5, 0.75, 1.
  for (int i = 0; i <= 16; ++i) bar.tick(i / 16.0, "child", 0, i + 1, 8);
  EXPECT_EQ(bar.draws().size(), 5u);
  // A new phase is drawn at once.
  bar.tick(1.01, "controller", 0, 1, 0);
  ASSERT_EQ(bar.draws().size(), 6u);
  EXPECT_TRUE(has(bar.last(), "controller 1/50")) << bar.last();
}

// Prints its events where the bar draws, as the console prints to the same terminal.
class Console : public Listener {
 public:
  explicit Console(std::vector<std::string>& out) : out_(out) {}
  void on_message(const std::string& text) override { out_.push_back(text + "\n"); }
  void on_step(const StepEvent&) override { out_.push_back("step\n"); }

 private:
  std::vector<std::string>& out_;
};

TEST(Progress, ConsoleLinesStartOnAClearedLine) {
  Bar bar;
  Reporter reporter;
  reporter.add(bar.listener);
  reporter.add(std::make_shared<Console>(bar.writes));
  bar.stage("train", 1, 100, 0);
  bar.tick(0, "child", 0, 1, 8);
  reporter.message("hello");
  ASSERT_EQ(bar.writes.size(), 3u);
  EXPECT_EQ(bar.writes[1], kClear);
  EXPECT_EQ(bar.writes[2], "hello\n");
  // Nothing is shown now: the next console line needs no clearing...
  reporter.step(StepEvent{});
  ASSERT_EQ(bar.writes.size(), 4u);
  EXPECT_EQ(bar.writes[3], "step\n");
  // ...and the next tick draws again, however soon.
  bar.tick(0.01, "child", 0, 2, 8);
  ASSERT_EQ(bar.writes.size(), 5u);
  EXPECT_TRUE(has(bar.writes[4], "child 2/100")) << bar.writes[4];
  bar.listener->finish();
  EXPECT_EQ(bar.writes.back(), kClear);
}

TEST(Progress, LineIsCutToTheWidth) {
  Bar bar(40);
  bar.stage("train", 3, 100, 0);
  bar.tick(0, "child", 0, 1, 32);
  const std::string full = bar.listener->line();
  ASSERT_GT(full.size(), 40u);
  EXPECT_EQ(bar.last(), full.substr(0, 39));
}

TEST(Progress, DrawsOnAFileButIsWantedOnlyOnATerminal) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(ProgressListener::wanted(file));
  {
    ProgressListener bar(
        file, [] { return 0.0; }, 60);
    bar.on_record({{"kind", "stage"}, {"command", "train"}, {"epochs", 1}, {"steps_per_epoch", 4}});
    bar.on_tick(TickEvent{"child", 0, 1, 8});
  }  // its end clears the line
  std::rewind(file);
  std::string text(256, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file));
  std::fclose(file);
  EXPECT_EQ(text, "\rtrain  epoch 1/1  child 1/4  epoch ETA --  run ETA --\033[K" + kClear);
}

TEST(Progress, FormatDuration) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(250), "0:04:10");
  EXPECT_EQ(format_duration(59.6), "0:01:00");
  EXPECT_EQ(format_duration(86399.4), "23:59:59");
  EXPECT_EQ(format_duration(2 * 86400 + 3 * 3600), "2d 03:00:00");
  EXPECT_EQ(format_duration(-1), "--");
  EXPECT_EQ(format_duration(std::nan("")), "--");
  EXPECT_EQ(format_duration(inf), "--");
  EXPECT_EQ(format_duration(1e12), ">999d");
}

TEST(Progress, EstimateEta) {
  EtaInput in;
  in.epochs = 4;
  in.epoch = 1;
  in.child_steps = 10;
  in.child_done = 4;
  in.controller_steps = 5;
  in.child_step_s = 1;
  // The controller never ran: unknown, not a guess.
  EXPECT_TRUE(std::isnan(estimate_eta(in).epoch));
  in.controller_step_s = 2;
  EXPECT_DOUBLE_EQ(estimate_eta(in).epoch, 6 + 10);
  EXPECT_DOUBLE_EQ(estimate_eta(in).stage, 16 + 2 * 20);
  // A measured whole epoch (evaluations in) counts rather than its steps.
  in.epoch_s = 30;
  EXPECT_DOUBLE_EQ(estimate_eta(in).stage, 16 + 2 * 30);
  // In the controller phase no child step is left.
  in.in_controller = true;
  in.controller_done = 4;
  EXPECT_DOUBLE_EQ(estimate_eta(in).epoch, 2);
  // The last epoch: the stage ends with it.
  in.epoch = 3;
  EXPECT_DOUBLE_EQ(estimate_eta(in).stage, 2);
}

}  // namespace
}  // namespace enas
