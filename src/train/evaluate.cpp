#include "enas/train/evaluate.h"

#include <fmt/format.h>

namespace enas {

DeviceSplit to_device(const ImageSplit& split, const ChannelStats& stats,
                      const torch::Device& device, bool channels_last) {
  DeviceSplit out;
  if (split.size() == 0) return out;
  auto images = normalize(split, stats);
  if (channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
  out.images = images.to(device);
  out.labels = split.labels.to(device);
  return out;
}

Accuracy evaluate(ImageChildImpl& model, const DeviceSplit& split, int64_t batch_size,
                  const std::function<void(int64_t)>& before_batch, const Team& team) {
  Accuracy acc;
  if (split.size() == 0) return acc;
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  torch::Tensor correct = torch::zeros({}, split.labels.options());
  const auto [begin, end] = team.part(split.size());
  for (int64_t start = begin; start < end; start += batch_size) {
    int64_t len = std::min(batch_size, end - start);
    if (before_batch) before_batch(start);
    auto logits = model.forward(split.images.narrow(0, start, len)).logits;
    correct += logits.argmax(1).eq(split.labels.narrow(0, start, len)).sum();
  }
  std::vector<double> count{static_cast<double>(correct.item<int64_t>())};  // one host sync
  team.sum(count);
  acc.correct = static_cast<int64_t>(count[0]);
  acc.total = split.size();
  model.train(was_training);
  return acc;
}

SplitAccuracy evaluate_splits(ImageChildImpl& model, const DeviceSplit& valid,
                              const DeviceSplit& test, int64_t batch_size, int64_t epochs_done,
                              int64_t step, Reporter& reporter,
                              const std::function<void(int64_t)>& before_batch, const Team& team) {
  reporter.message(fmt::format("Epoch {}: Eval", epochs_done));
  SplitAccuracy out;
  for (const auto* split : {&valid, &test}) {
    if (split->size() == 0) continue;
    const Accuracy acc = evaluate(model, *split, batch_size, before_batch, team);
    const bool is_valid = split == &valid;
    reporter.eval(
        {epochs_done, step, is_valid ? "valid" : "test", acc.value(), acc.correct, acc.total});
    (is_valid ? out.valid : out.test) = acc.value();
  }
  return out;
}

}  // namespace enas
