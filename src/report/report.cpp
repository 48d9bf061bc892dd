// The run report's page: reading the run folder, the configuration, the curves and drawings as
// figures, and the page around them (the tables are report_tables.cpp's, the curves
// report_plots.cpp's).
#include "enas/report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>

#include "enas/report/metrics.h"
#include "enas/space/arc_text.h"
#include "enas/space/space.h"
#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/process.h"
#include "enas/util/text.h"
#include "report_parts.h"

namespace enas {

namespace report {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxJsonBytes = 4 << 20;  // config.json, result.json
constexpr uint64_t kMaxSvgBytes = 8 << 20;   // one drawing

/// Parses a small JSON file; nullopt (and a warning) when it is unreadable or not an object.
std::optional<nlohmann::json> read_json(const std::string& path, const std::string& what,
                                        std::vector<std::string>& warnings) {
  try {
    nlohmann::json j = parse_json(read_small_file(path, what, kMaxJsonBytes), path);
    if (j.is_object()) return j;
    warnings.push_back(fmt::format("{} is not a JSON object: left out", path));
  } catch (const Error& e) {
    warnings.push_back(e.what());
  }
  return std::nullopt;
}

/// The scored lines of arcs.jsonl into run.arcs (a line cut by a crash is skipped).
void read_arcs(const std::string& path, RunData& run) {
  std::istringstream in(read_small_file(path, "architectures file", kMaxMetricsBytes));
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json r = parse_json(line, path, /*lenient=*/true);
    if (!r.is_object() || !r.contains("arc") || !r["arc"].is_string()) continue;
    ScoredArc a;
    a.kind = string_at(r, "kind");
    const char* key = run.language ? "valid_ppl" : a.kind == "derive" ? "valid_acc" : "acc";
    const std::optional<double> score = finite_number(r, key);
    if (!score) continue;
    a.arc = r["arc"].get<std::string>();
    a.score = *score;
    a.ctrl_step = finite_number(r, "ctrl_step").value_or(-1);
    a.epoch = integer_at(r, "epoch", -1);
    run.arcs.push_back(std::move(a));
  }
}

/// Whether the run file `name` is there to be read. A symbolic link is left out, with a warning:
/// a report reads what its run wrote, never a file elsewhere.
bool run_file(const std::string& dir, const char* name, std::vector<std::string>& warnings) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir + "/" + name, ec);
  if (ec || !fs::exists(st)) return false;
  if (!fs::is_symlink(st)) return true;
  warnings.push_back(fmt::format(
      "{}/{} is a symbolic link: left out (a report reads only the files its run wrote)", dir,
      name));
  return false;
}

RunData load(const std::string& dir, std::vector<std::string>& warnings) {
  std::error_code ec;
  require(fs::is_directory(dir, ec), "{} is not a run folder (no such folder)", dir);
  require(fs::exists(fs::symlink_status(dir + "/config.json", ec)),
          "{} is not a run folder (no config.json)", dir);
  RunData run;
  run.dir = dir;
  if (run_file(dir, "config.json", warnings)) {
    if (auto config = read_json(dir + "/config.json", "config file", warnings)) {
      run.config = *config;
    }
  }
  if (run_file(dir, "metrics.jsonl", warnings)) {
    try {
      run.metrics = read_metrics(dir + "/metrics.jsonl");
    } catch (const Error& e) {
      warnings.push_back(e.what());
    } catch (const nlohmann::json::exception& e) {
      // read_metrics reads "kind" with json::value, which throws on a kind that is not a string.
      warnings.push_back(fmt::format("{}/metrics.jsonl could not be read: {}", dir, e.what()));
    }
  }
  for (const Space* s : all_spaces()) {
    if (run.text("search_for") == s->name()) run.space = s;
  }
  run.language = (run.space && run.space->language()) || !run.records("lm_step").empty();
  if (run_file(dir, "arcs.jsonl", warnings)) {
    try {
      read_arcs(dir + "/arcs.jsonl", run);
    } catch (const Error& e) {
      warnings.push_back(e.what());
    }
  }
  if (run_file(dir, "result.json", warnings)) {
    run.result = read_json(dir + "/result.json", "result file", warnings);
  }
  if (run_file(dir, "eval.json", warnings)) {
    run.eval = read_json(dir + "/eval.json", "evaluation file", warnings);
  }
  if (run_file(dir, "best_arc.txt", warnings)) {
    try {
      const std::string text = read_small_file(dir + "/best_arc.txt", "architecture file", 1 << 20);
      size_t start = 0;
      while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
          line.pop_back();
        }
        if (line.empty()) continue;
        if (line[0] == '#') {
          if (run.best_arc_header.empty()) run.best_arc_header = line;
        } else {
          run.best_arc += (run.best_arc.empty() ? "" : " ") + line;
        }
      }
    } catch (const Error& e) {
      warnings.push_back(e.what());
    }
  }
  // The command that made the folder: its "stage" record says; before those existed, a search
  // left arcs.jsonl (created when it starts), controller records or best_arc.txt behind. Not
  // child_fixed_arc: a search's config.json keeps its preset's.
  const auto stages = run.records("stage");
  if (!stages.empty() && !string_at(*stages.back(), "command").empty()) {
    run.search = string_at(*stages.back(), "command") == "search";
  } else {
    run.search = fs::exists(dir + "/arcs.jsonl", ec) || !run.best_arc.empty() ||
                 !run.records("controller").empty() ||
                 (run.result && run.result->contains("best_arc"));
  }
  return run;
}

