#include "enas/child/batch_norm.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "enas/util/error.h"

namespace enas {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Sums are taken in float over blocks of this many rows, then added into double: the inner loop
// stays vectorised and a sum over 160k rows keeps double precision.
constexpr int64_t kBlockRows = 64;

/// Two per-channel sums over the rows of a row-major (M, C) matrix: `row(m, f1, f2)` adds row m's
/// terms into the float buffers f1 and f2 ([C] each). The rows are split into one range per
/// thread, fixed by M and the thread count, so the result is reproducible.
template <typename Row>
std::pair<std::vector<double>, std::vector<double>> channel_sums(int64_t M, int64_t C,
                                                                 const Row& row) {
  const int64_t ranges = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), M / 1024));
  std::vector<double> partial(2 * ranges * C, 0.0);  // [range][sum][C]
  at::parallel_for(0, ranges, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> f1(C), f2(C);
    for (int64_t i = begin; i < end; ++i) {
      double* s1 = partial.data() + 2 * i * C;
      double* s2 = s1 + C;
      const int64_t r1 = M * (i + 1) / ranges;
      for (int64_t b0 = M * i / ranges; b0 < r1; b0 += kBlockRows) {
        std::fill(f1.begin(), f1.end(), 0.f);
        std::fill(f2.begin(), f2.end(), 0.f);
        for (int64_t m = b0; m < std::min(r1, b0 + kBlockRows); ++m) row(m, f1.data(), f2.data());
        for (int64_t c = 0; c < C; ++c) {
          s1[c] += f1[c];
          s2[c] += f2[c];
        }
      }
    }
  });
  std::pair<std::vector<double>, std::vector<double>> out{std::vector<double>(C, 0.0),
                                                          std::vector<double>(C, 0.0)};
  for (int64_t i = 0; i < ranges; ++i) {
    for (int64_t c = 0; c < C; ++c) {
      out.first[c] += partial[2 * i * C + c];
      out.second[c] += partial[(2 * i + 1) * C + c];
    }
  }
  return out;
}

/// y = x * a[c] + b[c] over a row-major (M, C) matrix; with `relu`, max(that, 0).
void affine_rows(const float* __restrict x, const float* __restrict a, const float* __restrict b,
                 float* __restrict y, int64_t M, int64_t C, bool relu) {
  at::parallel_for(0, M, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t m = r0; m < r1; ++m) {
      const float* __restrict xr = x + m * C;
      float* __restrict yr = y + m * C;
      if (relu) {
        for (int64_t c = 0; c < C; ++c) yr[c] = std::max(xr[c] * a[c] + b[c], 0.f);
      } else {
        for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * a[c] + b[c];
      }
    }
  });
}

/// The gradient that reaches the batch norm through a fused ReLU: g where the BN's output
/// x * a + b (recomputed, the same expression as the forward's) was positive, else 0.
inline float through_relu(float g, float x, float a, float b) { return x * a + b > 0.f ? g : 0.f; }

