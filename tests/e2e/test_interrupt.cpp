// Nothing lost, the stopping side: SIGINT / SIGTERM in the middle of an epoch (or of a controller
// phase) write a checkpoint of that very point, and --resume continues bit for bit as if the run
// had never stopped, in all four trainers; a second signal exits at once; a damaged checkpoint is
// named with the one to fall back on; a checkpoint of another command's run is named as such.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "cli_runner.h"
#include "enas/report/metrics.h"
#include "run_models.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliProcess;
using test::CliResult;
using test::concat;
using test::expect_one_error_line;
using test::read_text;
using test::run_cli;
using test::TempDir;

/// Runs `args` in the background, sends `sig` once standard output shows `after`, and expects
/// the run to stop with 128 + sig after saving a checkpoint whose name matches `saved`.
/// Returns the checkpoint's file name.
std::string interrupt(const std::vector<std::string>& args, const std::string& after, int sig,
                      const std::string& saved) {
  CliProcess process(args);
  EXPECT_TRUE(process.wait_for_output(after)) << "never printed '" << after << "'";
  process.signal(sig);
  CliResult r = process.wait();
  EXPECT_EQ(r.exit_code, 128 + sig) << r.describe();
  std::smatch m;
  const std::regex line(
      "Stopped by SIG(INT|TERM) .*; saved (.*/(ckpt-[0-9-]+\\.pt))\\. Continue "
      "with: enas (train|search) --resume --out .*");
  std::string found;
  for (const auto& l : r.out_lines()) {
    if (std::regex_match(l, m, line)) found = m[3];
  }
  EXPECT_TRUE(std::regex_match(found, std::regex(saved))) << "saved '" << found << "'\n"
                                                          << r.describe();
  return found;
}

CliResult resume(const std::string& command, const std::string& run) {
  return run_cli({command, "--resume", "--out", run, "--threads", "1", "--json"});
}

/// The records of `kind` in a run's metrics.jsonl as read_metrics() gives them.
std::vector<json> metrics(const std::string& run, const std::string& kind) {
  std::vector<json> out;
  for (auto& r : read_metrics(run + "/metrics.jsonl")) {
    if (r.value("kind", "") == kind) out.push_back(r);
  }
  return out;
}

/// The records with their timing fields removed, to compare two runs.
std::vector<json> without_time(std::vector<json> records) {
  for (auto& r : records) {
    for (const char* key : {"minutes", "seconds", "images_per_s", "tokens_per_s"}) r.erase(key);
  }
  return records;
}

TEST(CliInterrupt, SigintMidEpochThenResumeEqualsUninterrupted) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 128);  // 20 steps per epoch
  const auto flags = concat(concat({"train"}, test::tiny_micro_flags(tmp.path())),
                            {"--seed", "3", "--num_epochs", "2", "--log_every", "1",
                             "--child_drop_path_keep_prob", "0.6", "--child_cutout_size", "8"});
  const std::string a = tmp.file("a"), b = tmp.file("b");
  ASSERT_EQ(run_cli(concat(flags, {"--out", a})).exit_code, 0);
  const std::string saved =
      interrupt(concat(flags, {"--out", b}), "ch_step=3 ", SIGINT, "ckpt-0-([1-9]|1[0-9])\\.pt");
  CliResult rb = resume("train", b);
  ASSERT_EQ(rb.exit_code, 0) << rb.describe();
  EXPECT_NE(rb.out.find("Resuming from " + b + "/" + saved), std::string::npos) << rb.describe();

  const json ja = json::parse(read_text(a + "/result.json"));
  const json jb = json::parse(read_text(b + "/result.json"));
  for (const char* key : {"epochs", "steps", "test_acc", "train_loss"}) {
    EXPECT_EQ(ja[key], jb[key]) << key;
  }
  const Config config = test::run_config(a);
  EXPECT_EQ(test::differing_tensors(*test::load_child(config, a + "/ckpt-2.pt"),
                                    *test::load_child(config, b + "/ckpt-2.pt")),
            std::vector<std::string>{});
  // metrics.jsonl, read through its resume record, is the uninterrupted run's.
  EXPECT_EQ(without_time(metrics(b, "step")), without_time(metrics(a, "step")));
  EXPECT_EQ(without_time(metrics(b, "epoch")), without_time(metrics(a, "epoch")));
  EXPECT_EQ(metrics(b, "resume").size(), 1u);
  EXPECT_EQ(metrics(b, "interrupted").size(), 1u);
}

