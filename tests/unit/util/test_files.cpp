// Every write checked: atomic whole files, appended logs, a full disk, a file-size limit,
// /dev/full; bounded reads; the stop signals; warnings; metrics.jsonl across a resume.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "enas/report/metrics.h"
#include "enas/run/reporter.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/signals.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::error_of;
using test::SmallDisk;
using test::TempDir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

TEST(AtomicFile, WritesAndReplacesWithoutLeftovers) {
  TempDir dir;
  write_file_atomic(dir.file("a.json"), "one\n");
  EXPECT_EQ(read(dir.file("a.json")), "one\n");
  write_file_atomic(dir.file("a.json"), "two\n");
  EXPECT_EQ(read(dir.file("a.json")), "two\n");
  EXPECT_EQ(files_in(dir.path()), std::set<std::string>{"a.json"});
}

TEST(AtomicFile, AbandonedWriteLeavesTheTargetAlone) {
  TempDir dir;
  write_file_atomic(dir.file("a.json"), "old\n");
  {
    AtomicFile f(dir.file("a.json"));
    f.write("new, never committed");
  }
  EXPECT_EQ(read(dir.file("a.json")), "old\n");
  EXPECT_EQ(files_in(dir.path()), std::set<std::string>{"a.json"});
}

TEST(AtomicFile, TemporaryNamesAreUnpredictableAndRecognised) {
  EXPECT_TRUE(is_atomic_temporary(".ckpt-3.pt.tmp-0a1b2c3d"));
  for (const char* name :
       {"ckpt-3.pt.tmp", ".ckpt.tmp-0a1b2c3", ".x.tmp-0a1b2c3g", "a.tmp-0a1b2c3d"}) {
    EXPECT_FALSE(is_atomic_temporary(name)) << name;
  }
  TempDir dir;
  fs::create_symlink(dir.file("victim"), dir.file("a.json.tmp"));  // the old, guessable name
  write_file_atomic(dir.file("a.json"), "x");
  EXPECT_FALSE(fs::exists(dir.file("victim")));
}

TEST(AtomicFile, FullDiskIsAnErrorAndKeepsThePreviousVersion) {
  SmallDisk disk(64);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.why_not();
  write_file_atomic(disk.file("ckpt.pt"), "the previous checkpoint");
  AtomicFile f(disk.file("ckpt.pt"));
  const std::string block(4096, 'x');
  for (int i = 0; i < 64; ++i) f.write(block);  // 256 KiB into 64: write() never throws
  const std::string msg = error_of([&] { f.commit(); });
  EXPECT_PRED2(contains, msg, "cannot write " + disk.file("ckpt.pt"));
  EXPECT_PRED2(contains, msg, "No space left on device");
  EXPECT_EQ(read(disk.file("ckpt.pt")), "the previous checkpoint");
  EXPECT_EQ(files_in(disk.path()), std::set<std::string>{"ckpt.pt"});
}