/// The kernel's autograd node. Saves x, mean, invstd and weight; the backward is the usual
/// dx = w * invstd * (g - mean(g) - xhat * mean(g * xhat)), two passes over (g, x). With `relu`
/// the output is max(y, 0), and the backward masks g in the same two passes (the scale and
/// shift are saved to recompute y's sign): the ReLU's own pass each way is gone.
class BatchNormFunction : public torch::autograd::Function<BatchNormFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& input, const Tensor& weight,
                               const Tensor& bias, double eps, bool relu) {
    const int64_t C = input.size(1);
    const int64_t M = input.numel() / C;
    const Tensor x = input.contiguous(torch::MemoryFormat::ChannelsLast);
    const float* xp = x.data_ptr<float>();

    // Statistics of x - x[0]: shifting by a sample of the data keeps E[d^2] - E[d]^2 accurate
    // when the mean is large against the spread.
    const auto [s1, s2] = channel_sums(M, C, [&](int64_t m, float* f1, float* f2) {
      const float* __restrict xr = xp + m * C;
      for (int64_t c = 0; c < C; ++c) {
        const float d = xr[c] - xp[c];
        f1[c] += d;
        f2[c] += d * d;
      }
    });
    // Per channel: d = mean - x[0] and the biased variance, in double.
    std::vector<double> shift_mean(C), variance(C);
    double rows = static_cast<double>(M);
    if (batch_norm_reducer()) {
      // Sync BN: the whole batch's moments. Each process's sums about zero, in double, are
      // summed across the processes (one message: sum x, sum x^2, rows).
      std::vector<double> t(2 * C + 1);
      for (int64_t c = 0; c < C; ++c) {
        const double local = xp[c] + s1[c] / M;
        t[c] = local * M;
        t[C + c] = s2[c] - s1[c] * s1[c] / M + local * local * M;
      }
      t[2 * C] = rows;
      batch_norm_reducer()(t);
      rows = t[2 * C];
      for (int64_t c = 0; c < C; ++c) {
        const double m = t[c] / rows;
        shift_mean[c] = m - xp[c];
        variance[c] = std::max(0.0, t[C + c] / rows - m * m);
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const double d = s1[c] / M;
        shift_mean[c] = d;
        variance[c] = std::max(0.0, s2[c] / M - d * d);
      }
    }
    auto f32 = torch::TensorOptions().dtype(torch::kFloat);
    Tensor mean = torch::empty({C}, f32), var = torch::empty({C}, f32);
    Tensor invstd = torch::empty({C}, f32);
    Tensor scale = torch::empty({C}, f32), shift = torch::empty({C}, f32);
    const Tensor w = weight.detach().contiguous(), b = bias.detach().contiguous();
    float *mp = mean.data_ptr<float>(), *vp = var.data_ptr<float>();
    float *ip = invstd.data_ptr<float>(), *sp = scale.data_ptr<float>();
    float* hp = shift.data_ptr<float>();
    const float *wp = w.data_ptr<float>(), *bp = b.data_ptr<float>();
    for (int64_t c = 0; c < C; ++c) {
      const double v = variance[c];
      const double m = xp[c] + shift_mean[c], is = 1.0 / std::sqrt(v + eps);
      mp[c] = static_cast<float>(m);
      vp[c] = static_cast<float>(v);
      ip[c] = static_cast<float>(is);
      sp[c] = static_cast<float>(wp[c] * is);
      hp[c] = static_cast<float>(bp[c] - m * wp[c] * is);
    }
    Tensor y = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
    affine_rows(xp, sp, hp, y.data_ptr<float>(), M, C, relu);

    Tensor count = torch::full({}, rows, torch::kDouble);  // rows of the (whole) batch
    ctx->mark_non_differentiable({mean, var, count});
    ctx->save_for_backward({x, w, mean, invstd, count});
    if (relu) {
      ctx->saved_data["scale"] = scale;
      ctx->saved_data["shift"] = shift;
    }
    return {y, mean, var, count};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& x = saved[0];
    const bool relu = ctx->saved_data.count("scale") > 0;
    RECORD_FUNCTION(relu ? "enas::batch_norm_relu_backward" : "enas::batch_norm_backward",
                    std::vector<c10::IValue>({grads[0], x}));
    const Tensor& w = saved[1];
    const Tensor& mean = saved[2];
    const Tensor& invstd = saved[3];
    const double rows = saved[4].item<double>();
    const Tensor g = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    const int64_t C = x.size(1);
    const int64_t M = x.numel() / C;
    const float* xp = x.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    const float* mp = mean.data_ptr<float>();
    const Tensor scale = relu ? ctx->saved_data["scale"].toTensor() : Tensor();
    const Tensor shift = relu ? ctx->saved_data["shift"].toTensor() : Tensor();
    const float* sp = relu ? scale.data_ptr<float>() : nullptr;
    const float* hp = relu ? shift.data_ptr<float>() : nullptr;

    const auto [sum_g, sum_gx] = channel_sums(M, C, [&](int64_t m, float* f1, float* f2) {
      const float* __restrict xr = xp + m * C;
      const float* __restrict gr = gp + m * C;
      if (relu) {
        for (int64_t c = 0; c < C; ++c) {
          const float g = through_relu(gr[c], xr[c], sp[c], hp[c]);
          f1[c] += g;
          f2[c] += g * (xr[c] - mp[c]);
        }
      } else {
        for (int64_t c = 0; c < C; ++c) {
          f1[c] += gr[c];
          f2[c] += gr[c] * (xr[c] - mp[c]);
        }
      }
    });
    // Sync BN: dx needs the whole batch's sums; the weight's and bias's gradients stay this
    // process's own (the gradient all-reduce averages them with the others').
    std::vector<double> global_g = sum_g, global_gx = sum_gx;
    if (batch_norm_reducer()) {
      std::vector<double> t(sum_g);
      t.insert(t.end(), sum_gx.begin(), sum_gx.end());
      batch_norm_reducer()(t);
      global_g.assign(t.begin(), t.begin() + C);
      global_gx.assign(t.begin() + C, t.end());
    }
    auto f32 = torch::TensorOptions().dtype(torch::kFloat);
    Tensor grad_w = torch::empty({C}, f32), grad_b = torch::empty({C}, f32);
    std::vector<float> k(C), a(C), b0(C);
    const float *wp = w.data_ptr<float>(), *ip = invstd.data_ptr<float>();
    float *gwp = grad_w.data_ptr<float>(), *gbp = grad_b.data_ptr<float>();
    for (int64_t c = 0; c < C; ++c) {
      const double sg = global_g[c], sgx = global_gx[c];
      const double is = ip[c], kc = wp[c] * is, ac = -kc * is * is * sgx / rows;
      gwp[c] = static_cast<float>(sum_gx[c] * is);
      gbp[c] = static_cast<float>(sum_g[c]);
      k[c] = static_cast<float>(kc);
      a[c] = static_cast<float>(ac);
      // dx = g k - (x - mean) k is^2 sgx/M - k sg/M, with the mean folded into the constant.
      b0[c] = static_cast<float>(-kc * sg / rows - ac * mp[c]);
    }
    Tensor gx = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
    const float *kp = k.data(), *ap = a.data(), *bp = b0.data();
    float* op = gx.data_ptr<float>();
    at::parallel_for(0, M, 256, [&](int64_t r0, int64_t r1) {
      for (int64_t m = r0; m < r1; ++m) {
        const float* __restrict xr = xp + m * C;
        const float* __restrict gr = gp + m * C;
        float* __restrict o = op + m * C;
        if (relu) {
          for (int64_t c = 0; c < C; ++c)
            o[c] = through_relu(gr[c], xr[c], sp[c], hp[c]) * kp[c] + xr[c] * ap[c] + bp[c];
        } else {
          for (int64_t c = 0; c < C; ++c) o[c] = gr[c] * kp[c] + xr[c] * ap[c] + bp[c];
        }
      }
    });
    return {gx, grad_w, grad_b, Tensor(), Tensor()};
  }
};

}  // namespace

