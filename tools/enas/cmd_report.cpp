// `enas report RUN`: rebuilds a run folder's report.html from what the folder holds (runs also
// rewrite it at every checkpoint). A pipeline's folder (`enas run`) gets both stages' reports.
#include <fmt/format.h>

#include <filesystem>

#include "cli.h"
#include "enas/report/report.h"
#include "enas/util/error.h"
#include "enas/util/text.h"

namespace enas::cli {

namespace {

namespace fs = std::filesystem;

int run_report(const std::string& dir, bool json) {
  require_text("the run folder argument", dir);
  std::vector<std::string> folders{dir};
  if (!fs::exists(dir + "/config.json")) {
    // A pipeline's folder holds its stages' run folders.
    std::vector<std::string> stages;
    for (const char* stage : {"search", "train"}) {
      if (fs::exists(dir + "/" + stage + "/config.json")) stages.push_back(dir + "/" + stage);
    }
    if (!stages.empty()) folders = stages;
  }
  nlohmann::json written = nlohmann::json::array();
  for (const auto& f : folders) {
    for (const auto& w : write_report(f)) warn("report: " + w);
    write_stdout(fmt::format("wrote {}/report.html\n", f));
    written.push_back(f + "/report.html");
  }
  if (json) print_json_line({{"reports", written}});
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand(
      "report", "rebuild a run folder's report.html (configuration, curves, drawings)");
  static std::string dir;
  sub->add_option("run", dir, "the run folder (or an `enas run` pipeline's folder)")->required();
  sub->add_flag("--json", state.json, "end with one JSON line");
  sub->callback([&state] { state.run = [&state] { return run_report(dir, state.json); }; });
}

}  // namespace enas::cli
