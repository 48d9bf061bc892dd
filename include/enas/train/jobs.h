#pragma once
/// What `enas train`, `enas search` and `enas derive` do once their flags are parsed, for every
/// space: the model built from the configuration (so a bad architecture is an error before any
/// file is touched), its --dry-run description, and the run itself inside a Session. The image
/// spaces and the Penn Treebank cell differ only inside (jobs.cpp, lm_jobs.cpp).
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "enas/config/config.h"
#include "enas/run/session.h"

namespace enas {

class Job {
 public:
  virtual ~Job() = default;
  /// What --dry-run prints: the model's summary and its size on `compute`.
  virtual std::string describe(const Compute& compute) const = 0;
  /// --dry-run's JSON line.
  virtual nlohmann::json describe_json() const = 0;
  /// Loads the data and trains (a search: searches, then derives) in `session`; returns the
  /// fields of result.json (Session::finish writes them).
  virtual nlohmann::json run(Session& session) = 0;
  /// A search's job only: restores search checkpoint `checkpoint`, derives in `session` (a
  /// derivation's) and writes best_arc.txt / best_arc.json; returns the winner's fields.
  virtual nlohmann::json derive(Session& session, const std::string& checkpoint);
};

/// Final training of the configured architecture (`enas train`): seeds torch and builds the
/// model.
std::unique_ptr<Job> make_train_job(const Config& config);
/// A search of the configured space (`enas search`, `enas derive`): seeds torch and builds the
/// shared child and the controller.
std::unique_ptr<Job> make_search_job(const Config& config);

/// The Penn Treebank's jobs (lm_jobs.cpp), which the two above hand over to.
std::unique_ptr<Job> make_lm_train_job(const Config& config);
std::unique_ptr<Job> make_lm_search_job(const Config& config);

}  // namespace enas
