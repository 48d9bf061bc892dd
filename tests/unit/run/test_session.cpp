// The run layer in process: a Session opened on a temporary folder as a command opens one, what
// it records and writes, how it ends, and what it refuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "enas/report/metrics.h"
#include "enas/run/session.h"
#include "enas/util/files.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

Config tiny_config(const std::string& out) {
  Config c;
  c.child_num_cells = 2;
  c.child_fixed_arc = "0 2 0 0 1 4 0 1 1 2 0 1 0 0 1 3";
  c.threads = 1;
  c.report = false;  // no gnuplot
  c.out = out;
  validate(c);
  return c;
}

SessionOptions train_options() {
  SessionOptions o;
  o.command = "train";
  o.json = true;  // no progress line, whatever stderr is
  return o;
}

TEST(Session, OpensRecordsAndFinishesARunFolder) {
  TempDir tmp;
  const std::string out = tmp.file("run");
  {
    Session session(tiny_config(out), train_options());
    EXPECT_EQ(session.dir().path(), out);
    EXPECT_EQ(session.config().out, out);
    EXPECT_EQ(session.team().size(), 1);
    EXPECT_FALSE(session.resume());
    EXPECT_PRED2(test::contains, session.compute_text(), "1 threads, device cpu");
    warn("seen by the run");
    session.dir().mark_started();  // as a trainer does when its first step comes
    session.finish(session.result(1, 6, 123, 0.5));
  }
  const auto result =
      nlohmann::json::parse(read_small_file(out + "/result.json", "result", 1 << 16));
  EXPECT_EQ(result.at("steps"), 6);
  EXPECT_EQ(result.at("params"), 123);
  EXPECT_EQ(result.at("run_dir"), out);
  const std::string log = read_small_file(out + "/log.txt", "log", 1 << 20);
  EXPECT_PRED2(test::contains, log, "warning: seen by the run");
  EXPECT_PRED2(test::contains, log, "child_num_cells");  // the configuration's table
  const auto records = read_metrics(out + "/metrics.jsonl");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.front().at("kind"), "stage");
  // Closed, the session gives warnings back to standard error.
  testing::internal::CaptureStderr();
  warn("after the run");
  EXPECT_PRED2(test::contains, testing::internal::GetCapturedStderr(), "warning: after the run");
  EXPECT_FALSE(test::contains(read_small_file(out + "/log.txt", "log", 1 << 20), "after the run"));
  // A run that ends before it started leaves no folder behind.
  { Session never(tiny_config(tmp.file("never")), train_options()); }
  EXPECT_FALSE(fs::exists(tmp.file("never")));
  // A finished run is not started over by accident.
  EXPECT_PRED2(test::contains,
               test::error_of([&] { Session again(tiny_config(out), train_options()); }),
               "--resume");
}

TEST(Session, ResumesOnlyAFolderWithACheckpoint) {
  TempDir tmp;
  SessionOptions o = train_options();
  o.resume = true;
  EXPECT_PRED2(test::contains, test::error_of([&] { Session s(tiny_config(tmp.file("none")), o); }),
               "does not exist");
  fs::create_directories(tmp.file("empty"));
  EXPECT_PRED2(test::contains,
               test::error_of([&] { Session s(tiny_config(tmp.file("empty")), o); }),
               "holds no checkpoint");
}

TEST(Session, AnOpeningThatFailsGivesWarningsBack) {
  // A resume from a damaged checkpoint named with --resume_from fails after the session built
  // its reporter (the newest checkpoint is checked before anything is written): the warnings
  // that follow are not the failed run's.
  TempDir tmp;
  const std::string out = tmp.file("damaged");
  fs::create_directories(out);
  write_file_atomic(out + "/ckpt-1.pt", "not a checkpoint");
  SessionOptions o = train_options();
  o.resume = true;
  o.resume_from = "ckpt-1.pt";
  EXPECT_PRED2(test::contains, test::error_of([&] { Session s(tiny_config(out), o); }),
               "ckpt-1.pt");
  ASSERT_TRUE(fs::exists(out + "/log.txt"));  // the reporter was built
  testing::internal::CaptureStderr();
  warn("after the failed opening");
  EXPECT_PRED2(test::contains, testing::internal::GetCapturedStderr(),
               "warning: after the failed opening");
  EXPECT_FALSE(
      test::contains(read_small_file(out + "/log.txt", "log", 1 << 20), "after the failed"));
}

}  // namespace
}  // namespace enas
