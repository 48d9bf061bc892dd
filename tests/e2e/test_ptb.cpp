// End-to-end tests of `enas` on Penn Treebank-shaped text: a tiny final training run and its log,
// a tiny search and the hand-off of its best_arc.txt, derivation from a checkpoint, exact resume,
// the inputs that must fail with one `error:` line, and the real corpus when it is present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "enas/child/factory.h"
#include "enas/config/config.h"
#include "enas/space/rnn.h"
#include "run_models.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliResult;
using test::concat;
using test::jsonl_records;
using test::run_cli;
using test::TempDir;

const int64_t kVocab = static_cast<int64_t>(test::tiny_ptb_words().size()) + 1;
using test::tiny_lm_final;
using test::tiny_lm_flags;
using test::tiny_lm_search;
using test::write_tiny_ptb;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/// Parameters of a fixed child: embedding, w_prev and one (H, 2H) matrix per node.
int64_t lm_params(int64_t vocab, int64_t hidden, int64_t nodes) {
  return vocab * hidden + 4 * hidden * hidden + nodes * 2 * hidden * hidden;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

// enas_lm's training line (lm_step_line); the final child adds avg=.
const std::regex kStepLine(
    R"(epoch=\d+ +step=\d+ +ppl=\d+\.\d{2} +lr=\d+\.\d{3} +\|w\|=\d+\.\d{2} +\|g\|=\d+\.\d{3} +)"
    R"((avg=[01] +)?mins=\d+\.\d{2})");
// enas_lm's controller line.
const std::regex kCtrlLine(
    R"(step=\d+ +ent=\d+\.\d{3} +ppl=\d+\.\d{2} +rw=\d+\.\d{4} +bl=-?\d+\.\d{4} +arc=\[([0-9 ]+)\])");

// ------------------------------------------------------------------------------ final training

TEST(CliPtb, TinyFinalTrainingRun) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  const std::string run = tmp.file("run");
  CliResult r = run_cli(concat(tiny_lm_final(tmp.path()), {"--num_epochs=2", "--out", run}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  json j = r.last_json();
  EXPECT_EQ(j.value("params", -1), lm_params(kVocab, 16, 2));  // rebuilt at the corpus's size
  EXPECT_EQ(j.value("arc", ""), "0 1 1 0");
  EXPECT_EQ(j.value("epochs", -1), 2);
  for (const char* key : {"valid_ppl", "test_ppl", "train_ppl"}) {
    const double ppl = j.value(key, -1.0);
    EXPECT_TRUE(std::isfinite(ppl)) << key;
    EXPECT_GT(ppl, 1.0) << key;
  }
  EXPECT_EQ(json::parse(test::read_text(run + "/result.json")), j);

  const std::string log = test::read_text(run + "/log.txt");
  EXPECT_EQ(lines_with(log, "vocabulary " + std::to_string(kVocab) + ";").size(), 1u) << log;
  const auto steps = lines_with(log, "ppl=");
  int step_lines = 0;
  for (const auto& line : steps) {
    if (line.rfind("epoch=", 0) != 0) continue;
    ++step_lines;
    EXPECT_TRUE(std::regex_match(line, kStepLine)) << line;
  }
  EXPECT_EQ(step_lines, j.value("steps", -1));  // --log_every=1
  EXPECT_GT(step_lines, 10);
  EXPECT_EQ(lines_with(log, "valid_ppl=").size(), 2u);  // one per epoch
  EXPECT_EQ(lines_with(log, "test_ppl=").size(), 1u);   // once, after training

  ASSERT_TRUE(fs::exists(run + "/metrics.jsonl"));
  EXPECT_EQ(jsonl_records(run + "/metrics.jsonl", "lm_step").size(),
            static_cast<size_t>(j.value("steps", -1)));
  auto evals = jsonl_records(run + "/metrics.jsonl", "lm_eval");
  ASSERT_EQ(evals.size(), 3u);
  EXPECT_EQ(evals[1].value("ppl", -1.0), j.value("valid_ppl", -2.0));
  EXPECT_EQ(evals[2].value("split", ""), "test");
  EXPECT_EQ(evals[2].value("ppl", -1.0), j.value("test_ppl", -2.0));
}

/// The model tensors of a final-training checkpoint, in a child built from the run's config.
RnnLm load_lm(const std::string& run, const std::string& checkpoint) {
  return test::load_lm(test::run_config(run), kVocab, run + "/" + checkpoint);
}

std::vector<std::string> differing(const RnnLm& a, const RnnLm& b) {
  return test::differing_tensors(*a, *b);
}

TEST(CliPtb, ResumeEqualsUninterrupted) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  const std::string a = tmp.file("a"), b = tmp.file("b");
  auto flags = concat(tiny_lm_final(tmp.path()), {"--seed=7"});
  CliResult ra = run_cli(concat(flags, {"--num_epochs=2", "--out", a}));
  ASSERT_EQ(ra.exit_code, 0) << ra.describe();
  CliResult rb1 = run_cli(concat(flags, {"--num_epochs=1", "--out", b}));
  ASSERT_EQ(rb1.exit_code, 0) << rb1.describe();
  CliResult rb2 =
      run_cli({"train", "--resume", "--out", b, "--num_epochs=2", "--threads=1", "--json"});
  ASSERT_EQ(rb2.exit_code, 0) << rb2.describe();
  EXPECT_EQ(rb2.err, "");
  EXPECT_NE(rb2.out.find("Resuming from " + b + "/ckpt-1.pt (epoch 1, step "), std::string::npos)
      << rb2.describe();

  json ja = ra.last_json(), jb = rb2.last_json();
  EXPECT_EQ(jb.value("epochs", -1), 2);
  EXPECT_EQ(ja.value("steps", -1), jb.value("steps", -2));
  EXPECT_EQ(ja.value("valid_ppl", -1.0), jb.value("valid_ppl", -2.0));
  EXPECT_EQ(ja.value("test_ppl", -1.0), jb.value("test_ppl", -2.0));

  EXPECT_EQ(differing(load_lm(a, "ckpt-2.pt"), load_lm(b, "ckpt-2.pt")),
            std::vector<std::string>{});
  EXPECT_FALSE(differing(load_lm(a, "ckpt-2.pt"), load_lm(a, "ckpt-1.pt")).empty())
      << "epoch 2 changed nothing";
}

// ------------------------------------------------------------------------------------ search

TEST(CliPtb, TinySearchDerivesAndHandsOffToTrain) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  const std::string run = tmp.file("run");
  CliResult r = run_cli(concat(tiny_lm_search(tmp.path()), {"--out", run}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  json j = r.last_json();
  const std::string best = j.value("best_arc", "");
  EXPECT_NO_THROW(rnn::parse_arc(best, 3)) << best;
  EXPECT_EQ(j.value("epochs", -1), 2);
  const double ppl = j.value("valid_ppl", -1.0);
  EXPECT_TRUE(std::isfinite(ppl));
  EXPECT_GT(ppl, 1.0);

  const std::string txt = test::read_text(run + "/best_arc.txt");
  EXPECT_EQ(txt.rfind("# enas search_for=rnn dataset=ptb child_num_layers=3 valid_ppl=", 0), 0u)
      << txt;
  EXPECT_EQ(txt.substr(txt.find('\n') + 1), best + "\n");
  json bj = json::parse(test::read_text(run + "/best_arc.json"));
  EXPECT_EQ(bj.value("arc", ""), best);
  EXPECT_EQ(bj.value("samples", -1), 3);

  // arcs.jsonl: 2 epochs x 2 controller steps x 2 samples; 3 derived, the best of them chosen.
  EXPECT_EQ(jsonl_records(run + "/arcs.jsonl", "controller").size(), 8u);
  auto derived = jsonl_records(run + "/arcs.jsonl", "derive");
  ASSERT_EQ(derived.size(), 3u);
  double lowest = std::numeric_limits<double>::infinity();
  for (const auto& d : derived) {
    EXPECT_NO_THROW(rnn::parse_arc(d.value("arc", ""), 3));
    lowest = std::min(lowest, d.value("valid_ppl", lowest));
  }
  EXPECT_EQ(lowest, ppl);

  // log.txt: the shared child's step lines and enas_lm's controller lines.
  const std::string log = test::read_text(run + "/log.txt");
  auto ctrl = lines_with(log, "ent=");
  ASSERT_EQ(ctrl.size(), 4u) << log;
  for (const auto& line : ctrl) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, kCtrlLine)) << line;
    EXPECT_NO_THROW(rnn::parse_arc(m[1].str(), 3)) << line;
  }
  int step_lines = 0;
  for (const auto& line : lines_with(log, "ppl=")) {
    if (line.rfind("epoch=", 0) != 0) continue;
    ++step_lines;
    EXPECT_TRUE(std::regex_match(line, kStepLine)) << line;
  }
  EXPECT_EQ(step_lines, j.value("steps", -1));

  // The hand-off: the fixed child of the found cell at the preset's sizes.
  CliResult t = run_cli({"train", "--preset", "ptb_final", "--child_fixed_arc_file",
                         run + "/best_arc.txt", "--dry-run", "--json", "--threads=1"});
  ASSERT_EQ(t.exit_code, 0) << t.describe();
  EXPECT_EQ(t.last_json().value("arc", ""), best);
  EXPECT_EQ(t.last_json().value("params", -1), lm_params(10000, 800, 3));

  // Derivation from the last checkpoint repeats the search's own.
  CliResult d = run_cli({"derive", "--checkpoint", run + "/ckpt-2.pt", "--derive_samples", "3",
                         "--threads", "1", "--json"});
  ASSERT_EQ(d.exit_code, 0) << d.describe();
  EXPECT_EQ(d.last_json().value("best_arc", ""), best);
  EXPECT_EQ(d.last_json().value("valid_ppl", -1.0), ppl);
}

