#include "enas/child/linear_xent.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cmath>
#include <mutex>
#include <vector>

#include "enas/child/softmax_rows.h"
#include "enas/util/error.h"
#include "enas/util/gemm.h"

namespace enas {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Rows per task of at::parallel_for: a few vocabulary-long rows are enough to pay for a task.
int64_t grain_rows(int64_t v) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(v, 1)); }

/// The (N, V) logits' memory, kept from one step to the next. A fresh (4480, 10,000) tensor each
/// step made its GEMM 1.35x slower (238 ms against 176 ms into memory already touched): the
/// kernel's first writes to new pages pay for the faults. Reused only while nobody else holds it
/// (a backward not yet run still does).
Tensor logits_buffer(int64_t n, int64_t v, const torch::TensorOptions& options) {
  static std::mutex mutex;
  static Tensor cached;
  std::lock_guard<std::mutex> lock(mutex);
  if (!cached.defined() || cached.use_count() != 1 || cached.size(0) != n || cached.size(1) != v) {
    cached = torch::empty({n, v}, options);
  }
  return cached;
}

class LinearXentFunction : public torch::autograd::Function<LinearXentFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& h, const Tensor& w,
                        const Tensor& target) {
    // (N, V) logits; exp(logit - row max) once the loop is done
    Tensor probs = logits_buffer(h.size(0), w.size(0), h.options());
    enas::mm_out(probs, h, w.t());
    const int64_t n = probs.size(0), v = probs.size(1);
    const int64_t* t = target.data_ptr<int64_t>();
    Tensor inv_sum = torch::empty({n}, probs.options());  // (N) 1 / sum_j exp(logit_j - max)
    std::vector<double> row_loss(n);
    float* p = probs.data_ptr<float>();
    float* inv = inv_sum.data_ptr<float>();
    {
      RECORD_FUNCTION("enas::softmax_rows", std::vector<c10::IValue>({probs}));  // --profile
      at::parallel_for(0, n, grain_rows(v), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          float* row = p + i * v;
          const float m = softmax_rows::max(row, v);
          const float target_logit = row[t[i]];
          const double sum = softmax_rows::exp_shifted(row, v, m);
          row_loss[i] = static_cast<double>(m) + std::log(sum) - static_cast<double>(target_logit);
          inv[i] = static_cast<float>(1.0 / sum);
        }
      });
    }
    double total = 0;  // in row order: the same loss whatever the thread count
    for (double l : row_loss) total += l;
    ctx->save_for_backward({h, w});
    ctx->saved_data["probs"] = probs;
    ctx->saved_data["inv_sum"] = inv_sum;
    ctx->saved_data["target"] = target;
    return torch::full({}, total / static_cast<double>(n), probs.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    require(ctx->saved_data.count("spent") == 0,
            "linear_cross_entropy: a second backward through the same forward (its softmax "
            "became the first backward's gradient)");
    ctx->saved_data["spent"] = true;
    if (!grad_out[0].defined()) return {Tensor(), Tensor(), Tensor()};
    const auto saved = ctx->get_saved_variables();
    const Tensor &h = saved[0], &w = saved[1];
    Tensor probs = ctx->saved_data["probs"].toTensor();
    const Tensor inv_sum = ctx->saved_data["inv_sum"].toTensor();
    const Tensor target = ctx->saved_data["target"].toTensor();
    const int64_t n = probs.size(0), v = probs.size(1);
    // d mean_i loss_i / d logit_ij = (softmax_ij - [j == target_i]) / N, times the upstream.
    const double g = grad_out[0].item<double>() / static_cast<double>(n);
    const int64_t* t = target.data_ptr<int64_t>();
    const float* inv = inv_sum.data_ptr<float>();
    float* p = probs.data_ptr<float>();
    {
      RECORD_FUNCTION("enas::softmax_rows_backward", std::vector<c10::IValue>({probs}));
      at::parallel_for(0, n, grain_rows(v), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          softmax_rows::scale(p + i * v, v, static_cast<float>(g * inv[i]));
          p[i * v + t[i]] -= static_cast<float>(g);
        }
      });
    }
    Tensor grad_h = ctx->needs_input_grad(0) ? enas::mm(probs, w) : Tensor();      // (N, H)
    Tensor grad_w = ctx->needs_input_grad(1) ? enas::mm(probs.t(), h) : Tensor();  // (V, H)
    ctx->saved_data.erase("probs");  // 4 N V bytes: not held until the graph is freed
    return {grad_h, grad_w, Tensor()};
  }
};

}  // namespace

bool own_linear_xent_kernel(const torch::Tensor& h, const torch::Tensor& w) {
  return h.device().is_cpu() && w.device().is_cpu() && h.scalar_type() == torch::kFloat &&
         w.scalar_type() == torch::kFloat;
}

torch::Tensor linear_cross_entropy(const torch::Tensor& h, const torch::Tensor& w,
                                   const torch::Tensor& target) {
  require(h.dim() == 2 && w.dim() == 2 && h.size(1) == w.size(1),
          "linear_cross_entropy: h {} and w {} must be (N, H) and (V, H)", c10::str(h.sizes()),
          c10::str(w.sizes()));
  require(target.dim() == 1 && target.size(0) == h.size(0) && target.scalar_type() == torch::kLong,
          "linear_cross_entropy: target {} must be N = {} int64 ids", c10::str(target.sizes()),
          h.size(0));
  require(h.size(0) > 0 && w.size(0) > 0, "linear_cross_entropy: no rows ({}) or no classes ({})",
          h.size(0), w.size(0));
  if (!own_linear_xent_kernel(h, w)) {
    return torch::nn::functional::cross_entropy(h.mm(w.t()), target);
  }
  RECORD_FUNCTION("enas::linear_cross_entropy", std::vector<c10::IValue>({h}));  // --profile
  const Tensor ids = target.contiguous();
  const auto [lo, hi] = ids.aminmax();
  require(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < w.size(0),
          "linear_cross_entropy: a target is outside [0, {})", w.size(0));
  return LinearXentFunction::apply(h, w, ids);
}

}  // namespace enas
