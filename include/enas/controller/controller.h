#pragma once
/// The ENAS controller: an LSTM policy that writes architectures one decision at a time. One
/// sampler core (lstm_core.h) serves every search space; each space adds a head (macro, micro,
/// rnn: macro_controller.h, micro_controller.h, rnn_controller.h).
/// Sampling runs without autograd; REINFORCE re-scores the sampled architectures with
/// `score()` in one batched, differentiable pass.
#include <torch/torch.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "enas/controller/lstm_core.h"

namespace enas {

struct Config;

/// Architectures in the authors' flat format of their space, with what the policy says of them.
struct ArcBatch {
  std::vector<std::vector<int>> arcs;  // B architectures
  torch::Tensor log_prob;              // (B) sum of log p over every decision
  torch::Tensor entropy;               // (B) the authors' entropy term of each sample (no gradient)
  torch::Tensor skip_penalty;  // (B) macro: KL of the skip probabilities to the target; else 0
  torch::Tensor skip_count;    // (B) macro: number of skip connections; else 0
};

/// Options shared by the heads, the authors' controller flags.
struct ControllerOptions {
  int64_t lstm_size = 64;     // main.py: lstm_size=64, one layer
  int64_t num_branches = 6;   // child_num_branches: ops that may be sampled
  double tanh_constant = 0;   // controller_tanh_constant; 0 = off
  double op_tanh_reduce = 1;  // controller_op_tanh_reduce (micro ops)
  double temperature = 0;     // controller_temperature; 0 = off
  double skip_target = 0.8;   // controller_skip_target (macro)
  int64_t num_layers = 12;    // macro: layers; rnn: nodes of the cell
  int64_t num_cells = 5;      // micro: blocks per cell
  uint64_t seed = 0;          // the sampler's own random stream
};

class ControllerImpl : public torch::nn::Module {
 public:
  explicit ControllerImpl(ControllerOptions options);
  virtual ~ControllerImpl() = default;

  /// Samples `batch` architectures (no autograd; log_prob and entropy filled).
  virtual ArcBatch sample(int64_t batch);
  /// Log-probability (differentiable), entropy and skip terms of the given architectures.
  virtual ArcBatch score(const std::vector<std::vector<int>>& arcs);
  /// Whether the policy has parameters to train (false for the random baseline).
  virtual bool trainable() const { return true; }
  /// Length of one flat architecture.
  virtual int64_t arc_length() const = 0;

  const ControllerOptions& options() const { return options_; }
  /// The sampler's random state, for checkpoints.
  std::string rng_state() const;
  void set_rng_state(const std::string& state);

 protected:
  /// Runs the policy over B rows. With `forced`, decision i of row b is forced[b][i]'s value
  /// (teacher forcing); else it is sampled.
  virtual ArcBatch run(int64_t batch, const std::vector<std::vector<int>>* forced) = 0;

  /// One decision for m slots of each of B rows. logits (B * m, K), row b * m + j being slot j
  /// of architecture b, written at arc position positions[j]. Draws from softmax(logits), or takes
  /// forced[b][positions[j]]. Writes the choices into `arcs`; returns them (B * m) int64 and their
  /// log-probabilities (B * m).
  std::pair<torch::Tensor, torch::Tensor> choose(const torch::Tensor& logits,
                                                 const std::vector<std::vector<int>>* forced,
                                                 const std::vector<int>& positions,
                                                 std::vector<std::vector<int>>& arcs);
  /// temperature and tanh_constant * tanh(.) as the authors apply them.
  torch::Tensor shape_logits(torch::Tensor logits, double tanh_constant) const;

  /// Registers what every LSTM head has, all uniform(-0.1, 0.1) as the authors': the core, the
  /// op embedding, the op logits (unless `op_logits` is false: the head reuses w_emb for them),
  /// and the attention over earlier anchors.
  void build_policy(bool op_logits = true);

  ControllerOptions options_;
  std::mt19937_64 rng_;
  LstmCore core_{nullptr};
  torch::Tensor w_emb_;                // (num_branches, H): embedding of the chosen op
  torch::Tensor w_soft_;               // (H, num_branches): op logits (undefined: tied to w_emb)
  torch::Tensor w_attn_1_, w_attn_2_;  // (H, H): attention keys and query
  torch::Tensor v_attn_;               // (H, 1)
};

using Controller = std::shared_ptr<ControllerImpl>;

/// The controller a configuration asks for: `controller_type` lstm (the authors') or random.
Controller make_controller(const Config& config);

}  // namespace enas
