// `enas train` and `enas search` of the image spaces on two processes (docs/distributed.md), on
// loopback within bounded timeouts: the two train as one process on the whole batch, rank 0
// alone writes and reports, a stop seen by one process stops both, a run resumes on one process
// or two, and a process that dies ends the other with one error line. Only processes these tests
// start are ever signalled.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cli_runner.h"
#include "enas/report/metrics.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliProcess;
using test::CliResult;
using test::concat;
using test::contains;
using test::expect_one_error_line;
using test::jsonl_records;
using test::launched;
using test::lines_of;
using test::rank0_json;
using test::run_cli;
using test::search_flags;
using test::TempDir;
using test::tiny_train_args;

/// No dropout and no drop-path: two processes draw nothing that one process does not.
const std::vector<std::string> kNoDraws = {
    "--child_keep_prob", "1", "--child_drop_path_keep_prob", "1", "--dist_timeout", "60",
    "--log_every",       "1"};

std::vector<json> step_records(const std::string& run) {
  std::vector<json> out;
  for (auto& r : read_metrics(run + "/metrics.jsonl")) {
    if (r.value("kind", "") == "step") out.push_back(r);
  }
  return out;
}

class DistTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(data_ = tmp_.file("data"));
    test::write_fake_cifar10(data_, 64);
  }
  std::string run(const std::string& name) const { return tmp_.file(name); }

  /// Ranks 0 and 1 of a long tiny run into run("r") (`timeout`: --dist_timeout), started
  /// directly as torchrun would; returns once rank 0 has logged step `step`.
  std::vector<std::unique_ptr<CliProcess>> start_both(const std::string& timeout, int step) const {
    auto ranks = test::start_two_ranks(tiny_train_args(
        data_, run("r"), {"--num_epochs", "50", "--log_every", "1", "--dist_timeout", timeout}));
    EXPECT_TRUE(ranks[0]->wait_for_output("ch_step=" + std::to_string(step) + " ", 120));
    return ranks;
  }

  TempDir tmp_;
  std::string data_;
};

TEST_F(DistTrain, TwoProcessesTrainAsOneOnTheWholeBatch) {
  // 169 images in batches of 32: five whole batches and one of 9, split 4 + 5.
  const auto extra = concat(kNoDraws, {"--train_limit", "169", "--json"});
  const CliResult one = run_cli(tiny_train_args(data_, run("one"), extra), 120);
  ASSERT_EQ(one.exit_code, 0) << one.describe();
  const CliResult two = run_cli(launched(tiny_train_args(data_, run("two"), extra)), 120);
  ASSERT_EQ(two.exit_code, 0) << two.describe();
  EXPECT_TRUE(lines_of(two, "[1] ").empty()) << "rank 1 reports nothing: " << two.describe();

  const json a = one.last_json(), b = rank0_json(two);
  EXPECT_EQ(b.at("steps"), 6);
  EXPECT_EQ(b.at("steps"), a.at("steps"));
  EXPECT_NEAR(b.at("train_loss").get<double>(), a.at("train_loss").get<double>(),
              1e-3 * a.at("train_loss").get<double>());
  EXPECT_NEAR(b.at("test_acc").get<double>(), a.at("test_acc").get<double>(), 2.0 / 64);
  // Step by step, the whole batch's loss and accuracy, until rounding compounds.
  const auto sa = step_records(run("one")), sb = step_records(run("two"));
  ASSERT_EQ(sa.size(), 6u);
  ASSERT_EQ(sb.size(), 6u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(sb[i].at("loss").get<double>(), sa[i].at("loss").get<double>(), 1e-4) << i;
    EXPECT_EQ(sb[i].at("train_acc"), sa[i].at("train_acc")) << i;
    EXPECT_NEAR(sb[i].at("grad_norm").get<double>(), sa[i].at("grad_norm").get<double>(),
                1e-4 * sa[i].at("grad_norm").get<double>())
        << i;
  }
  // The last batch (4 + 5 images): its accuracy counts nine.
  const double last = sb[5].at("train_acc").get<double>() * 9;
  EXPECT_NEAR(last, std::round(last), 1e-9);
  // One run folder, written once.
  const std::string log = test::read_text(run("two") + "/log.txt");
  EXPECT_EQ(log.find("Done:"), log.rfind("Done:")) << log;
  EXPECT_PRED2(contains, log, "2 processes (gloo backend)");
  EXPECT_TRUE(fs::exists(run("two") + "/result.json"));
  EXPECT_TRUE(fs::exists(run("two") + "/ckpt-1.pt"));
}

