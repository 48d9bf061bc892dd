// End-to-end tests of `enas run` (the whole pipeline: search, derive, train the found
// architecture) and of `enas draw`, on a tiny fake CIFAR-10.
#include <gtest/gtest.h>

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
using test::expect_one_error_line;
using test::jsonl_records;
using test::read_text;
using test::run_cli;
using test::TempDir;

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

/// `enas run` of the authors' micro presets made tiny: both stages one epoch of 320 images.
std::vector<std::string> tiny_pipeline(const std::string& data, const std::string& out) {
  // clang-format off
  return {"run", "--preset", "cifar10_micro_search", "--search_epochs", "1", "--final_epochs", "1",
          "--out", out, "--data", data, "--child_out_filters", "4", "--batch_size", "32",
          "--child_num_layers", "1", "--child_num_cells", "2", "--controller_train_steps", "2",
          "--controller_num_aggregate", "2", "--derive_samples", "3", "--num_valids", "64",
          "--test_limit", "64", "--log_every", "2", "--threads", "1", "--json"};
  // clang-format on
}

/// A drawing of the run folder `dir`: NAME.svg, or NAME.dot where Graphviz is missing.
std::string drawing(const std::string& dir, const std::string& name) {
  if (fs::exists(dir + "/" + name + ".svg")) return read_text(dir + "/" + name + ".svg");
  return read_text(dir + "/" + name + ".dot");
}

TEST(Pipeline, SearchesDerivesAndTrainsWhatItFound) {
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"));
  const std::string out = tmp.file("p");
  CliResult r = run_cli(tiny_pipeline(tmp.file("data"), out), 600);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("==== stage 1/2: search (cifar10_micro_search)"), std::string::npos);
  EXPECT_NE(r.out.find("==== stage 2/2: training the found architecture"), std::string::npos);

  const json result = r.last_json();
  const json searched = json::parse(read_text(out + "/search/result.json"));
  const json trained = json::parse(read_text(out + "/train/result.json"));
  EXPECT_EQ(result.at("best_arc"), searched.at("best_arc"));
  EXPECT_EQ(result.at("test_acc"), trained.at("test_acc"));
  EXPECT_EQ(result.at("search_dir"), out + "/search");
  EXPECT_EQ(json::parse(read_text(out + "/result.json")), result);
  // It ends with the trained model exported, and says where.
  EXPECT_EQ(result.at("model"), out + "/model.onnx");
  EXPECT_GT(fs::file_size(out + "/model.onnx"), 1000u);
  EXPECT_NE(r.out.find("model: " + out + "/model.onnx"), std::string::npos) << r.out;
  // The second stage trained the derived architecture with the search's final preset.
  const json config = json::parse(read_text(out + "/train/config.json"));
  EXPECT_EQ(config.at("child_fixed_arc_file"), out + "/search/best_arc.txt");
  EXPECT_EQ(config.at("preset"), "from_search");
  EXPECT_EQ(config.at("num_epochs"), 1);
  EXPECT_EQ(config.at("child_num_layers"), 1);  // the shared flag over cifar10_micro_final's 15
  EXPECT_TRUE(config.at("child_use_aux_heads").get<bool>());  // cifar10_micro_final's

  // Each stage says where it stands in the pipeline, and what it will count.
  for (const auto& [dir, index] : {std::pair{out + "/search", 1}, std::pair{out + "/train", 2}}) {
    const auto stages = jsonl_records(dir + "/metrics.jsonl", "stage");
    ASSERT_EQ(stages.size(), 1u) << dir;
    EXPECT_EQ(stages[0].at("stage"), index);
    EXPECT_EQ(stages[0].at("stages"), 2);
    const auto plans = jsonl_records(dir + "/metrics.jsonl", "plan");
    ASSERT_EQ(plans.size(), 1u) << dir;
    EXPECT_EQ(plans[0].at("epochs"), 1);
    EXPECT_GT(plans[0].at("steps_per_epoch").get<int>(), 0);
  }
  EXPECT_EQ(
      jsonl_records(out + "/search/metrics.jsonl", "plan")[0].at("controller_steps_per_epoch"), 2);

  // The found cells are drawn beside best_arc.txt, and the trained ones in the training's folder.
  const std::string best = drawing(out + "/search", "best_arc");
  EXPECT_NE(best.find("normal cell"), std::string::npos) << best.substr(0, 300);
  EXPECT_NE(best.find("reduction cell"), std::string::npos);
  EXPECT_EQ(drawing(out + "/train", "arc"), best);
  EXPECT_EQ(trained.at("arc"), result.at("best_arc"));
  // Both reports name the found architecture (the training's config.json holds the preset's).
  for (const char* stage : {"/search", "/train"}) {
    const std::string html = read_text(out + stage + "/report.html");
    EXPECT_NE(html.find("<code id=\"architecture\">" + result.at("best_arc").get<std::string>()),
              std::string::npos)
        << stage;
  }

  // Resumed when both are done: nothing is trained again, the same result comes back.
  CliResult again = run_cli(concat(tiny_pipeline(tmp.file("data"), out), {"--resume"}), 600);
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_NE(again.out.find("stage 1/2: search done"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("stage 2/2: training done"), std::string::npos) << again.out;
  EXPECT_EQ(again.last_json(), result);

  // A pipeline whose training was lost: --resume trains it again from the search's result.
  fs::remove_all(out + "/train");
  CliResult retrain = run_cli(concat(tiny_pipeline(tmp.file("data"), out), {"--resume"}), 600);
  ASSERT_EQ(retrain.exit_code, 0) << retrain.describe();
  EXPECT_NE(retrain.out.find("stage 1/2: search done"), std::string::npos);
  EXPECT_NE(retrain.out.find("==== stage 2/2: training the found architecture"), std::string::npos);
  EXPECT_EQ(retrain.last_json().at("best_arc"), result.at("best_arc"));
  EXPECT_TRUE(fs::exists(out + "/train/result.json"));
}

