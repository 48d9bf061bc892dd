#pragma once
/// Running a helper program as a filter: text in on its standard input, its standard output back
/// as a string. Graphviz's `dot` (report/draw.h) and gnuplot (report/report.h) are run this way,
/// with posix_spawn (no shell, no fork of a large training process) and poll() on all three pipes
/// so that neither side waits for the other however large the text. Torch-free.
#include <string>
#include <vector>

namespace enas {

/// The full path of `program` on PATH ("" when absent). Empty PATH entries (the current folder)
/// are skipped: a run should not execute whatever `dot` or `gnuplot` sits in its working folder.
/// A `program` holding a '/' is taken as a path and returned when it is an executable file.
std::string find_on_path(const std::string& program);

/// Whether `program` is on PATH (find_on_path finds it).
bool program_on_path(const std::string& program);

/// What a filter printed and how it ended.
struct ProcessResult {
  std::string out;   // its standard output, whole
  std::string err;   // its standard error, the first 64 KiB
  int status = 0;    // as waitpid() reports it
  int io_errno = 0;  // a failure of poll/read/write/waitpid here, 0 when none
};

/// Runs the executable `path` with `args` (argv[0] is `path`'s last component), feeds it `input`
/// and collects what it prints. The child gets default signal handling; the pipes close on exec,
/// so no other child inherits them; a SIGPIPE from a filter that stopped reading is discarded
/// (its exit status says why), never delivered to the caller. Throws enas::Error only when the
/// program cannot be started or a pipe cannot be made; every other outcome is in the result.
ProcessResult run_process(const std::string& path, const std::vector<std::string>& args,
                          const std::string& input);

/// `program` (looked up with find_on_path) run on `input` with `args`: its standard output.
/// Throws enas::Error, its message starting with the command in backquotes ("`dot -Tsvg`
/// failed (exit status 1): <its first line of standard error>"), when the program is not on
/// PATH, cannot be started, is killed by a signal, exits with a non-zero status, or the pipes
/// fail.
std::string run_filter(const std::string& program, const std::vector<std::string>& args,
                       const std::string& input);

/// The first non-empty line of `text`, trailing blanks removed ("no message" when there is none):
/// what an error quotes of a program's standard error.
std::string first_line(const std::string& text);

}  // namespace enas
