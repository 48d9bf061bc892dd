// End-to-end tests of `enas bench`: each benchmark ends with its JSON line, and --profile shows
// where the time went, with the kernels the children really use.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "cli_runner.h"
#include "test_util.h"

namespace enas {
namespace {

using test::CliResult;
using test::contains;
using test::run_cli;

TEST(CliBench, ControllerReportsSamplingAndUpdateSpeed) {
  CliResult r = run_cli({"bench", "--only", "controller", "--steps", "1", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.last_json();
  EXPECT_EQ(j["threads"], 1);
  // Each at its search script's controller_num_aggregate.
  for (auto [space, aggregate] : {std::pair<const char*, int>{"micro", 10}, {"macro", 20}}) {
    const auto& c = j["controller"][space];
    EXPECT_GT(c["samples_per_s"].get<double>(), 0) << space;
    EXPECT_GT(c["batched_samples_per_s"].get<double>(), 0) << space;
    EXPECT_GT(c["update_ms"].get<double>(), 0) << space;
    EXPECT_EQ(c["num_aggregate"], aggregate) << space;
  }
  EXPECT_FALSE(j.contains("micro"));  // --only ran nothing else
}

// The micro benchmark runs channels-last by default, so its profile must show our batch norm on
// channels-last activations of the first cells (20 filters at 32x32, batch 160).
TEST(CliBench, MicroProfileShowsTheChannelsLastBatchNorm) {
  CliResult r = run_cli(
      {"bench", "--only", "micro", "--steps", "1", "--warmup", "0", "--threads", "2", "--profile"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.last_json();
  EXPECT_TRUE(j["micro"]["channels_last"].get<bool>());
  EXPECT_GT(j["micro"]["images_per_s"].get<double>(), 0);
  EXPECT_EQ(j["micro"]["batch"], 160);
  EXPECT_PRED2(contains, r.err, "micro: 6 layers, 20 filters, 1 steps");
  EXPECT_PRED2(contains, r.err, "enas::batch_norm [160,20,32,32]L");
  EXPECT_PRED2(contains, r.err, "aten::convolution_backward");
}

TEST(CliBench, LanguageModelProfileShowsTheHandWrittenCell) {
  CliResult r = run_cli({"bench", "--only", "lm_shared", "--steps", "1", "--warmup", "0",
                         "--threads", "2", "--profile"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.last_json();
  EXPECT_EQ(j["lm_shared"]["hidden"], 200);
  EXPECT_EQ(j["lm_shared"]["batch"], 128);
  EXPECT_GT(j["lm_shared"]["tokens_per_s"].get<double>(), 0);
  EXPECT_FALSE(j.contains("lm_final"));
  EXPECT_PRED2(contains, r.err, "ptb_search: 1 steps");
  EXPECT_PRED2(contains, r.err, "enas::rnn_cell_sequence");
  EXPECT_PRED2(contains, r.err, "enas::linear_cross_entropy [4480,200]N");
}

}  // namespace
}  // namespace enas
