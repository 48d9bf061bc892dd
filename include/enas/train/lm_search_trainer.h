#pragma once
/// ENAS search of the recurrent cell on Penn Treebank (enas_lm's search.py): the shared child
/// trained on a fresh sampled architecture per segment; after each child epoch the controller
/// trained by REINFORCE on 80 / perplexity of one validation segment per sample (state from
/// zero), then validation with a fresh architecture per segment; at the end, derivation: the
/// best of `derive_samples` sampled architectures by validation perplexity. The loop itself is
/// SearchLoop's; a diverged child pass rolls back to the last epoch's checkpoint.
#include <torch/torch.h>

#include <vector>

#include "enas/child/rnn_lm.h"
#include "enas/data/corpus.h"
#include "enas/train/lm_step.h"
#include "enas/train/search_loop.h"

namespace enas {

/// enas_lm's REWARD_CONSTANT: reward = 80 / perplexity (+ the entropy bonus).
inline constexpr double kLmRewardConstant = 80.0;

class LmSearchTrainer : public SearchLoop {
 public:
  /// The result's fields: shared_valid_ppl (a fresh architecture per segment, -1 until
  /// evaluated) and rollbacks; derivation ranks by valid_ppl on derive_valid_batches segments.
  LmSearchTrainer(Session& session, RnnLm child, Controller controller, const Corpus& corpus);
  ~LmSearchTrainer() override;

 private:
  ChildPass train_child(int64_t epoch, const RunProgress* from) override;
  double reward_score(const std::vector<int>& arc) override;
  void skip_reward(const std::vector<int>& arc) override;
  UpdateLog log_update(int t, const ArcBatch& samples, const std::vector<double>& scores,
                       const ReinforceStats& s) const override;
  void evaluate(int64_t epochs_done) override;
  double derive_score(const std::vector<int>& arc) override;
  nlohmann::json meta_fields() const override { return {{"valid_cursor", valid_cursor_}}; }
  void restored(const nlohmann::json& meta) override;

  void set_arc(const std::vector<int>& flat) { child_->set_arc(rnn::arc_from_flat(flat)); }

  RnnLm child_;
  torch::Tensor train_rows_, valid_rows_;  // (B, L) batchified streams on the device
  std::vector<Segment> valid_segments_;
  std::vector<Segment> derive_segments_;  // the first derive_valid_batches of them
  int64_t valid_cursor_ = 0;              // the next reward segment
  torch::Tensor resume_state_;            // a mid-epoch checkpoint's carried state
  torch::Tensor save_state_;              // the carried state a mid-epoch save writes
};

}  // namespace enas
