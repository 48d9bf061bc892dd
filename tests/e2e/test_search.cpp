// End-to-end tests of `enas search` and `enas derive` on a tiny fake CIFAR-10, and of the
// hand-off of their best_arc.txt to `enas train`: the files a search writes, the authors' log
// lines, derivation from a checkpoint, exact resume, the presets' command shape, bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "enas/space/macro.h"
#include "enas/space/micro.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliResult;
using test::concat;
using test::jsonl_records;
using test::run_cli;
using test::search_flags;
using test::TempDir;

/// The records of `kind` of epoch `epoch`.
std::vector<json> of_epoch(const std::vector<json>& all, int epoch) {
  std::vector<json> out;
  for (const auto& j : all)
    if (j.value("epoch", -1) == epoch) out.push_back(j);
  return out;
}

/// The lines of `text` that contain `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

std::set<std::string> checkpoints_in(const std::string& run) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(run)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0) names.insert(name);
  }
  return names;
}

/// Checks that `arc` is a valid architecture of the space with ops below `branches`.
void expect_valid_arc(const std::string& arc, const std::string& space, int size, int branches) {
  std::vector<int> flat;
  try {
    flat =
        space == "micro" ? micro::parse_arc(arc, size).flat() : macro::parse_arc(arc, size).flat();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "invalid " << space << " architecture \"" << arc << "\": " << e.what();
    return;
  }
  for (size_t i = 0, start = 0, layer = 0; i < flat.size(); ++i) {
    bool is_op = space == "micro" ? i % 2 == 1 : i == start;
    if (space == "macro" && i == start) start += ++layer;
    if (is_op) {
      EXPECT_LT(flat[i], branches) << "op at " << i << " of " << arc;
    }
  }
}

/// `enas train --dry-run --json` with `extra`: must succeed quietly; its JSON line.
json train_dry_run(const std::vector<std::string>& extra) {
  CliResult r = run_cli(concat({"train", "--dry-run", "--json", "--threads", "1"}, extra));
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  return r.exit_code == 0 ? r.last_json() : json::object();
}

/// The authors' controller line (main.py train(), without their mins=); macro adds skip_rate.
const std::regex kCtrlLine(
    R"(ctrl_step=\d+ +loss=-?\d+\.\d{3} +ent=\d+\.\d{2} +lr=\d+\.\d{4} +\|g\|=\d+\.\d{4} +)"
    R"(acc=\d\.\d{4} +bl=-?\d+\.\d{2} *(skip_rate=\d\.\d{3} )?mins=\d+\.\d{2})");

// ------------------------------------------------------------------ search, then train