TEST(Pipeline, RefusesWhatItCannotDo) {
  TempDir tmp;
  expect_one_error_line(run_cli({"run", "--preset", "cifar10_micro_final", "--out", tmp.file("a")}),
                        {"cifar10_micro_final is a preset for `train`", "cifar10_micro_search"});
  expect_one_error_line(run_cli({"run", "--child_fixed_arc", "0 1 0 1", "--out", tmp.file("b")}),
                        {"--child_fixed_arc does not go with the pipeline"});
  expect_one_error_line(run_cli({"run", "--resume"}), {"--resume needs --out"});
  fs::create_directories(tmp.file("taken"));
  expect_one_error_line(run_cli({"run", "--out", tmp.file("taken")}),
                        {tmp.file("taken") + " exists", "--resume"});
  expect_one_error_line(run_cli({"run", "--out", tmp.file("c"), "--bogus_flag", "1"}),
                        {"--bogus_flag"});
  // A final preset of another space or data set trained a CIFAR-10 model under its name.
  expect_one_error_line(run_cli({"run", "--preset", "cifar10_micro_search", "--final_preset",
                                 "ptb_final", "--out", tmp.file("d")}),
                        {"--final_preset ptb_final trains the rnn space on ptb",
                         "searches the micro space on cifar10", "cifar10_micro_final"});
  // Nothing was started for any of them.
  for (const char* name : {"a", "b", "c", "d"}) EXPECT_FALSE(fs::exists(tmp.file(name))) << name;
}

TEST(Pipeline, ResumeResumesAPipelineAndNothingElse) {
  // Each of these started a new default pipeline, rc 0.
  TempDir tmp;
  expect_one_error_line(run_cli({"run", "--resume", "--out", tmp.file("none")}),
                        {"--resume: " + tmp.file("none") + " does not exist"});
  fs::create_directories(tmp.file("notes"));
  write(tmp.file("notes/todo.txt"), "mine");
  test::write_fake_cifar10(tmp.path(), 8);
  ASSERT_EQ(run_cli(test::tiny_train_args(tmp.path(), tmp.file("trained"))).exit_code, 0);
  for (const char* name : {"notes", "trained"}) {
    expect_one_error_line(run_cli({"run", "--resume", "--out", tmp.file(name)}),
                          {tmp.file(name) + " is not a pipeline's folder", "pipeline.json"});
  }
  EXPECT_FALSE(fs::exists(tmp.file("notes/search")));
  EXPECT_FALSE(fs::exists(tmp.file("trained/search")));
}

