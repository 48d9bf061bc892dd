#pragma once
/// ENAS search of an image space (the authors' main.py train() without a fixed architecture):
/// the shared child trained on a fresh sampled architecture per minibatch, the controller trained
/// by REINFORCE on the child's accuracy on one validation minibatch per sample, ten sampled
/// architectures shown after each epoch, and derivation on the whole validation split. The loop
/// itself is SearchLoop's.
#include <torch/torch.h>

#include <memory>
#include <random>

#include "enas/child/shared_child.h"
#include "enas/data/image_dataset.h"
#include "enas/train/evaluate.h"
#include "enas/train/search_loop.h"

namespace enas {

class Sgd;

class SearchTrainer : public SearchLoop {
 public:
  /// The result's fields: shared_valid_acc, shared_test_acc (a fresh architecture per batch,
  /// -1 until evaluated); derivation ranks by valid_acc.
  SearchTrainer(Session& session, SharedChild child, Controller controller,
                const ImageDataset& data);
  ~SearchTrainer() override;

 private:
  ChildPass train_child(int64_t epoch, const RunProgress* from) override;
  double reward_score(const std::vector<int>& arc) override { return minibatch_accuracy(arc); }
  void skip_reward(const std::vector<int>& arc) override { next_valid_start(); }
  UpdateLog log_update(int t, const ArcBatch& samples, const std::vector<double>& scores,
                       const ReinforceStats& s) const override;
  void evaluate(int64_t epochs_done) override;
  double derive_score(const std::vector<int>& arc) override;
  void after_controller(int64_t epoch) override;

  /// Accuracy of `arc` on one random validation minibatch (the authors' build_valid_rl).
  double minibatch_accuracy(const std::vector<int>& arc);
  /// Where minibatch_accuracy's next validation minibatch starts (draws from valid_rng_).
  int64_t next_valid_start();
  int64_t batches_per_epoch() const;
  /// Skip connections an architecture can have (macro), the skip rate's denominator.
  double skip_slots() const;

  SharedChild child_;
  const ImageDataset& data_;
  std::unique_ptr<Sgd> sgd_;
  DeviceSplit valid_, test_;
  std::mt19937_64 valid_rng_;  // picks the reward minibatches
};

}  // namespace enas
