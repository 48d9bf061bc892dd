#include "enas/util/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "enas/util/error.h"

extern char** environ;

namespace enas {

namespace {

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

/// Closes a descriptor once, whichever way the scope is left.
struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

/// A pipe whose ends close on exec: no other child the process starts inherits them.
void make_pipe(Fd& read_end, Fd& write_end, const std::string& name) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    fail("cannot create a pipe for `{}`: {}", name, std::strerror(errno));
  }
  read_end.fd = p[0];
  write_end.fd = p[1];
}

/// Blocks SIGPIPE in this thread while it writes to the filter, and discards one raised by a
/// write to a filter that stopped reading (its exit status then says why): the default action
/// would kill the whole training run. Writes to a pipe raise it in the writing thread only.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeGuard() {
    if (raised_ && !was_pending_) {
      const timespec zero{};
      while (sigtimedwait(&set_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void raised() { raised_ = true; }

 private:
  sigset_t set_, old_;
  bool was_pending_ = false, raised_ = false;
};

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string find_on_path(const std::string& program) {
  if (program.empty()) return "";
  if (program.find('/') != std::string::npos) return executable_file(program) ? program : "";
  const char* env = std::getenv("PATH");
  const std::string path = env ? env : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(start, end - start);
    start = end + 1;
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + program;
    if (executable_file(candidate)) return candidate;
  }
  return "";
}

bool program_on_path(const std::string& program) { return !find_on_path(program).empty(); }

ProcessResult run_process(const std::string& path, const std::vector<std::string>& args,
                          const std::string& input) {
  const std::string name = base_name(path);
  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  make_pipe(in_r, in_w, name);
  make_pipe(out_r, out_w, name);
  make_pipe(err_r, err_w, name);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  // The filter gets default signal handling even where the caller ignores or blocks SIGPIPE.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &pipe_only);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> owned;
  owned.reserve(args.size() + 1);
  owned.push_back(name);
  owned.insert(owned.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) fail("`{}` could not be started ({}): {}", name, path, std::strerror(rc));
  in_r.reset();
  out_w.reset();
  err_w.reset();

  ProcessResult res;
  {
    SigpipeGuard guard;
    ::fcntl(in_w.fd, F_SETFL, ::fcntl(in_w.fd, F_GETFL) | O_NONBLOCK);
    size_t written = 0;
    if (input.empty()) in_w.reset();
    char buf[65536];
    while (!res.io_errno && (in_w.fd >= 0 || out_r.fd >= 0 || err_r.fd >= 0)) {
      pollfd fds[3];
      nfds_t nfds = 0;
      for (Fd* f : {&in_w, &out_r, &err_r}) {
        if (f->fd >= 0) fds[nfds++] = {f->fd, static_cast<short>(f == &in_w ? POLLOUT : POLLIN), 0};
      }
      if (::poll(fds, nfds, -1) < 0) {
        if (errno != EINTR) res.io_errno = errno;
        continue;
      }
      for (nfds_t i = 0; i < nfds; ++i) {
        if (!fds[i].revents) continue;
        if (fds[i].fd == in_w.fd) {
          const size_t chunk = std::min<size_t>(input.size() - written, sizeof buf);
          const ssize_t w = ::write(in_w.fd, input.data() + written, chunk);
          if (w > 0) {
            written += static_cast<size_t>(w);
            if (written == input.size()) in_w.reset();  // EOF: the filter sees the whole input
          } else if (w < 0 && errno == EPIPE) {
            guard.raised();  // the filter stopped reading; its status and stderr say why
            in_w.reset();
          } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
            res.io_errno = errno;
          }
        } else {
          Fd& f = fds[i].fd == out_r.fd ? out_r : err_r;
          const ssize_t r = ::read(f.fd, buf, sizeof buf);
          if (r > 0) {
            std::string& to = &f == &out_r ? res.out : res.err;
            if (&f == &out_r || to.size() < 65536) to.append(buf, static_cast<size_t>(r));
          } else if (r == 0) {
            f.reset();
          } else if (errno != EINTR && errno != EAGAIN) {
            res.io_errno = errno;
          }
        }
      }
    }
    // On an error, closing our ends lets the filter finish (EOF, or SIGPIPE on its writes).
    in_w.reset();
    out_r.reset();
    err_r.reset();
  }
  while (::waitpid(pid, &res.status, 0) < 0) {
    if (errno != EINTR) {
      res.io_errno = res.io_errno ? res.io_errno : errno;
      break;
    }
  }
  return res;
}

std::string run_filter(const std::string& program, const std::vector<std::string>& args,
                       const std::string& input) {
  std::string command = base_name(program);
  for (const std::string& a : args) command += " " + a;
  const std::string path = find_on_path(program);
  require(!path.empty(), "`{}` was not found on PATH", base_name(program));
  const ProcessResult res = run_process(path, args, input);
  require(res.io_errno == 0, "`{}`: talking to it failed: {}", command,
          std::strerror(res.io_errno));
  if (WIFSIGNALED(res.status)) {
    fail("`{}` was killed by signal {}", command, WTERMSIG(res.status));
  }
  require(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0, "`{}` failed (exit status {}): {}",
          command, WEXITSTATUS(res.status), first_line(res.err));
  return res.out;
}

std::string first_line(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) return line;
    start = end + 1;
  }
  return "no message";
}

}  // namespace enas
