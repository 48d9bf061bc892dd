#pragma once
/// The processes that train one model together, as a trainer sees them (docs/distributed.md):
/// who this process is among them, and the few exchanges a data-parallel trainer needs. A
/// default Team is one process alone, for which every exchange is free and changes nothing, so
/// the trainers have one code path.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace enas {

class Dist;

class Team {
 public:
  Team() = default;  // one process alone
  /// The processes of `dist`; `sync_bn`: batch norm normalises with the whole batch.
  Team(std::shared_ptr<Dist> dist, bool sync_bn);

  int rank() const;
  int size() const;
  bool alone() const { return !dist_; }
  /// Rank 0: the process that writes the run folder and reports.
  bool leader() const { return rank() == 0; }
  bool sync_bn() const { return sync_bn_ && !alone(); }
  /// "gloo" or "nccl" ("" alone).
  std::string backend() const;

  /// This process's part [begin, end) of `n` things split as evenly as possible.
  std::pair<int64_t, int64_t> part(int64_t n) const;

  // Exchanges: every process must make the same ones in the same order.

  /// Sums `values` over the processes, in place, as one message.
  void sum(std::vector<double>& values) const;
  /// The stop signal (util/signals.h) any process has seen, or 0: a signal that reached one
  /// process stops them all at the same step. SIGTERM wins over SIGINT; a process that saw none
  /// takes the agreed one as its own (request_stop).
  int agreed_stop() const;
  /// Rank 0's `text`, on every process.
  std::string from_leader(const std::string& text) const;
  /// Rank 0's values of `tensors` (parameters, buffers), copied in place on every process, a
  /// message per dtype.
  void copy_from_leader(const std::vector<torch::Tensor>& tensors) const;
  /// What averages a step's gradients over the processes, in place (bucketed all-reduce): the
  /// hook an optimiser calls before every update (train/sgd.h: Sgd::on_gradients). Empty alone.
  std::function<void(const std::vector<torch::Tensor>&)> gradient_averager() const;
  /// Replaces every tensor by its mean over the processes, in place (bucketed all-reduce).
  void mean(const std::vector<torch::Tensor>& tensors) const;
  /// The whole of a tensor whose rows are split across the processes as part(n) splits n:
  /// `mine` holds this process's rows; the result, on every process, holds all n.
  torch::Tensor whole_rows(const torch::Tensor& mine, int64_t n) const;

 private:
  std::shared_ptr<Dist> dist_;
  bool sync_bn_ = false;
};

}  // namespace enas
