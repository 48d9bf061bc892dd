// The trained model out of its run (issue 28): `enas export` checked by runtimes nobody here
// wrote (ONNX Runtime from npm, ONNX's Python checker), `enas predict` and `enas eval`, and their
// errors. ONNX Runtime is the npm package onnxruntime-node, installed by scripts/test.sh into a
// cache folder named by $ENAS_ORT_DIR; without it the runtime tests are skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
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

/// A macro network of 6 layers with every op family and skips: conv3x3 | avgpool, skip 0 |
/// sep3x3, skip 1 | maxpool, skips 0 2 | conv5x5, skips 1 2 | sep5x5, skips 0 3 4.
constexpr const char* kMacroArc = "0 4 1 1 0 1 5 1 0 1 2 0 1 1 0 3 1 0 0 1 1";

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string ort_dir() {
  const char* dir = std::getenv("ENAS_ORT_DIR");
  if (!dir || !*dir) return "";
  return fs::exists(std::string(dir) + "/node_modules/onnxruntime-node") ? dir : "";
}

/// Runs tests/onnx/ort_run.js on `request`; the result's JSON (a test failure: null).
json run_ort(const TempDir& tmp, const json& request) {
  const std::string req = tmp.file("ort-request.json"), res = tmp.file("ort-result.json");
  std::ofstream(req) << request.dump();
  fs::remove(res);
  const std::string command = "node " + quoted(ENAS_ORT_SCRIPT) + " " + quoted(ort_dir()) + " " +
                              quoted(req) + " " + quoted(res) + " 2>" +
                              quoted(tmp.file("ort-err.txt"));
  const int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << command << "\n" << read_text(tmp.file("ort-err.txt"));
  if (rc != 0) return nullptr;
  return json::parse(read_text(res));
}

/// ONNX's own Python checker (full_check: strict shape inference) on `model`; its metadata_props.
json python_check(const TempDir& tmp, const std::string& model) {
  const std::string out = tmp.file("check.json");
  const std::string command =
      "/usr/bin/python3 -c 'import json, sys, onnx; m = onnx.load(sys.argv[1]); "
      "onnx.checker.check_model(m, full_check=True); "
      "print(json.dumps({\"opset\": m.opset_import[0].version, \"meta\": {p.key: p.value for p in "
      "m.metadata_props}, \"ops\": sorted({n.op_type for n in m.graph.node})}))' " +
      quoted(model) + " >" + quoted(out) + " 2>&1";
  const int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << command << "\n" << read_text(out);
  if (rc != 0) return nullptr;
  return json::parse(read_text(out));
}

std::vector<std::string> train_micro(const std::string& data, const std::string& out) {
  return test::tiny_train_args(data, out, {"--json"});
}

std::vector<std::string> train_macro(const std::string& data, const std::string& out) {
  return {"train",   "--dataset",
          "cifar10", "--data",
          data,      "--search_for",
          "macro",   "--child_fixed_arc",
          kMacroArc, "--child_num_layers",
          "6",       "--child_out_filters",
          "4",       "--batch_size",
          "32",      "--num_epochs",
          "1",       "--threads",
          "1",       "--out",
          out,       "--json"};
}

/// Three 32x32 RGB images as PNG files in `dir`, and their pixels as (N, C, H, W) floats.
std::pair<std::vector<std::string>, std::vector<float>> write_images(const std::string& dir) {
  fs::create_directories(dir);
  std::vector<std::string> files;
  std::vector<float> nchw;
  for (int i = 0; i < 3; ++i) {
    std::vector<uint8_t> hwc(32 * 32 * 3);
    for (size_t j = 0; j < hwc.size(); ++j) {
      hwc[j] = static_cast<uint8_t>((j * (7 + 5 * i) + 31 * i) % 256);
    }
    const std::string file = dir + "/img" + std::to_string(i) + ".png";
    test::write_png(file, 32, 32, 3, hwc);
    files.push_back(file);
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < 32 * 32; ++p) nchw.push_back(hwc[p * 3 + c]);
    }
  }
  return {files, nchw};
}

