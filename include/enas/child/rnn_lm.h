#pragma once
/// The language model of enas_lm: tied embedding and softmax around the ENAS recurrent cell
/// (enas/space/rnn.h), with AWD-style regularisation. One module serves both roles:
///  - the final child (fixed_lib.py): one [H, 2H] matrix per node, the architecture fixed;
///  - the shared child of the search (child.py): per node k a [4, k, H, 2H] tensor, one matrix
///    per (function, previous node), of which set_arc() picks the path the next forwards run.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "enas/space/rnn.h"

namespace enas {

struct RnnLmOptions {
  TORCH_ARG(int64_t, vocab_size) = 10000;  // PTB
  TORCH_ARG(int64_t, hidden) = 200;        // child_hidden_size (search 200, final 800)
  TORCH_ARG(int64_t, num_nodes) = 8;       // nodes of the cell (search: controller_num_layers)
  TORCH_ARG(bool, shared) = false;         // search: weights per (node, function, previous)
  TORCH_ARG(double, init_range) = 0.05;    // uniform(-r, r) for every weight
  // Dropout rates (dropping, not keeping), training mode only, enas_lm's names.
  TORCH_ARG(double, drop_e) = 0.0;  // whole rows of the embedding (words)
  TORCH_ARG(double, drop_i) = 0.0;  // embedded inputs, one mask per sequence
  TORCH_ARG(double, drop_x) = 0.0;  // the cell's input x_t, one mask per batch
  TORCH_ARG(double, drop_l) = 0.0;  // the state and every node's input, one mask per batch
  TORCH_ARG(double, drop_o) = 0.0;  // the cell's outputs, one mask per sequence
  TORCH_ARG(double, drop_w) = 0.0;  // DropConnect on the recurrent weights, one mask per batch
};

/// One forward over a (B, T) segment.
struct LmOutput {
  torch::Tensor loss;   // () mean cross-entropy over B * T tokens
  torch::Tensor all_s;  // (B, T, H) the cell's outputs (before output dropout)
  torch::Tensor state;  // (B, H) the state after the last step (detached: carried, not learned)
};

/// The dropout masks of one training batch: every step of it shares them.
struct LmMasks {
  torch::Tensor words;                 // (V, 1) on embedding rows, or undefined
  torch::Tensor emb;                   // (B, 1, H)
  torch::Tensor input;                 // (B, H) on x_t
  torch::Tensor layer;                 // (B, H) on the state and node inputs
  torch::Tensor output;                // (B, 1, H)
  torch::Tensor w_prev;                // (H, 2H) on w_prev's state rows, or undefined
  std::vector<torch::Tensor> w_nodes;  // per node (H, 2H), or empty
};

class RnnLmImpl : public torch::nn::Module {
 public:
  explicit RnnLmImpl(RnnLmOptions options);

  /// The architecture the next forwards run (fixed child: must have num_nodes nodes).
  void set_arc(const rnn::Arc& arc);
  const rnn::Arc& arc() const { return arc_; }

  /// x, y: (B, T) int64 token ids; state: (B, H). Training mode draws fresh dropout masks.
  LmOutput forward(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& state);
  /// The same with given masks (tests; training mode only).
  LmOutput forward(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& state,
                   const LmMasks& masks);
  /// Draws the masks of one training batch of B rows.
  LmMasks draw_masks(int64_t batch) const;

  /// The tensors a training step updates (lm_train_step): the final child's parameters; the
  /// shared child's embedding, w_prev and the current path's matrices, node_weight(k). Those are
  /// leaves sharing storage with the [4, k + 1, H, 2H] tensors, so backward, clipping and the
  /// update touch the path only, not the whole tensors that hold 87% of the search's weights.
  std::vector<torch::Tensor> step_parameters() const;

  /// The weights weight decay applies to: the final child every weight (fixed_lib.py); the
  /// shared child the current path's recurrent matrices (docs/differences-from-authors.md).
  std::vector<torch::Tensor> decayed_weights() const;
  /// sum(w^2) over decayed_weights(), without autograd (the |w| of enas_lm's log).
  torch::Tensor decayed_square_sum() const;
  /// Adds the gradient of weight_decay * sum(w^2), 2 weight_decay w, to the decayed weights'
  /// gradients: the same update as the term in the loss, without its graph.
  void add_decay_grad(double weight_decay);

  /// Zero state for B rows.
  torch::Tensor zero_state(int64_t batch) const;
  const RnnLmOptions& options() const { return options_; }
  int64_t num_params() const;
  /// Parameters one architecture uses (the shared child: embedding, w_prev and N matrices).
  int64_t num_params_per_arc() const;
  std::string summary() const;

  /// The recurrent weight of node k on the current path: (H, 2H). The shared child's is the
  /// slice [func, prev] of node k's tensor as a leaf of its own: its gradient is the slice's.
  torch::Tensor node_weight(int k) const;

 private:
  RnnLmOptions options_;
  rnn::Arc arc_;
  bool has_arc_ = false;
  torch::Tensor w_emb_;                // (V, H), also the softmax weight (tied)
  torch::Tensor w_prev_;               // (2H, 2H): [x_t, s_{t-1}] -> [h, gate] of node 0
  std::vector<torch::Tensor> w_node_;  // fixed: (H, 2H); shared: (4, k + 1, H, 2H) for node k
  // Shared: node_weight(k)'s leaves, made for the arc on first use; remade when the parameter no
  // longer holds their storage (moved, converted, loaded).
  mutable std::vector<torch::Tensor> path_;
};
TORCH_MODULE(RnnLm);

}  // namespace enas
