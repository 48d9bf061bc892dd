#pragma once
/// Accuracy of an image child on a whole split, in inference mode.
#include <torch/torch.h>

#include <functional>

#include "enas/child/image_child.h"
#include "enas/data/image_dataset.h"
#include "enas/dist/team.h"
#include "enas/run/reporter.h"

namespace enas {

/// A split normalised once and kept on the device, so evaluation never waits on the host.
struct DeviceSplit {
  torch::Tensor images;  // (N, C, H, W) float32 on the device
  torch::Tensor labels;  // (N) int64 on the device
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

DeviceSplit to_device(const ImageSplit& split, const ChannelStats& stats,
                      const torch::Device& device, bool channels_last);

struct Accuracy {
  int64_t correct = 0, total = 0;
  double value() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

/// Runs `model` in eval mode (running BN statistics, no dropout) over `split` in batches; puts
/// the model back into its previous mode. `before_batch(start)`, when given, runs before each
/// batch (a search resamples the shared child's architecture there). With several processes in
/// `team`, each evaluates its part of the split (Team::part) and the counts are summed.
Accuracy evaluate(ImageChildImpl& model, const DeviceSplit& split, int64_t batch_size,
                  const std::function<void(int64_t)>& before_batch = {}, const Team& team = {});

/// An epoch's evaluation (final training and search): "Epoch N: Eval", then the accuracy on
/// `valid` and on `test`, each reported as an eval event; an empty split is skipped (-1).
struct SplitAccuracy {
  double valid = -1, test = -1;
};
SplitAccuracy evaluate_splits(ImageChildImpl& model, const DeviceSplit& valid,
                              const DeviceSplit& test, int64_t batch_size, int64_t epochs_done,
                              int64_t step, Reporter& reporter,
                              const std::function<void(int64_t)>& before_batch = {},
                              const Team& team = {});

}  // namespace enas
