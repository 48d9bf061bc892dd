// Run folders: one run per folder (the lock), nothing of anyone else's touched, no half folder
// after a failed start, checkpoints named by their position and pruned, verified on load.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "enas/run/checkpoint.h"
#include "enas/run/run_dir.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::error_of;
using test::TempDir;

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::string save(const RunDir& run, CheckpointId id, const std::string& kind = "final") {
  return run.save_checkpoint(id, {{"epoch", id.epoch}, {"kind", kind}},
                             [&](torch::serialize::OutputArchive& a) {
                               a.write("w", torch::full({3}, static_cast<double>(id.epoch)));
                             });
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CheckpointId, NamesAndParses) {
  EXPECT_EQ((CheckpointId{3, 0}).file_name(), "ckpt-3.pt");
  EXPECT_EQ((CheckpointId{3, 17}).file_name(), "ckpt-3-17.pt");
  auto id = parse_checkpoint_name("ckpt-12-5.pt");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->epoch, 12);
  EXPECT_EQ(id->batch, 5);
  for (const char* bad : {"ckpt-.pt", "ckpt-3.pt.tmp", "ckpt-a.pt", "ckpt-3-0.pt", "ckpt-3-.pt",
                          "model-3.pt", "ckpt-3.pt.superseded"}) {
    EXPECT_FALSE(parse_checkpoint_name(bad).has_value()) << bad;
  }
  EXPECT_TRUE((CheckpointId{2, 40}) < (CheckpointId{3, 0}));
  EXPECT_TRUE((CheckpointId{3, 0}) < (CheckpointId{3, 1}));
}

TEST(RunDir, OpenCreatesAndLocksAFolder) {
  TempDir dir;
  auto run = RunDir::open(dir.file("a/b"), "train", false, false);
  EXPECT_EQ(run.path(), dir.file("a/b"));
  EXPECT_EQ(files_in(run.path()), std::set<std::string>{".enas.lock"});
  EXPECT_EQ(run.resume_command(), "enas train --resume --out " + dir.file("a/b"));
  // A second run on the same folder, even from this process, is refused while the first lives.
  std::string msg = error_of([&] { RunDir::open(dir.file("a/b"), "train", false, false); });
  EXPECT_PRED2(contains, msg, "is in use by process " + std::to_string(getpid()));
  EXPECT_PRED2(contains, msg, "(enas train)");
}

TEST(RunDir, RunThatNeverStartedLeavesNothing) {
  TempDir dir;
  { auto run = RunDir::open(dir.file("new"), "train", false, false); }
  EXPECT_FALSE(fs::exists(dir.file("new")));
  // A folder the user made stays, empty.
  fs::create_directory(dir.file("mine"));
  {
    auto run = RunDir::open(dir.file("mine"), "search", false, false);
    run.set_config("{}\n");
    write(run.file("log.txt"), "a line\n");
  }
  EXPECT_TRUE(fs::is_directory(dir.file("mine")));
  EXPECT_TRUE(files_in(dir.file("mine")).empty());
}

TEST(RunDir, ConfigIsWrittenWhenTheRunStarts) {
  TempDir dir;
  {
    auto run = RunDir::open(dir.file("run"), "train", false, false);
    run.set_config("{\"a\": 1}\n");
    EXPECT_FALSE(fs::exists(run.file("config.json")));
    run.mark_started();
    EXPECT_EQ(read(run.file("config.json")), "{\"a\": 1}\n");
    run.set_config("{\"a\": 2}\n");  // once started, written at once
    EXPECT_EQ(read(run.file("config.json")), "{\"a\": 2}\n");
  }
  EXPECT_TRUE(fs::exists(dir.file("run/config.json")));  // a started run stays
}

TEST(RunDir, KeepsTwoEpochCheckpointsAndANewerMidEpochOne) {
  TempDir dir;
  auto run = RunDir::open(dir.file("run"), "train", false, false);
  save(run, {1, 0});
  save(run, {2, 0});
  save(run, {2, 5});
  EXPECT_EQ(files_in(run.path()),
            (std::set<std::string>{".enas.lock", "ckpt-1.pt", "ckpt-2.pt", "ckpt-2-5.pt"}));
  save(run, {3, 0});  // the mid-epoch one is older now
  EXPECT_EQ(files_in(run.path()), (std::set<std::string>{".enas.lock", "ckpt-2.pt", "ckpt-3.pt"}));
  save(run, {3, 4});
  save(run, {3, 7});  // only the newest mid-epoch one
  EXPECT_EQ(files_in(run.path()),
            (std::set<std::string>{".enas.lock", "ckpt-2.pt", "ckpt-3.pt", "ckpt-3-7.pt"}));
  EXPECT_EQ(run.latest_checkpoint().value_or(""), run.file("ckpt-3-7.pt"));
  EXPECT_EQ(run.latest_epoch_checkpoint().value_or(""), run.file("ckpt-3.pt"));
  // Epochs order numerically, not as text: ckpt-10 is newer than ckpt-9.
  save(run, {9, 0});
  save(run, {10, 0});
  EXPECT_EQ(files_in(run.path()), (std::set<std::string>{".enas.lock", "ckpt-9.pt", "ckpt-10.pt"}));
}

