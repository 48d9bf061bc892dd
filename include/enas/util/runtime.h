#pragma once
/// Process-wide settings every command applies first: threads, device, seeds. Also the one place
/// that hides differences between libtorch versions (1.13 from Debian, 2.x from a wheel).
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdint>
#include <optional>
#include <string>

namespace enas {

/// libtorch's optional: its own class up to 2.3, then a deprecated alias of std::optional (whose
/// spelling warns in the newest). Autograd functions take optional tensors in this type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
template <typename T>
using TorchOptional = std::optional<T>;
#else
template <typename T>
using TorchOptional = c10::optional<T>;
#endif

/// Cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

/// Sets the intra-op threads of torch (OpenMP) and of OpenBLAS (its own pthreads, which torch
/// leaves alone): `threads`, or every available core when 0. Returns the count.
int set_threads(int threads);

/// Makes glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.
/// By default every block over 32 MB (a [160, 60, 32, 32] activation is 39 MB) comes from a fresh
/// mmap and is returned on free, so each training step pays page faults and zero-filling on
/// gigabytes (measured in four micro steps: 1.78M minor faults and 4.7 s of system time; with
/// this 0.95M and 2.2 s, 10-15% faster).
/// Does nothing when GLIBC_TUNABLES is set (the user's settings win) or without glibc.
void retain_freed_memory();

/// Runs the enclosed ops on one OpenMP thread, matrix products still on every BLAS thread. For
/// loops of small elementwise ops between GEMMs (the recurrent cell): there, OpenMP's workers
/// wait for cores that OpenBLAS's spinning threads hold, and a 50 us op takes milliseconds
/// (measured on 2 cores: the hidden-800 cell ran 2.1x faster so). Does nothing where the
/// products go through oneDNN (util/gemm.h), whose threads are OpenMP's own.
class SerialElementwise {
 public:
  SerialElementwise();
  ~SerialElementwise();
  SerialElementwise(const SerialElementwise&) = delete;
  SerialElementwise& operator=(const SerialElementwise&) = delete;

 private:
  int saved_;
  int outer_products_;  // product_threads() before this one
};

/// The threads a matrix product may use on this thread: torch's intra-op count, or inside a
/// SerialElementwise the count it saved (util/gemm.h runs oneDNN's products at it).
int product_threads();

/// Parses "cpu", "cuda" or "cuda:N"; a CUDA device without CUDA is an enas::Error.
torch::Device parse_device(const std::string& name);

/// Waits for the device's queued work (no-op on CPU): for timings.
void synchronize(const torch::Device& device);

/// A seed derived from (seed, a, b) by splitmix64: independent streams per epoch and batch.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

/// Writes the state of torch's default generators (the CPU one, and `device`'s when it is a GPU)
/// into `archive`: a checkpoint written mid-epoch then continues dropout and drop-path exactly.
void save_rng_state(torch::serialize::OutputArchive& archive, const torch::Device& device);

/// Restores what save_rng_state wrote; returns false (changing nothing) when it is absent.
bool load_rng_state(torch::serialize::InputArchive& archive, const torch::Device& device);

/// The BLAS library torch runs on (read from /proc/self/maps), for benchmark reports.
std::string blas_library();

}  // namespace enas
