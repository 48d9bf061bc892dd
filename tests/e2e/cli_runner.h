#pragma once
// Helpers of the end-to-end tests of the `enas` command line: run the binary, capture what it
// prints, write a tiny learnable CIFAR-10 look-alike.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace enas::test {

/// What one run of the CLI did.
struct CliResult {
  int exit_code = -1;  // the exit status; -1 when killed by a signal
  int signal = 0;      // the signal that killed it, 0 when it exited
  std::string out;     // standard output
  std::string err;     // standard error
  double seconds = 0;  // wall time

  /// The lines of `out`, without their newlines.
  std::vector<std::string> out_lines() const;
  /// The last non-empty line of standard output ("" when none).
  std::string last_line() const;
  /// The last line parsed as JSON (a test failure, and null, when it is not JSON).
  nlohmann::json last_json() const;
  /// The command's streams and status, for failure messages.
  std::string describe() const;
};

/// Runs the enas binary (ENAS_CLI_PATH) with `args` (no shell involved), standard output and
/// error captured through temporary files; killed by SIGALRM after `timeout_s` seconds.
CliResult run_cli(const std::vector<std::string>& args, int timeout_s = 180);

/// Checks the failure contract: an exit code != 0 (no signal) and, on standard error, exactly
/// one line, starting with "error: ", that contains every string of `needles`.
void expect_one_error_line(const CliResult& r, const std::vector<std::string>& needles);

/// Writes data_batch_1..5.bin and test_batch.bin into `dir`, `records` records each, of a
/// learnable 10-class problem: class k has a bright stripe whose colour and place depend on k,
/// over uniform noise. Deterministic.
void write_fake_cifar10(const std::string& dir, int records = 64);

/// The whole content of a file ("" when it cannot be read).
std::string read_text(const std::string& path);

/// The micro architecture the tiny runs use: 2 blocks per cell, 16 numbers.
inline constexpr const char* kTinyMicroArc = "0 2 1 4 0 0 2 3 0 1 1 4 2 3 0 2";

/// Flags of a tiny micro child on CIFAR-10 from `data`: 1 layer, 4 filters, 2 blocks, batch 32,
/// one thread (two threads on a loaded 2-core machine make OpenMP spin, 20x slower).
std::vector<std::string> tiny_micro_flags(const std::string& data);

/// `base` followed by `more`.
std::vector<std::string> concat(std::vector<std::string> base,
                                const std::vector<std::string>& more);

}  // namespace enas::test
