#include "enas/child/rnn_cell.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include "enas/child/highway_rows.h"
#include "enas/util/error.h"
#include "enas/util/gemm.h"
#include "enas/util/runtime.h"

namespace enas {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The forward pass's record: what each node computed at each step, written in place by the
/// forward (out= kernels, no copies) and read by the backward. Without autograd one slot is
/// reused for every step.
struct Tape {
  Tensor sm;                   // (T, B, H) s_{t-1} * mask (undefined without a mask)
  Tensor h0, g0;               // (T, B, H) node 0's candidate and gate
  std::vector<Tensor> layers;  // per node k = 0..N: (T, B, H) its output
  std::vector<Tensor> qm;      // per node k = 1..N: (T, B, H) its masked input (none unmasked)
  std::vector<Tensor> h, g;    // per node k = 1..N: (T, B, H) candidate f(.) and gate

  Tape(int64_t slots, int64_t b, int64_t hidden, int n, bool masked,
       const torch::TensorOptions& o) {
    auto make = [&] { return torch::empty({slots, b, hidden}, o); };
    if (masked) sm = make();
    h0 = make();
    g0 = make();
    layers.resize(n + 1);
    qm.resize(n + 1);
    h.resize(n + 1);
    g.resize(n + 1);
    for (int k = 0; k <= n; ++k) {
      layers[k] = make();
      if (k == 0) continue;
      if (masked) qm[k] = make();
      h[k] = make();
      g[k] = make();
    }
  }
  Tape() = default;
};

void apply_func_out(Tensor& out, const Tensor& pre, int func) {
  switch (func) {
    case rnn::kTanh:
      torch::tanh_out(out, pre);
      break;
    case rnn::kRelu:
      torch::clamp_min_out(out, pre, 0);
      break;
    case rnn::kSigmoid:
      torch::sigmoid_out(out, pre);
      break;
    default:
      out.copy_(pre);
  }
}

/// d loss / d pre of f, from d loss / d f(pre) and f's output y.
void func_backward_out(Tensor& out, const Tensor& dy, const Tensor& y, int func) {
  switch (func) {
    case rnn::kTanh:
      at::tanh_backward_out(out, dy, y);
      break;
    case rnn::kRelu:
      at::threshold_backward_out(out, dy, y, 0);
      break;
    case rnn::kSigmoid:
      at::sigmoid_backward_out(out, dy, y);
      break;
    default:
      out.copy_(dy);
  }
}

/// Whether the nodes' elementwise work goes through highway_rows (float on the CPU) rather than
/// libtorch's ops.
bool own_highway_kernel(const Tensor& xw) {
  return xw.device().is_cpu() && xw.scalar_type() == torch::kFloat;
}

float* fptr(const Tensor& t) { return t.data_ptr<float>(); }

/// Rows per task of the node kernels below: enough elements to pay for waking a thread.
int64_t grain_rows(int64_t h) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(h, 1)); }

/// highway_rows over the batch on torch's threads (its rows are independent): one thread inside
/// a SerialElementwise, every core where the products are oneDNN's (util/gemm.h).
void node_forward(const float* pre, const float* q, int64_t rows, int64_t h, int func, float* hk,
                  float* g, float* l) {
  at::parallel_for(0, rows, grain_rows(h), [&](int64_t r0, int64_t r1) {
    highway_rows::forward(pre + r0 * 2 * h, 2 * h, q + r0 * h, r1 - r0, h, func, hk + r0 * h,
                          g + r0 * h, l + r0 * h);
  });
}

void node_backward(const float* d, const float* q, const float* hk, const float* g, int64_t rows,
                   int64_t h, int func, float* dpre, float* dq, bool accumulate) {
  at::parallel_for(0, rows, grain_rows(h), [&](int64_t r0, int64_t r1) {
    highway_rows::backward(d + r0 * h, q + r0 * h, hk + r0 * h, g + r0 * h, r1 - r0, h, func,
                           dpre + r0 * 2 * h, 2 * h, dq + r0 * h, accumulate);
  });
}

