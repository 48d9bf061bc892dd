// Checkpoints in process (run/checkpoint.h) against a temporary run folder: a trainer's parts
// saved and restored, the shape and kind checks, the resume of the newest checkpoint, and the
// rollback to the newest epoch-end one with its limit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "enas/run/checkpoint.h"
#include "enas/run/reporter.h"
#include "enas/run/run_dir.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::TempDir;

/// State with save / load, as an optimiser or REINFORCE's baseline has.
struct Counter {
  torch::Tensor value = torch::zeros({3});
  void save(torch::serialize::OutputArchive& a) const { a.write("value", value); }
  void load(torch::serialize::InputArchive& a) { a.read("value", value); }
};

/// Collects the reporter's records and messages.
struct Recorder : Listener {
  std::vector<nlohmann::json> records;
  std::vector<std::string> messages;
  void on_record(const nlohmann::json& r) override { records.push_back(r); }
  void on_message(const std::string& text) override { messages.push_back(text); }
};

/// A trainer's state in miniature: a module, a state object and a loose value, declared once.
struct Trainer {
  torch::nn::Linear linear{torch::nn::LinearOptions(4, 2)};
  Counter counter;
  int64_t loose = 0;
  CheckpointParts parts() {
    CheckpointParts p;
    p.module("linear", *linear)
        .state("counter", counter)
        .loose([this](auto& a) { a.write("loose", torch::tensor(loose)); },
               [this](auto& a) {
                 torch::Tensor t;
                 a.read("loose", t);
                 loose = t.item<int64_t>();
               });
    return p;
  }
  /// The position as the image final trainer writes it (in the meta itself), or, `nested`, as
  /// the searches and the language model do (under "position").
  std::string save(const RunDir& run, CheckpointId id, int64_t step, bool nested = false) {
    nlohmann::json meta = {{"kind", "final"}, {"epoch", id.epoch}, {"step", step}};
    if (!id.at_epoch_end()) meta["batch"] = id.batch;
    const nlohmann::json meter = {{"seen", 8 * id.batch}};
    if (nested) {
      meta["position"] = {{"meter", meter}, {"ctrl_t", 3}};
    } else {
      meta["meter"] = meter;
    }
    return run.save_checkpoint(id, meta, [&](auto& a) { parts().save(a); });
  }
  nlohmann::json restore(const std::string& path) {
    return load_checkpoint(path, "final", [&](auto& a) { parts().load(a, path); });
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class Checkpoints : public test::SeededTest {};

TEST_F(Checkpoints, PartsComeBackAsSaved) {
  TempDir dir;
  auto run = RunDir::open(dir.path(), "train", false, false);
  Trainer a;
  a.counter.value.fill_(7);
  a.loose = 42;
  const std::string path = a.save(run, {1, 0}, 10);
  Trainer b;  // other random weights
  ASSERT_FALSE(torch::equal(a.linear->weight, b.linear->weight));
  const auto meta = b.restore(path);
  EXPECT_EQ(meta.at("step"), 10);
  EXPECT_TRUE(torch::equal(a.linear->weight, b.linear->weight));
  EXPECT_TRUE(torch::equal(a.linear->bias, b.linear->bias));
  EXPECT_TRUE(torch::equal(b.counter.value, torch::full({3}, 7.0)));
  EXPECT_EQ(b.loose, 42);
}

TEST_F(Checkpoints, AnotherShapeOrKindIsAnErrorNamingIt) {
  TempDir dir;
  auto run = RunDir::open(dir.path(), "train", false, false);
  Trainer a;
  const std::string path = a.save(run, {1, 0}, 10);
  Trainer wider;
  wider.linear = torch::nn::Linear(torch::nn::LinearOptions(5, 2));
  const std::string shape = error_of([&] { wider.restore(path); });
  EXPECT_NE(shape.find("weight"), std::string::npos) << shape;
  EXPECT_NE(shape.find(path), std::string::npos) << shape;
  const std::string kind = error_of([&] { load_checkpoint(path, "search", [](auto&) {}); });
  EXPECT_NE(kind.find("not"), std::string::npos) << kind;
}

TEST_F(Checkpoints, ResumeTakesTheNewestAndItsPosition) {
  TempDir dir;
  Trainer a;
  {
    auto run = RunDir::open(dir.path(), "train", false, false);
    a.loose = 1;
    a.save(run, {1, 0}, 6);
    a.loose = 2;
    a.save(run, {2, 3}, 9);  // stopped mid-epoch 2 after 3 batches
  }
  auto run = RunDir::open(dir.path(), "train", /*resume=*/true, false);
  Reporter reporter;
  auto recorder = std::make_shared<Recorder>();
  reporter.add(recorder);
  Trainer b;
  RunCheckpoints checkpoints(run, reporter, [&](const std::string& p) { return b.restore(p); });
  std::string checked;
  const RunProgress at =
      checkpoints.resume([&](const std::string& path, const RunProgress&) { checked = path; });
  EXPECT_EQ(at.epoch, 2);
  EXPECT_EQ(at.batch, 3);
  EXPECT_EQ(at.step, 9);
  EXPECT_EQ(at.position.at("meter").at("seen"), 24);
  EXPECT_EQ(b.loose, 2);
  EXPECT_NE(checked.find(CheckpointId{2, 3}.file_name()), std::string::npos) << checked;
  ASSERT_FALSE(recorder->records.empty());
  EXPECT_EQ(recorder->records.back().at("kind"), "resume");

  // A check that refuses the checkpoint stops the resume with its error.
  Trainer c;
  RunCheckpoints refusing(run, reporter, [&](const std::string& p) { return c.restore(p); });
  EXPECT_THROW(
      refusing.resume([](const std::string&, const RunProgress&) { fail("not this one"); }), Error);
}

TEST_F(Checkpoints, APositionUnderItsOwnKeyIsThePosition) {
  // As the searches and the language model write it; the meta's other fields stay out of it.
  TempDir dir;
  {
    auto run = RunDir::open(dir.path(), "train", false, false);
    Trainer a;
    a.save(run, {2, 5}, 11, /*nested=*/true);
  }
  auto run = RunDir::open(dir.path(), "train", /*resume=*/true, false);
  Reporter reporter;
  Trainer b;
  RunCheckpoints checkpoints(run, reporter, [&](const std::string& p) { return b.restore(p); });
  const RunProgress at = checkpoints.resume();
  EXPECT_EQ(at.batch, 5);
  EXPECT_EQ(at.position.at("meter").at("seen"), 40);
  EXPECT_EQ(at.position.at("ctrl_t"), 3);
  EXPECT_FALSE(at.position.contains("step"));
}

TEST_F(Checkpoints, RollbackReturnsToTheNewestEpochEndAndGivesUpAfterFive) {
  TempDir dir;
  auto run = RunDir::open(dir.path(), "train", false, false);
  Trainer a;
  a.loose = 1;
  a.save(run, {1, 0}, 6);
  a.loose = 2;
  a.save(run, {2, 0}, 12);
  a.loose = 3;
  a.save(run, {3, 4}, 16);  // mid-epoch: not where a rollback goes
  Reporter reporter;
  auto recorder = std::make_shared<Recorder>();
  reporter.add(recorder);
  Trainer b;
  RunCheckpoints checkpoints(run, reporter, [&](const std::string& p) { return b.restore(p); });
  const RunProgress first = checkpoints.roll_back();
  EXPECT_EQ(first.epoch, 2);
  EXPECT_EQ(first.batch, 0);
  EXPECT_EQ(first.rollbacks, 1);
  EXPECT_EQ(b.loose, 2);
  EXPECT_EQ(recorder->records.back().at("kind"), "rollback");
  // A finished epoch ends the series; then five in a row are allowed and the sixth is refused.
  checkpoints.epoch_done();
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(checkpoints.roll_back().rollbacks, i);
  const std::string six = error_of([&] { checkpoints.roll_back(); });
  EXPECT_NE(six.find("after 5 rollbacks"), std::string::npos) << six;
}

}  // namespace
}  // namespace enas
