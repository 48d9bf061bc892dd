#include "cli_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "test_util.h"

#ifndef ENAS_CLI_PATH
#error "ENAS_CLI_PATH (the enas binary) must be defined by the build"
#endif

namespace enas::test {

std::vector<std::string> CliResult::out_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string CliResult::last_line() const {
  auto lines = out_lines();
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines.empty() ? "" : lines.back();
}

nlohmann::json CliResult::last_json() const {
  const std::string line = last_line();
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "last stdout line is not JSON (" << e.what() << "): " << line;
    return nullptr;
  }
}

std::string CliResult::describe() const {
  std::string tail = out.size() > 3000 ? "..." + out.substr(out.size() - 3000) : out;
  return "exit code " + std::to_string(exit_code) + ", signal " + std::to_string(signal) +
         "\n--- stdout (tail) ---\n" + tail + "\n--- stderr ---\n" + err;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

struct CliProcess::Io {
  TempDir dir;
  std::string out_path, err_path, args;
  bool capture_out = true;  // false when standard output goes elsewhere (/dev/full reads forever)
};

CliProcess::CliProcess(const std::vector<std::string>& args, const CliOptions& options)
    : io_(std::make_unique<Io>()) {
  io_->out_path = options.stdout_to.empty() ? io_->dir.file("stdout") : options.stdout_to;
  io_->capture_out = options.stdout_to.empty();
  io_->err_path = io_->dir.file("stderr");
  std::vector<std::string> full = {ENAS_CLI_PATH};
  full.insert(full.end(), args.begin(), args.end());
  for (const auto& a : full) io_->args += a + " ";
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  started_ = now_s();
  std::fflush(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    const int out_fd = open(io_->out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = open(io_->err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0) _exit(126);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    close(out_fd);
    close(err_fd);
    if (options.file_size_limit > 0) {
      const rlimit limit{options.file_size_limit, options.file_size_limit};
      if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(125);
    }
    alarm(static_cast<unsigned>(options.timeout_s));  // survives exec: SIGALRM ends a hung run
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid_ < 0) ADD_FAILURE() << "fork failed";
}

CliProcess::~CliProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

bool CliProcess::wait_for_output(const std::string& text, double timeout_s) {
  if (!io_->capture_out) return false;
  const double deadline = now_s() + timeout_s;
  while (now_s() < deadline) {
    if (read_text(io_->out_path).find(text) != std::string::npos) return true;
    int status = 0;
    if (reaped_ || waitpid(pid_, &status, WNOHANG) != 0) {
      // It ended (and is not reaped twice: wait() reads the status again via kill(0) check).
      if (!reaped_) {
        reaped_ = true;
        status_ = status;
      }
      return read_text(io_->out_path).find(text) != std::string::npos;
    }
    usleep(5000);
  }
  return false;
}

void CliProcess::signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

CliResult CliProcess::wait() {
  CliResult r;
  if (pid_ <= 0) return r;
  int status = status_;
  if (!reaped_) {
    while (waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) {
        ADD_FAILURE() << "waitpid failed";
        return r;
      }
    }
    reaped_ = true;
  }
  r.seconds = now_s() - started_;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  if (io_->capture_out) r.out = read_text(io_->out_path);
  r.err = read_text(io_->err_path);
  EXPECT_NE(r.exit_code, 127) << "could not run " << io_->args;
  return r;
}

CliResult run_cli(const std::vector<std::string>& args, const CliOptions& options) {
  CliProcess process(args, options);
  return process.wait();
}

CliResult run_cli(const std::vector<std::string>& args, int timeout_s) {
  CliOptions options;
  options.timeout_s = timeout_s;
  return run_cli(args, options);
}

void expect_one_error_line(const CliResult& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.signal, 0) << "killed by a signal\n" << r.describe();
  EXPECT_GT(r.exit_code, 0) << r.describe();
  // Exactly one line: one newline, at the end.
  ASSERT_FALSE(r.err.empty()) << r.describe();
  EXPECT_EQ(r.err.back(), '\n') << r.describe();
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line on stderr\n" << r.describe();
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
  for (const auto& needle : needles) {
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr lacks \"" << needle << "\"\n"
                                                     << r.describe();
  }
}