/// Exports `run`, checks the file with ONNX's checker, then compares ONNX Runtime's `probs` on
/// three images with `enas predict`'s.
void expect_runtime_agrees_on_images(const TempDir& tmp, const std::string& run,
                                     const std::string& space) {
  const CliResult exported = run_cli({"export", run, "--json"});
  ASSERT_EQ(exported.exit_code, 0) << exported.describe();
  const json e = exported.last_json();
  const std::string model = e.at("out");
  EXPECT_EQ(model, run + "/model.onnx");
  EXPECT_EQ(e.at("opset"), 13);
  ASSERT_TRUE(fs::exists(model));

  const json check = python_check(tmp, model);
  ASSERT_FALSE(check.is_null());
  EXPECT_EQ(check.at("opset"), 13);
  const json meta = check.at("meta");
  EXPECT_EQ(meta.at("space"), space);
  EXPECT_EQ(json::parse(meta.at("classes").get<std::string>()).size(), 10u);
  EXPECT_EQ(json::parse(meta.at("classes").get<std::string>())[0], "airplane");
  EXPECT_EQ(json::parse(meta.at("mean").get<std::string>()).size(), 3u);
  EXPECT_FALSE(meta.at("arc").get<std::string>().empty());
  for (const auto& op : check.at("ops")) {
    EXPECT_NE(op, "BatchNormalization") << "batch norm is folded into the convolutions";
  }

  const auto [files, pixels] = write_images(tmp.file(space + "-images"));
  const CliResult predicted = run_cli(concat({"predict", run, "--top", "3", "--json"}, files));
  ASSERT_EQ(predicted.exit_code, 0) << predicted.describe();
  const json p = predicted.last_json();
  ASSERT_EQ(p.at("predictions").size(), 3u);
  EXPECT_EQ(p.at("classes").size(), 10u);

  const json r = run_ort(
      tmp, {{"model", model}, {"kind", "image"}, {"shape", {3, 3, 32, 32}}, {"pixels", pixels}});
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r.at("inputs"), json({"image"}));
  EXPECT_EQ(r.at("outputs"), json({"logits", "probs"}));
  const auto& probs = r.at("probs");
  ASSERT_EQ(probs.size(), 30u);
  double worst = 0;
  for (int i = 0; i < 3; ++i) {
    const auto& mine = p["predictions"][i];
    EXPECT_EQ(mine.at("file"), files[i]);
    ASSERT_EQ(mine.at("probs").size(), 10u);
    double sum = 0;
    for (int c = 0; c < 10; ++c) {
      const double a = mine["probs"][c].get<double>(), b = probs[i * 10 + c].get<double>();
      worst = std::max(worst, std::abs(a - b));
      sum += b;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    // The top class printed is the runtime's argmax too.
    const std::string top = mine["top"][0]["class"];
    int best = 0;
    for (int c = 1; c < 10; ++c) {
      if (probs[i * 10 + c] > probs[i * 10 + best]) best = c;
    }
    EXPECT_EQ(top, p["classes"][best]);
  }
  EXPECT_LT(worst, 1e-5) << space << ": ONNX Runtime and enas predict differ by " << worst;
}

TEST(Export, MicroAndMacroRunsGiveOnnxRuntimeTheSameProbabilitiesAsPredict) {
  if (ort_dir().empty()) GTEST_SKIP() << "ONNX Runtime not installed ($ENAS_ORT_DIR)";
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"), 64);
  for (const std::string space : {"micro", "macro"}) {
    const std::string run = tmp.file(space);
    const CliResult trained = run_cli(
        space == "micro" ? train_micro(tmp.file("data"), run) : train_macro(tmp.file("data"), run),
        600);
    ASSERT_EQ(trained.exit_code, 0) << trained.describe();
    expect_runtime_agrees_on_images(tmp, run, space);
  }
}

/// The first `n` tokens of `file` as ids of `vocab` (one word a line), <eos> after each line.
std::vector<int64_t> token_ids(const std::string& file, const std::string& vocab_file, size_t n) {
  std::map<std::string, int64_t> ids;
  std::istringstream vocab(read_text(vocab_file));
  std::string word;
  for (int64_t i = 0; std::getline(vocab, word); ++i) ids[word] = i;
  std::vector<int64_t> out;
  std::istringstream text(read_text(file));
  std::string line;
  while (out.size() < n && std::getline(text, line)) {
    std::istringstream words(line);
    while (out.size() < n && words >> word) {
      EXPECT_TRUE(ids.count(word)) << word;
      out.push_back(ids.count(word) ? ids[word] : 0);
    }
    if (out.size() < n) out.push_back(ids.at("<eos>"));
  }
  return out;
}