TEST(CliSearch, MicroSearchWritesTheRunAndHandsOffToTrain) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string run = tmp.file("run");
  CliResult r = run_cli(concat(search_flags(tmp.path(), "micro"), {"--out", run}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  json j = r.last_json();
  const std::string best = j.value("best_arc", "");
  expect_valid_arc(best, "micro", 2, 5);
  const double acc = j.value("valid_acc", -1.0);
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  EXPECT_GT(j.value("seconds", 0.0), 0.0);
  EXPECT_EQ(j.value("epochs", -1), 2);
  EXPECT_EQ(j.value("steps", -1), 16);  // 256 training images / batch 32, 2 epochs
  EXPECT_EQ(j.value("run_dir", ""), run);
  EXPECT_EQ(json::parse(test::read_text(run + "/result.json")), j);

  // best_arc.txt: the header naming the space, then the architecture; best_arc.json agrees.
  const std::string txt = test::read_text(run + "/best_arc.txt");
  EXPECT_EQ(txt.rfind("# enas search_for=micro child_num_layers=1 child_num_cells=2 "
                      "dataset=cifar10 valid_acc=",
                      0),
            0u)
      << txt;
  EXPECT_EQ(txt.substr(txt.find('\n') + 1), best + "\n");
  json bj = json::parse(test::read_text(run + "/best_arc.json"));
  EXPECT_EQ(bj.value("arc", ""), best);
  EXPECT_EQ(bj.value("samples", -1), 3);
  EXPECT_EQ(bj.value("valid_acc", -1.0), acc);

  // arcs.jsonl: every line JSON, every architecture valid; the best is the best derived.
  auto all = jsonl_records(run + "/arcs.jsonl");
  for (const auto& a : all) expect_valid_arc(a.value("arc", ""), "micro", 2, 5);
  EXPECT_EQ(jsonl_records(run + "/arcs.jsonl", "controller").size(), 8u);  // 2 epochs x 2 steps x 2
  EXPECT_EQ(jsonl_records(run + "/arcs.jsonl", "shown").size(), 20u);
  auto derived = jsonl_records(run + "/arcs.jsonl", "derive");
  ASSERT_EQ(derived.size(), 3u);
  double best_derived = -1;
  for (const auto& d : derived) best_derived = std::max(best_derived, d.value("valid_acc", -1.0));
  EXPECT_EQ(best_derived, acc);

  // metrics.jsonl: one controller record per step, numbered on across epochs.
  auto ctrl = jsonl_records(run + "/metrics.jsonl", "controller");
  ASSERT_EQ(ctrl.size(), 4u);
  for (size_t i = 0; i < ctrl.size(); ++i) {
    EXPECT_EQ(ctrl[i].value("ctrl_step", -1), int(i) + 1);
    EXPECT_EQ(ctrl[i].value("epoch", -1), int(i) / 2 + 1);
  }

  // log.txt: the authors' controller lines and architecture listings.
  const std::string log = test::read_text(run + "/log.txt");
  auto ctrl_lines = lines_with(log, "ctrl_step=");
  EXPECT_EQ(ctrl_lines.size(), 4u);
  for (const auto& line : ctrl_lines) EXPECT_TRUE(std::regex_match(line, kCtrlLine)) << line;
  EXPECT_EQ(lines_with(log, "Here are 10 architectures").size(), 2u);
  auto val_lines = lines_with(log, "val_acc=");
  EXPECT_EQ(val_lines.size(), 20u);
  for (const auto& line : val_lines)
    EXPECT_TRUE(std::regex_match(line, std::regex(R"(val_acc=\d\.\d{4} *)"))) << line;
  EXPECT_EQ(checkpoints_in(run), (std::set<std::string>{"ckpt-1.pt", "ckpt-2.pt"}));

  // The hand-off: the header sets the space and the cell size; --from_search does the rest.
  json t = train_dry_run({"--child_fixed_arc_file", run + "/best_arc.txt"});
  EXPECT_EQ(t.value("arc", ""), best);
  EXPECT_EQ(t.value("search_for", ""), "micro");
  EXPECT_GT(t.value("params", 0), 0);
  json f = train_dry_run({"--from_search", run});
  EXPECT_EQ(f.value("arc", ""), best);
  EXPECT_EQ(f.value("dataset", ""), "cifar10");
  EXPECT_GT(f.value("params", 0), 0);
}

TEST(CliSearch, MacroNeedsWholeChannelsThenSearches) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string run = tmp.file("run");
  // Whole-channel search is the default; the authors' channel-slice mode is refused.
  CliResult no = run_cli(concat(search_flags(tmp.path(), "macro"),
                                {"--nocontroller_search_whole_channels", "--out", run}));
  test::expect_one_error_line(no, {"controller_search_whole_channels"});
  EXPECT_FALSE(fs::exists(run)) << "a refused search left a run folder";

  CliResult r = run_cli(concat(search_flags(tmp.path(), "macro"),
                               {"--controller_search_whole_channels", "--out", run}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  const std::string best = r.last_json().value("best_arc", "");
  expect_valid_arc(best, "macro", 3, 6);
  for (const auto& a : jsonl_records(run + "/arcs.jsonl"))
    expect_valid_arc(a.value("arc", ""), "macro", 3, 6);
  auto ctrl_lines = lines_with(test::read_text(run + "/log.txt"), "ctrl_step=");
  EXPECT_EQ(ctrl_lines.size(), 4u);
  for (const auto& line : ctrl_lines) {
    EXPECT_TRUE(std::regex_match(line, kCtrlLine)) << line;
    EXPECT_NE(line.find("skip_rate="), std::string::npos) << line;
  }
  EXPECT_EQ(test::read_text(run + "/best_arc.txt")
                .rfind("# enas search_for=macro child_num_layers=3 ", 0),
            0u);
  json t = train_dry_run({"--child_fixed_arc_file", run + "/best_arc.txt"});
  EXPECT_EQ(t.value("arc", ""), best);
  EXPECT_EQ(t.value("search_for", ""), "macro");
  EXPECT_GT(t.value("params", 0), 0);
}

TEST(CliSearch, RandomControllerWritesABestArc) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string run = tmp.file("run");
  CliResult r = run_cli(
      concat(search_flags(tmp.path(), "micro"), {"--controller_type", "random", "--out", run}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  const std::string best = r.last_json().value("best_arc", "");
  expect_valid_arc(best, "micro", 2, 5);
  const std::string txt = test::read_text(run + "/best_arc.txt");
  EXPECT_EQ(txt.substr(txt.find('\n') + 1), best + "\n");
  // Never trained: no controller steps; still 10 architectures shown per epoch.
  EXPECT_EQ(jsonl_records(run + "/arcs.jsonl", "controller").size(), 0u);
  EXPECT_EQ(jsonl_records(run + "/arcs.jsonl", "shown").size(), 20u);
  EXPECT_TRUE(lines_with(test::read_text(run + "/log.txt"), "ctrl_step=").empty());
  EXPECT_EQ(train_dry_run({"--child_fixed_arc_file", run + "/best_arc.txt"}).value("arc", ""),
            best);
}

TEST(CliDerive, FromACheckpointRewritesBestArc) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string run = tmp.file("run");
  CliResult s = run_cli(concat(search_flags(tmp.path(), "micro"), {"--out", run}));
  ASSERT_EQ(s.exit_code, 0) << s.describe();
  const json searched = s.last_json();

  // The same number of samples from the last checkpoint repeats the search's derivation.
  CliResult same = run_cli({"derive", "--checkpoint", run + "/ckpt-2.pt", "--derive_samples", "3",
                            "--threads", "1", "--json"});
  ASSERT_EQ(same.exit_code, 0) << same.describe();
  EXPECT_EQ(same.err, "");
  EXPECT_EQ(same.last_json().value("best_arc", ""), searched.value("best_arc", ""));
  EXPECT_EQ(same.last_json().value("valid_acc", -1.0), searched.value("valid_acc", -2.0));

  CliResult r = run_cli({"derive", "--checkpoint", run + "/ckpt-2.pt", "--derive_samples", "2",
                         "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  json j = r.last_json();
  EXPECT_EQ(j.value("samples", -1), 2);
  EXPECT_EQ(j.value("best_arc_file", ""), run + "/best_arc.txt");
  const std::string best = j.value("best_arc", "");
  expect_valid_arc(best, "micro", 2, 5);
  const std::string txt = test::read_text(run + "/best_arc.txt");
  EXPECT_EQ(txt.rfind("# enas search_for=micro child_num_layers=1 child_num_cells=2 ", 0), 0u);
  EXPECT_EQ(txt.substr(txt.find('\n') + 1), best + "\n");
  json bj = json::parse(test::read_text(run + "/best_arc.json"));
  EXPECT_EQ(bj.value("samples", -1), 2);
  EXPECT_EQ(bj.value("arc", ""), best);
  EXPECT_EQ(jsonl_records(run + "/arcs.jsonl", "derive").size(), 3u + 3u + 2u);
  EXPECT_EQ(checkpoints_in(run), (std::set<std::string>{"ckpt-1.pt", "ckpt-2.pt"}));
}

TEST(CliSearch, ResumeEqualsUninterrupted) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string a = tmp.file("a"), b = tmp.file("b");
  auto flags = concat(search_flags(tmp.path(), "micro"), {"--seed", "7"});
  CliResult ra = run_cli(concat(flags, {"--out", a}));
  ASSERT_EQ(ra.exit_code, 0) << ra.describe();
  CliResult rb1 = run_cli(concat(flags, {"--num_epochs", "1", "--out", b}));
  ASSERT_EQ(rb1.exit_code, 0) << rb1.describe();
  CliResult rb2 =
      run_cli({"search", "--resume", "--out", b, "--num_epochs", "2", "--threads", "1", "--json"});
  ASSERT_EQ(rb2.exit_code, 0) << rb2.describe();
  EXPECT_EQ(rb2.err, "");
  EXPECT_NE(rb2.out.find("Resuming from " + b + "/ckpt-1.pt (epoch 1, step 8)"), std::string::npos)
      << rb2.describe();

  // Epoch 2 after the resume is epoch 2 of the straight run: the same controller samples,
  // rewards and updates, the same architectures shown, the same derivation.
  for (const char* kind : {"controller", "shown"}) {
    auto ea = of_epoch(jsonl_records(a + "/arcs.jsonl", kind), 2);
    auto eb = of_epoch(jsonl_records(b + "/arcs.jsonl", kind), 2);
    EXPECT_FALSE(ea.empty()) << kind;
    EXPECT_EQ(ea, eb) << kind;
  }
  EXPECT_EQ(of_epoch(jsonl_records(a + "/metrics.jsonl", "controller"), 2),
            of_epoch(jsonl_records(b + "/metrics.jsonl", "controller"), 2));
  auto result_a = json::parse(test::read_text(a + "/result.json"));
  auto result_b = json::parse(test::read_text(b + "/result.json"));
  EXPECT_EQ(result_a.value("best_arc", "a"), result_b.value("best_arc", "b"));
  EXPECT_EQ(result_a.value("valid_acc", -1.0), result_b.value("valid_acc", -2.0));
  EXPECT_EQ(result_a.value("shared_valid_acc", -1.0), result_b.value("shared_valid_acc", -2.0));
  EXPECT_EQ(result_a.value("steps", -1), result_b.value("steps", -2));
  EXPECT_EQ(result_b.value("epochs", -1), 2);
}

// ------------------------------------------------------------------ the presets' command shape

/// The issue's acceptance command, scaled down to the tiny data, then the hand-off.
void preset_search(const std::string& preset, const std::string& space) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string dir = tmp.file("run");
  CliResult r = run_cli({"search",
                         "--preset",
                         preset,
                         "--data",
                         tmp.path(),
                         "--num_epochs=1",
                         "--child_num_layers=2",
                         "--child_out_filters=8",
                         "--train_limit=128",
                         "--controller_train_steps=2",
                         "--out",
                         dir,
                         "--json",
                         "--batch_size",
                         "32",
                         "--num_valids",
                         "64",
                         "--derive_samples",
                         "2",
                         "--controller_num_aggregate",
                         "2",
                         "--threads",
                         "1"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  json j = r.last_json();
  EXPECT_EQ(j.value("steps", -1), 4);  // --train_limit 128 / batch 32
  ASSERT_TRUE(fs::exists(dir + "/best_arc.txt"));
  const std::string best = j.value("best_arc", "");
  expect_valid_arc(best, space, space == "micro" ? 5 : 2, space == "micro" ? 5 : 6);
  EXPECT_EQ(lines_with(test::read_text(dir + "/log.txt"), "ctrl_step=").size(), 2u);
  json t = train_dry_run({"--child_fixed_arc_file", dir + "/best_arc.txt"});
  EXPECT_EQ(t.value("arc", ""), best);
  EXPECT_EQ(t.value("search_for", ""), space);
  EXPECT_GT(t.value("params", 0), 0);
}

TEST(CliSearchPresets, MicroSearchAcceptanceCommand) {
  preset_search("cifar10_micro_search", "micro");
}

TEST(CliSearchPresets, MacroSearchAcceptanceCommand) {
  preset_search("cifar10_macro_search", "macro");
}

// ------------------------------------------------------------------ bad input

TEST(CliSearchErrors, BadFlags) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 16);  // 80 training images
  auto search = [&](const std::string& space, const std::vector<std::string>& extra) {
    return run_cli(concat(concat(search_flags(tmp.path(), space), extra),
                          {"--num_epochs", "1", "--out", tmp.file("run")}));
  };
  test::expect_one_error_line(search("micro", {"--controller_type", "bogus"}),
                              {"--controller_type", "bogus", "lstm", "random"});
  test::expect_one_error_line(search("micro", {"--child_num_branches", "9"}),
                              {"--child_num_branches", "9", "1..5", "micro"});
  test::expect_one_error_line(
      search("macro", {"--controller_search_whole_channels", "--child_num_branches", "7"}),
      {"child_num_branches", "7", "macro"});
  EXPECT_FALSE(fs::exists(tmp.file("run"))) << "a refused search left a run folder";
  test::expect_one_error_line(search("micro", {"--num_valids", "80"}),
                              {"80 validation images", "training split of 80"});
  test::expect_one_error_line(search("micro", {"--num_valids", "500"}), {"500", "80"});
  EXPECT_FALSE(fs::exists(tmp.file("run/ckpt-1.pt")));
}

}  // namespace
}  // namespace enas
