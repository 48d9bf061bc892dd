#pragma once
/// The ENAS recurrent cell run over a whole segment, with back-propagation through time written
/// by hand. Autograd would record ~10 small ops per node and step and compute every weight
/// gradient as T rank-B updates; here the backward walks the steps once and forms each weight's
/// gradient as one (H, T*B) x (T*B, 2H) product at the end, which is where the time goes.
#include <torch/torch.h>

#include <vector>

#include "enas/space/rnn.h"

namespace enas {

/// all_s (T, B, H) of the cell over T steps.
///  xw:      (T, B, 2H) the input half of node 0's matmul for every step (x_t @ w_prev[:H]),
///  s0:      (B, H) the state before the first step,
///  w_s:     (H, 2H) the state half of w_prev,
///  w_nodes: N matrices (H, 2H), node k's (views into a shared tensor are fine),
///  mask:    (B, H) drop_l's mask on the state and every node input, or undefined.
/// Differentiable in xw, s0, w_s and w_nodes when grad mode is on.
torch::Tensor rnn_cell_sequence(const torch::Tensor& xw, const torch::Tensor& s0,
                                const torch::Tensor& w_s, const std::vector<torch::Tensor>& w_nodes,
                                const torch::Tensor& mask, const rnn::Arc& arc);

}  // namespace enas
