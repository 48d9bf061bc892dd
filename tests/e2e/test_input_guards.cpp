// Nothing lost, the input side: a diverged run is an error that saves nothing; non-finite and
// overflowing values are refused; what --resume cannot honour is an error or a warning, never a
// silent rewrite of config.json; a CIFAR-10 file cut at a record boundary is pointed out; every
// message is a sentence for a user, not a library's exception text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliResult;
using test::concat;
using test::expect_one_error_line;
using test::read_text;
using test::run_cli;
using test::TempDir;
using test::tiny_train_args;

CliResult dry_run(const std::vector<std::string>& flags) {
  return run_cli(concat({"train", "--dry-run", "--threads", "1"}, flags));
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// ---------------------------------------------------------------------------------- divergence

TEST(CliDivergence, ADivergedImageRunSavesNothing) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  CliResult r = run_cli(
      tiny_train_args(tmp.path(), run, {"--child_lr_max", "1e30", "--child_lr_min", "1e30"}));
  expect_one_error_line(r, {"--child_lr_max"});
  EXPECT_FALSE(fs::exists(run + "/ckpt-1.pt"));
  EXPECT_FALSE(fs::exists(run + "/result.json"));
}

TEST(CliDivergence, APennTreebankRunWhoseValidationOverflowsIsAnError) {
  TempDir tmp;
  test::write_tiny_ptb(tmp.path());
  const std::string run = tmp.file("run");
  CliResult r =
      run_cli({"train", "--preset", "ptb_final", "--data", tmp.path(), "--child_hidden_size=16",
               "--batch_size=4", "--child_bptt_steps=8", "--threads=1", "--child_fixed_arc=0 1 1 0",
               "--num_epochs=2", "--child_lr=300", "--out", run});
  expect_one_error_line(r, {"diverged", "--child_lr"});
  EXPECT_FALSE(fs::exists(run + "/result.json"));
  EXPECT_FALSE(fs::exists(run + "/ckpt-1.pt"));  // only the start, ckpt-0, was saved
  EXPECT_TRUE(fs::exists(run + "/ckpt-0.pt"));
}

// ------------------------------------------------------------------------------------ values

TEST(CliValues, NonFiniteAndOverflowingValuesAreRefused) {
  expect_one_error_line(dry_run({"--child_lr_max", "nan"}),
                        {"--child_lr_max must be a finite number, got nan"});
  expect_one_error_line(dry_run({"--controller_lr", "inf"}),
                        {"--controller_lr must be a finite number"});
  expect_one_error_line(dry_run({"--num_epochs", "0"}), {"--num_epochs must be >= 1, got 0"});
  TempDir tmp;
  write(tmp.file("big.json"), R"({"child_num_layers": 4294967297})");
  expect_one_error_line(dry_run({"--config", tmp.file("big.json")}),
                        {"'child_num_layers' is 4294967297", "out of range for a 32-bit integer"});
  write(tmp.file("frac.json"), R"({"child_num_layers": 2.5})");
  expect_one_error_line(dry_run({"--config", tmp.file("frac.json")}),
                        {"'child_num_layers' must be an integer, got 2.5"});
}

TEST(CliValues, AnArchitectureGivenTwiceIsRefused) {
  TempDir tmp;
  write(tmp.file("arc.txt"), test::kTinyMicroArc);
  expect_one_error_line(dry_run({"--child_fixed_arc_file", tmp.file("arc.txt"), "--child_fixed_arc",
                                 test::kTinyMicroArc}),
                        {"--child_fixed_arc", "--child_fixed_arc_file", "pass one"});
}

TEST(CliValues, WhatAResumeCannotHonourIsNeverSilent) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(tiny_train_args(tmp.path(), run)).exit_code, 0);
  auto resume = [&](const std::vector<std::string>& extra) {
    return run_cli(concat({"train", "--resume", "--out", run, "--threads", "1"}, extra));
  };
  const std::string config = read_text(run + "/config.json");
  expect_one_error_line(resume({"--preset", "cifar10_micro_final"}),
                        {"--preset does not go with --resume"});
  expect_one_error_line(resume({"--reset_output_dir"}), {"contradict"});
  expect_one_error_line(resume({"--child_num_cells", "3"}),
                        {"--child_num_cells is 3 here but 2 in " + run + "/config.json"});
  expect_one_error_line(resume({"--seed", "5"}), {"--seed is 5 here but 1"});
  EXPECT_EQ(read_text(run + "/config.json"), config);

  // Any other change is said, logged, and written to config.json.
  CliResult r = resume({"--num_epochs", "2", "--child_l2_reg", "0.001"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::string warning = "warning: --resume: --child_l2_reg changes from ";
  EXPECT_NE(r.out.find(warning), std::string::npos) << r.describe();
  EXPECT_NE(read_text(run + "/log.txt").find(warning), std::string::npos);
  const json saved = json::parse(read_text(run + "/config.json"));
  EXPECT_NEAR(saved.value("child_l2_reg", 0.0), 0.001, 1e-9);
  EXPECT_EQ(saved.value("num_epochs", 0), 2);
}

TEST(CliValues, ACifarFileCutAtARecordBoundaryIsPointedOut) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 16);
  fs::resize_file(tmp.file("data_batch_3.bin"), 5 * 3073);
  CliResult r = run_cli(tiny_train_args(tmp.path(), tmp.file("run")));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("warning: " + tmp.path()), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("data_batch_3.bin (5)"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("10000 records"), std::string::npos) << r.describe();
}

// ---------------------------------------------------------------------------------- messages

TEST(CliMessages, AreSentencesNotLibraryText) {
  CliResult r = run_cli({"trian", "--threads", "1"});
  expect_one_error_line(r, {"unknown command 'trian'; did you mean 'train'?", "search, derive"});

  TempDir tmp;
  expect_one_error_line(dry_run({"--config", tmp.path()}),
                        {"cannot read config file " + tmp.path() + ": it is a folder"});

  write(tmp.file("abc.txt"), "# enas search_for=micro child_num_layers=abc\n0 1 0 1\n");
  expect_one_error_line(dry_run({"--child_fixed_arc_file", tmp.file("abc.txt")}),
                        {tmp.file("abc.txt"), "child_num_layers=abc", "not a count"});

  write(tmp.file("huge.txt"), std::string(2 << 20, '0'));
  expect_one_error_line(dry_run({"--child_fixed_arc_file", tmp.file("huge.txt")}),
                        {"architecture file " + tmp.file("huge.txt"), "bytes"});

  expect_one_error_line(dry_run({"--child_out_filters", "2000000"}),
                        {"out of memory", "--batch_size"});
}

}  // namespace
}  // namespace enas
