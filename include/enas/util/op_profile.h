#pragma once
/// Where a step's time goes, per operator and input shape: what `enas bench --profile` prints.
///
/// libtorch's own profiler writes traces without shapes from C++, and the cost of an op here often
/// depends on the memory layout of its inputs (libtorch 1.13's channels-last batch norm is 10x
/// slower at 20 channels than at 16; a sliced gradient makes it 7x slower). So the table
/// keys every op by its name and its inputs' shapes and layouts: `N` contiguous, `L` channels-last,
/// `?` neither (a slice, a transpose).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "enas/util/op_cost.h"

namespace enas {

struct OpProfileRow {
  std::string key;  // "aten::mm [4480,200]N [200,10000]?"
  int64_t calls = 0;
  double self_ms = 0;   // time inside the op, minus the ops it called
  double total_ms = 0;  // time inside the op, including the ops it called
  // The work of the calls a cost rule covers (util/op_cost.h), outside any other covered call;
  // the time of those calls, callees included, is costed_ms.
  OpCost cost;
  double costed_ms = 0;
};

/// Records every operator (and autograd node) run on any thread while it lives. One at a time.
class OpProfile {
 public:
  OpProfile();
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  /// The rows so far, by self time, largest first.
  std::vector<OpProfileRow> rows() const;

  /// The first `limit` rows as an aligned text table, with each row's share of all self time,
  /// then any enas:: operator (RECORD_FUNCTION in this project) that ranked lower.
  /// With `limits`, each row a cost rule covers also gets its GFLOP/s, GB/s and the share of
  /// its time the roofline says it needs at least (roof%).
  std::string table(size_t limit = 30, const MachineLimits* limits = nullptr) const;

  /// The work of every covered call so far, and their time.
  OpCost total_cost() const;
  double costed_ms() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  uint64_t handle_ = 0;
};

/// "[160,20,32,32]L" for a tensor, "" for anything else.
std::string describe_input(const torch::Tensor& t);

}  // namespace enas
