// End-to-end tests of `enas` on bad input: each must exit non-zero with exactly one line on
// standard error, "error: ..." saying what is wrong and how to fix it, and no crash or trace.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::concat;
using test::expect_one_error_line;
using test::run_cli;
using test::TempDir;

/// `enas train` with the tiny micro child on `data`, writing to `out`, plus `extra`.
CliResult train(const std::string& data, const std::string& out,
                const std::vector<std::string>& extra = {}) {
  return run_cli(concat(concat({"train"}, test::tiny_micro_flags(data)),
                        concat({"--num_epochs", "1", "--out", out}, extra)));
}

/// `enas train --dry-run` with `flags`.
CliResult dry_run(const std::vector<std::string>& flags) {
  return run_cli(concat({"train", "--dry-run", "--threads", "1"}, flags));
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

constexpr const char* kCifarUrl = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

// ------------------------------------------------------------------ data

TEST(CliDataErrors, MissingDataFolder) {
  TempDir tmp;
  CliResult r = train("/nonexistent/cifar", tmp.file("run"));
  expect_one_error_line(r, {"/nonexistent/cifar", "does not exist", kCifarUrl});
}

TEST(CliDataErrors, FolderWithoutTheFiles) {
  TempDir tmp;
  fs::create_directory(tmp.file("empty"));
  CliResult r = train(tmp.file("empty"), tmp.file("run"));
  expect_one_error_line(r, {tmp.file("empty"), "data_batch_1.bin", kCifarUrl});
}

TEST(CliDataErrors, MissingTestBatch) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 4);
  fs::remove(tmp.file("test_batch.bin"));
  CliResult r = train(tmp.path(), tmp.file("run"));
  expect_one_error_line(r, {tmp.file("test_batch.bin"), "does not exist", kCifarUrl});
}

TEST(CliDataErrors, TruncatedBatchFile) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  fs::resize_file(tmp.file("data_batch_3.bin"), 3073 * 5 + 7);
  CliResult r = train(tmp.path(), tmp.file("run"));
  expect_one_error_line(r, {tmp.file("data_batch_3.bin"), "15372 bytes", "multiple of 3073",
                            "30,730,000", "truncated"});
}

TEST(CliDataErrors, LabelOutOfRange) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  {
    std::fstream f(tmp.file("data_batch_2.bin"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3073 * 5);  // record 5's label byte
    f.put(static_cast<char>(10));
  }
  CliResult r = train(tmp.path(), tmp.file("run"));
  expect_one_error_line(r, {tmp.file("data_batch_2.bin"), "record 5", "label 10", "0..9"});
}

// ------------------------------------------------------------------ architecture

TEST(CliArcErrors, MicroWrongLength) {
  std::string arc = "0";
  for (int i = 1; i < 39; ++i) arc += " 0";
  CliResult r = dry_run({"--child_num_cells", "5", "--child_fixed_arc", arc});
  expect_one_error_line(r, {"micro architecture", "39 numbers", "5 blocks", "need 40"});
}

TEST(CliArcErrors, MicroOpOutOfRange) {
  CliResult r =
      dry_run({"--child_num_cells", "2", "--child_fixed_arc", "0 7 1 4 0 0 2 3 0 1 1 4 2 3 0 2"});
  expect_one_error_line(r, {"position 1", "op", "is 7", "0..4"});
}

TEST(CliArcErrors, MicroIndexOutOfRange) {
  // Block 1 of the normal cell reads node 3: only 0..2 exist then.
  CliResult r =
      dry_run({"--child_num_cells", "2", "--child_fixed_arc", "0 2 1 4 0 0 3 3 0 1 1 4 2 3 0 2"});
  expect_one_error_line(r, {"position 6", "block 1", "is 3", "0..2"});
}

TEST(CliArcErrors, MacroOpOutOfRange) {
  CliResult r = dry_run(
      {"--search_for", "macro", "--child_num_layers", "3", "--child_fixed_arc", "0 1 0 6 1 1"});
  expect_one_error_line(r, {"macro architecture", "position 3", "is 6", "0..5"});
}

TEST(CliArcErrors, NotANumber) {
  CliResult r = dry_run({"--child_fixed_arc", "0 x"});
  expect_one_error_line(r, {"position 1", "'x'", "not an integer"});
}

// ------------------------------------------------------------------ flags and config files

TEST(CliFlagErrors, UnknownPresetListsTheKnownOnes) {
  CliResult r = dry_run({"--preset", "nope"});
  expect_one_error_line(r, {"'nope'", "cifar10_micro_final", "cifar10_macro_search", "default"});
}

TEST(CliFlagErrors, UnknownFlagIsNamed) {
  CliResult r = dry_run({"--bogus_flag", "3"});
  expect_one_error_line(r, {"unknown flag(s): --bogus_flag 3", "--help"});
  CliResult eq = dry_run({"--bogus_flag=3"});
  expect_one_error_line(eq, {"unknown flag(s): --bogus_flag=3"});
}

TEST(CliFlagErrors, BadNumbers) {
  expect_one_error_line(dry_run({"--batch_size", "abc"}), {"--batch_size", "abc"});
  expect_one_error_line(dry_run({"--batch_size", "1.5"}), {"--batch_size", "1.5"});
  expect_one_error_line(dry_run({"--batch_size", "0"}), {"--batch_size must be > 0, got 0"});
  expect_one_error_line(dry_run({"--child_keep_prob", "1.5"}), {"--child_keep_prob", "(0, 1]"});
  expect_one_error_line(dry_run({"--dataset", "imagenet"}), {"'imagenet'", "cifar10"});
}

