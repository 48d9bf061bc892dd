// The event fan-out of training loops and the arcs.jsonl listener (src/train/reporter.cpp).
// read_metrics across a resume: test_files.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/run/reporter.h"
#include "test_util.h"

namespace enas {
namespace {

using test::TempDir;

// Writes down every event it receives, one string each, in order.
class Recorder : public Listener {
 public:
  void on_message(const std::string& text) override { events.push_back("message " + text); }
  void on_step(const StepEvent& e) override {
    events.push_back("step " + std::to_string(e.epoch) + " " + std::to_string(e.step) + " " +
                     std::to_string(e.loss));
  }
  void on_eval(const EvalEvent& e) override {
    events.push_back("eval " + e.split + " " + std::to_string(e.correct) + "/" +
                     std::to_string(e.total));
  }
  void on_epoch(const EpochEvent& e) override {
    events.push_back("epoch " + std::to_string(e.epoch) + " " + std::to_string(e.step));
  }
  void on_record(const nlohmann::json& record) override {
    events.push_back("record " + record.dump());
  }
  void on_arc(const nlohmann::json& record) override { events.push_back("arc " + record.dump()); }
  void on_sync() override { events.push_back("sync"); }

  std::vector<std::string> events;
};

// The lines of a file, each parsed as JSON and dumped again (a line that is not JSON fails the
// test).
std::vector<std::string> read_json_lines(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::string> records;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json r = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(r.is_discarded()) << "not JSON: " << line;
    records.push_back(r.dump());
  }
  return records;
}

std::vector<std::string> dumps(const std::vector<nlohmann::json>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.dump());
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// An architecture record as a search reports it.
nlohmann::json arc_record(int ctrl_step, const std::string& kind) {
  return {{"kind", kind},
          {"ctrl_step", ctrl_step},
          {"arc", "0 1 0 " + std::to_string(ctrl_step)},
          {"valid_acc", 0.25 * ctrl_step}};
}

// -------------------------------------------------------------------------------------- reporter

TEST(Reporter, ForwardsEveryEventInOrderToEveryListener) {
  auto first = std::make_shared<Recorder>(), second = std::make_shared<Recorder>();
  Reporter reporter;
  reporter.add(first);
  reporter.add(std::make_shared<Listener>());  // the defaults ignore every event
  reporter.add(second);

  reporter.message("hello");
  StepEvent step;
  step.epoch = 1;
  step.step = 7;
  step.loss = 2.5;
  reporter.step(step);
  EvalEvent eval;
  eval.epoch = 1;
  eval.step = 7;
  eval.split = "valid";
  eval.correct = 3;
  eval.total = 4;
  eval.accuracy = 0.75;
  reporter.eval(eval);
  EpochEvent epoch;
  epoch.epoch = 2;
  epoch.step = 40;
  reporter.epoch(epoch);
  const nlohmann::json record = {{"kind", "controller"}, {"ctrl_step", 3}};
  reporter.record(record);
  const nlohmann::json arc = arc_record(3, "shown");
  reporter.arc(arc);
  reporter.sync();

  const std::vector<std::string> want = {
      "message hello", "step 1 7 " + std::to_string(2.5), "eval valid 3/4",
      "epoch 2 40",    "record " + record.dump(),         "arc " + arc.dump(),
      "sync"};
  EXPECT_EQ(first->events, want);
  EXPECT_EQ(second->events, want);
}

// --------------------------------------------------------------------------------- arcs listener

TEST(ArcsListener, AppendsOneJsonLinePerArc) {
  TempDir dir;
  const std::string path = dir.file("arcs.jsonl");
  const std::vector<nlohmann::json> sent = {arc_record(0, "controller"),
                                            arc_record(1, "controller"), arc_record(2, "derive")};
  {
    Reporter reporter;
    reporter.add(std::make_shared<ArcsListener>(path));
    reporter.arc(sent[0]);
    // Events that are not architectures write nothing to arcs.jsonl.
    reporter.message("not an arc");
    reporter.record({{"kind", "controller"}, {"ctrl_step", 0}});
    reporter.sync();
    reporter.arc(sent[1]);
    reporter.arc(sent[2]);
    reporter.sync();
  }
  const std::string text = read_all(path);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_EQ(read_json_lines(path), dumps(sent));
}

TEST(ArcsListener, ReopeningAppendsAfterTheEarlierLines) {
  // A resumed search opens arcs.jsonl again: what the first process wrote stays.
  TempDir dir;
  const std::string path = dir.file("arcs.jsonl");
  {
    ArcsListener first(path);
    first.on_arc(arc_record(1, "controller"));
    first.on_sync();
  }
  {
    ArcsListener second(path);
    second.on_arc(arc_record(2, "controller"));
  }
  EXPECT_EQ(read_json_lines(path),
            dumps({arc_record(1, "controller"), arc_record(2, "controller")}));
}

TEST(ArcsListener, UnwritablePathIsAnError) {
  TempDir dir;
  EXPECT_THROW({ ArcsListener listener(dir.file("missing/arcs.jsonl")); }, Error);
}

}  // namespace
}  // namespace enas
