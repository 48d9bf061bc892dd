#pragma once
// Helpers of the end-to-end tests of the `enas` command line: run the binary, capture what it
// prints, write a tiny learnable CIFAR-10 look-alike.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
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

/// How to run the binary.
struct CliOptions {
  int timeout_s = 180;           // killed by SIGALRM after this
  std::string stdout_to;         // send standard output here (e.g. /dev/full) instead of capturing
  uint64_t file_size_limit = 0;  // RLIMIT_FSIZE in bytes (0: none), SIGXFSZ left at its default
};

/// The lines of `r`'s standard output that start with `prefix` (e.g. "[1] " under enas launch),
/// without it.
std::vector<std::string> lines_of(const CliResult& r, const std::string& prefix);

/// Runs the enas binary (ENAS_CLI_PATH) with `args` (no shell involved), standard output and
/// error captured through temporary files; killed by SIGALRM after `timeout_s` seconds.
CliResult run_cli(const std::vector<std::string>& args, int timeout_s = 180);
CliResult run_cli(const std::vector<std::string>& args, const CliOptions& options);

/// The enas binary running in the background, for tests that signal it while it works. Only the
/// process it started is ever signalled; one still running at destruction is killed and reaped.
class CliProcess {
 public:
  explicit CliProcess(const std::vector<std::string>& args, const CliOptions& options = {});
  ~CliProcess();
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  int pid() const { return pid_; }
  /// Waits until standard output contains `text` (true), or the process has ended or
  /// `timeout_s` has passed (false).
  bool wait_for_output(const std::string& text, double timeout_s = 120);
  /// Sends `sig` to the process (only while it runs).
  void signal(int sig);
  /// Waits for the process to end and returns what it did.
  CliResult wait();

 private:
  struct Io;
  std::unique_ptr<Io> io_;
  int pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  double started_ = 0;
};

/// Checks the failure contract: an exit code != 0 (no signal) and, on standard error, exactly
/// one line, starting with "error: ", that contains every string of `needles`.
void expect_one_error_line(const CliResult& r, const std::vector<std::string>& needles);

/// Writes data_batch_1..5.bin and test_batch.bin into `dir`, `records` records each, of a
/// learnable 10-class problem: class k has a bright stripe whose colour and place depend on k,
/// over uniform noise. Deterministic.
void write_fake_cifar10(const std::string& dir, int records = 64);

/// The whole content of a file ("" when it cannot be read).
std::string read_text(const std::string& path);

/// ptb.train.txt (`train_lines` lines of a small grammar, ~9 tokens each, after a first line
/// holding every word), ptb.valid.txt and ptb.test.txt (20 lines each) into `dir`; deterministic.
void write_tiny_ptb(const std::string& dir, int train_lines = 100);

/// The words of write_tiny_ptb's corpus; with <eos> its vocabulary has size() + 1 entries.
const std::vector<std::string>& tiny_ptb_words();

/// The micro architecture the tiny runs use: 2 blocks per cell, 16 numbers.
inline constexpr const char* kTinyMicroArc = "0 2 1 4 0 0 2 3 0 1 1 4 2 3 0 2";

/// Flags of a tiny micro child on CIFAR-10 from `data`: 1 layer, 4 filters, 2 blocks, batch 32,
/// one thread (two threads on a loaded 2-core machine make OpenMP spin, 20x slower).
std::vector<std::string> tiny_micro_flags(const std::string& data);

/// `enas train` of the tiny micro child on `data` for one epoch into `out`, then `extra` (later
/// flags win: `--num_epochs 2` there trains two).
std::vector<std::string> tiny_train_args(const std::string& data, const std::string& out,
                                         const std::vector<std::string>& extra = {});

/// `enas search` of a tiny child of `space` (micro | macro) on `data` (320 images: 256 train,
/// 64 valid), 2 epochs, the controller trained after each (2 steps of 2 samples), 3
/// architectures derived, --json.
std::vector<std::string> search_flags(const std::string& data, const std::string& space);

/// Flags of a tiny Penn Treebank run on `data` (write_tiny_ptb): hidden 16, 4 rows, segments of
/// ~8 tokens, a line every step, one thread.
std::vector<std::string> tiny_lm_flags(const std::string& data);

/// `enas train --preset ptb_final` of a 2-node cell with tiny_lm_flags, --json.
std::vector<std::string> tiny_lm_final(const std::string& data);

/// `enas search --preset ptb_search` with tiny_lm_flags: 3 nodes, 2 epochs, 2 controller steps of
/// 2 samples, 3 architectures derived, --json.
std::vector<std::string> tiny_lm_search(const std::string& data);

/// The records of a .jsonl file (metrics.jsonl, arcs.jsonl) of `kind`, every kind when empty;
/// a line that is not JSON is a test failure.
std::vector<nlohmann::json> jsonl_records(const std::string& path, const std::string& kind = "");

/// `command` on two processes under `enas launch` (on a free loopback port).
std::vector<std::string> launched(const std::vector<std::string>& command);

/// Ranks 0 and 1 of `args` in the background, started directly as torchrun would (WORLD_SIZE,
/// RANK and a free MASTER_PORT set for them only).
std::vector<std::unique_ptr<CliProcess>> start_two_ranks(const std::vector<std::string>& args);
/// The same, each rank with its own command line (ranks that disagree).
std::vector<std::unique_ptr<CliProcess>> start_two_ranks(const std::vector<std::string>& rank0,
                                                         const std::vector<std::string>& rank1);

/// Sends SIGINT to rank 1 alone of a two-process `enas <command>` into `run` (start_two_ranks) and
/// checks the agreed stop: both exit with 128 + SIGINT, rank 0 prints `stopped` and rank 1
/// nothing, no result.json. Then the checkpoint continues to `epochs` epochs on one process and,
/// from a copy of the folder, on two, to the same step count.
void expect_stop_then_resume_on_one_and_two(std::vector<std::unique_ptr<CliProcess>>& ranks,
                                            const std::string& command, const std::string& run,
                                            const std::string& stopped, int epochs);

/// `args` with `--out one` on one process, then with `--out two` on two under launch: both must
/// exit 0 and rank 1 print nothing (test failures otherwise). Returns the one process's last JSON
/// line and rank 0's.
std::pair<nlohmann::json, nlohmann::json> run_on_one_and_two(const std::vector<std::string>& args,
                                                             const std::string& one,
                                                             const std::string& two);

/// Rank 0's JSON line of a run under `enas launch` (rank 1 prints nothing); a test failure, and
/// an empty object, when there is not exactly one.
nlohmann::json rank0_json(const CliResult& r);

/// `base` followed by `more`.
std::vector<std::string> concat(std::vector<std::string> base,
                                const std::vector<std::string>& more);

}  // namespace enas::test