TEST(AtomicFile, FileSizeLimitIsAnErrorNotASignal) {
  TempDir dir;
  write_file_atomic(dir.file("a.json"), "old");
  // The limit is per process: try it in a child, which reports through its exit status.
  const pid_t pid = fork();
  if (pid == 0) {
    install_stop_handlers();  // ignores SIGXFSZ
    const rlimit limit{1000, 1000};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(3);
    try {
      write_file_atomic(dir.file("a.json"), std::string(5000, 'x'));
    } catch (const Error& e) {
      _exit(contains(e.what(), "File too large") && contains(e.what(), "ulimit -f") ? 0 : 4);
    }
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(read(dir.file("a.json")), "old");
  EXPECT_EQ(files_in(dir.path()), std::set<std::string>{"a.json"});
}

TEST(AppendFile, EveryRecordIsChecked) {
  TempDir dir;
  {
    AppendFile log(dir.file("log.txt"));
    log.append("one\n");
    log.append("two\n");
    log.sync();
  }
  AppendFile again(dir.file("log.txt"));
  again.append("three\n");
  EXPECT_EQ(read(dir.file("log.txt")), "one\ntwo\nthree\n");

  if (!fs::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  AppendFile full("/dev/full");
  const std::string msg = error_of([&] { full.append("a record\n"); });
  EXPECT_PRED2(contains, msg, "cannot write /dev/full");
  EXPECT_PRED2(contains, msg, "No space left on device");
}

TEST(AppendFile, RefusesALinkInItsPlace) {
  TempDir dir;
  std::ofstream(dir.file("victim")) << "precious";
  fs::create_symlink(dir.file("victim"), dir.file("log.txt"));
  EXPECT_PRED2(contains, error_of([&] { AppendFile log(dir.file("log.txt")); }),
               "is a symbolic link");
  EXPECT_EQ(read(dir.file("victim")), "precious");
}

TEST(ReadSmallFile, SaysWhatIsWrongInWords) {
  TempDir dir;
  std::ofstream(dir.file("ok.json")) << "{}";
  EXPECT_EQ(read_small_file(dir.file("ok.json"), "config file", 100), "{}");
  EXPECT_PRED2(contains, error_of([&] { read_small_file(dir.path(), "config file", 100); }),
               "is a folder");
  EXPECT_PRED2(contains, error_of([&] { read_small_file(dir.file("no"), "config file", 100); }),
               "No such file");
  std::ofstream(dir.file("big")) << std::string(101, 'x');
  EXPECT_PRED2(contains, error_of([&] { read_small_file(dir.file("big"), "config file", 100); }),
               "101 bytes");
  // A FIFO nobody writes used to block the open forever; a device to be read without end.
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  EXPECT_PRED2(contains, error_of([&] { read_small_file(dir.file("fifo"), "metrics file", 100); }),
               "it is not a regular file");
  EXPECT_PRED2(contains, error_of([&] { read_small_file("/dev/zero", "metrics file", 100); }),
               "it is not a regular file");
  fs::create_symlink("/dev/zero", dir.file("zero"));
  EXPECT_PRED2(contains, error_of([&] { read_small_file(dir.file("zero"), "metrics file", 100); }),
               "it is not a regular file");
}

TEST(StopSignals, RaiseAFlagAndIgnoreTheFileSizeSignal) {
  install_stop_handlers();
  clear_stop_request();
  EXPECT_EQ(stop_requested(), 0);
  std::raise(SIGTERM);
  EXPECT_EQ(stop_requested(), SIGTERM);
  clear_stop_request();  // a second one would end the process
  std::raise(SIGXFSZ);   // ignored: writes past a size limit fail with EFBIG instead
  EXPECT_EQ(signal_name(SIGINT), "SIGINT");
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
}

TEST(Warnings, GoToTheInstalledSink) {
  std::vector<std::string> seen;
  WarningSink previous = set_warning_sink([&](const std::string& w) { seen.push_back(w); });
  warn("odd file");
  set_warning_sink(previous);
  EXPECT_EQ(seen, std::vector<std::string>{"odd file"});
}

TEST(ReadMetrics, DropsWhatAResumedRunTrainedAgain) {
  TempDir dir;
  std::ofstream(dir.file("metrics.jsonl"))
      << R"({"kind":"step","step":10,"loss":2.0})"
         "\n"
      << R"({"kind":"epoch","epoch":1,"step":20,"train_loss":1.5})"
         "\n"
      << R"({"kind":"controller","epoch":1,"ctrl_step":3})"
         "\n"
      << R"({"kind":"step","step":30,"loss":1.2})"
         "\n"
      << R"({"kind":"controller","epoch":2,"ctrl_step":4})"
         "\n"
      << R"({"kind":"step","step":3)"
         "\n"  // a line cut by a crash
      << R"({"kind":"resume","epoch":1,"batch":0,"step":20,"ctrl_step":3})"
         "\n"
      << R"({"kind":"step","step":30,"loss":1.1})"
         "\n"
      << R"({"kind":"epoch","epoch":2,"step":40,"train_loss":1.0})"
         "\n";
  const auto records = read_metrics(dir.file("metrics.jsonl"));
  std::vector<std::string> got;
  for (const auto& r : records) got.push_back(r.dump());
  EXPECT_EQ(got, (std::vector<std::string>{
                     R"({"kind":"step","loss":2.0,"step":10})",
                     R"({"epoch":1,"kind":"epoch","step":20,"train_loss":1.5})",
                     R"({"ctrl_step":3,"epoch":1,"kind":"controller"})",
                     R"({"batch":0,"ctrl_step":3,"epoch":1,"kind":"resume","step":20})",
                     R"({"kind":"step","loss":1.1,"step":30})",
                     R"({"epoch":2,"kind":"epoch","step":40,"train_loss":1.0})"}));
}

TEST(ReadMetrics, FieldsOfAnotherTypeAreKeptNotThrown) {
  // A record whose kind or step is not what ours hold (edited by hand, another tool's) is kept
  // as it is and is no resume.
  TempDir dir;
  std::ofstream(dir.file("metrics.jsonl")) << R"({"kind":3,"step":10})"
                                              "\n"
                                           << R"({"kind":"resume","step":"20"})"
                                              "\n"
                                           << R"({"kind":"step","step":30})"
                                              "\n";
  const auto records = read_metrics(dir.file("metrics.jsonl"));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].at("kind"), 3);
  EXPECT_EQ(records[2].at("step"), 30);
}

}  // namespace
}  // namespace enas