/// pre (B, 2H) = [add (B, 2H) +] a (B, H) @ w (H, 2H). One row (the test stream's batch of 1)
/// goes through gemv: OpenBLAS's gemm packs all of w first and is 3x slower for a single row.
void step_product(Tensor& pre, const Tensor& add, const Tensor& a, const Tensor& w) {
  if (a.size(0) == 1) {
    Tensor row = pre[0];
    if (add.defined()) {
      torch::addmv_out(row, add[0], w.t(), a[0]);
    } else {
      torch::mv_out(row, w.t(), a[0]);
    }
  } else if (add.defined()) {
    enas::addmm_out(pre, add, a, w);
  } else {
    enas::mm_out(pre, a, w);
  }
}

/// The recurrence. With `keep`, every step gets its own slot of the returned tape.
std::pair<Tensor, Tape> run_forward(const Tensor& xw, const Tensor& s0, const Tensor& w_s,
                                    const std::vector<Tensor>& w_nodes, const Tensor& mask,
                                    const rnn::Arc& arc, bool keep) {
  const int64_t t_len = xw.size(0), b = xw.size(1), h = s0.size(1);
  const int n = arc.num_nodes();
  const bool masked = mask.defined();
  const bool fused = own_highway_kernel(xw);
  Tape tp(keep ? t_len : 1, b, h, n, masked, s0.options());
  auto all_s = torch::empty({t_len, b, h}, s0.options());
  auto pre = torch::empty({b, 2 * h}, s0.options());
  Tensor s = s0.contiguous();
  for (int64_t t = 0; t < t_len; ++t) {
    const int64_t slot = keep ? t : 0;
    Tensor sm = s;
    if (masked) {
      sm = tp.sm[slot];
      torch::mul_out(sm, s, mask);
    }
    step_product(pre, xw[t], sm, w_s);
    Tensor h0 = tp.h0[slot], g0 = tp.g0[slot], l0 = tp.layers[0][slot];
    if (fused) {
      node_forward(fptr(pre), fptr(s), b, h, rnn::kTanh, fptr(h0), fptr(g0), fptr(l0));
    } else {
      torch::tanh_out(h0, pre.narrow(1, 0, h));
      torch::sigmoid_out(g0, pre.narrow(1, h, h));
      torch::sub_out(l0, h0, s).mul_(g0).add_(s);  // s + g (h - s)
    }
    Tensor out = all_s[t];
    for (int k = 1; k <= n; ++k) {
      const Tensor q = tp.layers[arc.prev(k - 1)][slot];
      Tensor qm = q;
      if (masked) {
        qm = tp.qm[k][slot];
        torch::mul_out(qm, q, mask);
      }
      step_product(pre, Tensor(), qm, w_nodes[k - 1]);
      Tensor hk = tp.h[k][slot], gk = tp.g[k][slot], lk = tp.layers[k][slot];
      if (fused) {
        node_forward(fptr(pre), fptr(q), b, h, arc.func(k - 1), fptr(hk), fptr(gk), fptr(lk));
      } else {
        apply_func_out(hk, pre.narrow(1, 0, h), arc.func(k - 1));
        torch::sigmoid_out(gk, pre.narrow(1, h, h));
        torch::sub_out(lk, hk, q).mul_(gk).add_(q);
      }
      if (k == 1) {
        out.copy_(lk);
      } else {
        out.add_(lk);
      }
    }
    out.div_(static_cast<double>(n));  // the cell's output: the mean of nodes 1..N
    s = out;
  }
  return {all_s, std::move(tp)};
}