TEST(CliInterrupt, SearchStoppedInBothPhasesResumesExactly) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 128);  // 640 images, 64 held out: 18 steps per epoch
  const std::vector<std::string> flags = {"search",   "--dataset",
                                          "cifar10",  "--data",
                                          tmp.path(), "--search_for",
                                          "micro",    "--child_num_layers",
                                          "1",        "--child_num_cells",
                                          "2",        "--child_out_filters",
                                          "4",        "--batch_size",
                                          "32",       "--num_epochs",
                                          "2",        "--controller_train_steps",
                                          "40",       "--controller_num_aggregate",
                                          "2",        "--controller_train_every",
                                          "1",        "--derive_samples",
                                          "3",        "--num_valids",
                                          "64",       "--threads",
                                          "1",        "--log_every",
                                          "1",        "--seed",
                                          "3",        "--json"};
  const std::string a = tmp.file("a"), b = tmp.file("b");
  CliResult ra = run_cli(concat(flags, {"--out", a}));
  ASSERT_EQ(ra.exit_code, 0) << ra.describe();
  interrupt(concat(flags, {"--out", b}), "ch_step=3 ", SIGTERM, "ckpt-0-([1-9]|1[0-7])\\.pt");
  // Resumed, then stopped again in the controller phase: the checkpoint is named after the
  // whole child epoch (18 batches) and records the controller step.
  interrupt({"search", "--resume", "--out", b, "--threads", "1"}, "ctrl_step=3 ", SIGINT,
            "ckpt-0-18\\.pt");
  CliResult rb = resume("search", b);
  ASSERT_EQ(rb.exit_code, 0) << rb.describe();
  const json ja = ra.last_json(), jb = rb.last_json();
  for (const char* key :
       {"best_arc", "valid_acc", "shared_valid_acc", "shared_test_acc", "steps"}) {
    EXPECT_EQ(ja[key], jb[key]) << key;
  }
  EXPECT_EQ(read_text(a + "/best_arc.txt"), read_text(b + "/best_arc.txt"));
  EXPECT_EQ(without_time(metrics(b, "controller")), without_time(metrics(a, "controller")));
  EXPECT_EQ(metrics(b, "resume").size(), 2u);
}

TEST(CliInterrupt, PennTreebankTrainingAndSearchResumeMidEpochExactly) {
  TempDir tmp;
  test::write_tiny_ptb(tmp.path(), 600);  // ~170 segments per epoch
  const std::vector<std::string> lm = {"--data",
                                       tmp.path(),
                                       "--child_hidden_size=16",
                                       "--batch_size=4",
                                       "--child_bptt_steps=8",
                                       "--log_every=1",
                                       "--threads=1",
                                       "--num_epochs=2",
                                       "--json"};
  const auto train =
      concat(concat({"train", "--preset", "ptb_final"}, lm), {"--child_fixed_arc=0 1 1 0"});
  const auto search = concat(concat({"search", "--preset", "ptb_search"}, lm),
                             {"--controller_train_steps=60", "--controller_num_aggregate=2",
                              "--derive_samples=3", "--child_num_layers=3"});
  for (const auto& [args, command, sig] :
       {std::tuple{train, "train", SIGINT}, std::tuple{search, "search", SIGTERM}}) {
    SCOPED_TRACE(command);
    const std::string a = tmp.file(std::string(command) + "-a");
    const std::string b = tmp.file(std::string(command) + "-b");
    CliResult ra = run_cli(concat(args, {"--out", a}));
    ASSERT_EQ(ra.exit_code, 0) << ra.describe();
    interrupt(concat(args, {"--out", b}), "step=5 ", sig, "ckpt-0-[0-9]+\\.pt");
    if (std::string(command) == "search") {
      // Again in the controller phase (its lines carry ent=): named after the whole child pass.
      interrupt({"search", "--resume", "--out", b, "--threads=1"}, " ent=", sig,
                "ckpt-0-[0-9]+\\.pt");
      EXPECT_NE(read_text(b + "/log.txt").find("after controller step"), std::string::npos);
    }
    CliResult rb = resume(command, b);
    ASSERT_EQ(rb.exit_code, 0) << rb.describe();
    const json ja = ra.last_json(), jb = rb.last_json();
    for (const char* key : {"steps", "valid_ppl", "test_ppl", "best_arc"}) {
      EXPECT_EQ(ja.value(key, json()), jb.value(key, json())) << key;
    }
    EXPECT_EQ(without_time(metrics(b, "lm_step")), without_time(metrics(a, "lm_step")));
  }
}

