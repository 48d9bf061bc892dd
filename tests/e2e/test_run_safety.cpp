// Nothing lost, the writing side: every write is checked (a full disk, a file-size limit,
// /dev/full) and is an error naming the file, never a crash or a silent loss; a run folder belongs
// to one run (a lock, no planted links followed, nobody else's files touched, no half folder
// after a failed start, a failed resume leaves config.json alone).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "enas/util/zip_verify.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::CliOptions;
using test::CliResult;
using test::concat;
using test::expect_one_error_line;
using test::read_text;
using test::run_cli;
using test::TempDir;
using test::tiny_train_args;

CliResult resume(const std::string& run, const std::vector<std::string>& extra = {},
                 const CliOptions& options = {}) {
  return run_cli(concat({"train", "--resume", "--out", run, "--threads", "1"}, extra), options);
}

/// Files of `dir` that are temporaries (".tmp" anywhere in the name).
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename();
    if (name.find(".tmp") != std::string::npos) out.push_back(name);
  }
  return out;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// ------------------------------------------------------------------------- every write checked

TEST(CliWrites, FileSizeLimitFailsTheCheckpointNotTheProcess) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(tiny_train_args(tmp.path(), run)).exit_code, 0);
  const std::string before = read_text(run + "/ckpt-1.pt");
  ASSERT_GT(before.size(), 1u << 20);
  CliOptions limited;
  limited.file_size_limit = 1 << 20;  // the logs fit, a checkpoint does not
  CliResult r = resume(run, {"--num_epochs", "2"}, limited);
  expect_one_error_line(r, {"cannot write " + run + "/ckpt-2.pt", "File too large", "ulimit -f"});
  EXPECT_EQ(temporaries(run), std::vector<std::string>{});
  EXPECT_EQ(read_text(run + "/ckpt-1.pt"), before);
  CliResult again = resume(run, {"--num_epochs", "2", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(again.last_json().value("epochs", -1), 2);
}

TEST(CliWrites, FullDiskIsAnErrorAndTheLastCheckpointStays) {
  test::SmallDisk disk(6 * 1024);  // one 3.4 MB checkpoint fits, two do not
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.why_not();
  TempDir data;
  test::write_fake_cifar10(data.path(), 8);
  const std::string run = disk.file("run");
  CliResult first = run_cli(tiny_train_args(data.path(), run));
  ASSERT_EQ(first.exit_code, 0) << first.describe();

  CliResult r = resume(run, {"--num_epochs", "2"});
  expect_one_error_line(r, {"cannot write " + run + "/ckpt-2.pt", "No space left on device"});
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(temporaries(run), std::vector<std::string>{});
  EXPECT_EQ(zip_damage(run + "/ckpt-1.pt"), "");

  // With the disk full, even the small files fail loudly (result.json used to end up empty).
  // (Filled after the removal: the freed block must not leave room for a small file.)
  fs::remove(run + "/result.json");
  disk.fill();
  r = resume(run, {"--num_epochs", "1"});
  expect_one_error_line(r, {"cannot write " + run + "/", "No space left on device"});
  EXPECT_FALSE(fs::exists(run + "/result.json"));
}

TEST(CliWrites, StandardOutputThatCannotBeWrittenIsAnError) {
  if (!fs::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  CliOptions to_full;
  to_full.stdout_to = "/dev/full";
  CliResult r = run_cli({"presets"}, to_full);
  expect_one_error_line(r, {"cannot write to standard output", "No space left on device"});
}

TEST(CliWrites, StandardOutputThatCannotBeWrittenStopsARunAtItsFirstLine) {
  // It used to train to the end, then name a stale errno ("No such file or directory").
  if (!fs::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  CliOptions to_full;
  to_full.stdout_to = "/dev/full";
  const std::string run = tmp.file("run");
  CliResult r = run_cli(tiny_train_args(tmp.path(), run, {"--num_epochs", "20"}), to_full);
  expect_one_error_line(r, {"cannot write to standard output: No space left on device"});
  EXPECT_FALSE(fs::exists(run + "/ckpt-1.pt"));
  EXPECT_FALSE(fs::exists(run + "/result.json"));
}

// ------------------------------------------------------------------- a run folder, one run

TEST(CliRunFolder, ASecondRunOnTheSameFolderIsRefused) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 64);
  const std::string run = tmp.file("run");
  test::CliProcess first(
      tiny_train_args(tmp.path(), run, {"--num_epochs", "50", "--log_every", "1"}));
  ASSERT_TRUE(first.wait_for_output("ch_step=")) << first.wait().describe();
  CliResult second = run_cli(tiny_train_args(tmp.path(), run));
  expect_one_error_line(second, {"run folder " + run + " is in use by process " +
                                     std::to_string(first.pid()) + " (enas train)",
                                 "another --out"});
  CliResult also = resume(run);
  expect_one_error_line(also, {"is in use by process " + std::to_string(first.pid())});
  first.signal(SIGINT);
  CliResult ended = first.wait();
  EXPECT_EQ(ended.exit_code, 130) << ended.describe();
  // The first run's log has its own lines only.
  const std::string log = read_text(run + "/log.txt");
  EXPECT_EQ(log.find("error:"), std::string::npos);
  EXPECT_EQ(log.find("Resuming"), std::string::npos);
}

TEST(CliRunFolder, LinksPlantedInARunFolderAreNeverFollowed) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  write(tmp.file("victim"), "precious");
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(tiny_train_args(tmp.path(), run)).exit_code, 0);
  fs::remove(run + "/log.txt");
  fs::create_symlink(tmp.file("victim"), run + "/log.txt");
  expect_one_error_line(resume(run, {"--num_epochs", "2"}), {run + "/log.txt is a symbolic link"});
  // A temporary's old, guessable name planted as a link in an empty folder.
  const std::string fresh = tmp.file("fresh");
  fs::create_directory(fresh);
  fs::create_symlink(tmp.file("victim"), fresh + "/ckpt-1.pt.tmp");
  expect_one_error_line(run_cli(tiny_train_args(tmp.path(), fresh)), {"is a symbolic link"});
  EXPECT_EQ(read_text(tmp.file("victim")), "precious");
}