std::string table_of(const Rows& rows, const std::string& attrs, const std::string& caption = "") {
  std::string s = "<table " + attrs + ">\n";
  if (!caption.empty()) s += "<caption>" + html_escape(caption) + "</caption>\n";
  for (const auto& [label, html] : rows) {
    s += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(label), html);
  }
  return s + "</table>\n";
}

/// A config value as a cell: strings as they are, floats to 6 significant digits (config.json
/// holds float fields widened to double: 0.699999988 is 0.7).
std::string config_value(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return number_text(v.get<double>());
  return v.dump();
}

std::string config_section(const RunData& run) {
  // Grouped as the flags are named: the child network's, the controller's, the rest.
  std::map<std::string, Rows> groups;
  for (const auto& [key, value] : run.config.items()) {
    const std::string group = key.rfind("child_", 0) == 0        ? "child"
                              : key.rfind("controller_", 0) == 0 ? "controller"
                                                                 : "run";
    groups[group].emplace_back(key, html_escape(config_value(value)));
  }
  std::string s =
      "<section id=\"configuration\">\n<h2>Configuration</h2>\n<div class=\"configs\">\n";
  for (const char* group : {"run", "child", "controller"}) {
    if (!groups.count(group)) continue;
    Rows& rows = groups[group];
    std::sort(rows.begin(), rows.end());
    s += table_of(rows, fmt::format("class=\"config\" id=\"config-{}\"", group), group);
  }
  return s + "</div>\n</section>\n";
}

std::string plots_section(const RunData& run, std::vector<std::string>& warnings) {
  std::string s = "<section id=\"curves\">\n<h2>Curves</h2>\n";
  const std::vector<Plot> plots = plots_of(run);
  if (plots.empty()) {
    return s +
           "<p class=\"note\" id=\"no-data\">No data yet: metrics.jsonl holds no training "
           "record.</p>\n</section>\n";
  }
  if (!gnuplot_available()) {
    warnings.push_back(
        "gnuplot was not found on PATH: the report has no curves (install gnuplot-nox)");
    return s +
           "<p class=\"note\" id=\"no-gnuplot\">gnuplot was not found on PATH, so the curves "
           "are left out: install gnuplot (Debian: gnuplot-nox) and rebuild the report with "
           "<code>enas report</code>.</p>\n</section>\n";
  }
  s += "<div class=\"plots\">\n";
  std::string notes;
  for (const Plot& plot : plots) {
    try {
      const std::string svg = render_plot(plot);
      s += fmt::format(
          "<figure class=\"plot\" id=\"{}\">\n{}\n<figcaption>{}</figcaption>\n"
          "</figure>\n",
          plot.id, svg, html_escape(plot.caption));
    } catch (const Error& e) {
      warnings.push_back(e.what());
      notes += fmt::format("<p class=\"note\">{} is left out: {}</p>\n", html_escape(plot.title),
                           html_escape(e.what()));
    }
  }
  return s + "</div>\n" + notes + "</section>\n";
}

std::string drawings_section(const RunData& run, std::vector<std::string>& warnings) {
  // The drawings a run makes (report/draw.h): a search's best architecture, a final run's.
  std::vector<std::string> names;
  std::error_code ec;
  for (const char* name : {"best_arc.svg", "arc.svg"}) {
    if (fs::is_regular_file(fs::symlink_status(run.dir + "/" + name, ec))) names.push_back(name);
  }
  if (names.empty()) return "";
  std::string s = "<section id=\"drawings\">\n<h2>Drawings</h2>\n";
  for (const std::string& name : names) {
    std::string id = "drawing-" + name.substr(0, name.size() - 4);
    for (char& c : id) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
    }
    std::string why;
    try {
      const auto image = svg_image(read_small_file(run.dir + "/" + name, "drawing", kMaxSvgBytes),
                                   "drawing of the architecture (" + name + ")");
      if (image) {
        s += fmt::format(
            "<figure class=\"drawing\" id=\"{}\">\n{}\n<figcaption>{}</figcaption>\n"
            "</figure>\n",
            id, *image, html_escape(name));
        continue;
      }
      why = fmt::format("{}/{} is not an SVG drawing of ours: left out", run.dir, name);
    } catch (const Error& e) {
      why = e.what();
    }
    warnings.push_back(why);
    s += "<p class=\"note\">" + html_escape(why) + "</p>\n";
  }
  return s + "</section>\n";
}

