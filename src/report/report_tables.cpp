// The run report's tables: the summary of a run and a search's top architectures.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "report_parts.h"

namespace enas::report {

namespace {

/// The run's wall time, as a reader says it: "1 h 02 min", "4 min 05 s", "12.3 s".
std::string duration_text(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, s % 3600 / 60);
}

/// `key`=value in best_arc.txt's header ("... valid_acc=0.8125").
std::optional<double> header_score(const std::string& header, const std::string& key) {
  const size_t at = header.find(" " + key + "=");
  if (at == std::string::npos) return std::nullopt;
  try {
    return std::stod(header.substr(at + key.size() + 2));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

Rows summary_rows(const RunData& run) {
  Rows rows;
  auto add = [&](const std::string& label, const std::string& html) {
    rows.emplace_back(label, html);
  };
  const nlohmann::json result = run.result.value_or(nlohmann::json::object());
  std::string status = "running (no result.json yet)";
  for (const auto& r : run.metrics) {
    const std::string kind = string_at(r, "kind");
    if (kind == "interrupted") {
      status = fmt::format("interrupted by {} {}: continue with --resume", string_at(r, "signal"),
                           string_at(r, "where"));
    } else if (kind == "resume") {
      status = "running (no result.json yet)";
    }
  }
  if (run.result) status = "finished";
  add("status", html_escape(status));
  add("command", run.search ? "search" : "final training");
  const auto stages = run.records("stage");
  if (!stages.empty() && integer_at(*stages.back(), "stages", 1) > 1) {
    add("pipeline stage", fmt::format("{} of {} (enas run)", integer_at(*stages.back(), "stage", 0),
                                      integer_at(*stages.back(), "stages", 0)));
  }
  add("space", html_escape(run.text("search_for")));
  add("dataset", html_escape(run.text("dataset")));

  int64_t epochs = 0, steps = 0;
  double epoch_seconds = 0, step_minutes = 0;
  std::optional<double> speed;
  for (const auto& r : run.metrics) {
    const std::string kind = string_at(r, "kind");
    if (kind == "epoch" || kind == "lm_epoch") {
      epochs = std::max(epochs, integer_at(r, "epoch", 0));
      epoch_seconds += finite_number(r, "seconds").value_or(0);
      speed = finite_number(r, kind == "epoch" ? "images_per_s" : "tokens_per_s");
    }
    if (kind == "step" || kind == "lm_step" || kind == "epoch" || kind == "lm_epoch") {
      steps = std::max(steps, integer_at(r, "step", 0));
    }
    if (kind == "step") step_minutes = finite_number(r, "minutes").value_or(step_minutes);
  }
  if (auto e = finite_number(result, "epochs")) epochs = static_cast<int64_t>(*e);
  add("epochs", fmt::format("{} of {}", epochs, number_text(run.number("num_epochs", 0))));
  add("steps", fmt::format("{}", steps));

  // Scores: the best and last of each split, as the run measured them.
  const char* kind = run.language ? "lm_eval" : "eval";
  const char* key = run.language ? "ppl" : "accuracy";
  const char* what = run.language ? "perplexity" : "accuracy";
  bool tested = false;
  for (const char* split : {"valid", "test"}) {
    std::optional<double> best, last;
    for (const auto* r : run.records(kind)) {
      if (string_at(*r, "split") != split) continue;
      const auto v = finite_number(*r, key);
      if (!v) continue;
      last = v;
      if (!best || (run.language ? *v < *best : *v > *best)) best = v;
    }
    if (!last) continue;
    tested = tested || std::string(split) == "test";
    const std::string prefix = run.search && !run.language ? "shared weights, " : "";
    if (*best != *last) add(fmt::format("{}best {} {}", prefix, split, what), number_text(*best));
    add(fmt::format("{}last {} {}", prefix, split, what), number_text(*last));
  }
  if (!run.search) {
    // The final test score is also an eval record; result.json's stands in where none is.
    const char* test_key = run.language ? "test_ppl" : "test_acc";
    const auto t = finite_number(result, test_key);
    if (!tested && t && *t >= 0) add(fmt::format("test {}", what), number_text(*t));
  } else {
    const std::string score = run.language ? "valid_ppl" : "valid_acc";
    std::optional<double> s = finite_number(result, score.c_str());
    if (!s) s = header_score(run.best_arc_header, score);
    if (s) add(fmt::format("best architecture's {}", score), number_text(*s));
    const auto ctrl = run.records("controller");
    if (!ctrl.empty()) {
      add("controller updates", fmt::format("{}", integer_at(*ctrl.back(), "ctrl_step", 0)));
    }
  }
  double seconds = std::max(epoch_seconds, step_minutes * 60);
  if (auto s = finite_number(result, "seconds")) seconds = *s;
  if (seconds > 0) add("time", duration_text(seconds));
  if (speed) add(run.language ? "tokens per second" : "images per second", number_text(*speed));
  if (auto p = finite_number(result, "params")) add("parameters", number_text(*p));
  return rows;
}

/// A search's best architectures: those derivation scored on the whole validation split when
/// there are any, else those the controller sampled (scored on one minibatch); each once, with
/// its best score and how often it was scored.
std::string top_arcs_section(const RunData& run) {
  constexpr size_t kTopArcs = 10;
  struct Ranked {
    const ScoredArc* best;  // its best score
    int count;              // how often it was scored
  };
  const bool derived = std::any_of(run.arcs.begin(), run.arcs.end(),
                                   [](const ScoredArc& a) { return a.kind == "derive"; });
  auto better = [&](double a, double b) { return run.language ? a < b : a > b; };
  std::map<std::string, Ranked> by_arc;
  for (const ScoredArc& a : run.arcs) {
    if ((a.kind == "derive") != derived) continue;
    auto [it, fresh] = by_arc.try_emplace(a.arc, Ranked{&a, 0});
    Ranked& r = it->second;
    ++r.count;
    if (!fresh && better(a.score, r.best->score)) r.best = &a;
  }
  std::vector<Ranked> ranked;
  for (auto& [arc, r] : by_arc) ranked.push_back(r);
  std::stable_sort(ranked.begin(), ranked.end(), [&](const Ranked& a, const Ranked& b) {
    return better(a.best->score, b.best->score);
  });
  if (ranked.size() > kTopArcs) ranked.resize(kTopArcs);

  std::string s = "<section id=\"top-architectures\">\n<h2>Top architectures</h2>\n";
  if (ranked.empty()) return s + "<p class=\"note\">No architecture scored yet.</p>\n</section>\n";
  s += derived ? "<p>Scored on the whole validation split by derivation.</p>\n"
               : "<p>Sampled by the controller, each scored on one validation minibatch "
                 "(derivation has not run yet).</p>\n";
  s += fmt::format(
      "<table id=\"top-arcs\" class=\"arcs\">\n<tr><th>#</th><th>{}</th><th>epoch</th>"
      "<th>scored</th><th>architecture (<code>--child_fixed_arc</code>)</th></tr>\n",
      run.language ? "valid ppl" : "valid acc");
  for (size_t i = 0; i < ranked.size(); ++i) {
    const ScoredArc& a = *ranked[i].best;
    s += fmt::format(
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>"
        "</tr>\n",
        a.arc == run.best_arc ? " class=\"best\"" : "", i + 1, number_text(a.score),
        a.epoch >= 0 ? std::to_string(a.epoch) : "", ranked[i].count, html_escape(a.arc));
  }
  return s + "</table>\n</section>\n";
}

std::string confusion_section(const RunData& run) {
  if (!run.eval) return "";
  const nlohmann::json& e = *run.eval;
  std::string s = "<section id=\"confusion\">\n<h2>Confusion matrix</h2>\n";
  try {
    const auto classes = e.at("classes").get<std::vector<std::string>>();
    const auto m = e.at("confusion").get<std::vector<std::vector<int64_t>>>();
    if (m.size() != classes.size()) throw std::runtime_error("rows and classes differ");
    s += fmt::format(
        "<p><code>enas eval</code> on the {} split of {}: {} images, accuracy {}. A row is the "
        "true class, a column the predicted one; the shade is the row's share.</p>\n",
        html_escape(e.value("split", "")), html_escape(e.value("dataset", "")),
        e.value("images", int64_t{0}), number_text(e.value("accuracy", 0.0)));
    s += "<table id=\"confusion-matrix\" class=\"confusion\">\n<tr><th></th>";
    for (const auto& c : classes) s += "<th>" + html_escape(c) + "</th>";
    s += "</tr>\n";
    for (size_t r = 0; r < m.size(); ++r) {
      if (m[r].size() != classes.size()) throw std::runtime_error("a row of another length");
      int64_t total = 0;
      for (int64_t v : m[r]) total += v;
      s += "<tr><th>" + html_escape(classes[r]) + "</th>";
      for (size_t c = 0; c < m[r].size(); ++c) {
        const double share = total > 0 ? static_cast<double>(m[r][c]) / total : 0.0;
        // Correct predictions shade green, errors red, by their share of the row.
        s += fmt::format("<td style=\"background:rgba({},{:.3f})\">{}</td>",
                         r == c ? "40,160,60" : "210,50,40", share * 0.8, m[r][c]);
      }
      s += "</tr>\n";
    }
    s += "</table>\n";
  } catch (const std::exception& ex) {
    s += fmt::format("<p class=\"note\">eval.json could not be read: {}</p>\n",
                     html_escape(ex.what()));
  }
  return s + "</section>\n";
}

}  // namespace enas::report