TEST(CliRunFolder, AFolderOfOtherFilesIsRefused) {
  TempDir tmp;
  write(tmp.file("notes.txt"), "mine");
  for (const auto& extra : {std::vector<std::string>{}, {"--reset_output_dir"}}) {
    CliResult r = run_cli(tiny_train_args("/nonexistent", tmp.path(), extra));
    expect_one_error_line(
        r, {tmp.path(), "holds files no enas run wrote (notes.txt)", "new or empty folder"});
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"notes.txt"});
  EXPECT_EQ(read_text(tmp.file("notes.txt")), "mine");

  // Whatever the files are called: named as a run's own, they were replaced without a word.
  TempDir mine;
  const std::vector<std::string> precious = {"log.txt", "report.html", "best_arc.txt",
                                             "metrics.jsonl"};
  for (const auto& name : precious) write(mine.file(name), "precious");
  test::write_fake_cifar10(tmp.path(), 8);
  CliResult r = run_cli(tiny_train_args(tmp.path(), mine.path()));
  expect_one_error_line(r,
                        {mine.path(), "holds files no enas run wrote (best_arc.txt and 3 more)"});
  for (const auto& name : precious) EXPECT_EQ(read_text(mine.file(name)), "precious") << name;
}

TEST(CliRunFolder, AFinishedRunIsNeverResumedAndSaysHowToExtendIt) {
  // A resume of a finished run rewrote result.json with train_loss 0.0 and images_per_s 0.0.
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(tiny_train_args(tmp.path(), run, {"--num_epochs", "2"})).exit_code, 0);
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(run)) {
    if (e.path().filename() != ".enas.lock") before[e.path().filename()] = read_text(e.path());
  }
  expect_one_error_line(resume(run), {run + " is a finished run: its 2 epochs are done",
                                      "--num_epochs N for some N > 2"});
  std::map<std::string, std::string> after;
  for (const auto& e : fs::directory_iterator(run)) {
    if (e.path().filename() != ".enas.lock") after[e.path().filename()] = read_text(e.path());
  }
  EXPECT_TRUE(before == after) << "the finished run's files changed";
  CliResult further = resume(run, {"--num_epochs", "3", "--json"});
  ASSERT_EQ(further.exit_code, 0) << further.describe();
  EXPECT_EQ(further.last_json().value("epochs", -1), 3);
}

TEST(CliRunFolder, AFailedStartLeavesNoHalfFolder) {
  TempDir tmp;
  expect_one_error_line(run_cli(tiny_train_args("/nonexistent", tmp.file("new"))),
                        {"/nonexistent"});
  EXPECT_FALSE(fs::exists(tmp.file("new")));
  fs::create_directory(tmp.file("empty"));
  expect_one_error_line(run_cli(tiny_train_args("/nonexistent", tmp.file("empty"))),
                        {"/nonexistent"});
  EXPECT_TRUE(fs::is_empty(tmp.file("empty")));

  // A resume that fails (the data moved) leaves the run's config.json as it was.
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(tiny_train_args(tmp.path(), run)).exit_code, 0);
  const std::string config = read_text(run + "/config.json");
  expect_one_error_line(resume(run, {"--num_epochs", "2", "--data", "/moved"}), {"/moved"});
  EXPECT_EQ(read_text(run + "/config.json"), config);
}

TEST(CliRunFolder, ResetDeletesOnlyWhatARunWrites) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(tiny_train_args(tmp.path(), run)).exit_code, 0);
  write(run + "/notes.txt", "mine");
  write(run + "/ckpt-notes.txt", "mine too");  // named like a checkpoint, deleted before
  CliResult r = run_cli(tiny_train_args(tmp.path(), run, {"--reset_output_dir", "--seed", "9"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("kept 2 file(s) no run writes"), std::string::npos) << r.describe();
  EXPECT_EQ(read_text(run + "/notes.txt"), "mine");
  EXPECT_EQ(read_text(run + "/ckpt-notes.txt"), "mine too");
  EXPECT_NE(read_text(run + "/config.json").find("\"seed\": 9"), std::string::npos);
  EXPECT_EQ(temporaries(run), std::vector<std::string>{});
  // The saved reset_output_dir describes how the run started; a resume does not repeat it.
  CliResult resumed = resume(run, {"--num_epochs", "2", "--json"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_EQ(resumed.last_json().value("epochs", -1), 2);
  EXPECT_EQ(read_text(run + "/notes.txt"), "mine");
}

}  // namespace
}  // namespace enas
