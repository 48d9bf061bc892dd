#include "enas/util/runtime.h"

#include <dlfcn.h>
#include <sched.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <ATen/CPUGeneratorImpl.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>

#include "enas/util/error.h"
#include "enas/util/gemm.h"

namespace enas {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int set_threads(int threads) {
  // libtorch 1.13 starts with half the cores; we want all of them unless told otherwise.
  int n = threads > 0 ? threads : available_cores();
  torch::set_num_threads(n);
  // Looked up at run time: present with OpenBLAS, absent (and not needed) with other BLAS.
  using SetBlasThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(n);
  }
  return n;
}

void retain_freed_memory() {
#if defined(__GLIBC__)
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  // Every block from the heap, whatever its size (the threshold cannot go past 32 MB). glibc
  // still falls back to mmap where the heap cannot grow.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());  // never shrink the heap
  mallopt(M_TOP_PAD, 64 << 20);                                // grow it in 64 MB steps
#endif
}

namespace {
thread_local int t_product_threads = 0;  // 0: torch's intra-op count
}  // namespace

SerialElementwise::SerialElementwise()
    : saved_(torch::get_num_threads()), outer_products_(t_product_threads) {
  if (t_product_threads == 0) t_product_threads = saved_;
  // Products on oneDNN run on OpenMP's workers too: no BLAS threads to wait for, and the
  // elementwise work keeps every core (LM search step 12.2-12.6k -> 13.9-14.0k tokens/s).
  if (onednn_gemm_available()) {
    saved_ = 1;
    return;
  }
  if (saved_ != 1) torch::set_num_threads(1);
}

SerialElementwise::~SerialElementwise() {
  if (saved_ != 1) torch::set_num_threads(saved_);
  t_product_threads = outer_products_;
}

int product_threads() {
  return t_product_threads > 0 ? t_product_threads : torch::get_num_threads();
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  require(name.rfind("cuda", 0) == 0, "--device is '{}', allowed: cpu, cuda, cuda:N", name);
  require(torch::cuda::is_available(),
          "--device {}: this build of libtorch has no CUDA or no GPU is visible; use --device cpu",
          name);
  try {
    torch::Device device(name);
    require(device.index() < static_cast<int>(torch::cuda::device_count()),
            "--device {}: only {} CUDA device(s) visible", name, torch::cuda::device_count());
    return device;
  } catch (const c10::Error&) {
    fail("--device '{}' is not a device name (cpu, cuda, cuda:N)", name);
  }
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  auto splitmix = [](uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  return splitmix(splitmix(splitmix(seed) ^ a) ^ b);
}

std::string blas_library() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> libs;
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.rfind('/');
    if (slash == std::string::npos) continue;
    std::string name = line.substr(slash + 1);
    if (name.find("blas") != std::string::npos) libs.insert(name);
  }
  std::string out;
  for (const auto& l : libs) out += (out.empty() ? "" : ",") + l;
  return out.empty() ? "none" : out;
}

void save_rng_state(torch::serialize::OutputArchive& archive, const torch::Device& device) {
  auto save = [&](at::Generator gen, const char* key) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write(key, gen.get_state(), /*is_buffer=*/true);
  };
  save(at::detail::getDefaultCPUGenerator(), "torch_rng_cpu");
  if (device.is_cuda()) save(at::globalContext().defaultGenerator(device), "torch_rng_device");
}

bool load_rng_state(torch::serialize::InputArchive& archive, const torch::Device& device) {
  auto load = [&](at::Generator gen, const char* key) {
    torch::Tensor state;
    if (!archive.try_read(key, state, /*is_buffer=*/true)) return false;
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
    return true;
  };
  bool ok = load(at::detail::getDefaultCPUGenerator(), "torch_rng_cpu");
  if (ok && device.is_cuda()) {
    ok = load(at::globalContext().defaultGenerator(device), "torch_rng_device");
  }
  return ok;
}

}  // namespace enas
