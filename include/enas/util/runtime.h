#pragma once
/// Process-wide settings every command applies first: threads, device, seeds. Also the one place
/// that hides differences between libtorch versions (1.13 from Debian, 2.x from a wheel).
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace enas {

/// Cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

/// Sets torch's intra-op threads: `threads`, or every available core when 0. Returns the count.
int set_threads(int threads);

/// Parses "cpu", "cuda" or "cuda:N"; a CUDA device without CUDA is an enas::Error.
torch::Device parse_device(const std::string& name);

/// Waits for the device's queued work (no-op on CPU): for timings.
void synchronize(const torch::Device& device);

/// A seed derived from (seed, a, b) by splitmix64: independent streams per epoch and batch.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

/// The BLAS library torch runs on (read from /proc/self/maps), for benchmark reports.
std::string blas_library();

}  // namespace enas
