// The trained model out of its run: `enas export` (an ONNX file), `enas predict` (classes of
// image files, or the perplexity of a text) and `enas eval` (accuracy or perplexity on a data
// set). docs/export.md.
#include <fmt/format.h>

#include <filesystem>

#include "cli.h"
#include "enas/data/datasets.h"
#include "enas/data/image_folder.h"
#include "enas/deploy/onnx_export.h"
#include "enas/deploy/predict.h"
#include "enas/deploy/trained_run.h"
#include "enas/report/report.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/runtime.h"
#include "enas/util/text.h"

namespace enas::cli {

namespace {

namespace fs = std::filesystem;

struct DeployOptions {
  std::string run;                  // the run folder
  std::string out;                  // export: the file ("": RUN/model.onnx)
  std::vector<std::string> inputs;  // predict: images or folders
  std::string text;                 // predict: a text file (language models)
  int top = 5;                      // predict: classes printed per image
  bool skip_bad_images = false;     // predict: leave out files that do not decode
  std::string dataset, data;        // eval: another data set than the run's
  std::string split = "test";       // eval: test | valid | train
  int64_t limit = 0;                // eval: the split's first N images or tokens (0: all)
  int64_t batch = 100;              // predict, eval: images per forward
  int threads = 0;                  // 0: every core
  bool json = false;
};

std::string default_model_path(const std::string& run) { return run + "/model.onnx"; }

}  // namespace

std::string export_run_model(const std::string& run_path, const std::string& out) {
  const std::string path = out.empty() ? default_model_path(run_path) : out;
  const TrainedRun run = open_trained_run(run_path);
  const std::string bytes = export_onnx(run);
  write_file_atomic(path, bytes);
  return path;
}

namespace {

int run_export(const DeployOptions& o) {
  set_threads(o.threads);
  require(onnx_export_available(), "{}",
          "this enas was built without ONNX export "
          "(-DENAS_WITH_ONNX=OFF): see docs/export.md");
  if (!o.out.empty()) require_text("--out", o.out);
  const std::string path = o.out.empty() ? default_model_path(o.run) : o.out;
  const TrainedRun run = open_trained_run(o.run);
  const std::string bytes = export_onnx(run);
  write_file_atomic(path, bytes);
  write_stdout(fmt::format("exported {} ({} space, {}) to {} ({:.1f} MB, ONNX opset {})\n", run.dir,
                           run.config.search_for, describe_checkpoint(run), path,
                           bytes.size() / 1e6, onnx_opset()));
  if (o.json) {
    print_json_line({{"out", path},
                     {"bytes", bytes.size()},
                     {"opset", onnx_opset()},
                     {"space", run.config.search_for},
                     {"arc", run.arc->text()},
                     {"run_dir", run.dir},
                     {"checkpoint", run.checkpoint},
                     {"finished", run.finished}});
  }
  return 0;
}

int predict_text(const TrainedRun& run, const DeployOptions& o) {
  require(run.language(), "{} is an image model: --text is for a language model's run", run.dir);
  const torch::Tensor tokens = read_text_tokens(run, o.text);
  const double loss = stream_loss(run, tokens);
  const double ppl = std::exp(loss);
  write_stdout(fmt::format("{}: {} tokens, perplexity {:.3f}\n", o.text, tokens.numel(), ppl));
  if (o.json) {
    print_json_line({{"file", o.text}, {"tokens", tokens.numel()}, {"loss", loss}, {"ppl", ppl}});
  }
  return 0;
}

int run_predict(const DeployOptions& o) {
  set_threads(o.threads);
  require(o.top >= 1, "--top must be at least 1, got {}", o.top);
  require(o.batch >= 1, "--batch_size must be at least 1, got {}", o.batch);
  require(o.text.empty() || o.inputs.empty(),
          "give images or --text FILE, not both (an image model reads images, a language model "
          "text)");
  const TrainedRun run = open_trained_run(o.run);
  if (!o.text.empty()) return predict_text(run, o);
  require(!run.language(), "{} is a language model: give it a text file with --text FILE", run.dir);
  require(!o.inputs.empty(), "no image given: `enas predict {} IMAGE_OR_FOLDER...`", o.run);
  require(run.shape.height == run.shape.width,
          "{} was trained on {}x{} images: only square "
          "inputs are predicted",
          run.dir, run.shape.height, run.shape.width);
  ImageFolderOptions reader;
  reader.skip_bad_images = o.skip_bad_images;
  const DecodedFiles files =
      decode_image_files(list_image_files(o.inputs), run.shape.height, run.shape.channels, reader);
  if (files.converted > 0) {
    warn(fmt::format("{} image(s) converted to {} as the model was trained on {}", files.converted,
                     run.shape.channels == 1 ? "gray" : "RGB",
                     run.shape.channels == 1 ? "gray images" : "colour images"));
  }
  const torch::Tensor probs = predict_probs(run, files.images, o.batch);  // (N, classes)
  const int64_t k = std::min<int64_t>(o.top, probs.size(1));
  const auto [top_p, top_i] = probs.topk(k, 1);
  nlohmann::json predictions = nlohmann::json::array();
  std::string text;
  for (size_t i = 0; i < files.files.size(); ++i) {
    nlohmann::json top = nlohmann::json::array();
    text += files.files[i] + ":";
    for (int64_t j = 0; j < k; ++j) {
      const int64_t c = top_i[i][j].item<int64_t>();
      const double p = top_p[i][j].item<double>();
      text += fmt::format(" {} {:.4f}{}", run.classes[c], p, j + 1 < k ? "," : "");
      top.push_back({{"class", run.classes[c]}, {"index", c}, {"prob", p}});
    }
    text += "\n";
    const auto row = probs[i].contiguous();
    predictions.push_back(
        {{"file", files.files[i]},
         {"probs", std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel())},
         {"top", top}});
  }
  write_stdout(text);
  if (o.json) print_json_line({{"classes", run.classes}, {"predictions", predictions}});
  return 0;
}

DataRequest eval_request(const TrainedRun& run, const DeployOptions& o) {
  DataRequest r = data_request(run.config);
  if (!o.dataset.empty()) {
    r.dataset = o.dataset;
    r.data = "";
  }
  if (!o.data.empty()) r.data = o.data;
  r.train_limit = o.split == "train" ? o.limit : 0;
  r.test_limit = o.split == "train" ? 0 : o.limit;
  if (!run.language()) {
    // A folder's images are read at the size and channels the model takes.
    r.image_size = run.shape.height;
    r.image_channels = run.shape.channels;
  }
  return r;
}

int eval_text(const TrainedRun& run, const DeployOptions& o, const DataRequest& request) {
  require(dataset_named(request.dataset).text,
          "{} is a language model: evaluate it on a text data set (--dataset {}), not {}", run.dir,
          dataset_names(true), request.dataset);
  const Corpus corpus = load_corpus(request);
  require(corpus.vocab.words() == run.vocab,
          "the corpus in {} has another vocabulary ({} words) than the run's ({} words): a "
          "language model reads only its own",
          corpus.dir, corpus.vocab.size(), run.vocab.size());
  const torch::Tensor& tokens = o.split == "train"   ? corpus.train
                                : o.split == "valid" ? corpus.valid
                                                     : corpus.test;
  const double loss = stream_loss(run, tokens);
  const double ppl = std::exp(loss);
  write_stdout(fmt::format("{} {} split: {} tokens, perplexity {:.3f}\n", corpus.dir, o.split,
                           tokens.numel(), ppl));
  if (o.json) {
    print_json_line({{"run_dir", run.dir},
                     {"dataset", request.dataset},
                     {"split", o.split},
                     {"tokens", tokens.numel()},
                     {"loss", loss},
                     {"ppl", ppl}});
  }
  return 0;
}

int run_eval(const DeployOptions& o) {
  set_threads(o.threads);
  require(o.split == "test" || o.split == "valid" || o.split == "train",
          "--split must be test, valid or train, got '{}'", o.split);
  require(o.limit >= 0, "--limit must be >= 0, got {}", o.limit);
  require(o.batch >= 1, "--batch_size must be at least 1, got {}", o.batch);
  const TrainedRun run = open_trained_run(o.run);
  const DataRequest request = eval_request(run, o);
  if (run.language()) return eval_text(run, o, request);
  require(!dataset_named(request.dataset).text,
          "{} is an image model: evaluate it on an image data set, not {}", run.dir,
          request.dataset);
  // The shape first, from the data set's headers: a mismatch is said before anything loads.
  const ImageShape shape = dataset_shape(request);
  require(shape.num_classes == run.shape.num_classes,
          "{} has {} classes and the model {}: a classifier is evaluated on its own classes",
          request.dataset, shape.num_classes, run.shape.num_classes);
  require(shape.channels == run.shape.channels && shape.height == run.shape.height &&
              shape.width == run.shape.width,
          "{} holds {}x{}x{} images and the model takes {}x{}x{}", request.dataset, shape.channels,
          shape.height, shape.width, run.shape.channels, run.shape.height, run.shape.width);
  const ImageDataset data =
      load_image_dataset(request, o.split == "valid" ? run.config.num_valids : 0);
  const int64_t classes = data.num_classes;
  const ImageSplit& split = o.split == "train"   ? data.train
                            : o.split == "valid" ? data.valid
                                                 : data.test;
  require(split.size() > 0, "{} has no {} split", request.dataset, o.split);
  const ImageSplit used = split.head(o.limit);
  const ImageScore score = score_images(run, used, o.batch);
  write_stdout(fmt::format("{} {} split: {} images, accuracy {:.4f}\n", request.dataset, o.split,
                           score.total, score.accuracy()));
  std::vector<std::vector<int64_t>> confusion;
  for (int64_t r = 0; r < classes; ++r) {
    const auto row = score.confusion[r].contiguous();
    confusion.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + classes);
  }
  nlohmann::json result = {{"run_dir", run.dir},       {"dataset", request.dataset},
                           {"split", o.split},         {"images", score.total},
                           {"correct", score.correct}, {"accuracy", score.accuracy()},
                           {"classes", run.classes},   {"confusion", confusion}};
  // On the run's own data, a finished run's report shows the matrix (eval.json, report.html).
  if (o.dataset.empty() && o.data.empty() && o.limit == 0 && run.finished) {
    write_file_atomic(run.dir + "/eval.json", result.dump(2) + "\n");
    for (const auto& w : write_report(run.dir)) warn("report: " + w);
    write_stdout(fmt::format("confusion matrix drawn in {}/report.html\n", run.dir));
  }
  if (o.json) print_json_line(result);
  return 0;
}

}  // namespace