TEST(CliPtb, FromSearchTrainsTheFoundCellWithTheFinalPreset) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  const std::string run = tmp.file("search");
  CliResult s = run_cli(concat(tiny_lm_search(tmp.path()), {"--num_epochs=1", "--out", run}));
  ASSERT_EQ(s.exit_code, 0) << s.describe();
  const std::string best = s.last_json().value("best_arc", "");
  // No --preset, no --data: both come from the search (ptb_final, its data folder).
  CliResult t = run_cli({"train", "--from_search", run, "--child_hidden_size=16", "--batch_size=4",
                         "--child_bptt_steps=8", "--num_epochs=1", "--threads=1", "--json", "--out",
                         tmp.file("final")});
  ASSERT_EQ(t.exit_code, 0) << t.describe();
  json j = t.last_json();
  EXPECT_EQ(j.value("arc", ""), best);
  EXPECT_EQ(j.value("params", -1), lm_params(kVocab, 16, 3));
  EXPECT_TRUE(std::isfinite(j.value("test_ppl", -1.0)));
  json config = json::parse(test::read_text(tmp.file("final/config.json")));
  EXPECT_EQ(config.value("preset", ""), "from_search");
  EXPECT_EQ(config.value("child_alpha", -1.0f), 0.7f);  // ptb_final's, not the search's 0
}

