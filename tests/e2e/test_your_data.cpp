// Data sets beyond the three built in (issue 27): CIFAR-100 and MNIST in their own formats, and
// any text corpus, through `enas train`, `search`, `derive` and `--from_search`.
#include <gtest/gtest.h>

#include <cstdint>
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
using test::contains;
using test::expect_one_error_line;
using test::read_text;
using test::run_cli;
using test::TempDir;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/// train.bin and test.bin of CIFAR-100's binary version: `records` records each, coarse label
/// i % 20, fine label i % 100, pixels from a fixed pseudo-random stream.
void write_fake_cifar100(const std::string& dir, int records) {
  fs::create_directories(dir);
  uint32_t state = 12345;
  for (const char* name : {"train.bin", "test.bin"}) {
    std::string bytes;
    for (int i = 0; i < records; ++i) {
      bytes += static_cast<char>(i % 20);
      bytes += static_cast<char>(i % 100);
      for (int k = 0; k < 3072; ++k) {
        state = state * 1664525u + 1013904223u;
        bytes += static_cast<char>(state >> 24);
      }
    }
    write_text(dir + "/" + name, bytes);
  }
}

int64_t params_of(const std::vector<std::string>& args) {
  const CliResult r = run_cli(concat(args, {"--dry-run", "--json"}), 60);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return r.exit_code == 0 ? r.last_json().value("params", int64_t{-1}) : -1;
}

TEST(YourData, Cifar100TrainsAHeadOfItsHundredOrTwentyClasses) {
  TempDir tmp;
  write_fake_cifar100(tmp.file("cifar-100-binary"), 96);
  const auto train = [&](const std::string& dataset, const std::string& labels) {
    return concat(test::tiny_train_args(tmp.path(), tmp.file("run-" + dataset + labels)),
                  {"--dataset", dataset, "--cifar100_labels", labels, "--json"});
  };
  // The head is Linear(features, classes): fine adds 80 more rows than coarse, coarse 10 more
  // than CIFAR-10's.
  const int64_t ten = params_of(train("cifar10", "fine"));
  const int64_t fine = params_of(train("cifar100", "fine"));
  const int64_t coarse = params_of(train("cifar100", "coarse"));
  ASSERT_GT(coarse, ten);
  EXPECT_EQ(fine - coarse, 8 * (coarse - ten));

  const CliResult r = run_cli(train("cifar100", "fine"), 180);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_PRED2(contains, r.out, "cifar100: 96 training, 96 test images");
  const json j = r.last_json();
  EXPECT_EQ(j.value("params", int64_t{-1}), fine);
  EXPECT_GE(j.value("test_acc", -1.0), 0.0);
  const json config = json::parse(read_text(tmp.file("run-cifar100fine/config.json")));
  EXPECT_EQ(config.value("dataset", ""), "cifar100");
  EXPECT_EQ(config.value("cifar100_labels", ""), "fine");
}

TEST(YourData, TheCifar100PresetsAreCifar10sOnItsData) {
  const CliResult r = run_cli({"presets", "--json"}, 30);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_PRED2(contains, r.out, "cifar100_micro_search");
  EXPECT_PRED2(contains, r.out, "cifar100_micro_final");
  TempDir tmp;
  const CliResult d =
      run_cli({"train", "--preset", "cifar100_micro_final", "--dry-run", "--json"}, 60);
  ASSERT_EQ(d.exit_code, 0) << d.describe();
  EXPECT_EQ(d.last_json().value("dataset", ""), "cifar100");
}

/// write_tiny_ptb's corpus as train.txt, valid.txt and test.txt, with a validation word the
/// training file lacks and no <unk>.
std::string write_corpus(const TempDir& tmp) {
  const std::string dir = tmp.file("corpus");
  fs::create_directories(dir);
  test::write_tiny_ptb(dir);
  for (const char* split : {"train", "valid", "test"}) {
    fs::rename(dir + "/ptb." + split + ".txt", dir + "/" + split + ".txt");
  }
  // Without <unk> (the tiny corpus has one), and with a word seen once, which
  // --vocab_min_count 2 folds into a new <unk>.
  for (const char* split : {"train", "valid", "test"}) {
    std::string text = read_text(dir + "/" + split + ".txt");
    for (size_t at; (at = text.find(" <unk>")) != std::string::npos;) text.erase(at, 6);
    write_text(dir + "/" + split + ".txt", text);
  }
  std::ofstream(dir + "/train.txt", std::ios::app) << " unicorn \n";
  std::ofstream(dir + "/valid.txt", std::ios::app) << " zebra \n";
  return dir;
}

TEST(YourData, ATextCorpusSearchesDerivesAndHandsOffWithItsVocabulary) {
  TempDir tmp;
  const std::string corpus = write_corpus(tmp);
  const auto search = concat(test::tiny_lm_search(corpus),
                             {"--dataset", "text", "--num_epochs=1", "--out", tmp.file("s")});
  // zebra is in no training line, and the corpus has no <unk> to stand for it.
  expect_one_error_line(
      run_cli(search, 60),
      {"valid.txt", "word 'zebra' is not in the training vocabulary", "--vocab_min_count"});

  const CliResult s = run_cli(concat(search, {"--vocab_min_count", "2"}), 300);
  ASSERT_EQ(s.exit_code, 0) << s.describe();
  EXPECT_PRED2(contains, s.out, "distinct training words seen fewer than 2 times are <unk>");
  const std::string vocab = read_text(tmp.file("s/vocab.txt"));
  EXPECT_EQ(vocab.rfind("<eos>\n<unk>\n", 0), 0u) << vocab;  // byte order: '<' sorts first

  const CliResult t = run_cli(
      {"train", "--from_search", tmp.file("s"), "--child_hidden_size=16", "--batch_size=4",
       "--child_bptt_steps=8", "--num_epochs=1", "--threads=1", "--json", "--out", tmp.file("t")},
      300);
  ASSERT_EQ(t.exit_code, 0) << t.describe();
  EXPECT_EQ(read_text(tmp.file("t/vocab.txt")), vocab);
  const json config = json::parse(read_text(tmp.file("t/config.json")));
  EXPECT_EQ(config.value("dataset", ""), "text");
  EXPECT_EQ(config.value("vocab_min_count", 0), 2);

  // The corpus changes under the search: deriving from its checkpoint would score other words.
  std::ofstream(corpus + "/train.txt", std::ios::app) << " aardvark aardvark \n";
  const CliResult d = run_cli({"derive", "--checkpoint", tmp.file("s/ckpt-1.pt"),
                               "--derive_samples", "2", "--threads", "1", "--json"},
                              120);
  expect_one_error_line(d, {"no longer has the vocabulary this run was started with", "vocab.txt",
                            "they differ from line"});
}

}  // namespace
}  // namespace enas