void add_deploy_commands(CLI::App& app, State& state) {
  static DeployOptions o;
  auto common = [](CLI::App* sub) {
    sub->add_option("run", o.run, "the trained run's folder (enas train's, or enas run's)")
        ->required();
    sub->add_option("--threads", o.threads, "threads (0: every core)");
    sub->add_flag("--json", o.json, "end with one JSON line");
  };
  auto* exp = app.add_subcommand("export", "write a trained run's model as an ONNX file");
  common(exp);
  exp->add_option("--out", o.out, "the file (default RUN/model.onnx)");
  exp->callback([&state] { state.run = [] { return run_export(o); }; });

  auto* pred = app.add_subcommand(
      "predict", "classify image files with a trained run (or --text: a text's perplexity)");
  common(pred);
  pred->add_option("images", o.inputs, "image files (.jpg, .jpeg, .png) or folders of them");
  pred->add_option("--top", o.top, "classes printed per image")->capture_default_str();
  pred->add_option("--text", o.text, "a language model's run: the perplexity of this text file");
  pred->add_flag("--skip_bad_images", o.skip_bad_images, "leave out files that do not decode");
  pred->add_option("--batch_size", o.batch, "images per forward")->capture_default_str();
  pred->callback([&state] { state.run = [] { return run_predict(o); }; });

  auto* ev = app.add_subcommand(
      "eval", "accuracy (images) or perplexity (text) of a trained run on a data set");
  common(ev);
  ev->add_option("--dataset", o.dataset, "the data set (default: the run's)");
  ev->add_option("--data,--data_path", o.data, "its folder (default: the run's)");
  ev->add_option("--split", o.split, "test | valid | train")->capture_default_str();
  ev->add_option("--limit", o.limit, "only the split's first N images or tokens (0: all)");
  ev->add_option("--batch_size", o.batch, "images per forward")->capture_default_str();
  ev->callback([&state] { state.run = [] { return run_eval(o); }; });
}

}  // namespace enas::cli
