#pragma once
/// A trained run opened for use: the model of a final training's folder (`enas train`, or the
/// training stage of an `enas run` pipeline) rebuilt from its config.json and loaded from its
/// checkpoint, with what feeding it needs (data.json's classes and normalisation, vocab.txt).
/// `enas export`, `enas predict` and `enas eval` start here; nothing here writes.
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "enas/child/image_child.h"
#include "enas/child/rnn_lm.h"
#include "enas/config/config.h"
#include "enas/data/image_dataset.h"
#include "enas/data/image_shape.h"
#include "enas/space/architecture.h"

namespace enas {

struct TrainedRun {
  std::string dir;                  // the training run's folder (a pipeline's train/)
  std::string checkpoint;           // the checkpoint loaded
  bool finished = false;            // result.json written: the last epoch's checkpoint is the model
  int64_t epoch = 0;                // epochs the checkpoint holds
  Config config;                    // config.json
  std::optional<Architecture> arc;  // the trained architecture (always set)
  bool language() const { return !lm.is_empty(); }

  // Images (lm null): the network in eval mode, on the CPU, contiguous memory.
  ImageChild image{nullptr};
  ImageShape shape;                  // the input it was trained on and its classes
  ChannelStats stats;                // the normalisation measured on its training split
  std::vector<std::string> classes;  // shape.num_classes names

  // Text: the final model's weights (the average when the run averaged them), eval mode.
  RnnLm lm{nullptr};
  std::vector<std::string> vocab;  // vocab.txt, in id order
  bool averaged = false;           // the weights are the moving average's
};

/// Opens `path`: a final training's run folder, or a pipeline's (its train/ is used). A search's
/// folder, a folder without a checkpoint, a damaged checkpoint or a model the checkpoint does not
/// fit is an enas::Error saying what it is and what to do. A run that has not finished is opened
/// at its newest checkpoint with a warning saying so.
TrainedRun open_trained_run(const std::string& path);

/// "epoch 3 of 10 (still training: ...)" or "finished, 10 epochs": what was loaded, for messages.
std::string describe_checkpoint(const TrainedRun& run);

}  // namespace enas