TEST(RunDir, AFollowerReadsTheLeadersFolderAndWritesNothing) {
  TempDir dir;
  auto leader = RunDir::open(dir.file("run"), "train", false, false);
  leader.set_config("{}\n");
  const std::string first = save(leader, {1, 0});
  const auto before = files_in(leader.path());
  {
    auto follower = RunDir::follow(leader.path(), "train", first);
    EXPECT_FALSE(follower.writes());
    EXPECT_TRUE(leader.writes());
    follower.set_config("{\"a\": 1}\n");
    follower.mark_started();
    follower.write_file("result.json", "{}\n");
    bool filled = false;
    const std::string path = follower.save_checkpoint(
        {2, 0}, {}, [&](torch::serialize::OutputArchive&) { filled = true; });
    EXPECT_EQ(path, leader.file("ckpt-2.pt"));  // where the leader writes it
    EXPECT_FALSE(filled);                       // nothing serialised
    EXPECT_EQ(follower.checkpoint_to_resume(), first);
    EXPECT_EQ(follower.latest_checkpoint().value_or(""), first);
  }
  EXPECT_EQ(files_in(leader.path()), before);  // and its end removes nothing
  auto lost = RunDir::follow(leader.path(), "train", "");
  EXPECT_PRED2(contains, error_of([&] { lost.checkpoint_to_resume(); }), "rank 0 named no");
}

TEST(RunDir, LoadCheckpointVerifiesAndChecksTheKind) {
  TempDir dir;
  auto run = RunDir::open(dir.file("run"), "train", false, false);
  const std::string path = save(run, {4, 0});
  torch::Tensor w;
  auto meta =
      load_checkpoint(path, "final", [&](torch::serialize::InputArchive& a) { a.read("w", w); });
  EXPECT_EQ(meta.value("epoch", -1), 4);
  ASSERT_TRUE(w.defined());
  EXPECT_TRUE(torch::equal(w, torch::full({3}, 4.0)));

  std::string msg = error_of([&] { load_checkpoint(path, "search", {}); });
  EXPECT_PRED2(contains, msg, "is a final-training checkpoint (enas train)");
  EXPECT_PRED2(contains, msg, "not an image-search checkpoint");
  EXPECT_PRED2(contains, error_of([&] { load_checkpoint(run.file("none.pt"), "final", {}); }),
               "no such file");
  write(run.file("text.pt"), "not a checkpoint at all, but long enough to look for a directory");
  EXPECT_PRED2(contains, error_of([&] { load_checkpoint(run.file("text.pt"), "final", {}); }),
               "is damaged");
  // A tensor's bytes flipped after writing: libtorch would load it; we do not.
  std::string bytes = read(path);
  const std::string four("\x00\x00\x80\x40", 4);  // 4.0f, little-endian
  const auto at = bytes.find(four + four + four);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 5] = 0x7f;
  std::ofstream(path, std::ios::binary) << bytes;
  msg = error_of([&] { load_checkpoint(path, "final", {}); });
  EXPECT_PRED2(contains, msg, "is damaged");
  EXPECT_PRED2(contains, msg, "CRC-32");
}

TEST(RunDir, ExistingRunNeedsResumeOrReset) {
  TempDir dir;
  const std::string path = dir.file("run");
  {
    auto run = RunDir::open(path, "train", false, false);
    run.mark_started();
    write(run.file("log.txt"), "old\n");
    save(run, {1, 0});
  }
  write(path + "/notes.txt", "mine");
  EXPECT_PRED2(contains, error_of([&] { RunDir::open(path, "train", false, false); }),
               "already holds a run");
  {
    auto resumed = RunDir::open(path, "train", /*resume=*/true, false);
    EXPECT_EQ(resumed.checkpoint_to_resume(), resumed.file("ckpt-1.pt"));
  }
  EXPECT_PRED2(contains, error_of([&] { RunDir::open(path, "train", true, true); }), "contradict");
  { auto reset = RunDir::open(path, "train", false, /*reset=*/true); }
  // Only what a run writes is deleted: the user's notes stay.
  EXPECT_EQ(files_in(path), std::set<std::string>{"notes.txt"});
}

