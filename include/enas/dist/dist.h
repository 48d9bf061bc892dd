#pragma once
/// Processes working as one (docs/distributed.md): where this process stands among them, read
/// from torchrun's environment, and the communication between them on libtorch's own engine,
/// c10d (TCPStore for the rendezvous; ProcessGroupGloo on the CPU, ProcessGroupNCCL where the
/// libtorch found has CUDA and the build enabled it). No transport of our own.
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace enas {

/// torchrun's variables: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT. Unset WORLD_SIZE (or 1) means one process, and nothing else is read.
struct DistEnv {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun's agent already serves the store at MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True):
  // every process, rank 0 included, connects to it as a client.
  bool agent_store = false;
  std::string run_key;  // keys of this start in a store that outlives it (torchrun's restarts)
  // ENAS_STORE_FILE: `enas launch` on one machine gives its processes a file in a folder of its
  // own (mode 0700) to meet through (c10d's FileStore), so that no port is opened for the store.
  std::string store_file;

  bool active() const { return world_size > 1; }
  /// Reads the environment; malformed or inconsistent values are an enas::Error naming the
  /// variable (e.g. RANK=2 with WORLD_SIZE=2).
  static DistEnv from_environment();
};

/// "auto" (nccl on CUDA, gloo on the CPU), "gloo" or "nccl", checked against `device` and this
/// build: the backend to use, or an enas::Error saying why not.
std::string resolve_backend(const std::string& requested, const torch::Device& device);

/// Whether this build can use NCCL (ENAS_WITH_NCCL, a libtorch with CUDA).
bool nccl_available();

/// A process group of `env.world_size` processes. Every collective waits at most the timeout;
/// a peer that died or hangs becomes an enas::Error saying so, never a silent hang.
class Dist {
 public:
  /// Meets the other processes at MASTER_ADDR:MASTER_PORT (rank 0 serves the store) and opens
  /// the group.
  Dist(const DistEnv& env, const std::string& backend, std::chrono::seconds timeout);
  ~Dist();
  Dist(const Dist&) = delete;
  Dist& operator=(const Dist&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const std::string& backend() const { return backend_; }

  /// Replaces every tensor by the mean of its values over the ranks. Tensors of one dtype and
  /// device are flattened into buckets of about `bucket_bytes` and reduced a bucket at a time,
  /// as PyTorch's DDP does: few large messages instead of one per tensor.
  void all_reduce_mean(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  /// Sums `t` over the ranks, in place.
  void all_reduce_sum(torch::Tensor& t);
  /// Rank `root`'s `t` on every rank.
  void broadcast(torch::Tensor& t, int root = 0);

 private:
  struct Impl;
  /// Runs a collective; what c10d throws becomes one enas::Error.
  template <typename F>
  void guarded(const char* what, F&& f);
  DistEnv env_;
  std::string backend_;
  std::chrono::seconds timeout_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace enas