TEST_F(DistTrain, ALastBatchTooSmallToSplitIsLeftOut) {
  // 161 images: five batches of 32 and one of 1, which one of two processes could not share.
  const CliResult r =
      run_cli(launched(tiny_train_args(data_, run("r"),
                                       concat(kNoDraws, {"--train_limit", "161", "--json"}))),
              120);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(rank0_json(r).at("steps"), 5);
}

TEST_F(DistTrain, AStopSeenByOneProcessStopsBothAndTheRunResumesOnOneOrTwo) {
  auto ranks = start_both("60", 3);
  // The same checkpoint continues on one process and on two.
  test::expect_stop_then_resume_on_one_and_two(ranks, "train", run("r"), "Stopped by SIGINT", 2);
}

TEST_F(DistTrain, AProcessThatDiesEndsTheOtherWithOneErrorLine) {
  // Past the first epoch's checkpoint (10 steps an epoch).
  const auto ranks = start_both("20", 13);
  ranks[1]->signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  const CliResult r0 = ranks[0]->wait();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  expect_one_error_line(r0, {"on rank 0 of 2"});
  EXPECT_LT(waited, 30.0) << "--dist_timeout is 20 s";
  // The last complete checkpoint is intact: the run continues from it, on one process.
  const CliResult resumed = run_cli(
      {"train", "--resume", "--out", run("r"), "--num_epochs", "2", "--threads", "1", "--json"},
      120);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_EQ(resumed.last_json().at("epochs"), 2);
}

TEST_F(DistTrain, RanksStartedWithDifferentFlagsAllRefuseNamingTheDifference) {
  // A different --seed trained two models without a word; a different --batch_size or
  // --child_out_filters aborted one rank inside Gloo ("terminate called ...", rc 134).
  for (const auto& [flag, a, b] :
       {std::tuple{"--seed", "1", "2"}, std::tuple{"--batch_size", "32", "16"},
        std::tuple{"--child_out_filters", "4", "8"}}) {
    SCOPED_TRACE(flag);
    const std::string out = run(std::string("r") + flag);
    auto ranks =
        test::start_two_ranks(tiny_train_args(data_, out, {"--dist_timeout", "60", flag, a}),
                              tiny_train_args(data_, out, {"--dist_timeout", "60", flag, b}));
    const CliResult r0 = ranks[0]->wait(), r1 = ranks[1]->wait();
    expect_one_error_line(r0, {"the 2 processes were started with different flags",
                               "every process must get the same command"});
    expect_one_error_line(
        r1, {"this process (rank 1) has " + std::string(flag) + " " + b + ", rank 0 has " + a});
    EXPECT_FALSE(fs::exists(out + "/ckpt-1.pt"));
  }
  // The same flags under another command: their collectives would never meet.
  auto args = tiny_train_args(data_, run("r-command"), {"--dist_timeout", "60"});
  auto searching = args;
  searching[0] = "search";
  auto ranks = test::start_two_ranks(args, searching);
  const CliResult r0 = ranks[0]->wait(), r1 = ranks[1]->wait();
  expect_one_error_line(r0, {"the 2 processes were started with different flags"});
  expect_one_error_line(r1, {"this process (rank 1) runs `enas search`, rank 0 `enas train`"});
}

