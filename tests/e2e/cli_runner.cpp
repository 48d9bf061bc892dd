#include "cli_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
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

CliResult run_cli(const std::vector<std::string>& args, int timeout_s) {
  TempDir io;
  const std::string out_path = io.file("stdout"), err_path = io.file("stderr");
  std::vector<std::string> full = {ENAS_CLI_PATH};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0) _exit(126);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    close(out_fd);
    close(err_fd);
    alarm(static_cast<unsigned>(timeout_s));  // survives exec: SIGALRM ends a hung run
    execv(argv[0], argv.data());
    _exit(127);
  }
  CliResult r;
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ADD_FAILURE() << "waitpid failed";
      return r;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  r.out = read_text(out_path);
  r.err = read_text(err_path);
  EXPECT_NE(r.exit_code, 127) << "could not run " << full[0];
  return r;
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

std::vector<std::string> concat(std::vector<std::string> base,
                                const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

}  // namespace enas::test
