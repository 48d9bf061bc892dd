#include "enas/util/signals.h"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <mutex>

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

}  // namespace

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
