// The roofline of `enas bench`: the machine's two roofs, measured rather than assumed, and each
// benchmark's step set against them (docs/performance.md states the counting rules).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "cli.h"
#include "enas/util/gemm.h"
#include "enas/util/op_profile.h"
#include "enas/util/runtime.h"

namespace enas::cli {

namespace {

using Clock = std::chrono::steady_clock;

/// The shortest of `reps` timed runs of `f` after one untimed run, in seconds.
double best_seconds(int reps, torch::Device device, const std::function<void()>& f) {
  f();
  synchronize(device);
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    synchronize(device);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

MachineLimits measure_machine(torch::Device device, nlohmann::json* record) {
  torch::NoGradGuard no_grad;
  const auto opts = torch::TensorOptions().device(device);
  // An SGEMM large enough to reach its peak (2048 takes ~0.05 s on 2 cores), through the products
  // the LM uses (util/gemm.h: oneDNN's where the process has it, libtorch's otherwise).
  const int64_t n = device.is_cpu() ? 2048 : 8192;
  const torch::Tensor a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
  torch::Tensor c = torch::empty({n, n}, opts);
  const double sgemm = 2.0 * n * n * n / best_seconds(5, device, [&] { enas::mm_out(c, a, b); });
  // A channels-last 1x1 convolution, a GEMM of oneDNN's, is the other candidate for the peak, at
  // two shapes where it runs fastest here (1.8x the SGEMM of Debian's OpenBLAS 0.3.21, which
  // runs AVX2 kernels on this AVX-512 machine).
  double conv = 0;
  if (device.is_cpu()) {
    for (const auto& [rows, cin, cout, hw] :
         {std::array<int64_t, 4>{160, 512, 128, 8}, std::array<int64_t, 4>{64, 256, 256, 16}}) {
      const auto x =
          torch::randn({rows, cin, hw, hw}, opts).contiguous(torch::MemoryFormat::ChannelsLast);
      const auto w =
          torch::randn({cout, cin, 1, 1}, opts).contiguous(torch::MemoryFormat::ChannelsLast);
      const double flops = 2.0 * rows * hw * hw * cin * cout;
      conv = std::max(conv, flops / best_seconds(5, device, [&] { torch::conv2d(x, w); }));
    }
  }
  // A triad over arrays far beyond the last-level cache: 3 x 128 MiB on the CPU.
  const int64_t m = device.is_cpu() ? (int64_t{1} << 25) : (int64_t{1} << 28);
  const torch::Tensor x = torch::randn({m}, opts), y = torch::randn({m}, opts);
  torch::Tensor z = torch::empty({m}, opts);
  const double triad_s = best_seconds(10, device, [&] { torch::add_out(z, x, y, 0.5); });
  MachineLimits limits;
  limits.gflop_per_s = std::max(sgemm, conv) / 1e9;
  limits.gb_per_s = 3.0 * 4.0 * static_cast<double>(m) / triad_s / 1e9;  // read x, y; write z
  if (record) {
    *record = {{"threads", torch::get_num_threads()},    {"sgemm_n", n},
               {"sgemm_gflop_per_s", sgemm / 1e9},       {"conv1x1_gflop_per_s", conv / 1e9},
               {"peak_gflop_per_s", limits.gflop_per_s}, {"triad_elements", m},
               {"triad_gb_per_s", limits.gb_per_s}};
  }
  return limits;
}

nlohmann::json roofline_record(int n, const std::function<void(int)>& replay, double median_s,
                               const MachineLimits& limits, torch::Device device) {
  OpProfile profile;
  synchronize(device);
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) replay(i);
  synchronize(device);
  const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  OpCost step = profile.total_cost();
  step.flops /= n;
  step.bytes /= n;
  const double bound_s = roofline_seconds(step, limits);
  return {{"gflop_per_step", step.flops / 1e9},
          {"gbyte_per_step", step.bytes / 1e9},
          {"gflop_per_s", step.flops / median_s / 1e9},
          {"gb_per_s", step.bytes / median_s / 1e9},
          {"bound_s", bound_s},
          {"bound", roofline_bound(step, limits)},
          {"fraction_of_roofline", bound_s / median_s},
          // The share of the counted steps' time inside the operators the rules cover: the rest
          // is overhead (copies, fills, concatenations, the framework).
          {"counted_time_share", wall_ms > 0 ? profile.costed_ms() / wall_ms : 0.0}};
}

std::string roofline_summary(const nlohmann::json& r) {
  return fmt::format(
      "{:.1f} GFLOP and {:.2f} GB a step, {:.1f} GFLOP/s, {:.0f}% of the roofline ({})",
      r["gflop_per_step"].get<double>(), r["gbyte_per_step"].get<double>(),
      r["gflop_per_s"].get<double>(), 100.0 * r["fraction_of_roofline"].get<double>(),
      r["bound"].get<std::string>());
}

}  // namespace enas::cli