TEST(CliPtb, NonFiniteLossRollsBackThenGivesUp) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  const std::string run = tmp.file("run");
  // A rate that sends the weights to overflow within a few steps: every retry diverges too.
  CliResult r = run_cli(
      concat(tiny_lm_final(tmp.path()), {"--num_epochs=2", "--child_lr=1e30", "--out", run}));
  test::expect_one_error_line(r, {"not finite after 5 rollbacks", "--child_lr"});
  const std::string log = test::read_text(run + "/log.txt");
  EXPECT_EQ(lines_with(log, "rolling back to previous checkpoint " + run + "/ckpt-0.pt").size(), 5u)
      << log;
  EXPECT_EQ(jsonl_records(run + "/metrics.jsonl", "rollback").size(), 5u);
}

// --------------------------------------------------------------------------------- bad input

TEST(CliPtbErrors, OneErrorLineEach) {
  TempDir tmp;
  auto train = [&](const std::string& data, const std::vector<std::string>& extra) {
    return run_cli(
        concat(concat(tiny_lm_final(data), extra), {"--num_epochs=1", "--out", tmp.file("run")}));
  };
  const std::string empty = tmp.file("empty");
  fs::create_directories(empty);
  test::expect_one_error_line(train(empty, {}), {"ptb.train.txt", empty});

  const std::string no_test = tmp.file("no_test");
  fs::create_directories(no_test);
  write_tiny_ptb(no_test);
  fs::remove(no_test + "/ptb.test.txt");
  test::expect_one_error_line(train(no_test, {}), {"ptb.test.txt", no_test});

  const std::string bad_word = tmp.file("bad_word");
  fs::create_directories(bad_word);
  write_tiny_ptb(bad_word);
  write_text(bad_word + "/ptb.valid.txt", " the cat sees a dog \n a bird \n the zebra likes N \n");
  test::expect_one_error_line(train(bad_word, {}), {bad_word + "/ptb.valid.txt:3", "zebra"});

  const std::string good = tmp.file("good");
  fs::create_directories(good);
  write_tiny_ptb(good);
  test::expect_one_error_line(train(good, {"--child_fixed_arc=0 2 5 0"}),
                              {"position 2", "node 2", "0..1"});
  test::expect_one_error_line(
      run_cli({"train", "--dataset", "ptb", "--search_for", "micro", "--data", good, "--dry-run"}),
      {"--search_for micro", "--dataset ptb"});
  test::expect_one_error_line(run_cli({"search", "--preset", "ptb_search", "--search_for", "macro",
                                       "--data", good, "--dry-run"}),
                              {"--search_for macro", "--dataset ptb"});
}

