#include "enas/util/signals.h"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>

namespace enas {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int signal) {
  if (g_stop != 0) {
    // Only async-signal-safe calls here.
    static const char kMessage[] = "error: interrupted again: exiting now, without a checkpoint\n";
    ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    (void)ignored;
    ::_exit(128 + signal);
  }
  g_stop = signal;
}

void write_stderr(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void on_terminate() {
  std::string what = "an unknown exception";
  try {
    if (auto escaped = std::current_exception()) std::rethrow_exception(escaped);
    what = "std::terminate without an exception";
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  // torch's messages carry a backtrace after the first line; Gloo's name the file first.
  what = what.substr(0, what.find('\n'));
  // stdout is not flushed: the thread that failed may hold its lock. Files the run wrote are
  // whole (every write is atomic); the last checkpoint resumes it.
  write_stderr("error: a background thread failed: " + what +
               " (the run stopped; --resume continues from its last checkpoint)\n");
  ::_exit(1);
}

}  // namespace

void install_terminate_net() {
  static std::once_flag once;
  std::call_once(once, [] { std::set_terminate(on_terminate); });
}

void install_stop_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // reads and writes in flight carry on
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    std::signal(SIGXFSZ, SIG_IGN);
  });
}

int stop_requested() { return g_stop; }

void request_stop(int signal) {
  if (g_stop == 0) g_stop = signal;
}

void clear_stop_request() { g_stop = 0; }

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

}  // namespace enas
