// enas: Efficient Neural Architecture Search (Pham et al., 2018) on libtorch.
// main() is the one place that turns errors into messages and exit codes.
#include <cstdio>
#include <string>

#include "cli.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

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

}  // namespace

int main(int argc, char** argv) {
  enas::retain_freed_memory();
  try {
    enas::cli::State state = enas::cli::prescan(argc, argv);
    CLI::App app{"enas: Efficient Neural Architecture Search via Parameter Sharing, on libtorch"};
    app.require_subcommand(1, 1);
    enas::cli::add_train_command(app, state);
    enas::cli::add_search_command(app, state);
    enas::cli::add_presets_command(app, state);
    enas::cli::add_bench_command(app, state);
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
  } catch (const enas::Error& e) {
    return report(e.what());
  } catch (const c10::Error& e) {
    return report(std::string("torch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return report(e.what());
  }
}
