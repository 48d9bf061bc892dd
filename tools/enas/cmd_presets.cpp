// `enas presets [NAME]`: list the presets, or show every value of one.
#include <fmt/format.h>

#include "cli.h"
#include "enas/config/presets.h"

namespace enas::cli {

namespace {

int run_presets(const std::string& name, bool json) {
  if (name.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : all_presets()) {
      fmt::print("{:<22s} {:<7s} {}  [{}]\n", p.name, p.command, p.summary, p.source);
      list.push_back({{"name", p.name}, {"command", p.command}, {"source", p.source}});
    }
    if (json) print_json_line(list);
    return 0;
  }
  const Preset& p = find_preset(name);
  Config c;
  p.apply(c);
  c.preset = p.name;
  fmt::print("preset {} ({}), for `enas {}`: {}\n", p.name, p.source, p.command, p.summary);
  fmt::print("{}", format_config(c));
  if (json) print_json_line(to_json(c));
  return 0;
}

}  // namespace

void add_presets_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand("presets", "list the presets, or show every value of one");
  static std::string name;
  sub->add_option("name", name, "preset to show");
  sub->add_flag("--json", state.json, "end with one JSON line");
  sub->callback([&state] { state.run = [&state] { return run_presets(name, state.json); }; });
}

}  // namespace enas::cli