TEST(Pipeline, AResumedPipelineKeepsItsFlagsAndRestartsAStageWithNoCheckpoint) {
  // After a full disk stopped its search before the first checkpoint, `enas run --resume` said
  // the search held no checkpoint; resumed after a stop in its search, a pipeline trained the
  // full final preset (15 layers, 630 epochs) instead of its command's.
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"));
  const std::string out = tmp.file("p");
  test::CliOptions small_files;
  small_files.file_size_limit = 64 << 10;  // the search's first checkpoint does not fit
  CliResult stopped = run_cli(tiny_pipeline(tmp.file("data"), out), small_files);
  expect_one_error_line(stopped, {"cannot write " + out + "/search/"});
  EXPECT_FALSE(fs::exists(out + "/search/ckpt-1.pt"));
  const json record = json::parse(read_text(out + "/pipeline.json"));
  EXPECT_EQ(record.at("kind"), "enas run");
  EXPECT_EQ(record.at("preset"), "cifar10_micro_search");
  EXPECT_EQ(record.at("final_epochs"), 1);
  expect_one_error_line(run_cli({"run", "--resume", "--out", out, "--final_epochs", "3"}),
                        {"--final_epochs is 1 in " + out + "/pipeline.json, not 3"});
  CliResult r = run_cli({"run", "--resume", "--out", out, "--json"}, 600);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const json searched = json::parse(read_text(out + "/search/config.json"));
  EXPECT_EQ(searched.at("dataset"), "cifar10");
  EXPECT_EQ(searched.at("num_epochs"), 1);
  const json trained = json::parse(read_text(out + "/train/config.json"));
  EXPECT_EQ(trained.at("num_epochs"), 1);
  EXPECT_EQ(trained.at("child_num_layers"), 1);
  EXPECT_EQ(trained.at("child_out_filters"), 4);
  const json after = json::parse(read_text(out + "/pipeline.json"));
  EXPECT_EQ(after.at("stages").at("search"), "done");
  EXPECT_EQ(after.at("stages").at("train"), "done");
  EXPECT_EQ(r.last_json().at("best_arc"),
            json::parse(read_text(out + "/search/result.json")).at("best_arc"));
}

TEST(Pipeline, DryRunBuildsTheEmbeddedSearch) {
  CliResult r = run_cli({"run", "--dry-run", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_GT(r.last_json().at("params").get<int64_t>(), 0);
  EXPECT_GT(r.last_json().at("controller_params").get<int64_t>(), 0);
}

TEST(Draw, DrawsEachSpaceFromAStringOrAFile) {
  TempDir tmp;
  const std::string micro = "0 2 0 0 0 4 0 1 1 4 0 1 1 2 0 4";  // 2 blocks per cell
  CliResult r = run_cli({"draw", micro, "--out", tmp.file("m.dot"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.last_json().at("space"), "micro");
  const std::string dot = read_text(tmp.file("m.dot"));
  EXPECT_EQ(dot.rfind("digraph", 0), 0u) << dot.substr(0, 100);
  EXPECT_NE(dot.find("sep5x5"), std::string::npos);  // op 1 of the micro catalogue
  // A best_arc.txt's header names its space: a macro network of 3 layers.
  write(tmp.file("best_arc.txt"),
        "# enas search_for=macro child_num_layers=3 dataset=cifar10\n0 3 1 5 0 1\n");
  r = run_cli({"draw", tmp.file("best_arc.txt"), "--out", tmp.file("n.dot"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.last_json().at("space"), "macro");
  EXPECT_NE(read_text(tmp.file("n.dot")).find("maxpool"), std::string::npos);
  r = run_cli({"draw", "0 2 1 0", "--space", "rnn", "--out", tmp.file("r.dot")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(read_text(tmp.file("r.dot")).find("sigmoid"), std::string::npos);  // function 2
  if (fs::exists("/usr/bin/dot")) {
    r = run_cli({"draw", micro, "--out", tmp.file("m.svg")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(read_text(tmp.file("m.svg")).find("<svg"), std::string::npos);
  }
}

TEST(Draw, BadInputIsOneErrorLine) {
  TempDir tmp;
  expect_one_error_line(run_cli({"draw", "0 9 0 0", "--out", tmp.file("x.dot")}),
                        {"--space macro"});
  expect_one_error_line(run_cli({"draw", "0 1", "--space", "conv", "--out", tmp.file("x.dot")}),
                        {"conv", "macro, micro, rnn"});
  expect_one_error_line(run_cli({"draw", "0 2 1 0", "--space", "rnn", "--out", tmp.file("x.jpg")}),
                        {".jpg"});
  expect_one_error_line(
      run_cli({"draw", "0 2 1 0", "--space", "rnn", "--out", tmp.file("no/such/x.dot")}),
      {tmp.file("no/such")});
  EXPECT_FALSE(fs::exists(tmp.file("x.dot")));
  expect_one_error_line(run_cli({"draw", "0 1", "--space", "", "--out", tmp.file("x.dot")}),
                        {"--space is empty", "macro, micro, rnn"});
}

TEST(Draw, AnArchitectureLongerThanAFileNameIsNeverTriedAsAFile) {
  // The macro final preset's own architecture (24 layers: 300 numbers) failed with "File name
  // too long".
  TempDir tmp;
  std::string arc;
  for (int layer = 0; layer < 24; ++layer) {
    arc += std::to_string(layer % 6);
    for (int skip = 0; skip < layer; ++skip) arc += skip % 3 == 0 ? " 1" : " 0";
    arc += layer + 1 < 24 ? " " : "";
  }
  ASSERT_GT(arc.size(), 255u);
  CliResult r = run_cli({"draw", arc, "--space", "macro", "--out", tmp.file("m.dot")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(read_text(tmp.file("m.dot")).find("digraph"), std::string::npos);
}

}  // namespace
}  // namespace enas