class CellFunction : public torch::autograd::Function<CellFunction> {
 public:
  // inputs: xw, s0, w_s, w_node_0..w_node_{N-1}; the mask is no variable (an optional one is
  // none to autograd when absent).
  static variable_list forward(AutogradContext* ctx, torch::TensorList inputs,
                               TorchOptional<Tensor> mask, std::vector<int64_t> code) {
    const std::vector<Tensor> w_nodes(inputs.begin() + 3, inputs.end());
    rnn::Arc arc{std::vector<int>(code.begin(), code.end())};
    const Tensor m = mask.has_value() ? *mask : Tensor();
    auto [all_s, tp] = run_forward(inputs[0], inputs[1], inputs[2], w_nodes, m, arc, true);
    ctx->saved_data["code"] = code;
    ctx->saved_data["mask"] = m.defined() ? c10::IValue(m) : c10::IValue();
    // The tape holds plain buffers, no variables: stored as a list beside the saved inputs.
    // all_s becomes this node's output: holding it (rather than a detached alias of its storage)
    // would make a cycle output -> node -> saved data -> output, and leak every step's graph.
    std::vector<Tensor> flat{all_s.detach(), tp.sm, tp.h0, tp.g0};
    for (int k = 0; k <= arc.num_nodes(); ++k) {
      for (const Tensor* t : {&tp.layers[k], &tp.qm[k], &tp.h[k], &tp.g[k]}) flat.push_back(*t);
    }
    ctx->saved_data["tape"] = flat;
    ctx->save_for_backward(std::vector<Tensor>(inputs.begin(), inputs.end()));
    return {all_s};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    SerialElementwise serial;
    const auto saved = ctx->get_saved_variables();
    const Tensor &xw = saved[0], &s0 = saved[1], &w_s = saved[2];
    const std::vector<Tensor> w_nodes(saved.begin() + 3, saved.end());
    const auto code = ctx->saved_data["code"].toIntVector();
    const rnn::Arc arc{std::vector<int>(code.begin(), code.end())};
    const Tensor mask =
        ctx->saved_data["mask"].isTensor() ? ctx->saved_data["mask"].toTensor() : Tensor();
    const int n = arc.num_nodes();
    const auto flat = ctx->saved_data["tape"].toTensorVector();
    const Tensor& all_s = flat[0];
    Tape tp;
    tp.sm = flat[1];
    tp.h0 = flat[2];
    tp.g0 = flat[3];
    for (int k = 0; k <= n; ++k) {
      tp.layers.push_back(flat[4 + 4 * k]);
      tp.qm.push_back(flat[5 + 4 * k]);
      tp.h.push_back(flat[6 + 4 * k]);
      tp.g.push_back(flat[7 + 4 * k]);
    }
    const int64_t t_len = xw.size(0), b = xw.size(1), h = w_s.size(0);
    const auto o = xw.options();
    const Tensor& d_all = grads[0];  // (T, B, H)
    const bool fused = own_highway_kernel(xw);
    const Tensor s_first = s0.contiguous();

    auto dpre0 = torch::empty({t_len, b, 2 * h}, o);
    std::vector<Tensor> dpre(n + 1);
    for (int k = 1; k <= n; ++k) dpre[k] = torch::empty({t_len, b, 2 * h}, o);
    std::vector<Tensor> dl(n + 1);
    for (auto& t : dl) t = torch::empty({b, h}, o);
    Tensor carry = torch::zeros({b, h}, o);  // d loss / d s_t through step t + 1
    Tensor dg = torch::empty({b, h}, o), tmp = torch::empty({b, h}, o);
    Tensor dq = torch::empty({b, h}, o);
    // (2H, H) each: the products below read the weights transposed, 1.1-1.2x faster from
    // rows stored so (oneDNN, (128, 400) x (400, 200)).
    std::vector<Tensor> w_t(n + 1);
    w_t[0] = w_s.t().contiguous();
    for (int k = 1; k <= n; ++k) w_t[k] = w_nodes[k - 1].t().contiguous();
    for (int64_t t = t_len - 1; t >= 0; --t) {
      // Each of nodes 1..N gets 1/N of the output's gradient.
      if (d_all.defined()) carry.add_(d_all[t]);
      carry.div_(static_cast<double>(n));
      for (int k = 1; k <= n; ++k) dl[k].copy_(carry);
      dl[0].zero_();
      for (int k = n; k >= 1; --k) {  // a node's gradient is complete once later ones are done
        const int p = arc.prev(k - 1);
        const Tensor &d = dl[k], q = tp.layers[p][t], hk = tp.h[k][t], gk = tp.g[k][t];
        if (fused) {
          node_backward(fptr(d), fptr(q), fptr(hk), fptr(gk), b, h, arc.func(k - 1),
                        fptr(dpre[k][t]), fptr(dl[p]), /*accumulate=*/true);
        } else {
          Tensor dh = dpre[k][t].narrow(1, 0, h), dgate = dpre[k][t].narrow(1, h, h);
          torch::mul_out(dg, d, gk);  // through the candidate: d g
          func_backward_out(dh, dg, hk, arc.func(k - 1));
          torch::sub_out(tmp, hk, q).mul_(d);  // through the gate: d (h - q)
          at::sigmoid_backward_out(dgate, tmp, gk);
          dl[p].add_(d).sub_(dg);  // the highway: d (1 - g)
        }
        if (mask.defined()) {
          enas::mm_out(dq, dpre[k][t], w_t[k]);
          dl[p].addcmul_(dq, mask);
        } else {
          enas::addmm_out(dl[p], dl[p], dpre[k][t], w_t[k]);  // the product adds in place
        }
      }
      const Tensor& d = dl[0];
      const Tensor s = t == 0 ? s_first : all_s[t - 1], h0 = tp.h0[t], g0 = tp.g0[t];
      if (fused) {
        node_backward(fptr(d), fptr(s), fptr(h0), fptr(g0), b, h, rnn::kTanh, fptr(dpre0[t]),
                      fptr(carry), /*accumulate=*/false);
      } else {
        Tensor dh = dpre0[t].narrow(1, 0, h), dgate = dpre0[t].narrow(1, h, h);
        torch::mul_out(dg, d, g0);
        at::tanh_backward_out(dh, dg, h0);
        torch::sub_out(tmp, h0, s).mul_(d);
        at::sigmoid_backward_out(dgate, tmp, g0);
        carry.copy_(d).sub_(dg);
      }
      if (mask.defined()) {
        enas::mm_out(dq, dpre0[t], w_t[0]);
        carry.addcmul_(dq, mask);
      } else {
        enas::addmm_out(carry, carry, dpre0[t], w_t[0]);
      }
    }
    // Every weight gradient as one product over all T * B rows. One entry per forward argument:
    // the list's tensors, then the mask and the code (no gradients).
    auto rows = [&](const Tensor& x) { return x.reshape({t_len * b, x.size(2)}); };
    variable_list out(saved.size() + 2);
    out[0] = dpre0;
    out[1] = carry;
    const Tensor sm =
        mask.defined() ? tp.sm : torch::cat({s0.unsqueeze(0), all_s.narrow(0, 0, t_len - 1)}, 0);
    out[2] = enas::mm(rows(sm).t(), rows(dpre0));
    for (int k = 1; k <= n; ++k) {
      const Tensor& qm = mask.defined() ? tp.qm[k] : tp.layers[arc.prev(k - 1)];
      out[2 + k] = enas::mm(rows(qm).t(), rows(dpre[k]));
    }
    return out;
  }
};

}  // namespace