TEST(CliInterrupt, ASecondSigintExitsAtOnce) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 64);
  // Steps long enough (about a second) that the second signal comes while the first one's step
  // is still running.
  CliProcess process(
      concat(concat({"train"}, test::tiny_micro_flags(tmp.path())),
             {"--child_out_filters", "48", "--child_num_layers", "2", "--batch_size", "160",
              "--log_every", "1", "--num_epochs", "3", "--out", tmp.file("run")}));
  ASSERT_TRUE(process.wait_for_output("ch_step=1 ")) << process.wait().describe();
  process.signal(SIGINT);
  usleep(20000);
  process.signal(SIGINT);
  CliResult r = process.wait();
  EXPECT_EQ(r.exit_code, 130) << r.describe();
  EXPECT_NE(r.err.find("error: interrupted again: exiting now, without a checkpoint"),
            std::string::npos)
      << r.describe();
  EXPECT_EQ(r.out.find("Stopped by"), std::string::npos) << r.describe();
}

// ------------------------------------------------------------------------ damaged checkpoints

void overwrite(const std::string& path, size_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(CliCheckpoints, ADamagedNewestCheckpointIsNamedWithTheOneBefore) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(test::tiny_train_args(tmp.path(), run, {"--num_epochs", "2"})).exit_code, 0);
  const size_t size = fs::file_size(run + "/ckpt-2.pt");
  // Three places, so that one lands in a tensor's bytes whatever the layout.
  const std::vector<std::pair<std::string, std::function<void(const std::string&)>>> damages = {
      {"flipped",
       [&](const std::string& p) {
         for (double at : {0.3, 0.5, 0.7}) {
           std::string byte = read_text(p).substr(static_cast<size_t>(at * size), 1);
           overwrite(p, static_cast<size_t>(at * size),
                     std::string(1, static_cast<char>(~byte[0])));
         }
       }},
      {"zeroed",
       [&](const std::string& p) {
         for (double at : {0.3, 0.5, 0.7}) {
           overwrite(p, static_cast<size_t>(at * size), std::string(256, '\0'));
         }
       }},
      {"truncated", [&](const std::string& p) { fs::resize_file(p, size / 2); }},
      // A record's name in the zip directory: torch's reader no longer finds it, and said "not
      // an enas checkpoint" without naming the intact one.
      {"renamed in the directory", [&](const std::string& p) {
         const std::string bytes = read_text(p);
         const size_t end = bytes.rfind(std::string("PK\x05\x06", 4));
         ASSERT_NE(end, std::string::npos);
         uint32_t directory = 0;
         for (int i = 3; i >= 0; --i) {
           directory = (directory << 8) | static_cast<unsigned char>(bytes[end + 16 + i]);
         }
         overwrite(p, directory + 46, std::string(1, static_cast<char>(~bytes[directory + 46])));
       }}};
  for (const auto& [name, damage] : damages) {
    SCOPED_TRACE(name);
    const std::string copy = tmp.file(name);
    fs::copy(run, copy);
    damage(copy + "/ckpt-2.pt");
    CliResult r =
        run_cli({"train", "--resume", "--out", copy, "--num_epochs", "3", "--threads", "1"});
    expect_one_error_line(r, {"the newest checkpoint " + copy + "/ckpt-2.pt is damaged",
                              copy + "/ckpt-1.pt, is intact", "--resume_from ckpt-1.pt"});
  }
  CliResult r = run_cli({"train", "--resume", "--out", tmp.file("flipped"), "--resume_from",
                         "ckpt-1.pt", "--num_epochs", "3", "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.last_json().value("epochs", -1), 3);
  EXPECT_TRUE(fs::exists(tmp.file("flipped/ckpt-2.pt.superseded")));
}

TEST(CliCheckpoints, AnotherCommandsCheckpointIsNamedForWhatItIs) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 8);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(test::tiny_train_args(tmp.path(), run)).exit_code, 0);
  const std::vector<std::string> needles = {
      run + "/ckpt-1.pt is a final-training checkpoint (enas train)",
      "not an image-search checkpoint (enas search)"};
  expect_one_error_line(run_cli({"search", "--resume", "--out", run, "--threads", "1"}), needles);
  expect_one_error_line(run_cli({"derive", "--checkpoint", run + "/ckpt-1.pt", "--threads", "1"}),
                        needles);
}

}  // namespace
}  // namespace enas