TEST(RunDir, RunFilesAreTheExactNamesARunWrites) {
  for (const char* name :
       {"config.json", "log.txt", "ckpt-3.pt", "ckpt-3-17.pt", "ckpt-3.pt.superseded",
        ".result.json.tmp-0123abcd", "log.txt.tmp", ".enas.lock"}) {
    EXPECT_TRUE(is_run_file(name)) << name;
  }
  for (const char* name : {"ckpt-notes.txt", "ckpt-.pt", "ckpt-3-0.pt", "notes.md",
                           ".notes.md.tmp-0123abcd", "notes.md.tmp", "ckpt-x.pt.superseded"}) {
    EXPECT_FALSE(is_run_file(name)) << name;
  }
}

TEST(RunDir, AFolderWithoutARunsLockIsSomebodysWhateverItsFilesAreCalled) {
  TempDir dir;
  write(dir.file("log.txt"), "precious");
  write(dir.file("report.html"), "precious");
  EXPECT_PRED2(contains, error_of([&] { RunDir::open(dir.path(), "train", false, true); }),
               "holds files no enas run wrote (log.txt and 1 more)");
  EXPECT_EQ(files_in(dir.path()), (std::set<std::string>{"log.txt", "report.html"}));
}

TEST(RunDir, FolderOfOtherFilesIsRefused) {
  TempDir dir;
  write(dir.file("notes.txt"), "mine");
  std::string msg = error_of([&] { RunDir::open(dir.path(), "train", false, false); });
  EXPECT_PRED2(contains, msg, "holds files no enas run wrote (notes.txt)");
  EXPECT_PRED2(contains, msg, "new or empty folder");
  EXPECT_PRED2(contains, error_of([&] { RunDir::open(dir.path(), "train", false, true); }),
               "holds files no enas run wrote");
  EXPECT_EQ(files_in(dir.path()), std::set<std::string>{"notes.txt"});
}

TEST(RunDir, LinksInPlaceOfRunFilesAreRefused) {
  TempDir dir;
  write(dir.file("victim"), "precious");
  fs::create_directory(dir.file("run"));
  fs::create_symlink(dir.file("victim"), dir.file("run/ckpt-1.pt.tmp"));
  std::string msg = error_of([&] { RunDir::open(dir.file("run"), "train", false, true); });
  EXPECT_PRED2(contains, msg, "ckpt-1.pt.tmp is a symbolic link");
  EXPECT_EQ(read(dir.file("victim")), "precious");
}

TEST(RunDir, ResumeSkipsNothingSilently) {
  TempDir dir;
  const std::string path = dir.file("run");
  {
    auto run = RunDir::open(path, "train", false, false);
    save(run, {1, 0});
    save(run, {2, 0});
    write(run.file(".ckpt-3.pt.tmp-0123abcd"), "a write cut short");
  }
  fs::resize_file(path + "/ckpt-2.pt", 100);
  {
    auto run = RunDir::open(path, "train", true, false);
    EXPECT_FALSE(fs::exists(path + "/.ckpt-3.pt.tmp-0123abcd"));  // stale: removed
    std::string msg = error_of([&] { run.checkpoint_to_resume(); });
    EXPECT_PRED2(contains, msg, "the newest checkpoint " + path + "/ckpt-2.pt is damaged");
    EXPECT_PRED2(contains, msg, path + "/ckpt-1.pt, is intact");
    EXPECT_PRED2(contains, msg, "--resume_from ckpt-1.pt");
  }
  {
    auto run = RunDir::open(path, "train", true, false, "ckpt-1.pt");
    EXPECT_EQ(run.checkpoint_to_resume(), path + "/ckpt-1.pt");
  }
  // The damaged newer one is set aside, never taken for the run's newest again.
  EXPECT_TRUE(fs::exists(path + "/ckpt-2.pt.superseded"));
  EXPECT_FALSE(fs::exists(path + "/ckpt-2.pt"));
  EXPECT_PRED2(contains, error_of([&] {
                 RunDir::open(path, "train", true, false, "ckpt-7.pt").checkpoint_to_resume();
               }),
               "no such checkpoint");
}

TEST(RunDir, UnusablePathsAreErrors) {
  TempDir dir;
  write(dir.file("file.txt"), "x");
  std::string msg =
      error_of([&] { RunDir::open(dir.file("file.txt/sub"), "train", false, false); });
  EXPECT_TRUE(contains(msg, "cannot create") || contains(msg, "not writable")) << msg;
  EXPECT_PRED2(contains,
               error_of([&] { RunDir::open(dir.file("file.txt"), "train", false, false); }),
               "not a folder");
  EXPECT_PRED2(contains, error_of([&] { RunDir::open(dir.file("none"), "train", true, false); }),
               "does not exist");
}

}  // namespace
}  // namespace enas
