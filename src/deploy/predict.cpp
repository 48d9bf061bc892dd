#include "enas/deploy/predict.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "enas/config/config.h"
#include "enas/data/corpus.h"
#include "enas/data/image_codec.h"
#include "enas/data/lm_batches.h"
#include "enas/train/lm_step.h"
#include "enas/util/error.h"

namespace enas {

namespace fs = std::filesystem;

std::vector<std::string> list_image_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (fs::recursive_directory_iterator
               it(p, fs::directory_options::follow_directory_symlink, ec),
           end;
           !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (it->is_regular_file(ec) && !name.empty() && name[0] != '.' &&
            has_image_extension(name)) {
          found.push_back(it->path().string());
        }
      }
      require(!ec, "cannot list {}: {}", p, ec.message());
      require(!found.empty(), "{} holds no image (.jpg, .jpeg or .png files)", p);
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      require(fs::exists(p, ec), "{}: no such file or folder", p);
      require(has_image_extension(p), "{} is not an image enas reads (.jpg, .jpeg or .png)", p);
      out.push_back(p);
    }
  }
  require(!out.empty(), "no image given");
  return out;
}

torch::Tensor predict_probs(const TrainedRun& run, const torch::Tensor& pixels, int64_t batch) {
  require(!run.language(), "{} is a language model: give it text (--text FILE)", run.dir);
  torch::NoGradGuard guard;
  const ImageSplit split{pixels, torch::zeros({pixels.size(0)}, torch::kInt64)};
  torch::Tensor x = normalize(split, run.stats);  // (N, C, H, W) float
  // As evaluation feeds it (train/evaluate.h): in the model's memory format.
  if (use_channels_last(run.config)) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < x.size(0); start += batch) {
    const int64_t len = std::min(batch, x.size(0) - start);
    out.push_back(torch::softmax(run.image->forward(x.narrow(0, start, len)).logits, 1));
  }
  return torch::cat(out, 0);  // (N, classes)
}

ImageScore score_images(const TrainedRun& run, const ImageSplit& split, int64_t batch) {
  const int64_t k = run.shape.num_classes;
  ImageScore score;
  score.confusion = torch::zeros({k, k}, torch::kInt64);
  if (split.size() == 0) return score;
  const torch::Tensor predicted = predict_probs(run, split.images, batch).argmax(1);
  const torch::Tensor truth = split.labels.to(torch::kInt64);
  score.total = split.size();
  score.correct = predicted.eq(truth).sum().item<int64_t>();
  score.confusion.view(-1).index_add_(0, truth * k + predicted,
                                      torch::ones({score.total}, torch::kInt64));
  return score;
}

double stream_loss(const TrainedRun& run, const torch::Tensor& tokens) {
  require(run.language(), "{} is an image model: give it images", run.dir);
  require(tokens.numel() >= 2, "the text has {} token(s): at least 2 are needed (one predicted)",
          tokens.numel());
  const torch::Tensor rows = tokens.view({1, -1});  // (1, L): one stream, the state carried
  RnnLm model = run.lm;                             // a handle: eval runs a non-const forward
  return lm_eval_loss(*model, rows,
                      fixed_length_segments(rows.size(1), run.config.child_bptt_steps, true),
                      /*reset_each=*/false);
}

torch::Tensor read_text_tokens(const TrainedRun& run, const std::string& path) {
  const Vocabulary vocab = Vocabulary::from_words(run.vocab);
  require(vocab.words() == run.vocab,
          "the vocabulary of {} is not in the order enas writes it (sorted): was vocab.txt "
          "edited?",
          run.dir);
  return read_token_ids(path, vocab, Unknown::kUnk,
                        fmt::format("(the vocabulary of {} has no {})", run.dir, kUnk));
}

}  // namespace enas