void write_fake_cifar10(const std::string& dir, int records) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> noise(0, 60), label(0, 9);
  auto write_file = [&](const std::string& name) {
    std::vector<uint8_t> bytes;
    bytes.reserve(static_cast<size_t>(records) * 3073);
    for (int r = 0; r < records; ++r) {
      const int k = label(rng);
      bytes.push_back(static_cast<uint8_t>(k));
      const int channel = k % 3;
      for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < 32; ++y) {
          for (int x = 0; x < 32; ++x) {
            int v = noise(rng);
            // Classes 0..8: a horizontal stripe, rows 8 * (k / 3) .. + 8, in colour k % 3;
            // class 9: a vertical stripe in red (a flip moves it, it stays vertical).
            const bool stripe = k < 9 ? (y >= 8 * (k / 3) && y < 8 * (k / 3) + 8) : x < 8;
            if (c == channel && stripe) v += 180;
            bytes.push_back(static_cast<uint8_t>(v));
          }
        }
      }
    }
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << dir << "/" << name;
  };
  for (int part = 1; part <= 5; ++part) write_file("data_batch_" + std::to_string(part) + ".bin");
  write_file("test_batch.bin");
}

const std::vector<std::string>& tiny_ptb_words() {
  static const std::vector<std::string> words = {"the",   "a",      "cat",  "dog",   "bird", "sees",
                                                 "likes", "chases", "big",  "small", "red",  "N",
                                                 "<unk>", "and",    "park", "house", "in"};
  return words;
}

namespace {

/// `count` lines of a small grammar ("the big cat chases a bird in the park"), drawn with a
/// fixed linear congruential generator: PTB's layout (a space before and after every line).
std::string sentences(uint32_t seed, int count) {
  uint32_t state = seed;
  auto pick = [&](std::initializer_list<const char*> options) {
    state = state * 1664525u + 1013904223u;
    return std::string(*(options.begin() + (state >> 16) % options.size()));
  };
  std::string text;
  for (int i = 0; i < count; ++i) {
    std::string line = " " + pick({"the", "a"});
    if (pick({"", "x"}) == "x") line += " " + pick({"big", "small", "red"});
    line += " " + pick({"cat", "dog", "bird", "N"}) + " " + pick({"sees", "likes", "chases"});
    line += " " + pick({"the", "a"}) + " " + pick({"cat", "dog", "bird", "<unk>"});
    if (pick({"", "x", "y"}) == "x") line += " in the " + pick({"park", "house"});
    if (pick({"", "x", "y", "z"}) == "z") line += " and a dog sees N";
    text += line + " \n";
  }
  return text;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

}  // namespace

void write_tiny_ptb(const std::string& dir, int train_lines) {
  std::string all;
  for (const auto& w : tiny_ptb_words()) all += " " + w;
  write_text(dir + "/ptb.train.txt", all + " \n" + sentences(1, train_lines));
  write_text(dir + "/ptb.valid.txt", sentences(2, 20));
  write_text(dir + "/ptb.test.txt", sentences(3, 20));
}

std::vector<std::string> lines_of(const CliResult& r, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& l : r.out_lines()) {
    if (l.rfind(prefix, 0) == 0) out.push_back(l.substr(prefix.size()));
  }
  return out;
}

std::vector<std::string> tiny_micro_flags(const std::string& data) {
  return {"--dataset",
          "cifar10",
          "--data",
          data,
          "--search_for",
          "micro",
          "--child_num_layers",
          "1",
          "--child_out_filters",
          "4",
          "--child_num_cells",
          "2",
          "--child_fixed_arc",
          kTinyMicroArc,
          "--batch_size",
          "32",
          "--threads",
          "1"};
}

std::vector<std::string> tiny_train_args(const std::string& data, const std::string& out,
                                         const std::vector<std::string>& extra) {
  return concat(concat({"train"}, tiny_micro_flags(data)),
                concat({"--num_epochs", "1", "--out", out}, extra));
}

std::vector<std::string> search_flags(const std::string& data, const std::string& space) {
  // clang-format off
  std::vector<std::string> f = {
      "search", "--dataset", "cifar10", "--data", data, "--search_for", space,
      "--child_out_filters", "4", "--batch_size", "32", "--num_epochs", "2",
      "--controller_train_steps", "2", "--controller_num_aggregate", "2",
      "--controller_train_every", "1", "--derive_samples", "3", "--num_valids", "64",
      "--threads", "1", "--json"};
  // clang-format on
  if (space == "micro") {
    return concat(
        f, {"--child_num_layers", "1", "--child_num_cells", "2", "--child_num_branches", "5"});
  }
  return concat(f, {"--child_num_layers", "3", "--child_num_branches", "6"});
}

std::vector<std::string> tiny_lm_flags(const std::string& data) {
  return {"--data",
          data,
          "--child_hidden_size=16",
          "--batch_size=4",
          "--child_bptt_steps=8",
          "--log_every=1",
          "--threads=1"};
}

std::vector<std::string> tiny_lm_final(const std::string& data) {
  return concat(concat({"train", "--preset", "ptb_final"}, tiny_lm_flags(data)),
                {"--child_fixed_arc=0 1 1 0", "--json"});
}