bool own_batch_norm_kernel(const torch::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4 &&
         x.numel() > x.size(1) && !x.is_contiguous() &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

namespace {
/// With a reducer set, every float CPU batch goes through our kernel, whatever its layout: a
/// batch norm left to libtorch would normalise this process's part alone, silently.
bool synced_here(const torch::Tensor& x) {
  return batch_norm_reducer() && x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
         x.dim() == 4;
}

ChannelSumReducer& reducer_slot() {
  static ChannelSumReducer reducer;
  return reducer;
}
}  // namespace

void set_batch_norm_reducer(ChannelSumReducer reducer) { reducer_slot() = std::move(reducer); }
const ChannelSumReducer& batch_norm_reducer() { return reducer_slot(); }

namespace {
torch::Tensor batch_stats(const torch::Tensor& x, const torch::Tensor& weight,
                          const torch::Tensor& bias, double eps, torch::Tensor* mean,
                          torch::Tensor* var, double* rows, bool relu) {
  require(!batch_norm_reducer() || synced_here(x),
          "sync batch norm runs on float CPU tensors so far (got {} {}); pass --nosync_bn to "
          "normalise each process's part on its own",
          x.device().str(), c10::toString(x.scalar_type()));
  if (rows) *rows = static_cast<double>(x.numel() / x.size(1));
  if (own_batch_norm_kernel(x) || synced_here(x)) {
    RECORD_FUNCTION(relu ? "enas::batch_norm_relu" : "enas::batch_norm",
                    std::vector<c10::IValue>({x}));  // for --profile
    // The autograd node takes defined tensors only: no affine transform is weight 1, bias 0.
    const int64_t c = x.size(1);
    auto out = BatchNormFunction::apply(x, weight.defined() ? weight : torch::ones({c}),
                                        bias.defined() ? bias : torch::zeros({c}), eps, relu);
    if (mean) *mean = out[1].detach();
    if (var) *var = out[2].detach();
    if (rows) *rows = out[3].item<double>();
    // The kernel works in channels-last memory; a contiguous caller gets its layout back.
    return x.is_contiguous(torch::MemoryFormat::ChannelsLast) ? out[0] : out[0].contiguous();
  }
  if (mean || var) {
    torch::NoGradGuard guard;
    auto [v, m] = torch::var_mean(x.detach(), {0, 2, 3}, /*unbiased=*/false);
    if (mean) *mean = m;
    if (var) *var = v;
  }
  torch::Tensor y = torch::batch_norm(x, weight, bias, /*running_mean=*/{}, /*running_var=*/{},
                                      /*training=*/true, /*momentum=*/0.1, eps,
                                      at::globalContext().userEnabledCuDNN());
  return relu ? torch::relu_(y) : y;  // the BN output has no other reader
}
}  // namespace

torch::Tensor batch_norm_batch_stats(const torch::Tensor& x, const torch::Tensor& weight,
                                     const torch::Tensor& bias, double eps, torch::Tensor* mean,
                                     torch::Tensor* var, double* rows) {
  return batch_stats(x, weight, bias, eps, mean, var, rows, /*relu=*/false);
}

torch::Tensor batch_norm_relu_batch_stats(const torch::Tensor& x, const torch::Tensor& weight,
                                          const torch::Tensor& bias, double eps,
                                          torch::Tensor* mean, torch::Tensor* var, double* rows) {
  return batch_stats(x, weight, bias, eps, mean, var, rows, /*relu=*/true);
}

BatchNormImpl::BatchNormImpl(const torch::nn::BatchNorm2dOptions& options) : options(options) {
  reset();
}

void BatchNormImpl::reset() {
  const int64_t c = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
}

void BatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "enas::BatchNorm(" << options.num_features() << ", eps=" << options.eps()
         << ", affine=" << options.affine()
         << ", track_running_stats=" << options.track_running_stats() << ")";
}

