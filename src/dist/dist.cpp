#include "enas/dist/dist.h"

// c10d declares its Gloo (and NCCL) groups only when told the build has them; Debian's libtorch
// and the PyTorch wheels both ship ProcessGroupGloo.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#if defined(ENAS_WITH_NCCL) && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL 1
#endif
#include <fmt/format.h>
#include <torch/version.h>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ENAS_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

#include "enas/util/error.h"

namespace enas {

namespace {

/// An integer environment variable, or `fallback` when unset; anything else is an error.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  require(*end == '\0' && x >= 0 && x <= 1 << 20, "{}={} is not a whole number", name, v);
  return static_cast<int>(x);
}

}  // namespace

DistEnv DistEnv::from_environment() {
  DistEnv e;
  e.world_size = env_int("WORLD_SIZE", 1);
  require(e.world_size >= 1, "WORLD_SIZE=0: at least one process is needed");
  if (!e.active()) return e;
  require(std::getenv("RANK") != nullptr,
          "WORLD_SIZE={} but RANK is not set (start the "
          "processes with `enas launch` or torchrun)",
          e.world_size);
  e.rank = env_int("RANK", 0);
  require(e.rank < e.world_size, "RANK={} with WORLD_SIZE={}: ranks run from 0 to {}", e.rank,
          e.world_size, e.world_size - 1);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", e.world_size);
  e.local_rank = env_int("LOCAL_RANK", e.rank % std::max(1, e.local_world_size));
  require(e.local_rank < e.local_world_size, "LOCAL_RANK={} with LOCAL_WORLD_SIZE={}", e.local_rank,
          e.local_world_size);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", e.master_port);
  require(e.master_port > 0 && e.master_port < 65536, "MASTER_PORT={} is not a port",
          e.master_port);
  if (const char* a = std::getenv("TORCHELASTIC_USE_AGENT_STORE")) {
    e.agent_store = std::string(a) == "True";
  }
  if (const char* n = std::getenv("TORCHELASTIC_RESTART_COUNT")) e.run_key = n;
  if (const char* f = std::getenv("ENAS_STORE_FILE"); f && *f && !e.agent_store) {
    e.store_file = f;
    require(e.store_file.front() == '/', "ENAS_STORE_FILE={} is not an absolute path",
            e.store_file);
  }
  return e;
}

bool nccl_available() {
#ifdef ENAS_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string resolve_backend(const std::string& requested, const torch::Device& device) {
  require(requested == "auto" || requested == "gloo" || requested == "nccl",
          "--dist_backend {}: expected auto, gloo or nccl", requested);
  std::string b = requested;
  if (b == "auto") b = device.is_cuda() && nccl_available() ? "nccl" : "gloo";
  require(b != "nccl" || nccl_available(),
          "--dist_backend nccl: this build has no NCCL (it needs a libtorch with CUDA and "
          "-DENAS_WITH_NCCL=ON); use gloo");
  require(b != "nccl" || device.is_cuda(), "--dist_backend nccl needs --device cuda");
  return b;
}

struct Dist::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef ENAS_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  /// Runs `f` on the group for tensors on a GPU (`cuda`: NCCL when open) or on the host (Gloo,
  /// always open: the small sums and texts of a NCCL run live on the host) and waits for it.
  template <typename F>
  void run(bool cuda, F&& f) {
#ifdef ENAS_WITH_NCCL
    if (cuda && nccl) return (void)f(*nccl)->wait();
#endif
    f(*gloo)->wait();
  }
};

template <typename F>
void Dist::guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (const auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
    fail(
        "distributed {} failed on rank {} of {}: {} (another rank exited, or did not answer "
        "within --dist_timeout {} s)",
        what, env_.rank, env_.world_size, why, timeout_.count());
  }
}

