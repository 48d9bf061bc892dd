// A resumed run whose model no longer matches its checkpoint: every trainer (image final, image
// search, Penn Treebank final and search) reads its checkpoint through the same parts, so each
// gives one `error:` line naming the checkpoint and the tensor, never a libtorch trace.
// (`--child_out_filters 6` on --resume is refused earlier, from config.json: test_cli_errors.cpp.
// Here config.json is edited by hand to get past that check.)
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace enas {
namespace {

using test::CliResult;
using test::concat;
using test::expect_one_error_line;
using test::run_cli;
using test::TempDir;

/// Replaces `"key": from` by `"key": to` in the run's config.json.
void edit_config(const std::string& run, const std::string& key, const std::string& from,
                 const std::string& to) {
  const std::string path = run + "/config.json";
  std::string config = test::read_text(path);
  const std::string a = "\"" + key + "\": " + from, b = "\"" + key + "\": " + to;
  const auto at = config.find(a);
  ASSERT_NE(at, std::string::npos) << path << " lacks " << a;
  config.replace(at, a.size(), b);
  std::ofstream(path) << config;
}

/// Runs `start` into `run`, changes `key` in its config.json, resumes with `resume` and expects
/// the one error line that names the checkpoint and a tensor of another shape.
void expect_mismatch(const std::vector<std::string>& start, const std::vector<std::string>& resume,
                     const std::string& run, const std::string& checkpoint, const std::string& key,
                     const std::string& from, const std::string& to) {
  CliResult first = run_cli(start);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  edit_config(run, key, from, to);
  CliResult r = run_cli(resume);
  expect_one_error_line(r, {run + "/" + checkpoint, "does not match this model", "is ["});
}

std::vector<std::string> lm_flags(const std::string& data) {
  return {"--data",     data, "--child_hidden_size=16", "--batch_size=4", "--child_bptt_steps=8",
          "--threads=1"};
}

TEST(ResumeMismatch, ImageSearch) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 48);
  const std::string run = tmp.file("run");
  const std::vector<std::string> start = concat(
      concat({"search"}, test::tiny_micro_flags(tmp.path())),
      {"--num_valids", "32", "--batch_size", "32", "--num_epochs", "1", "--controller_train_steps",
       "1", "--derive_samples", "1", "--threads", "1", "--out", run});
  expect_mismatch(start,
                  {"search", "--resume", "--out", run, "--num_epochs", "2", "--threads", "1"}, run,
                  "ckpt-1.pt", "child_out_filters", "4", "6");
}

TEST(ResumeMismatch, LanguageModelFinal) {
  TempDir tmp;
  test::write_tiny_ptb(tmp.path());
  const std::string run = tmp.file("run");
  const std::vector<std::string> start =
      concat(concat({"train", "--preset", "ptb_final"}, lm_flags(tmp.path())),
             {"--child_fixed_arc=0 1 1 0", "--num_epochs=1", "--out", run});
  expect_mismatch(start, {"train", "--resume", "--out", run, "--num_epochs=2", "--threads=1"}, run,
                  "ckpt-1.pt", "child_hidden_size", "16", "12");
}

TEST(ResumeMismatch, LanguageModelSearch) {
  TempDir tmp;
  test::write_tiny_ptb(tmp.path());
  const std::string run = tmp.file("run");
  const std::vector<std::string> start =
      concat(concat({"search", "--preset", "ptb_search"}, lm_flags(tmp.path())),
             {"--num_epochs=1", "--controller_train_steps=1", "--controller_num_aggregate=1",
              "--derive_samples=1", "--child_num_layers=2", "--out", run});
  expect_mismatch(start, {"search", "--resume", "--out", run, "--num_epochs=2", "--threads=1"}, run,
                  "ckpt-1.pt", "child_hidden_size", "16", "12");
}

}  // namespace
}  // namespace enas
