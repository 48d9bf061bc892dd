#pragma once
/// The ENAS search loop that the image and the language-model searches share (the authors'
/// main.py train() without a fixed architecture, enas_lm's search.py): per epoch one pass of the
/// shared child on freshly sampled architectures, controller_train_steps REINFORCE updates on the
/// child's validation score, an evaluation and a checkpoint; at the end derivation, the best of
/// derive_samples sampled architectures, written as best_arc.txt / best_arc.json. Resume, stops
/// on a signal and (for the language model) rollbacks work the same in both.
///
/// A search defines only what differs (SearchTrainer, LmSearchTrainer): its child's pass, the
/// two scores of an architecture (the reward's and derivation's), its evaluation, and the words
/// of its log; a search may add to the end of the controller's phase and to the checkpoint.
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

/// What tells one search's bookkeeping and its log from another's.
struct SearchTraits {
  const char* kind;        // its checkpoints' kind: search | lm_search
  const char* score_name;  // what derivation ranks by: valid_acc | valid_ppl
  bool higher_is_better;   // of that score
  bool rolls_back;         // a diverged child pass returns to the last epoch's checkpoint
  const char* unit;        // what a child step trains on: images | tokens
  // The log's own words (main.py's and enas_lm's): the line before an epoch's controller
  // updates ({0}: the epoch, 1-based; {1}: an empty string to pad) and derivation's pick ({0}:
  // its score, {1}: the architecture's string, {2}: its lines, {3}: its description).
  const char* controller_banner;
  const char* best_format;
};

struct SearchResult {
  int64_t epochs = 0, steps = 0;
  double seconds = 0;                                // resumed runs included
  BestArc best;                                      // derivation's pick
  nlohmann::json fields = nlohmann::json::object();  // the search's own result.json fields
};

/// What a child pass did.
struct ChildPass {
  bool finite = true;  // false: the loss stopped being finite (only where traits.rolls_back)
  int64_t steps = 0;   // the step it ended at: its minibatches or segments
};

/// What one controller update logs, in the search's own words.
struct UpdateLog {
  std::string line;                     // the log line after the update
  std::vector<nlohmann::json> samples;  // each sample's fields of its arcs.jsonl line
  nlohmann::json update;                // the update's fields of its metrics record
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
  /// `child` is the shared child, whose parameters and buffers rank 0 gives every process.
  SearchLoop(const SearchTraits& traits, Session& session, Controller controller,
             std::shared_ptr<torch::nn::Module> child);

  // ---- What each search defines ----
  /// One pass of the shared child over epoch `epoch` (0-based), a fresh architecture per step;
  /// `from` is the resumed checkpoint's progress when the pass continues mid-way. On a stop
  /// signal it saves (save) and ends the run (stop_run).
  virtual ChildPass train_child(int64_t epoch, const RunProgress* from) = 0;
  /// The task term of `arc`'s reward, on validation data (accuracy; 80 / perplexity).
  virtual double reward_score(const std::vector<int>& arc) = 0;
  /// Where another process scores `arc` (its share of an update's samples): advances whatever
  /// stream reward_score draws from, as scoring it would, so every process stays in step.
  virtual void skip_reward(const std::vector<int>& arc) {}
  /// The log of update `t` of an epoch (the scores are every process's).
  virtual UpdateLog log_update(int t, const ArcBatch& samples, const std::vector<double>& scores,
                               const ReinforceStats& s) const = 0;
  /// Evaluates the shared child after `epochs_done` epochs (into result_fields_).
  virtual void evaluate(int64_t epochs_done) = 0;
  /// What derivation ranks `arc` by (traits.score_name).
  virtual double derive_score(const std::vector<int>& arc) = 0;
  /// After the controller's updates of epoch `epoch` (0-based).
  virtual void after_controller(int64_t epoch) {}
  /// The search's own fields of a checkpoint's meta, and what it reads back from them.
  virtual nlohmann::json meta_fields() const { return nlohmann::json::object(); }
  virtual void restored(const nlohmann::json& meta) {}

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
  // Set by the search's constructor:
  int64_t steps_per_epoch_ = 1;  // of a child pass (Penn Treebank's vary: their mean count)
  std::string derive_scope_;     // what derivation scores on, for its log line

 private:
  void train_controller(int64_t epoch, int first);

  std::shared_ptr<torch::nn::Module> child_module_;
  int64_t pass_steps_ = 0;  // where the epoch's child pass ended
};

}  // namespace enas
