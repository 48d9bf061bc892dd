// Data sets beyond the three built in (issue 27): CIFAR-100 and MNIST in their own formats, and
// any text corpus, through `enas train`, `search`, `derive` and `--from_search`.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "image_files.h"
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

namespace enas {
namespace {

// ------------------------------------------------------------------------------ image folders

/// `enas run` of the micro presets made tiny on an image folder: both stages one epoch.
std::vector<std::string> tiny_folder_pipeline(const std::string& data, const std::string& out) {
  // clang-format off
  return {"run", "--preset", "cifar10_micro_search", "--dataset", "folder", "--data", data,
          "--search_epochs", "1", "--final_epochs", "1", "--out", out,
          "--child_out_filters", "4", "--batch_size", "16", "--child_num_layers", "1",
          "--child_num_cells", "2", "--controller_train_steps", "2",
          "--controller_num_aggregate", "2", "--derive_samples", "3", "--num_valids", "9",
          "--log_every", "2", "--threads", "1", "--json"};
  // clang-format on
}

TEST(YourData, AnImageFolderOfOddSizesSearchesAndTrainsThenComesFromItsCache) {
  TempDir tmp;
  const std::string data = tmp.file("pets");
  // 3 classes of 40x30 images (JPEG and PNG), resized to 24x24 (shorter side, centre crop).
  test::write_image_folder(data, 3, 12, 4, 40, 30);
  const CliResult r =
      run_cli(concat(tiny_folder_pipeline(data, tmp.file("p")), {"--image_size", "24"}), 600);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_PRED2(contains, r.out, "(3x24x24, 3 classes): test 12 images decoded");
  EXPECT_PRED2(contains, r.out, "folder: 27 training, 9 validation, 12 test images");
  const json final = json::parse(read_text(tmp.file("p/train/result.json")));
  EXPECT_GE(final.value("test_acc", -1.0), 0.0);
  const json config = json::parse(read_text(tmp.file("p/train/config.json")));
  EXPECT_EQ(config.value("dataset", ""), "folder");
  EXPECT_EQ(config.value("image_size", 0), 24);
  // Both stages and the second run read the decoded images back (the first stage wrote them).
  EXPECT_PRED2(contains, read_text(tmp.file("p/train/log.txt")),
               "train 36 images read from the cache");
  EXPECT_TRUE(fs::is_directory(data + "/.enas-cache"));
  // What the model was trained on, for whoever feeds it later.
  const json record = json::parse(read_text(tmp.file("p/train/data.json")));
  EXPECT_EQ(record.at("classes"), json({"c00", "c01", "c02"}));
  EXPECT_EQ(record.value("height", 0), 24);
  EXPECT_EQ(record.at("mean").size(), 3u);
}

TEST(YourData, AFolderOfTwelveClassesAt64PixelsTrainsOnTwoProcessesAndResumesOnOne) {
  TempDir tmp;
  const std::string data = tmp.file("shapes");
  test::write_image_folder(data, 12, 2, 1, 64, 64, /*gray=*/true);
  const std::vector<std::string> train = concat(
      test::tiny_train_args(data, tmp.file("t")),
      {"--dataset", "folder", "--batch_size", "8", "--data_cache", tmp.file("cache"), "--json"});
  const CliResult one = run_cli(concat(train, {"--dry-run"}), 60);
  ASSERT_EQ(one.exit_code, 0) << one.describe();
  const CliResult r = run_cli(test::launched(train), 300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const json j = test::rank0_json(r);
  EXPECT_EQ(j.value("params", int64_t{-1}), one.last_json().value("params", int64_t{-2}));
  EXPECT_PRED2(contains, r.out, "(1x64x64, 12 classes)");  // gray images: one channel
  EXPECT_FALSE(fs::exists(data + "/.enas-cache")) << "--data_cache names where the cache goes";
  EXPECT_TRUE(fs::is_directory(tmp.file("cache")));
  // The run goes on, on one process, one epoch more, from the cache.
  const CliResult resumed =
      run_cli({"train", "--resume", "--out", tmp.file("t"), "--num_epochs", "2", "--json"}, 300);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_EQ(resumed.last_json().value("epochs", 0), 2);
  EXPECT_PRED2(contains, resumed.out, "train 24 images read from the cache");
}

TEST(YourData, TheMacroSpaceSearchesAFolderToo) {
  TempDir tmp;
  test::write_image_folder(tmp.file("d"), 3, 8, 2, 20, 20, /*gray=*/true);
  const CliResult r = run_cli(concat(test::search_flags(tmp.file("d"), "macro"),
                                     {"--dataset", "folder", "--num_valids", "6", "--num_epochs",
                                      "1", "--batch_size", "6", "--out", tmp.file("s")}),
                              300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_PRED2(contains, r.out, "(1x20x20, 3 classes)");
  EXPECT_PRED2(contains, r.out, "folder: 18 training, 6 validation, 6 test images");
  EXPECT_FALSE(r.last_json().value("best_arc", "").empty());
}

// The README's own line, with its defaults (the embedded pipeline's presets).
TEST(YourData, TheReadmesFolderCommandRunsThePipeline) {
  TempDir tmp;
  test::write_image_folder(tmp.file("my_images"), 2, 12, 3, 32, 32);
  const CliResult r = run_cli({"run", "--dataset", "folder", "--data", tmp.file("my_images"),
                               "--num_valids", "6", "--out", tmp.file("runs"), "--threads", "1"},
                              600);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(fs::exists(tmp.file("runs/train/result.json"))) << r.describe();
  EXPECT_EQ(json::parse(read_text(tmp.file("runs/train/data.json"))).value("num_classes", 0), 2);
}

TEST(YourData, AnImageFolderThatIsNotOneIsOneErrorLine) {
  TempDir tmp;
  fs::create_directories(tmp.file("flat"));
  std::ofstream(tmp.file("flat/cat.jpg")) << "x";
  expect_one_error_line(run_cli(concat(test::tiny_train_args(tmp.file("flat"), tmp.file("t")),
                                       {"--dataset", "folder"}),
                                60),
                        {"image folder", "has no train/ folder", "docs/data.md"});
  test::write_image_folder(tmp.file("mixed"), 2, 2, 1, 8, 8);
  test::write_image_folder(tmp.file("mixed"), 2, 1, 1, 10, 10);  // 0.png of other sizes
  expect_one_error_line(run_cli(concat(test::tiny_train_args(tmp.file("mixed"), tmp.file("t2")),
                                       {"--dataset", "folder"}),
                                60),
                        {"images of different sizes", "--image_size N"});
  EXPECT_FALSE(fs::exists(tmp.file("t2/config.json")));
}

}  // namespace
}  // namespace enas