std::vector<std::string> tiny_lm_search(const std::string& data) {
  return concat(concat({"search", "--preset", "ptb_search"}, tiny_lm_flags(data)),
                {"--num_epochs=2", "--controller_train_steps=2", "--controller_num_aggregate=2",
                 "--derive_samples=3", "--child_num_layers=3", "--json"});
}

std::vector<nlohmann::json> jsonl_records(const std::string& path, const std::string& kind) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_text(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (!nlohmann::json::accept(line)) {
      ADD_FAILURE() << path << ": not JSON: " << line;
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line);
    if (kind.empty() || j.value("kind", "") == kind) out.push_back(std::move(j));
  }
  return out;
}

std::pair<nlohmann::json, nlohmann::json> run_on_one_and_two(const std::vector<std::string>& args,
                                                             const std::string& one,
                                                             const std::string& two) {
  const CliResult a = run_cli(concat(args, {"--out", one}), 180);
  EXPECT_EQ(a.exit_code, 0) << a.describe();
  const CliResult b = run_cli(launched(concat(args, {"--out", two})), 180);
  EXPECT_EQ(b.exit_code, 0) << b.describe();
  EXPECT_TRUE(lines_of(b, "[1] ").empty()) << "rank 1 reports nothing: " << b.describe();
  if (a.exit_code != 0 || b.exit_code != 0) return {};
  return {a.last_json(), rank0_json(b)};
}

std::vector<std::string> launched(const std::vector<std::string>& command) {
  return concat({"launch", "--nproc_per_node", "2", "--master_port", free_port(), "--"}, command);
}

std::vector<std::unique_ptr<CliProcess>> start_two_ranks(const std::vector<std::string>& args) {
  return start_two_ranks(args, args);
}

std::vector<std::unique_ptr<CliProcess>> start_two_ranks(const std::vector<std::string>& rank0,
                                                         const std::vector<std::string>& rank1) {
  const std::string port = free_port();
  std::vector<std::unique_ptr<CliProcess>> ranks;
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("MASTER_PORT", port.c_str(), 1);
  const std::vector<std::string>* args[] = {&rank0, &rank1};
  for (int rank = 0; rank < 2; ++rank) {
    ::setenv("RANK", std::to_string(rank).c_str(), 1);
    ranks.push_back(std::make_unique<CliProcess>(*args[rank]));
  }
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  ::unsetenv("MASTER_PORT");
  return ranks;
}

void expect_stop_then_resume_on_one_and_two(std::vector<std::unique_ptr<CliProcess>>& ranks,
                                            const std::string& command, const std::string& run,
                                            const std::string& stopped, int epochs) {
  namespace fs = std::filesystem;
  ranks[1]->signal(SIGINT);  // rank 0 never sees a signal
  const CliResult r0 = ranks[0]->wait(), r1 = ranks[1]->wait();
  EXPECT_EQ(r0.exit_code, 128 + SIGINT) << r0.describe();
  EXPECT_EQ(r1.exit_code, 128 + SIGINT) << r1.describe();
  EXPECT_NE(r0.out.find(stopped), std::string::npos) << r0.describe();
  EXPECT_TRUE(r1.out.empty()) << "rank 1 reports nothing: " << r1.describe();
  ASSERT_FALSE(fs::exists(run + "/result.json"));

  const std::string copy = run + "-copy";
  fs::copy(run, copy);
  fs::remove(copy + "/.enas.lock");
  const std::string n = std::to_string(epochs);
  const CliResult alone = run_cli(
      {command, "--resume", "--out", run, "--num_epochs", n, "--threads", "1", "--json"}, 180);
  ASSERT_EQ(alone.exit_code, 0) << alone.describe();
  EXPECT_EQ(alone.last_json().at("epochs"), epochs);
  const CliResult both =
      run_cli(launched({command, "--resume", "--out", copy, "--num_epochs", n, "--json"}), 180);
  ASSERT_EQ(both.exit_code, 0) << both.describe();
  EXPECT_EQ(rank0_json(both).at("epochs"), epochs);
  EXPECT_EQ(rank0_json(both).at("steps"), alone.last_json().at("steps"));
}

nlohmann::json rank0_json(const CliResult& r) {
  const auto lines = lines_of(r, "[0] {");
  if (lines.size() != 1) {
    ADD_FAILURE() << "expected one JSON line from rank 0: " << r.describe();
    return nlohmann::json::object();
  }
  return nlohmann::json::parse("{" + lines[0]);
}

std::vector<std::string> concat(std::vector<std::string> base,
                                const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

}  // namespace enas::test
