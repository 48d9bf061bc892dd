#pragma once
/// Process-wide settings every command applies first: threads, device, seeds. Also the one place
/// that hides differences between libtorch versions (1.13 from Debian, 2.x from a wheel).
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace enas {

/// Cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

/// Sets the intra-op threads of torch (OpenMP) and of OpenBLAS (its own pthreads, which torch
/// leaves alone): `threads`, or every available core when 0. Returns the count.
int set_threads(int threads);

/// Runs the enclosed ops on one OpenMP thread, matrix products still on every BLAS thread. For
/// loops of small elementwise ops between GEMMs (the recurrent cell): there, OpenMP's workers
/// wait for cores that OpenBLAS's spinning threads hold, and a 50 us op takes milliseconds
/// (measured on 2 cores: the hidden-800 cell ran 2.1x faster so).
class SerialElementwise {
 public:
  SerialElementwise();
  ~SerialElementwise();
  SerialElementwise(const SerialElementwise&) = delete;
  SerialElementwise& operator=(const SerialElementwise&) = delete;

 private:
  int saved_;
};

/// Parses "cpu", "cuda" or "cuda:N"; a CUDA device without CUDA is an enas::Error.
torch::Device parse_device(const std::string& name);

/// Waits for the device's queued work (no-op on CPU): for timings.
void synchronize(const torch::Device& device);

/// A seed derived from (seed, a, b) by splitmix64: independent streams per epoch and batch.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

/// The BLAS library torch runs on (read from /proc/self/maps), for benchmark reports.
std::string blas_library();

}  // namespace enas