// -------------------------------------------------------------------------------- real corpus

TEST(CliPtb, FinalPresetHasTheAuthorsParameterCount) {
  CliResult r = run_cli({"train", "--preset", "ptb_final", "--dry-run", "--json", "--threads=1"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  json j = r.last_json();
  EXPECT_EQ(j.value("params", -1), 20'800'000);  // 10000 words, hidden 800, the README's 8 nodes
  EXPECT_EQ(j.value("arc", ""), "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2");
  EXPECT_EQ(j.value("dataset", ""), "ptb");
  EXPECT_EQ(j.value("search_for", ""), "rnn");
}

TEST(CliPtb, RealCorpusShortRun) {
  const std::string data = test::data_dir();
  if (data.empty() || !fs::exists(data + "/ptb/ptb.train.txt")) {
    GTEST_SKIP() << "no Penn Treebank under ENAS_DATA_DIR";
  }
  CliResult dry = run_cli(
      {"train", "--preset", "ptb_final", "--data", data, "--dry-run", "--json", "--threads=1"});
  ASSERT_EQ(dry.exit_code, 0) << dry.describe();
  EXPECT_EQ(dry.last_json().value("params", -1), 20'800'000);

  TempDir tmp;
  CliResult r = run_cli(concat(concat({"train", "--preset", "ptb_final"}, tiny_lm_flags(data)),
                               {"--train_limit=2000", "--test_limit=500", "--num_epochs=1",
                                "--log_every=50", "--json", "--out", tmp.file("run")}),
                        300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  json j = r.last_json();
  EXPECT_EQ(j.value("params", -1), lm_params(10000, 16, 8));
  EXPECT_TRUE(std::isfinite(j.value("test_ppl", -1.0)));
  const std::string log = test::read_text(tmp.file("run/log.txt"));
  EXPECT_EQ(
      lines_with(log, "vocabulary 10000; train_size 2000, valid_size 500, test_size 500").size(),
      1u)
      << log;
}

}  // namespace
}  // namespace enas