TEST(Export, LanguageModelSteppedInOnnxRuntimeGivesEvalsPerplexity) {
  if (ort_dir().empty()) GTEST_SKIP() << "ONNX Runtime not installed ($ENAS_ORT_DIR)";
  TempDir tmp;
  // Penn Treebank itself when it is there (2,000 test tokens), else the tiny corpus's test file.
  std::string data = test::data_dir().empty() ? "" : test::data_dir() + "/ptb";
  if (data.empty() || !fs::exists(data + "/ptb.test.txt")) {
    data = tmp.file("ptb");
    test::write_tiny_ptb(data);
  }
  const std::string run = tmp.file("lm");
  const CliResult trained = run_cli(
      concat(test::tiny_lm_final(data),
             {"--train_limit", "3000", "--test_limit", "2001", "--num_epochs", "1", "--out", run}),
      600);
  ASSERT_EQ(trained.exit_code, 0) << trained.describe();
  const CliResult exported = run_cli({"export", run, "--json"});
  ASSERT_EQ(exported.exit_code, 0) << exported.describe();
  const std::string model = exported.last_json().at("out");
  const json check = python_check(tmp, model);
  ASSERT_FALSE(check.is_null());
  const size_t vocab = json::parse(check["meta"].at("vocab").get<std::string>()).size();
  EXPECT_EQ(vocab, test::data_dir().empty() ? test::tiny_ptb_words().size() + 1 : 10000u);

  const CliResult evaluated =
      run_cli({"eval", run, "--split", "test", "--limit", "2001", "--json"});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.describe();
  const json ev = evaluated.last_json();
  const int64_t n = ev.at("tokens");
  // The run's own test perplexity (its 2,001 test tokens, the final model's weights).
  const json result = json::parse(read_text(run + "/result.json"));
  EXPECT_NEAR(ev.at("ppl").get<double>() / result.at("test_ppl").get<double>(), 1.0, 1e-9);
  const std::string test_file = fs::exists(data + "/ptb.test.txt") ? data + "/ptb.test.txt" : "";
  ASSERT_FALSE(test_file.empty());
  const auto tokens = token_ids(test_file, run + "/vocab.txt", static_cast<size_t>(n));
  ASSERT_EQ(static_cast<int64_t>(tokens.size()), n);
  const json r =
      run_ort(tmp, {{"model", model}, {"kind", "lm"}, {"hidden", 16}, {"tokens", tokens}});
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r.at("outputs"), json({"logits", "new_state"}));
  EXPECT_EQ(r.at("predictions"), n - 1);
  const double mine = ev.at("ppl"), theirs = r.at("ppl");
  EXPECT_NEAR(theirs / mine, 1.0, 1e-4) << "enas eval " << mine << ", ONNX Runtime " << theirs;

  // predict --text on the test file reads the same tokens as eval of the whole test split.
  const CliResult text = run_cli({"predict", run, "--text", test_file, "--json"});
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  const CliResult whole = run_cli({"eval", run, "--split", "test", "--json"});
  ASSERT_EQ(whole.exit_code, 0) << whole.describe();
  EXPECT_EQ(text.last_json().at("tokens"), whole.last_json().at("tokens"));
  EXPECT_NEAR(text.last_json().at("ppl").get<double>() / whole.last_json().at("ppl").get<double>(),
              1.0, 1e-9);
}