Dist::Dist(const DistEnv& env, const std::string& backend, std::chrono::seconds timeout)
    : env_(env), backend_(backend), timeout_(timeout), impl_(std::make_unique<Impl>()) {
  guarded("rendezvous", [&] {
    const auto start = std::chrono::steady_clock::now();
    if (!env_.store_file.empty()) {
      // A file per group this process opens (a pipeline opens one per stage, in the same order
      // on every rank): a file store keeps its keys until every process has let go of it.
      static int opened = 0;
      impl_->store = c10::make_intrusive<c10d::FileStore>(
          fmt::format("{}.{}", env_.store_file, opened++), env_.world_size);
      impl_->store->setTimeout(timeout_);
    } else {
      c10d::TCPStoreOptions so;
      so.port = static_cast<uint16_t>(env_.master_port);
      so.isServer = env_.rank == 0 && !env_.agent_store;
      so.numWorkers = env_.world_size;
      // c10d's own wait for the workers gives up silently at the timeout, and Gloo's rendezvous
      // then waits a whole timeout more: every process counts itself in and waits for all of
      // them here, by one deadline.
      so.waitWorkers = false;
      so.timeout = timeout_;
      impl_->store = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, so);
    }
    const std::string joined = "enas/joined/" + env_.run_key;
    impl_->store->add(joined, 1);
    for (;;) {
      const int64_t here = impl_->store->add(joined, 0);
      if (here >= env_.world_size) break;
      const auto waited = std::chrono::steady_clock::now() - start;
      require(waited < timeout_,
              "distributed rendezvous failed on rank {} of {}: {} of the {} processes came "
              "within --dist_timeout {} s",
              env_.rank, env_.world_size, here, env_.world_size, timeout_.count());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // What is left of the deadline bounds the groups' own rendezvous through the store.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        timeout_ - (std::chrono::steady_clock::now() - start));
    impl_->store->setTimeout(std::max(left, std::chrono::milliseconds(1000)));
    // Each group keeps its rendezvous keys under its own prefix, as PyTorch's groups do.
#ifdef ENAS_WITH_NCCL
    if (backend_ == "nccl") {
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout_;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl" + env_.run_key, impl_->store), env_.rank,
          env_.world_size, o);
    }
#endif
    auto o = c10d::ProcessGroupGloo::Options::create(timeout_);
    // Loopback and single-host runs talk over the master's address; other hosts over theirs.
    o->devices.push_back(env_.master_addr == "127.0.0.1" || env_.master_addr == "localhost"
                             ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                             : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo" + env_.run_key, impl_->store), env_.rank,
        env_.world_size, o);
    impl_->store->setTimeout(timeout_);
  });
}

Dist::~Dist() {
#if defined(ENAS_WITH_NCCL) && TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 6
  // libtorch 2.x warns at a NCCL group destroyed without being shut down first.
  try {
    if (impl_ && impl_->nccl) impl_->nccl->shutdown();
  } catch (const std::exception&) {
    // Ending anyway: a peer that is gone cannot be shut down cleanly.
  }
#endif
}

void Dist::all_reduce_sum(torch::Tensor& t) {
  guarded("all-reduce", [&] {
    std::vector<at::Tensor> v = {t};
    impl_->run(t.is_cuda(), [&](auto& g) { return g.allreduce(v); });
  });
}

void Dist::all_reduce_mean(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  // Buckets of one dtype and device, in the tensors' order.
  std::vector<std::vector<torch::Tensor>> buckets;
  std::map<std::pair<int, std::string>, size_t> open;  // (dtype, device) -> bucket
  std::vector<size_t> bytes;
  for (const auto& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    const auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    auto it = open.find(key);
    if (it == open.end() || bytes[it->second] + t.nbytes() > static_cast<size_t>(bucket_bytes)) {
      buckets.emplace_back();
      bytes.push_back(0);
      it = open.insert_or_assign(key, buckets.size() - 1).first;
    }
    buckets[it->second].push_back(t);
    bytes[it->second] += t.nbytes();
  }
  torch::NoGradGuard guard;
  for (auto& bucket : buckets) {
    std::vector<torch::Tensor> flat_parts;
    for (const auto& t : bucket) flat_parts.push_back(t.reshape({-1}));
    torch::Tensor flat = torch::cat(flat_parts);  // (sum of numels), a copy
    all_reduce_sum(flat);
    flat.div_(env_.world_size);
    int64_t at = 0;
    for (auto& t : bucket) {
      t.copy_(flat.narrow(0, at, t.numel()).view_as(t));
      at += t.numel();
    }
  }
}

void Dist::broadcast(torch::Tensor& t, int root) {
  guarded("broadcast", [&] {
    std::vector<at::Tensor> v = {t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    impl_->run(t.is_cuda(), [&](auto& g) { return g.broadcast(v, o); });
  });
}

}  // namespace enas