TEST(CliFlagErrors, CudaWithoutCuda) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA is available here";
  expect_one_error_line(dry_run({"--device", "cuda"}), {"--device cuda", "no CUDA"});
}

TEST(CliFlagErrors, ConfigFileUnknownKey) {
  TempDir tmp;
  write_file(tmp.file("c.json"), R"({"batch_size": 16, "bogus_key": 1})");
  expect_one_error_line(dry_run({"--config", tmp.file("c.json")}),
                        {tmp.file("c.json"), "unknown flag 'bogus_key'"});
}

TEST(CliFlagErrors, ConfigFileInvalidJson) {
  TempDir tmp;
  write_file(tmp.file("c.json"), "{\"batch_size\": 16,\n");
  expect_one_error_line(dry_run({"--config", tmp.file("c.json")}),
                        {tmp.file("c.json"), "not valid JSON"});
  write_file(tmp.file("t.json"), R"({"batch_size": "16"})");
  expect_one_error_line(dry_run({"--config", tmp.file("t.json")}),
                        {tmp.file("t.json"), "'batch_size'", "wrong type"});
  expect_one_error_line(dry_run({"--config", tmp.file("missing.json")}),
                        {tmp.file("missing.json")});
}

TEST(CliFlagErrors, ConfigFileValuesApply) {
  TempDir tmp;
  write_file(tmp.file("c.json"), R"({"child_use_aux_heads": false})");
  CliResult r = dry_run({"--config", tmp.file("c.json"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.last_json().value("params_aux", -1), 0);
}

// ------------------------------------------------------------------ run folders

TEST(CliRunDirErrors, UnwritableOutputFolder) {
  TempDir tmp;
  write_file(tmp.file("file"), "x");
  expect_one_error_line(train("/nonexistent", "/proc/enas-test"),
                        {"cannot create output folder /proc/enas-test"});
  expect_one_error_line(train("/nonexistent", tmp.file("file/run")),
                        {"cannot create output folder " + tmp.file("file/run")});
  expect_one_error_line(train("/nonexistent", tmp.file("file")),
                        {tmp.file("file"), "not a folder"});
}

TEST(CliRunDirErrors, ExistingRunNeedsResume) {
  TempDir tmp;
  write_file(tmp.file("ckpt-1.pt"), "");
  CliResult r = train("/nonexistent", tmp.path());
  expect_one_error_line(r, {tmp.path(), "already holds a run", "--resume", "--reset_output_dir"});
}

TEST(CliRunDirErrors, ResumeNeedsARun) {
  TempDir tmp;
  expect_one_error_line(run_cli({"train", "--resume", "--threads", "1"}), {"--resume needs --out"});
  expect_one_error_line(run_cli({"train", "--resume", "--out", tmp.path(), "--threads", "1"}),
                        {"--resume", tmp.path(), "config.json"});
  // A config.json but no checkpoint: the run died before its first epoch ended.
  write_file(tmp.file("config.json"), "{}");
  expect_one_error_line(run_cli({"train", "--resume", "--out", tmp.path(), "--threads", "1"}),
                        {"--resume", tmp.path(), "no checkpoint"});
}

TEST(CliRunDirErrors, DamagedCheckpoint) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 4);
  const std::string run = tmp.file("run");
  ASSERT_EQ(train(tmp.path(), run).exit_code, 0);
  write_file(run + "/ckpt-2.pt", "not a checkpoint");
  CliResult r = run_cli({"train", "--resume", "--out", run, "--num_epochs", "3", "--threads", "1"});
  expect_one_error_line(r, {"the newest checkpoint " + run + "/ckpt-2.pt is damaged",
                            run + "/ckpt-1.pt, is intact", "--resume_from ckpt-1.pt"});
}

TEST(CliRunDirErrors, CheckpointOfAnotherArchitecture) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 4);
  const std::string run = tmp.file("run");
  ASSERT_EQ(train(tmp.path(), run).exit_code, 0);
  CliResult r = run_cli({"train", "--resume", "--out", run, "--num_epochs", "2", "--threads", "1",
                         "--child_out_filters", "6"});
  expect_one_error_line(
      r, {"--child_out_filters is 6 here but 4 in " + run + "/config.json", "keeps the model"});
  // A config.json edited by hand gets past that check, not past the checkpoint's shapes.
  std::string config = test::read_text(run + "/config.json");
  const std::string from = "\"child_out_filters\": 4", to = "\"child_out_filters\": 6";
  ASSERT_NE(config.find(from), std::string::npos);
  config.replace(config.find(from), from.size(), to);
  write_file(run + "/config.json", config);
  r = run_cli({"train", "--resume", "--out", run, "--num_epochs", "2", "--threads", "1"});
  expect_one_error_line(r, {run + "/ckpt-1.pt", "does not match this model", "is ["});
}

TEST(CliErrors, FlagsWithoutASubcommand) {
  // (No arguments at all run the embedded pipeline: Pipeline.DryRunBuildsTheEmbeddedSearch.)
  CliResult r = run_cli({"--threads", "1"});
  expect_one_error_line(r, {"subcommand"});
}

}  // namespace
}  // namespace enas
