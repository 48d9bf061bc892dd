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

TEST(CliMessages, ADeeplyNestedJsonFileIsAnErrorNotACrash) {
  // 800 KB, under the 1 MiB cap, nested 400,000 deep: a segmentation fault (rc 139).
  TempDir tmp;
  write(tmp.file("deep.json"),
        "{\"seed\": " + std::string(400000, '[') + std::string(400000, ']') + "}");
  expect_one_error_line(dry_run({"--config", tmp.file("deep.json")}),
                        {tmp.file("deep.json") + " is nested more than 64 deep"});
}

TEST(CliMessages, AFileSystemErrorIsOurSentenceNamingThePath) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  write(tmp.file("plain"), "a file, not a folder");
  const std::string under_a_file = tmp.file("plain/x");
  for (const auto& r : {run_cli(tiny_train_args(tmp.path(), under_a_file)),
                        run_cli({"run", "--out", under_a_file, "--threads", "1"})}) {
    expect_one_error_line(r, {under_a_file, "Not a directory"});
    EXPECT_EQ(r.err.find("filesystem error"), std::string::npos) << r.describe();
  }
}

// ------------------------------------------------------------------------------ flag values

TEST(CliValues, ThreadsBeyondFourPerCoreAreRefused) {
  // Thousands of threads made no step in minutes and did not hear SIGTERM.
  expect_one_error_line(dry_run({"--threads", "100000"}),
                        {"--threads 100000 is more than 4 x the", "cores here"});
  EXPECT_EQ(dry_run({"--threads", "2"}).exit_code, 0);
}

TEST(CliValues, AnEmptyValueAfterTheSignIsAnError) {
  // CLI11 took the next argument as the value: --out= --noreport made a folder "--noreport".
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  CliResult r =
      run_cli(concat(tiny_train_args(tmp.path(), tmp.file("run")), {"--out=", "--noreport"}));
  expect_one_error_line(r, {"--out= has an empty value"});
  EXPECT_FALSE(fs::exists("--noreport"));
  EXPECT_FALSE(fs::exists(tmp.file("run")));
  expect_one_error_line(dry_run({"--seed="}), {"--seed= has an empty value"});
}

TEST(CliValues, StringsAreOneLineOfUtf8) {
  TempDir tmp;
  // A byte that is not UTF-8 stopped the JSON writer with its own exception text; a newline
  // forged a line of standard output and log.txt.
  CliResult bad_byte = dry_run({"--out", tmp.file("a\xff b")});
  expect_one_error_line(bad_byte, {"--out is not valid UTF-8", "\\xff"});
  EXPECT_EQ(bad_byte.err.find("json.exception"), std::string::npos) << bad_byte.describe();
  CliResult forged = dry_run({"--out", tmp.file("x\nStopped by SIGINT")});
  expect_one_error_line(forged, {"--out holds a control character", "\\n"});
  EXPECT_EQ(forged.out.find("Stopped by"), std::string::npos) << forged.describe();
  expect_one_error_line(dry_run({"--data", "a\tb"}), {"--data holds a control character"});
  expect_one_error_line(run_cli({"report", "r\x01"}), {"run folder argument", "\\x01"});
  // An architecture may stand over lines, as in best_arc.txt.
  CliResult over_lines =
      dry_run({"--child_num_cells", "2", "--child_fixed_arc", "0 2 0 0 1 4 0 1\n1 2 0 1 0 0 1 3"});
  EXPECT_EQ(over_lines.exit_code, 0) << over_lines.describe();
}

TEST(CliValues, StringsWithAClosedSetOfValuesAreChecked) {
  expect_one_error_line(dry_run({"--data_format", "foo<b>"}),
                        {"--data_format is 'foo<b>'", "NCHW, NHWC"});
  expect_one_error_line(dry_run({"--child_skip_pattern", "bar"}),
                        {"--child_skip_pattern is 'bar'", "dense"});
  EXPECT_EQ(dry_run({"--data_format", "NHWC", "--child_skip_pattern", "dense"}).exit_code, 0);
}

}  // namespace
}  // namespace enas