Tensor rnn_cell_sequence(const Tensor& xw, const Tensor& s0, const Tensor& w_s,
                         const std::vector<Tensor>& w_nodes, const Tensor& mask,
                         const rnn::Arc& arc) {
  require(static_cast<int>(w_nodes.size()) == arc.num_nodes(),
          "rnn cell: {} node weights for {} nodes", w_nodes.size(), arc.num_nodes());
  RECORD_FUNCTION("enas::rnn_cell_sequence", std::vector<c10::IValue>({xw}));  // --profile
  SerialElementwise serial;
  bool needs_grad = false;
  if (torch::GradMode::is_enabled()) {
    for (const auto* t : {&xw, &s0, &w_s}) needs_grad |= t->requires_grad();
    for (const auto& w : w_nodes) needs_grad |= w.requires_grad();
  }
  if (!needs_grad) return run_forward(xw, s0, w_s, w_nodes, mask, arc, false).first;
  std::vector<Tensor> inputs{xw, s0, w_s};
  inputs.insert(inputs.end(), w_nodes.begin(), w_nodes.end());
  std::vector<int64_t> code(arc.code.begin(), arc.code.end());
  TorchOptional<Tensor> m;
  if (mask.defined()) m = mask;
  return CellFunction::apply(torch::TensorList(inputs), m, code)[0];
}

}  // namespace enas