constexpr const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1400px;margin:1.5em auto;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
table{border-collapse:collapse;font-size:.9em}th,td{text-align:left;vertical-align:top;padding:.15em .7em;border-bottom:1px solid #e4e4e4}
caption{text-align:left;font-weight:bold;padding:.2em 0}
.configs{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:1em}
figure{margin:0 0 1em 0}figure svg{width:100%;height:auto}figure.drawing img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
.note{background:#fff6dc;border-left:4px solid #e0a800;padding:.4em .8em}
tr.best{background:#eef7ee}.meta{color:#666;font-size:.85em}
)css";

/// The whole page.
std::string page(const std::string& run_dir, std::vector<std::string>& warnings) {
  const RunData run = load(run_dir, warnings);
  const std::vector<std::string> unreadable = warnings;  // the sections show their own notes
  // A final run's architecture: its result's, else the file it was given (--from_search,
  // --child_fixed_arc_file: config.json's child_fixed_arc is then the preset's, not trained).
  std::string arc = run.search ? run.best_arc : "";
  if (!run.search && run.result) arc = string_at(*run.result, "arc");
  if (!run.search && arc.empty() && !run.text("child_fixed_arc_file").empty()) {
    try {
      arc = join_ints(
          parse_int_list(read_arc_file(run.text("child_fixed_arc_file")), "architecture file"));
    } catch (const Error& e) {
      warnings.push_back(e.what());
    }
  }
  if (!run.search && arc.empty()) arc = run.text("child_fixed_arc");
  const std::string folder = fs::path(run_dir).filename().string().empty()
                                 ? run_dir
                                 : fs::path(run_dir).filename().string();
  const std::string title =
      fmt::format("enas {}: {} space, {}", run.search ? "search" : "final training",
                  run.text("search_for"), run.text("dataset"));
  // Each section notes what it leaves out in place (and in `warnings`); the notes at the top
  // are those of files that could not be read.
  const std::string body = plots_section(run, warnings) + drawings_section(run, warnings) +
                           (run.search ? top_arcs_section(run) : "") + confusion_section(run) +
                           config_section(run);
  char stamp[64] = "";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", &tm);

  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      // No script runs and nothing is fetched, whatever a run folder's files hold: the page's
      // own CSS and curves are inline, its drawings data: images.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src "
      "data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<link rel=\"icon\" href=\"data:,\">\n";
  s += fmt::format("<title>{} ({})</title>\n<style>{}</style>\n</head>\n<body>\n",
                   html_escape(title), html_escape(folder), kStyle);
  s += fmt::format("<h1 id=\"title\">{}</h1>\n", html_escape(title));
  s += fmt::format(
      "<p class=\"arc\">{}: <code id=\"architecture\">{}</code></p>\n",
      run.search ? "best architecture" : "architecture",
      arc.empty() ? (run.search ? "not derived yet" : "the default") : html_escape(arc));
  s += fmt::format("<p class=\"meta\">Run folder <code>{}</code>, report written {}.</p>\n",
                   html_escape(run_dir), stamp);
  for (const std::string& w : unreadable) s += "<p class=\"note\">" + html_escape(w) + "</p>\n";
  s += "<section id=\"summary-section\">\n<h2>Summary</h2>\n";
  s += table_of(summary_rows(run), "id=\"summary\"");
  s += "</section>\n" + body + "</body>\n</html>\n";
  return s;
}

}  // namespace
}  // namespace report

bool gnuplot_available() { return program_on_path("gnuplot"); }

std::string report_html(const std::string& run_dir, std::vector<std::string>& warnings) {
  try {
    return report::page(run_dir, warnings);
  } catch (const nlohmann::json::exception& e) {
    // The records are read through accessors that do not throw: this would be a bug here, and
    // still not a reason to stop a training run.
    fail("cannot build the report of {}: {}", run_dir, e.what());
  }
}

std::vector<std::string> write_report(const std::string& run_dir) {
  std::vector<std::string> warnings;
  const std::string html = report_html(run_dir, warnings);
  write_file_atomic(run_dir + "/report.html", html);
  return warnings;
}

}  // namespace enas
