// The Penn Treebank commands on two processes (docs/distributed.md), on loopback within bounded
// timeouts: final training of a cell trains as one process on the whole batch of rows; a stop
// seen by one process saves every row's carried state, and the run resumes on one process or
// two; a search samples what one process samples and derives once; derivation from a checkpoint
// shares its architectures between the processes. Only processes these tests start are signalled.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace enas {
namespace {

using nlohmann::json;
using test::CliResult;
using test::concat;
using test::jsonl_records;
using test::launched;
using test::lines_of;
using test::rank0_json;
using test::run_cli;
using test::TempDir;

/// Every dropout off: two processes draw nothing that one process does not.
const std::vector<std::string> kNoDropout = {"--child_drop_e=0", "--child_drop_i=0",
                                             "--child_drop_x=0", "--child_drop_l=0",
                                             "--child_drop_o=0", "--dist_timeout=60"};

class DistLm : public ::testing::Test {
 protected:
  void SetUp() override { test::write_tiny_ptb(tmp_.path()); }
  std::string data() const { return tmp_.path(); }
  std::string run(const std::string& name) const { return tmp_.file(name); }
  TempDir tmp_;
};

TEST_F(DistLm, TwoProcessesTrainTheCellAsOneOnTheWholeBatch) {
  // 4 rows, 2 on each process; two epochs (the state carried, reset between them). At the
  // preset's rate of 20 this tiny cell is chaotic once it learns: the two runs' 1e-8 rounding
  // differences (sums in another order) grow to 1e-4 by step 40 and to 3 % at the end; at 2 they
  // stay small.
  const auto args =
      concat(concat(test::tiny_lm_final(data()), kNoDropout), {"--num_epochs=2", "--child_lr=2"});
  const auto [a, b] = test::run_on_one_and_two(args, run("one"), run("two"));
  if (HasFailure()) return;
  EXPECT_EQ(b.at("steps"), a.at("steps"));
  EXPECT_EQ(b.at("averaged"), a.at("averaged"));
  for (const char* field : {"train_ppl", "valid_ppl", "test_ppl"}) {
    EXPECT_NEAR(b.at(field).get<double>(), a.at(field).get<double>(),
                1e-3 * a.at(field).get<double>())
        << field;
  }
  // Step by step: the whole batch's perplexity and the norm of the averaged gradient (clipped
  // after the average), until rounding compounds.
  const auto sa = jsonl_records(run("one") + "/metrics.jsonl", "lm_step");
  const auto sb = jsonl_records(run("two") + "/metrics.jsonl", "lm_step");
  ASSERT_GE(sa.size(), 3u);
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < 3; ++i) {
    for (const char* field : {"ppl", "grad_norm", "l2"}) {
      EXPECT_NEAR(sb[i].at(field).get<double>(), sa[i].at(field).get<double>(),
                  1e-4 * sa[i].at(field).get<double>())
          << field << " at step " << i;
    }
  }
  const std::string log = test::read_text(run("two") + "/log.txt");
  EXPECT_EQ(log.find("Done:"), log.rfind("Done:")) << log;
  EXPECT_PRED2(test::contains, log, "2 processes (gloo backend)");
}

TEST_F(DistLm, AStopSavesEveryRowsStateAndTheRunResumesOnOneOrTwo) {
  auto ranks = test::start_two_ranks(concat(
      test::tiny_lm_final(data()), {"--num_epochs=50", "--dist_timeout=60", "--out", run("r")}));
  ASSERT_TRUE(ranks[0]->wait_for_output("step=3 ", 120)) << ranks[0]->wait().describe();
  // The mid-epoch checkpoint holds the 4 rows' state: it continues on one process and on two.
  test::expect_stop_then_resume_on_one_and_two(ranks, "train", run("r"),
                                               "Stopped by SIGINT in epoch 1 after step", 1);
}

TEST_F(DistLm, TwoProcessesSearchAsOneAndDeriveTogether) {
  const auto args = concat(test::tiny_lm_search(data()), kNoDropout);
  const auto [one, r] = test::run_on_one_and_two(args, run("one"), run("two"));
  if (HasFailure()) return;
  EXPECT_EQ(r.at("epochs"), 2);
  EXPECT_EQ(r.at("steps"), one.at("steps"));
  EXPECT_NEAR(r.at("shared_valid_ppl").get<double>(), one.at("shared_valid_ppl").get<double>(),
              1e-3 * one.at("shared_valid_ppl").get<double>());
  // The first update's architectures, drawn before any reward, are one process's; every update
  // and derivation is logged once.
  const auto a = jsonl_records(run("one") + "/arcs.jsonl", "controller");
  const auto b = jsonl_records(run("two") + "/arcs.jsonl", "controller");
  ASSERT_GE(a.size(), 2u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(b[i].at("arc"), a[i].at("arc")) << i;
  EXPECT_EQ(jsonl_records(run("two") + "/arcs.jsonl", "derive").size(), 3u);

  // Derivation from the last checkpoint on two processes: 3 architectures scored 2 + 1, the best
  // of them reported once.
  const CliResult d = run_cli(launched({"derive", "--checkpoint", run("two") + "/ckpt-2.pt",
                                        "--derive_samples", "3", "--json"}),
                              180);
  ASSERT_EQ(d.exit_code, 0) << d.describe();
  EXPECT_TRUE(lines_of(d, "[1] ").empty()) << d.describe();
  const json best = rank0_json(d);
  const auto derived = jsonl_records(run("two") + "/arcs.jsonl", "derive");
  ASSERT_EQ(derived.size(), 6u);
  double lowest = derived[3].at("valid_ppl").get<double>();
  for (size_t i = 4; i < 6; ++i)
    lowest = std::min(lowest, derived[i].at("valid_ppl").get<double>());
  EXPECT_EQ(best.at("valid_ppl").get<double>(), lowest);
  EXPECT_EQ(best.at("samples"), 3);
}

}  // namespace
}  // namespace enas
