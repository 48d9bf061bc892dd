#pragma once
/// The ENAS search loop that the image and the language-model searches share (the authors'
/// main.py train() without a fixed architecture, enas_lm's search.py): per epoch one pass of the
/// shared child on freshly sampled architectures, controller_train_steps REINFORCE updates on the
/// child's validation score, an evaluation and a checkpoint; at the end derivation, the best of
/// derive_samples sampled architectures, written as best_arc.txt / best_arc.json. Resume, stops
/// on a signal and (for the language model) rollbacks work the same in both.
///
/// A search defines only what differs: its child's pass, the score of an architecture and how it
/// is logged, its evaluation, and its own checkpoint fields (SearchTrainer, LmSearchTrainer).
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enas/controller/controller.h"
#include "enas/run/best_arc.h"
#include "enas/space/space.h"
#include "enas/train/trainer_core.h"

namespace enas {

class Reinforce;
struct ReinforceStats;

/// What tells one search's bookkeeping from another's.
struct SearchTraits {
  const char* kind;        // its checkpoints' kind: search | lm_search
  const char* score_name;  // what derivation ranks by: valid_acc | valid_ppl
  bool higher_is_better;   // of that score
  bool rolls_back;         // a diverged child pass returns to the last epoch's checkpoint
  const char* unit;        // what a child step trains on: images | tokens
};

struct SearchResult {
  int64_t epochs = 0, steps = 0;
  double seconds = 0;                                // resumed runs included
  BestArc best;                                      // derivation's pick
  nlohmann::json fields = nlohmann::json::object();  // the search's own result.json fields
};

class SearchLoop : public TrainerCore {
 public:
  virtual ~SearchLoop();

  /// Searches to config.num_epochs (a resumed session from the run folder's newest checkpoint),
  /// then derives and writes best_arc.txt / best_arc.json into the run folder. Every process
  /// starts from rank 0's child and controller.
  SearchResult run();
  /// Samples `samples` architectures and keeps the best by the search's score.
  BestArc derive(int64_t samples);
  /// Restores a checkpoint of this search's kind; returns its meta.
  nlohmann::json restore(const std::string& checkpoint);

 protected:
  SearchLoop(const SearchTraits& traits, Session& session, Controller controller);

  // ---- What each search defines ----
  /// One pass of the shared child over epoch `epoch` (0-based), a fresh architecture per step;
  /// `from` is the resumed checkpoint's progress when the pass continues mid-way. Returns false
  /// when the loss stopped being finite (only where traits.rolls_back). On a stop signal it
  /// saves (save) and ends the run (stop_run).
  virtual bool train_child_epoch(int64_t epoch, const RunProgress* from) = 0;
  /// Steps of an epoch's child pass (the Penn Treebank's segments vary: their mean count).
  virtual int64_t child_steps_per_epoch() const = 0;
  /// The task term of `arc`'s reward, on validation data (accuracy; 80 / perplexity).
  virtual double reward_score(const std::vector<int>& arc) = 0;
  /// Where another process scores `arc` (its share of an update's samples): advances whatever
  /// stream reward_score draws from, as scoring it would, so every process stays in step.
  virtual void skip_reward(const std::vector<int>& arc) {}
  /// The log lines of the controller's updates: before the first, and after update `t`.
  virtual std::string controller_banner(int64_t epoch) const = 0;
  virtual std::string controller_line(int t, const ArcBatch& samples,
                                      const std::vector<double>& scores,
                                      const ReinforceStats& s) const = 0;
  /// The search's fields of sample `i`'s arcs.jsonl line and of the update's metrics record.
  virtual nlohmann::json sample_fields(const ArcBatch& samples, size_t i, double score) const = 0;
  virtual nlohmann::json update_fields(const ReinforceStats& s) const = 0;
  /// The checkpoint a stop between controller updates writes: named after the child pass it
  /// follows, its position saying how many updates are done.
  virtual CheckpointId after_child_pass(int64_t epoch) const = 0;
  virtual nlohmann::json controller_position(int done) const { return {{"ctrl_t", done}}; }
  /// After the controller's updates of epoch `epoch` (0-based).
  virtual void after_controller(int64_t epoch) {}
  /// Evaluates the shared child after `epochs_done` epochs (into result_fields_).
  virtual void evaluate(int64_t epochs_done) = 0;
  /// What derivation ranks `arc` by (traits.score_name), what it is measured on (for the log),
  /// and how the winner is printed.
  virtual double derive_score(const std::vector<int>& arc) = 0;
  virtual std::string derive_scope() const = 0;
  virtual std::string describe_best(const BestArc& best) const = 0;
  /// The search's own fields of a checkpoint's meta; `position` is where inside an epoch it was
  /// written (null at an epoch's end).
  virtual nlohmann::json meta_fields(const nlohmann::json& position) const = 0;
  /// After a checkpoint's parts were loaded: what its meta holds for the search.
  virtual void restored(const nlohmann::json& meta) {}
  /// Refuses, with an enas::Error, a checkpoint this run cannot continue (before the resume is
  /// announced).
  virtual void check_resume(const std::string& path, const RunProgress& at) const {}
  /// The shared child, whose parameters and buffers rank 0 gives every process at the start.
  virtual torch::nn::Module& child_module() = 0;

  // ---- What the loop gives them ----
  /// Declares the controller, REINFORCE and the controller's random stream as checkpoint parts
  /// (after the child's, so that a resume's shape error names the child first).
  void add_controller_parts();
  std::vector<int> sample_one() { return controller_->sample(1).arcs[0]; }
  /// Writes checkpoint `id`; `position` says where inside the epoch it stands.
  std::string save(CheckpointId id, const nlohmann::json& position = {});

  const SearchTraits traits_;
  Controller controller_;
  const Space& space_;
  std::unique_ptr<Reinforce> reinforce_;
  RunProgress at_;                                           // where the search stands
  nlohmann::json result_fields_ = nlohmann::json::object();  // SearchResult::fields

 private:
  void train_controller(int64_t epoch, int first);
};

}  // namespace enas
