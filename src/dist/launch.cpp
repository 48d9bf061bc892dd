#include "enas/dist/launch.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "enas/util/error.h"
#include "enas/util/runtime.h"

extern char** environ;

namespace enas {

namespace {

volatile std::sig_atomic_t g_signal = 0;  // the last SIGINT / SIGTERM the launcher got

void on_signal(int sig) { g_signal = sig; }

struct Child {
  int rank = 0;
  pid_t pid = -1;
  int out = -1;         // read end of its stdout + stderr
  std::string pending;  // a line not finished yet
  bool running = true;
  int status = 0;  // exit code, or 128 + signal
};

void emit(const Child& c, const std::string& line) {
  const std::string text = fmt::format("[{}] {}\n", c.rank, line);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

/// Reads what `c` printed; false at end of file.
bool drain(Child& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(c.out, buf, sizeof buf);
    if (n > 0) {
      c.pending.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = c.pending.find('\n')) != std::string::npos) {
        emit(c, c.pending.substr(0, nl));
        c.pending.erase(0, nl + 1);
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (!c.pending.empty()) emit(c, c.pending);
    c.pending.clear();
    return false;
  }
}

/// A folder of mode 0700 under $TMPDIR (or /tmp), removed with what is in it at the end.
struct PrivateFolder {
  std::string path;
  explicit PrivateFolder(bool wanted) {
    if (!wanted) return;
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/enas-launch-XXXXXX";
    require(::mkdtemp(pattern.data()) != nullptr,
            "launch: cannot make a folder for the processes to meet in ({}): {}", pattern,
            std::strerror(errno));
    path = pattern;
  }
  ~PrivateFolder() {
    if (path.empty()) return;
    std::error_code ignored;  // the folder is ours alone and only temporary
    std::filesystem::remove_all(path, ignored);
  }
  PrivateFolder(const PrivateFolder&) = delete;
  PrivateFolder& operator=(const PrivateFolder&) = delete;
};

/// The environment of a process: ours, with `overrides` (NAME=value) in place of ours.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string name = kv.substr(0, kv.find('='));
    const bool replaced = std::any_of(overrides.begin(), overrides.end(), [&](const auto& o) {
      return o.compare(0, name.size() + 1, name + "=") == 0;
    });
    if (!replaced) env.push_back(kv);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

pid_t start(const std::vector<std::string>& argv, const std::vector<std::string>& env, int out) {
  // Everything the child needs is built before fork: after it, only exec-safe calls.
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& kv : env) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // The child: its own process group, so that a terminal's Ctrl-C reaches it once, from us.
  ::setpgid(0, 0);
  ::dup2(out, STDOUT_FILENO);
  ::dup2(out, STDERR_FILENO);
  ::close(out);
  ::execvpe(args[0], args.data(), envp.data());
  const char* why = std::strerror(errno);
  const char prefix[] = "error: cannot run ";
  (void)!::write(STDERR_FILENO, prefix, sizeof prefix - 1);
  (void)!::write(STDERR_FILENO, args[0], std::strlen(args[0]));
  (void)!::write(STDERR_FILENO, ": ", 2);
  (void)!::write(STDERR_FILENO, why, std::strlen(why));
  (void)!::write(STDERR_FILENO, "\n", 1);
  ::_exit(127);
}

int status_code(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 1;
}

}  // namespace

std::vector<std::string> process_command(const LaunchOptions& o) {
  std::vector<std::string> cmd = o.command;
  if (o.exec) return cmd;
  const bool has_threads = std::any_of(cmd.begin(), cmd.end(), [](const std::string& a) {
    return a == "--threads" || a.rfind("--threads=", 0) == 0;
  });
  if (!has_threads) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int threads = o.threads > 0 ? o.threads : std::max(1, cores / o.nproc_per_node);
    cmd.push_back("--threads");
    cmd.push_back(std::to_string(threads));
  }
  return cmd;
}