torch::Tensor BatchNormImpl::forward(const torch::Tensor& x) { return run(x, /*relu=*/false); }

torch::Tensor BatchNormImpl::forward_relu(const torch::Tensor& x) { return run(x, /*relu=*/true); }

torch::Tensor BatchNormImpl::run(const torch::Tensor& x, bool relu) {
  require(x.dim() == 4, "batch norm: expected a (B, C, H, W) input, got {} dimensions", x.dim());
  const bool tracking = options.track_running_stats();
  if (!is_training() && tracking) {
    torch::Tensor y = torch::batch_norm(x, weight, bias, running_mean, running_var,
                                        /*training=*/false, /*momentum=*/0.0, options.eps(),
                                        at::globalContext().userEnabledCuDNN());
    return relu ? torch::relu_(y) : y;
  }
  if (!tracking)
    return batch_stats(x, weight, bias, options.eps(), nullptr, nullptr, nullptr, relu);
  double momentum = 0.0;
  {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    // torch's rule: a fixed momentum, or a cumulative average when none is set.
    momentum = options.momentum().has_value() ? *options.momentum()
                                              : 1.0 / num_batches_tracked.item<double>();
  }
  if (!own_batch_norm_kernel(x) && !batch_norm_reducer()) {
    torch::Tensor y =
        torch::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true, momentum,
                          options.eps(), at::globalContext().userEnabledCuDNN());
    return relu ? torch::relu_(y) : y;
  }
  torch::Tensor mean, var;
  double n = 0;  // rows of the batch (of all processes' parts, with sync batch norm)
  torch::Tensor y = batch_stats(x, weight, bias, options.eps(), &mean, &var, &n, relu);
  torch::NoGradGuard no_grad;
  running_mean.mul_(1.0 - momentum).add_(mean, momentum);
  running_var.mul_(1.0 - momentum).add_(var, momentum * n / std::max(1.0, n - 1.0));
  return y;
}

SyncBatchNorm::SyncBatchNorm(const Team& team, const torch::Device& device) {
  if (!team.sync_bn()) return;
  require(device.is_cpu(),
          "sync batch norm runs on the CPU so far (here: {}); pass --nosync_bn (each process "
          "normalises its own part of the batch)",
          device.str());
  set_batch_norm_reducer([team](std::vector<double>& sums) { team.sum(sums); });
  active_ = true;
}

SyncBatchNorm::~SyncBatchNorm() {
  if (active_) set_batch_norm_reducer({});
}

}  // namespace enas