TEST(Export, BadInputIsOneErrorLineAndNothingHalfWritten) {
  TempDir tmp;
  fs::create_directories(tmp.file("data"));
  test::write_fake_cifar10(tmp.file("data"), 64);
  const std::string run = tmp.file("run");
  ASSERT_EQ(run_cli(train_micro(tmp.file("data"), run), 600).exit_code, 0);

  // A search's folder holds shared weights: said, with how to train what it found.
  const std::string search = tmp.file("search");
  const CliResult searched =
      run_cli(concat(test::search_flags(tmp.file("data"), "micro"), {"--out", search}), 600);
  ASSERT_EQ(searched.exit_code, 0) << searched.describe();
  expect_one_error_line(run_cli({"export", search}), {"search", "--from_search"});
  EXPECT_FALSE(fs::exists(search + "/model.onnx"));
  // Not a run at all.
  expect_one_error_line(run_cli({"predict", tmp.file("data"), "x.png"}), {"not a run folder"});

  // An unwritable destination: the error names it, and nothing is left there.
  expect_one_error_line(run_cli({"export", run, "--out", tmp.file("missing/dir/m.onnx")}),
                        {"cannot write", "missing/dir"});
  EXPECT_FALSE(fs::exists(tmp.file("missing")));

  // A run that has not finished: its newest checkpoint, and a warning saying so.
  const std::string unfinished = tmp.file("unfinished");
  fs::copy(run, unfinished, fs::copy_options::recursive);
  fs::remove(unfinished + "/result.json");
  fs::remove(unfinished + "/.enas.lock");
  const CliResult partial = run_cli({"export", unfinished, "--json"});
  ASSERT_EQ(partial.exit_code, 0) << partial.describe();
  EXPECT_TRUE(contains(partial.err, "has not finished training")) << partial.err;
  EXPECT_TRUE(contains(partial.err, "ckpt-1.pt")) << partial.err;
  EXPECT_FALSE(partial.last_json().at("finished").get<bool>());

  // A damaged checkpoint: the CRC check's error, and no model written.
  const std::string damaged = tmp.file("damaged");
  fs::copy(run, damaged, fs::copy_options::recursive);
  {
    std::fstream f(damaged + "/ckpt-1.pt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(damaged + "/ckpt-1.pt") / 2));
    f.put('\x5a');
  }
  expect_one_error_line(run_cli({"export", damaged}), {"ckpt-1.pt", "damaged"});
  EXPECT_FALSE(fs::exists(damaged + "/model.onnx"));

  // Images: one that does not decode is named (and left out with --skip_bad_images); a folder
  // of none; gray images converted to the model's RGB, said once.
  const std::string images = tmp.file("images");
  fs::create_directories(images + "/none");
  std::ofstream(images + "/bad.png") << "not a png";
  const std::vector<uint8_t> gray(32 * 32, 77);
  test::write_png(images + "/gray1.png", 32, 32, 1, gray);
  test::write_png(images + "/gray2.png", 32, 32, 1, gray);
  expect_one_error_line(run_cli({"predict", run, images + "/bad.png", images + "/gray1.png"}),
                        {"bad.png", "--skip_bad_images"});
  const CliResult skipped = run_cli({"predict", run, images, "--skip_bad_images", "--json"});
  ASSERT_EQ(skipped.exit_code, 0) << skipped.describe();
  const json s = skipped.last_json();
  ASSERT_EQ(s.at("predictions").size(), 2u);
  EXPECT_EQ(s["predictions"][0].at("file"), images + "/gray1.png");
  // The same gray pixels give the same probabilities.
  EXPECT_EQ(s["predictions"][0].at("probs"), s["predictions"][1].at("probs"));
  EXPECT_TRUE(contains(skipped.err, "2 image(s) converted to RGB")) << skipped.err;
  EXPECT_TRUE(contains(skipped.err, "bad.png")) << skipped.err;
  expect_one_error_line(run_cli({"predict", run, images + "/none"}), {"none", "no image"});
  expect_one_error_line(run_cli({"predict", run, "--text", images + "/bad.png"}),
                        {"image model", "--text"});

  // eval on data the model cannot read: another class count, another image size.
  const std::string folder = tmp.file("three");
  test::write_image_folder(folder, 3, 4, 2, 32, 32);
  expect_one_error_line(run_cli({"eval", run, "--dataset", "folder", "--data", folder}),
                        {"3 classes", "10"});
  // (A folder's images of another size are resized to the model's, as its reader does.)
  const std::string small = tmp.file("small");
  test::write_image_folder(small, 10, 2, 1, 16, 16);
  const CliResult resized =
      run_cli({"eval", run, "--dataset", "folder", "--data", small, "--json"});
  ASSERT_EQ(resized.exit_code, 0) << resized.describe();
  EXPECT_EQ(resized.last_json().at("images"), 10);
  // Fashion-MNIST (scripts/setup.sh installs it) is 1x28x28.
  expect_one_error_line(run_cli({"eval", run, "--dataset", "fashion_mnist"}),
                        {"1x28x28", "3x32x32"});
  expect_one_error_line(run_cli({"eval", run, "--split", "dev"}), {"--split", "dev"});
  // eval on the run's own data: its accuracy and a confusion matrix summing to the images.
  const CliResult own = run_cli({"eval", run, "--json"});
  ASSERT_EQ(own.exit_code, 0) << own.describe();
  const json o = own.last_json();
  int64_t total = 0, diagonal = 0;
  for (size_t r = 0; r < 10; ++r) {
    for (size_t c = 0; c < 10; ++c) {
      total += o["confusion"][r][c].get<int64_t>();
      if (r == c) diagonal += o["confusion"][r][c].get<int64_t>();
    }
  }
  EXPECT_EQ(total, 64);
  EXPECT_EQ(o.at("images"), 64);
  EXPECT_EQ(diagonal, o.at("correct"));
  EXPECT_NEAR(o.at("accuracy").get<double>(), diagonal / 64.0, 1e-12);
  // ... recorded in the run (eval.json) and drawn in its report.
  EXPECT_EQ(json::parse(read_text(run + "/eval.json")).at("confusion"), o.at("confusion"));
  const std::string report = read_text(run + "/report.html");
  EXPECT_TRUE(contains(report, "id=\"confusion-matrix\"")) << run;
  EXPECT_TRUE(contains(report, "<th>airplane</th>"));
  // Another data set's evaluation leaves the run's record alone.
  fs::remove(run + "/eval.json");
  ASSERT_EQ(run_cli({"eval", run, "--dataset", "folder", "--data", small}).exit_code, 0);
  EXPECT_FALSE(fs::exists(run + "/eval.json"));
}

}  // namespace
}  // namespace enas
