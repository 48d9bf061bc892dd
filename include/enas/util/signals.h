#pragma once
/// Stopping a run on a signal without losing it. SIGINT and SIGTERM only raise a flag; the
/// trainers look at it after every step, write a checkpoint that records where they stopped
/// (mid-epoch included) and throw Interrupted, which main() turns into exit status 128 + signal.
/// A second SIGINT or SIGTERM ends the process at once. SIGXFSZ is ignored, so that a file-size
/// limit (ulimit -f) makes a write fail with EFBIG, which is reported, instead of killing us.
#include <exception>
#include <string>

namespace enas {

/// Installs the handlers (once per process; later calls do nothing).
void install_stop_handlers();

/// Makes an exception that escapes a thread of ours or of a library (Gloo's and c10d's workers
/// throw on a peer that vanished or disagreed) end the process with one `error:` line naming it
/// and exit status 1, instead of std::terminate's abort (status 134, "terminate called after
/// throwing..."). Once per process; later calls do nothing.
void install_terminate_net();

/// The signal that asked the run to stop (SIGINT or SIGTERM), or 0.
int stop_requested();

/// Raises the flag as `signal` would have (a stop agreed with other processes of the run that
/// saw the signal); a later SIGINT or SIGTERM then counts as the second one.
void request_stop(int signal);

/// Forgets a request (tests).
void clear_stop_request();

/// "SIGINT", "SIGTERM", or "signal N".
std::string signal_name(int signal);

/// A run stopped on a signal after saving what it had. Not an error: main() prints nothing more
/// (the trainer has said where it stopped and how to resume) and exits with 128 + signal.
class Interrupted : public std::exception {
 public:
  Interrupted(int signal, std::string message) : signal_(signal), message_(std::move(message)) {}
  int signal() const { return signal_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int signal_;
  std::string message_;
};

}  // namespace enas
