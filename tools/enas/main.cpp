// enas: Efficient Neural Architecture Search (Pham et al., 2018) on libtorch.
// main() is the one place that turns errors into messages and exit codes.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>

#include "cli.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"
#include "enas/util/signals.h"
#include "enas/util/text.h"

namespace {

std::string one_line(std::string text) {
  for (auto& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

int report(const std::string& what) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", one_line(what).c_str());
  return 1;
}

/// The message of an allocation that failed: its size from torch's "you tried to allocate N
/// bytes", and what to lower.
std::string out_of_memory(const std::string& what) {
  std::string size;
  const std::string key = "tried to allocate ";
  if (auto at = what.find(key); at != std::string::npos) {
    const double bytes = std::strtod(what.c_str() + at + key.size(), nullptr);
    if (bytes > 0) size = fmt::format(" of {:.3g} GB", bytes / 1e9);
  }
  return "out of memory: an allocation" + size +
         " failed; this model, batch or data set does not fit in this machine's memory (lower "
         "--batch_size, --eval_batch_size or the model's sizes)";
}

/// Edit distance, for "did you mean".
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string command_list() {
  std::string list;
  for (const auto& c : enas::cli::kCommands) list += (list.empty() ? "" : ", ") + c;
  return list;
}

/// An unknown first word is a mistyped command: name it and the nearest one. Returns 0 if fine.
int check_command(int argc, char** argv) {
  if (argc < 2) {
    return report("no subcommand given: use one of " + command_list() + " (see enas --help)");
  }
  const std::string word = argv[1];
  const auto& known = enas::cli::kCommands;
  if (word.empty() || word[0] == '-' || std::count(known.begin(), known.end(), word)) return 0;
  std::string best = known.front();
  for (const auto& c : known) {
    if (distance(word, c) < distance(word, best)) best = c;
  }
  const std::string hint = distance(word, best) <= 2 ? "; did you mean '" + best + "'?" : "";
  std::fflush(stdout);
  std::fprintf(stderr, "error: unknown command '%s'%s (commands: %s)\n", one_line(word).c_str(),
               hint.c_str(), command_list().c_str());
  return 2;
}

/// `--name=` with nothing after the sign: CLI11 would take the next argument as its value
/// (`--out= --noreport` made a folder named "--noreport"). Returns 0 if there is none.
int check_empty_values(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;  // what follows is another command's (enas launch ... -- CMD)
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=') {
      std::fflush(stdout);
      const std::string flag = enas::escaped(a.substr(0, a.size() - 1));
      std::fprintf(stderr, "error: %s= has an empty value: give one (%s=VALUE or %s VALUE)\n",
                   flag.c_str(), flag.c_str(), flag.c_str());
      return 2;
    }
  }
  return 0;
}

/// A file system error as our sentence: what failed, on which path, and the system's reason
/// ("cannot create directories /etc/passwd/x: Not a directory").
std::string file_system_message(const std::filesystem::filesystem_error& e) {
  std::string what = e.what();
  const std::string prefix = "filesystem error: ";
  if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());
  std::string action = what.substr(0, what.find(": "));
  if (action.empty() || action.find('[') != std::string::npos) action = "file system";
  std::string paths = e.path1().string();
  if (!e.path2().empty()) paths += " and " + e.path2().string();
  return fmt::format("{} {}: {}", action, paths.empty() ? "(no path)" : paths, e.code().message());
}

/// What was printed must have reached standard output (a full disk, /dev/full): else an error.
int check_stdout(int code) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (flushed && !std::ferror(stdout)) return code;
  const int err = errno;
  // errno is only this flush's: a write that failed earlier has left nothing to name.
  std::fprintf(stderr, "error: cannot write to standard output: %s\n",
               flushed || err == 0 ? "an earlier write failed" : std::strerror(err));
  return code == 0 ? 1 : code;
}

}  // namespace

namespace enas::cli {

int run_subcommand(const std::vector<std::string>& args) {
  std::vector<std::string> words{"enas"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv_words;
  for (auto& w : words) argv_words.push_back(w.data());
  argv_words.push_back(nullptr);
  const int argc = static_cast<int>(words.size());
  char** argv = argv_words.data();
  if (int bad = check_command(argc, argv)) return bad;
  if (int bad = check_empty_values(argc, argv)) return bad;
  State state = prescan(argc, argv);
  CLI::App app{"enas: Efficient Neural Architecture Search via Parameter Sharing, on libtorch"};
  app.require_subcommand(1, 1);
  add_run_command(app, state);
  add_train_command(app, state);
  add_search_command(app, state);
  add_draw_command(app, state);
  add_report_command(app, state);
  add_presets_command(app, state);
  add_bench_command(app, state);
  add_launch_command(app, state);
  add_deploy_commands(app, state);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError&) {
    // CLI11 2.1's own message lists the extras in reverse order ("3 --bogus_flag");
    // remaining() has them as given.
    std::string extras;
    for (const auto& a : app.remaining(true)) extras += (extras.empty() ? "" : " ") + a;
    std::fprintf(stderr, "error: unknown flag(s): %s (see `enas <command> --help`)\n",
                 one_line(extras).c_str());
    return 2;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s\n", one_line(e.what()).c_str());
    return 2;
  }
  return state.run ? state.run() : 0;
}

}  // namespace enas::cli

namespace {

int run(int argc, char** argv) {
  try {
    // With no arguments: the embedded pipeline (enas run's defaults).
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) args = {"run"};
    return enas::cli::run_subcommand(args);
  } catch (const enas::Interrupted& e) {
    return 128 + e.signal();  // the trainer has said where it stopped and how to resume
  } catch (const enas::Error& e) {
    return report(e.what());
  } catch (const std::bad_alloc&) {
    return report(out_of_memory(""));
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("allocate") != std::string::npos &&
        (what.find("memory") != std::string::npos ||
         what.find("Cannot allocate") != std::string::npos)) {
      return report(out_of_memory(what));
    }
    return report(std::string("torch: ") + what);
  } catch (const std::filesystem::filesystem_error& e) {
    return report(file_system_message(e));
  } catch (const std::exception& e) {
    return report(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  enas::retain_freed_memory();
  enas::install_stop_handlers();
  enas::install_terminate_net();
  return check_stdout(run(argc, argv));
}
