#pragma once
/// What a trained run (deploy/trained_run.h) computes for its user: class probabilities of image
/// files (`enas predict`), accuracy and the confusion matrix on a data set (`enas eval`), and the
/// perplexity of a text (`enas predict --text`, `enas eval` of a language model). The model runs
/// in libtorch, in eval mode, on inputs prepared exactly as its training prepared them.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "enas/data/image_dataset.h"
#include "enas/deploy/trained_run.h"

namespace enas {

/// The image files named by `paths`: files as given, folders searched (sorted, recursively) for
/// .jpg, .jpeg and .png files. A name that is neither, or a folder holding none, is an
/// enas::Error.
std::vector<std::string> list_image_files(const std::vector<std::string>& paths);

/// Softmax probabilities (N, classes) of `pixels` (N, C, H, W) uint8, normalised with the run's
/// statistics as its evaluation normalised them, in batches of `batch`.
torch::Tensor predict_probs(const TrainedRun& run, const torch::Tensor& pixels, int64_t batch);

struct ImageScore {
  int64_t correct = 0, total = 0;
  torch::Tensor confusion;  // (classes, classes) int64: row the true class, column the predicted
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};
/// Accuracy and confusion matrix of the run's model on `split`.
ImageScore score_images(const TrainedRun& run, const ImageSplit& split, int64_t batch);

/// Mean cross-entropy per predicted token of the run's language model over `tokens` (1-D int64),
/// read as the run's test evaluation reads its stream: one row, the state carried from zero.
double stream_loss(const TrainedRun& run, const torch::Tensor& tokens);

/// The tokens of text file `path` with the run's vocabulary: `<eos>` after every line, a word
/// outside it `<unk>` when the vocabulary has that, else an enas::Error naming the word.
torch::Tensor read_text_tokens(const TrainedRun& run, const std::string& path);

}  // namespace enas