int launch(const LaunchOptions& o) {
  require(o.nproc_per_node >= 1, "--nproc_per_node {}: at least 1", o.nproc_per_node);
  require(o.nnodes >= 1, "--nnodes {}: at least 1", o.nnodes);
  require(o.node_rank >= 0 && o.node_rank < o.nnodes, "--node_rank {} with --nnodes {}",
          o.node_rank, o.nnodes);
  require(o.master_port > 0 && o.master_port < 65536, "--master_port {} is not a port",
          o.master_port);
  require(!o.command.empty(), "launch: no command to run (put it after --)");
  // Each process trains on threads of its own: more processes than cores only wait for each
  // other (1,000 of them took 23 GB and did not hear SIGTERM).
  const int cores = available_cores();
  require(o.nproc_per_node <= cores || o.oversubscribe,
          "--nproc_per_node {} is more than the {} cores here; pass --oversubscribe to start "
          "that many anyway",
          o.nproc_per_node, cores);
  const std::vector<std::string> argv = process_command(o);
  const int world = o.nnodes * o.nproc_per_node;
  // On one machine the processes meet through a file in a folder only this user can enter,
  // not rank 0's TCP store, which listens on every interface (libtorch 1.13 cannot bind one).
  const PrivateFolder folder(o.nnodes == 1);

  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  g_signal = 0;

  std::vector<Child> children(o.nproc_per_node);
  for (int i = 0; i < o.nproc_per_node; ++i) {
    if (g_signal != 0) {  // a stop during start-up: start no more, pass it to those started
      children.resize(static_cast<size_t>(i));
      break;
    }
    int fds[2];
    require(::pipe(fds) == 0, "launch: cannot make a pipe: {}", std::strerror(errno));
    Child& c = children[i];
    c.rank = o.node_rank * o.nproc_per_node + i;
    const std::vector<std::string> env = environment_with({
        fmt::format("RANK={}", c.rank),
        fmt::format("WORLD_SIZE={}", world),
        fmt::format("LOCAL_RANK={}", i),
        fmt::format("LOCAL_WORLD_SIZE={}", o.nproc_per_node),
        fmt::format("MASTER_ADDR={}", o.master_addr),
        fmt::format("MASTER_PORT={}", o.master_port),
        "ENAS_STORE_FILE=" + (folder.path.empty() ? "" : folder.path + "/store"),
    });
    std::fflush(stdout);
    std::fflush(stderr);
    c.pid = start(argv, env, fds[1]);
    ::close(fds[1]);
    require(c.pid > 0, "launch: cannot start rank {}: {}", c.rank, std::strerror(errno));
    c.out = fds[0];
    ::fcntl(c.out, F_SETFL, ::fcntl(c.out, F_GETFL) | O_NONBLOCK);
  }

  int result = 0;
  bool stopping = false, signalled = false;
  std::chrono::steady_clock::time_point stop_at;
  auto signal_all = [&](int sig) {
    for (const auto& c : children) {
      if (c.running) ::kill(-c.pid, sig);
    }
  };
  for (;;) {
    if (const int sig = g_signal; sig != 0) {  // pass it on; a second one is passed on too
      g_signal = 0;
      signalled = true;
      signal_all(sig);
    }
    std::vector<pollfd> fds;
    std::vector<Child*> open;
    for (auto& c : children) {
      if (c.out >= 0) {
        fds.push_back({c.out, POLLIN, 0});
        open.push_back(&c);
      }
    }
    if (!fds.empty()) ::poll(fds.data(), fds.size(), 100);
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      if (!drain(*open[k])) {
        ::close(open[k]->out);
        open[k]->out = -1;
      }
    }
    std::fflush(stdout);
    bool any_running = false;
    for (auto& c : children) {
      if (!c.running) continue;
      int ws = 0;
      if (::waitpid(c.pid, &ws, WNOHANG) == c.pid) {
        c.running = false;
        c.status = status_code(ws);
        if (c.status != 0 && result == 0) {
          result = c.status;
          // After a forwarded signal every process is stopping on its own (saving first): a
          // failure then is no reason to hurry the others. Nor is a stop on a signal (128 +
          // SIGINT or SIGTERM): an enas run's processes agree on a stop and all end together,
          // rank 0 after its checkpoint.
          const bool stopped = c.status == 128 + SIGINT || c.status == 128 + SIGTERM;
          if (!signalled && !stopped) {
            std::fflush(stdout);
            std::fprintf(stderr, "launch: rank %d exited with status %d; stopping the others\n",
                         c.rank, c.status);
            stopping = true;
            stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(o.grace_seconds);
            signal_all(SIGTERM);
          }
        }
      } else {
        any_running = true;
      }
    }
    if (stopping && any_running && std::chrono::steady_clock::now() > stop_at) {
      signal_all(SIGKILL);
    }
    if (!any_running) {
      if (fds.empty()) break;
      // Output still buffered in the pipes after the last exit: read it, then end.
      for (auto& c : children) {
        if (c.out >= 0) {
          drain(c);
          ::close(c.out);
          c.out = -1;
        }
      }
      break;
    }
    if (fds.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fflush(stdout);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

}  // namespace enas
