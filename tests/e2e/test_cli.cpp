// End-to-end tests of `enas` that succeed: dry runs, presets, help, tiny training on a learnable
// fake CIFAR-10, exact resume, the authors' flag spellings, the embedded default data set.
// The failures (one `error:` line each) are in test_cli_errors.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "enas/child/factory.h"
#include "enas/config/config.h"
#include "enas/data/datasets.h"
#include "enas/data/fashion_mnist.h"
#include "run_models.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::concat;
using test::differing_tensors;
using test::load_child;
using test::run_cli;
using test::TempDir;
using test::tiny_micro_flags;

/// The JSON records of metrics.jsonl of `kind` ("step", "eval", "epoch").
std::vector<nlohmann::json> metrics_of(const std::string& run, const std::string& kind) {
  std::vector<nlohmann::json> out;
  std::istringstream in(test::read_text(run + "/metrics.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    if (j.value("kind", "") == kind) out.push_back(j);
  }
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

// ------------------------------------------------------------------ no data needed

TEST(CliDryRun, MicroFinalPresetHasTheAuthorsParameterCount) {
  CliResult r = run_cli(
      {"train", "--preset", "cifar10_micro_final", "--dry-run", "--json", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  auto j = r.last_json();
  EXPECT_EQ(j.value("params", -1), 3894372);
  EXPECT_EQ(j.value("params_aux", -1), 494848);
  EXPECT_EQ(j.value("search_for", ""), "micro");
  EXPECT_EQ(j.value("dataset", ""), "cifar10");
  EXPECT_NE(r.out.find("Model has 3894372 params"), std::string::npos) << r.describe();
}

TEST(CliDryRun, MacroArchitectureFromFlags) {
  CliResult r = run_cli({"train", "--dataset", "cifar10", "--search_for", "macro",
                         "--child_num_layers", "3", "--child_fixed_arc", "0 1 0 3 1 1",
                         "--child_out_filters", "8", "--dry-run", "--json", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.last_json();
  EXPECT_EQ(j.value("search_for", ""), "macro");
  EXPECT_EQ(j.value("arc", ""), "0 1 0 3 1 1");
  EXPECT_GT(j.value("params", 0), 0);
  EXPECT_EQ(j.value("params_aux", -1), 0);  // the macro child has no aux head
}

TEST(CliJson, LastLineIsJsonOnlyWithTheFlag) {
  CliResult with = run_cli({"train", "--dry-run", "--json", "--threads", "1"});
  ASSERT_EQ(with.exit_code, 0) << with.describe();
  EXPECT_TRUE(with.last_json().is_object());
  CliResult without = run_cli({"train", "--dry-run", "--threads", "1"});
  ASSERT_EQ(without.exit_code, 0) << without.describe();
  EXPECT_FALSE(nlohmann::json::accept(without.last_line())) << without.last_line();
  CliResult presets = run_cli({"presets", "--json"});
  ASSERT_EQ(presets.exit_code, 0) << presets.describe();
  auto list = presets.last_json();
  ASSERT_TRUE(list.is_array());
  // The authors' six scripts, the default, the pipeline's two, CIFAR-100's two.
  EXPECT_EQ(list.size(), 11u);
}

TEST(CliPresets, ListsEveryPreset) {
  CliResult r = run_cli({"presets"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  for (const char* name :
       {"default", "cifar10_macro_final", "cifar10_micro_final", "cifar10_macro_search",
        "cifar10_micro_search", "ptb_search", "ptb_final"}) {
    EXPECT_NE(r.out.find(name), std::string::npos) << name << "\n" << r.out;
  }
}

TEST(CliPresets, ShowsTheValuesOfOne) {
  CliResult r = run_cli({"presets", "cifar10_micro_final"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // The authors' print_user_flags format: name, dots, value.
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)batch_size\.+144\n)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)child_num_layers\.+15\n)"))) << r.out;
}

TEST(CliHelp, TrainHelpListsTheAuthorsFlags) {
  CliResult r = run_cli({"train", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  // The authors' CIFAR-10 main.py flags, then enas_lm's names of the same fields.
  for (const char* flag :
       {"--child_fixed_arc", "--nochild_use_aux_heads", "--data_path", "--output_dir", "--resume",
        "--dry-run", "--json", "--fixed_arc", "--child_batch_size", "--child_num_train_epochs",
        "--controller_num_layers", "--controller_baseline_dec", "--child_drop_x"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  // CLI11 prints the effective default after the type (and the aliases): "--batch_size INT=128".
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(--batch_size(,--\w+)* INT=128\b)"))) << r.out;
}

TEST(CliHelp, PresetChangesTheDefaultsShown) {
  CliResult r = run_cli({"train", "--preset", "cifar10_micro_final", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(--batch_size(,--\w+)* INT=144\b)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(--child_num_layers(,--\w+)* INT=15\b)")))
      << r.out;
}

TEST(CliFlags, AuthorsSpellingsOfTheAuxHeadFlag) {
  auto params_aux = [](const std::vector<std::string>& extra) {
    CliResult r = run_cli(concat({"train", "--dry-run", "--json", "--threads", "1"}, extra));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return r.exit_code == 0 ? r.last_json().value("params_aux", -1) : -1;
  };
  EXPECT_GT(params_aux({}), 0);  // the micro default has an aux head
  EXPECT_EQ(params_aux({"--nochild_use_aux_heads"}), 0);
  EXPECT_EQ(params_aux({"--child_use_aux_heads=false"}), 0);
  EXPECT_GT(params_aux({"--nochild_use_aux_heads", "--child_use_aux_heads=true"}), 0);
  // absl's boolean flags take no separate value, and neither do ours.
  CliResult separate = run_cli({"train", "--dry-run", "--child_use_aux_heads", "false"});
  EXPECT_NE(separate.exit_code, 0) << separate.describe();
}

TEST(CliFlags, AuthorsAliasesAndIgnoredFlags) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 16);
  const std::string out = tmp.file("run");
  // --data_path / --output_dir set the same fields as --data / --out, and a repeated flag's last
  // value wins, as with the authors' tf.app.flags: --data /nonexistent comes first here, then
  // --data_path; --out and --output_dir likewise. The run reads and writes where the last say.
  CliResult r =
      run_cli(concat(concat({"train"}, tiny_micro_flags("/nonexistent")),
                     {"--out", tmp.file("not-this"), "--data_path", tmp.path(), "--output_dir", out,
                      "--num_epochs", "1", "--child_num_cell_layers=5", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.last_json().value("run_dir", ""), out);
  auto config = nlohmann::json::parse(test::read_text(out + "/config.json"));
  EXPECT_EQ(config.value("data", ""), tmp.path());
  EXPECT_EQ(config.value("out", ""), out);
  EXPECT_FALSE(config.contains("child_num_cell_layers"));
  EXPECT_FALSE(fs::exists(tmp.file("not-this")));
}

// ------------------------------------------------------------------ training on tiny data

TEST(CliTrain, LossFallsOnLearnableTinyData) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string run = tmp.file("run");
  CliResult r = run_cli(
      concat(concat({"train"}, tiny_micro_flags(tmp.path())),
             {"--num_epochs", "4", "--log_every", "1", "--seed", "3", "--json", "--out", run}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  auto j = r.last_json();
  EXPECT_EQ(j.value("epochs", -1), 4);
  EXPECT_EQ(j.value("steps", -1), 40);  // 320 images / batch 32, 4 epochs
  const double acc = j.value("test_acc", -1.0);
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  EXPECT_GT(j.value("seconds", 0.0), 0.0);
  EXPECT_GT(j.value("params", 0), 0);
  EXPECT_EQ(j.value("run_dir", ""), run);

  // metrics.jsonl: one epoch record per epoch, and the loss falls.
  auto epochs = metrics_of(run, "epoch");
  ASSERT_EQ(epochs.size(), 4u);
  for (size_t i = 0; i < epochs.size(); ++i) EXPECT_EQ(epochs[i].value("epoch", -1), int(i) + 1);
  const double first = epochs.front().value("train_loss", 0.0);
  const double last = epochs.back().value("train_loss", 0.0);
  EXPECT_LT(last, first) << "train_loss did not fall: " << first << " -> " << last;
  EXPECT_LT(last, 0.8 * first);
  EXPECT_EQ(metrics_of(run, "step").size(), 40u);  // --log_every 1
  EXPECT_EQ(metrics_of(run, "eval").size(), 4u);   // test accuracy after every epoch

  // config.json: every flag as used.
  auto config = nlohmann::json::parse(test::read_text(run + "/config.json"));
  EXPECT_EQ(config.value("batch_size", -1), 32);
  EXPECT_EQ(config.value("num_epochs", -1), 4);
  EXPECT_EQ(config.value("seed", -1), 3);
  EXPECT_EQ(config.value("dataset", ""), "cifar10");
  EXPECT_EQ(config.value("child_fixed_arc", ""), test::kTinyMicroArc);

  // log.txt: the authors' step lines, one per step.
  const std::string log = test::read_text(run + "/log.txt");
  const std::regex step_line(
      R"(epoch=\d+ +ch_step=\d+ +loss=\d+\.\d{6} lr=\d+\.\d{4} +\|g\|=\d+\.\d{4} +)"
      R"(tr_acc=\d+ */ *\d+ mins=\d+\.\d{2} *)");
  int step_lines = 0;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("ch_step=") == std::string::npos) continue;
    ++step_lines;
    EXPECT_TRUE(std::regex_match(line, step_line)) << line;
  }
  EXPECT_EQ(step_lines, 40);
  EXPECT_NE(log.find("test_accuracy: "), std::string::npos);

  // result.json agrees with the JSON line; the newest two checkpoints are kept.
  auto result = nlohmann::json::parse(test::read_text(run + "/result.json"));
  EXPECT_EQ(result.value("test_acc", -2.0), acc);
  EXPECT_EQ(checkpoints_in(run), (std::set<std::string>{"ckpt-3.pt", "ckpt-4.pt"}));
}

TEST(CliTrain, MacroChildTrains) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 32);
  CliResult r = run_cli({"train",    "--dataset",         "cifar10",     "--data",
                         tmp.path(), "--search_for",      "macro",       "--child_num_layers",
                         "3",        "--child_fixed_arc", "0 1 0 3 1 1", "--child_out_filters",
                         "8",        "--batch_size",      "32",          "--num_epochs",
                         "1",        "--threads",         "1",           "--json",
                         "--out",    tmp.file("run")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.last_json();
  EXPECT_EQ(j.value("epochs", -1), 1);
  EXPECT_EQ(j.value("steps", -1), 5);
  EXPECT_EQ(j.value("params_aux", -1), 0);
}

TEST(CliTrain, ResumeEqualsUninterrupted) {
  TempDir tmp;
  test::write_fake_cifar10(tmp.path());
  const std::string a = tmp.file("a"), b = tmp.file("b");
  auto flags = concat(concat({"train"}, tiny_micro_flags(tmp.path())), {"--seed", "7"});

  CliResult ra = run_cli(concat(flags, {"--num_epochs", "2", "--out", a}));
  ASSERT_EQ(ra.exit_code, 0) << ra.describe();
  CliResult rb1 = run_cli(concat(flags, {"--num_epochs", "1", "--out", b}));
  ASSERT_EQ(rb1.exit_code, 0) << rb1.describe();
  CliResult rb2 =
      run_cli({"train", "--resume", "--out", b, "--num_epochs", "2", "--threads", "1", "--json"});
  ASSERT_EQ(rb2.exit_code, 0) << rb2.describe();
  EXPECT_NE(rb2.out.find("Resuming from " + b + "/ckpt-1.pt (epoch 1, step 10)"), std::string::npos)
      << rb2.describe();

  auto result_a = nlohmann::json::parse(test::read_text(a + "/result.json"));
  auto result_b = nlohmann::json::parse(test::read_text(b + "/result.json"));
  EXPECT_EQ(result_a.value("epochs", -1), 2);
  EXPECT_EQ(result_b.value("epochs", -1), 2);
  EXPECT_EQ(result_a.value("steps", -1), result_b.value("steps", -2));
  EXPECT_NEAR(result_a.value("train_loss", -1.0), result_b.value("train_loss", -2.0), 1e-6);
  EXPECT_EQ(result_a.value("test_acc", -1.0), result_b.value("test_acc", -2.0));

  // Both epoch-2 checkpoints hold the same weights and batch-norm statistics, bit for bit.
  Config config;
  apply_config_file(config, a + "/config.json");
  ImageChild model_a = load_child(config, a + "/ckpt-2.pt");
  ImageChild model_b = load_child(config, b + "/ckpt-2.pt");
  ImageChild model_a1 = load_child(config, a + "/ckpt-1.pt");
  EXPECT_EQ(differing_tensors(*model_a, *model_b), std::vector<std::string>{});
  EXPECT_FALSE(differing_tensors(*model_a, *model_a1).empty()) << "epoch 2 changed nothing";
}

TEST(CliTrain, ResumeAfterInterruptionWithDropPathAndCutout) {
  // Drop-path ramps over the whole run (num_epochs * batches steps, as the authors), so only a
  // run resumed with the same --num_epochs can match: simulate one killed after epoch 1 by
  // copying the finished run and deleting what epoch 2 wrote.
  TempDir tmp;
  test::write_fake_cifar10(tmp.path(), 32);
  const std::string a = tmp.file("a"), b = tmp.file("b");
  CliResult ra = run_cli(concat(concat({"train"}, tiny_micro_flags(tmp.path())),
                                {"--seed", "5", "--num_epochs", "2", "--child_cutout_size", "8",
                                 "--child_drop_path_keep_prob", "0.6", "--out", a}));
  ASSERT_EQ(ra.exit_code, 0) << ra.describe();
  fs::copy(a, b);
  fs::remove(b + "/ckpt-2.pt");
  fs::remove(b + "/result.json");
  CliResult rb = run_cli({"train", "--resume", "--out", b, "--threads", "1"});
  ASSERT_EQ(rb.exit_code, 0) << rb.describe();
  auto result_a = nlohmann::json::parse(test::read_text(a + "/result.json"));
  auto result_b = nlohmann::json::parse(test::read_text(b + "/result.json"));
  EXPECT_NEAR(result_a.value("train_loss", -1.0), result_b.value("train_loss", -2.0), 1e-6);
  EXPECT_EQ(result_a.value("test_acc", -1.0), result_b.value("test_acc", -2.0));
  Config config;
  apply_config_file(config, a + "/config.json");
  EXPECT_EQ(differing_tensors(*load_child(config, a + "/ckpt-2.pt"),
                              *load_child(config, b + "/ckpt-2.pt")),
            std::vector<std::string>{});
}

// ------------------------------------------------------------------ real data sets

TEST(CliTrain, FashionMnistIsTheEmbeddedDefault) {
  if (!fs::is_directory(kFashionMnistDebianDir)) {
    GTEST_SKIP() << kFashionMnistDebianDir << " is missing (Debian's dataset-fashion-mnist)";
  }
  TempDir tmp;
  CliResult r = run_cli({"train", "--train_limit", "256", "--test_limit", "128", "--num_epochs",
                         "1", "--child_num_layers", "1", "--child_out_filters", "4", "--batch_size",
                         "64", "--threads", "1", "--json", "--out", tmp.file("run")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.last_json();
  EXPECT_EQ(j.value("steps", -1), 4);
  EXPECT_GE(j.value("test_acc", -1.0), 0.0);
  auto config = nlohmann::json::parse(test::read_text(tmp.file("run/config.json")));
  EXPECT_EQ(config.value("dataset", ""), "fashion_mnist");
}

TEST(CliTrain, RealCifar10ShortRun) {
  const std::string data = test::data_dir();
  if (data.empty()) GTEST_SKIP() << "ENAS_DATA_DIR is not set";
  TempDir tmp;
  CliResult r = run_cli(concat(concat({"train"}, tiny_micro_flags(data)),
                               {"--train_limit", "256", "--test_limit", "200", "--num_epochs", "1",
                                "--json", "--out", tmp.file("run")}),
                        300);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto j = r.last_json();
  EXPECT_EQ(j.value("steps", -1), 8);
  const double acc = j.value("test_acc", -1.0);
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
}

}  // namespace
}  // namespace enas