TEST_F(DistTrain, ContiguousMemoryTrainsWithSyncBatchNormOrWithout) {
  const auto contiguous =
      concat(kNoDraws, {"--memory_format", "contiguous", "--train_limit", "64", "--json"});
  const CliResult one = run_cli(tiny_train_args(data_, run("one"), contiguous), 120);
  ASSERT_EQ(one.exit_code, 0) << one.describe();
  const CliResult synced = run_cli(launched(tiny_train_args(data_, run("a"), contiguous)), 120);
  ASSERT_EQ(synced.exit_code, 0) << synced.describe();
  EXPECT_NEAR(rank0_json(synced).at("train_loss").get<double>(),
              one.last_json().at("train_loss").get<double>(),
              1e-4 * one.last_json().at("train_loss").get<double>());
  const CliResult own =
      run_cli(launched(tiny_train_args(data_, run("b"), concat(contiguous, {"--nosync_bn"}))), 120);
  ASSERT_EQ(own.exit_code, 0) << own.describe();
  EXPECT_EQ(rank0_json(own).at("steps"), 2);
}

using DistSearch = DistTrain;

TEST_F(DistSearch, TwoProcessesSearchAsOne) {
  const auto args = concat(search_flags(data_, "micro"), kNoDraws);
  const auto [one, r] = test::run_on_one_and_two(args, run("one"), run("two"));
  if (HasFailure()) return;
  EXPECT_EQ(r.at("epochs"), 2);
  EXPECT_EQ(r.at("steps"), one.at("steps"));
  EXPECT_TRUE(fs::exists(run("two") + "/best_arc.txt"));
  // Both processes sample what one process samples: the first update's architectures (drawn
  // before any reward) are the same; every update and derivation is logged once.
  for (const char* kind : {"controller", "derive", "shown"}) {
    EXPECT_EQ(jsonl_records(run("two") + "/arcs.jsonl", kind).size(),
              jsonl_records(run("one") + "/arcs.jsonl", kind).size())
        << kind;
  }
  const auto a = jsonl_records(run("one") + "/arcs.jsonl", "controller"),
             b = jsonl_records(run("two") + "/arcs.jsonl", "controller");
  ASSERT_GE(a.size(), 2u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(b[i].at("arc"), a[i].at("arc")) << i;
  // Derivation's scores, made by the two processes in turn, are the scores of the best.
  const auto derived = jsonl_records(run("two") + "/arcs.jsonl", "derive");
  double best = -1;
  for (const auto& d : derived) best = std::max(best, d.at("valid_acc").get<double>());
  EXPECT_EQ(r.at("valid_acc").get<double>(), best);
}

TEST_F(DistSearch, AStopInTheChildPassStopsBothAndTheSearchResumesOnOneOrTwo) {
  // 8 steps an epoch: stopped mid-way through the first child pass.
  auto ranks = test::start_two_ranks(concat(
      search_flags(data_, "micro"),
      {"--num_epochs", "50", "--log_every", "1", "--dist_timeout", "60", "--out", run("r")}));
  ASSERT_TRUE(ranks[0]->wait_for_output("ch_step=3 ", 120)) << ranks[0]->wait().describe();
  test::expect_stop_then_resume_on_one_and_two(ranks, "search", run("r"),
                                               "Stopped by SIGINT in epoch 1", 1);
}

TEST_F(DistSearch, AMacroSearchOnTwoProcessesResumesOnOne) {
  const CliResult two =
      run_cli(launched(concat(search_flags(data_, "macro"), {"--out", run("r")})), 180);
  ASSERT_EQ(two.exit_code, 0) << two.describe();
  EXPECT_EQ(rank0_json(two).at("epochs"), 2);
  const CliResult more = run_cli(
      {"search", "--resume", "--out", run("r"), "--num_epochs", "3", "--threads", "1", "--json"},
      180);
  ASSERT_EQ(more.exit_code, 0) << more.describe();
  EXPECT_EQ(more.last_json().at("epochs"), 3);
}

}  // namespace
}  // namespace enas
