#pragma once
// The pieces of the run report (report/report.h), private to report/: what is read from a run
// folder, the curves as data, and the HTML helpers. report.cpp reads the folder and assembles the
// page, report_tables.cpp makes its summary and top architectures, report_plots.cpp turns the
// records into curves and the curves into SVG with gnuplot, report_parts.cpp the small helpers.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace enas {
class Space;
}

namespace enas::report {

/// One line of a search's arcs.jsonl, what the report uses of it (a long search writes hundreds
/// of thousands: they are not kept as JSON).
struct ScoredArc {
  std::string kind;       // controller (a sample of an update) | shown | derive
  std::string arc;        // the authors' format
  double score = 0;       // images: acc (derive: valid_acc); rnn: valid_ppl
  double ctrl_step = -1;  // the controller update that sampled it (controller samples)
  int64_t epoch = -1;     // -1 when not recorded (derive)
};

/// What a run folder holds, read once.
struct RunData {
  std::string dir;
  nlohmann::json config = nlohmann::json::object();  // config.json
  std::vector<nlohmann::json> metrics;               // metrics.jsonl, as read_metrics reads it
  std::vector<ScoredArc> arcs;                       // arcs.jsonl's lines that carry a score
  std::optional<nlohmann::json> result;              // result.json, once the run finished
  std::string best_arc_header, best_arc;             // best_arc.txt's "# enas ..." line and arc
  bool search = false;                               // a search (else a final training run)
  bool language = false;                             // the Penn Treebank cell (perplexities)
  const Space* space = nullptr;                      // config's search_for, when registered
  std::optional<nlohmann::json> eval;                // eval.json: `enas eval` on its own data

  /// config[key] as text ("" when absent), and as a number (`fallback` when not one).
  std::string text(const std::string& key) const;
  double number(const std::string& key, double fallback) const;
  /// The records of metrics.jsonl whose "kind" is `kind`, in order.
  std::vector<const nlohmann::json*> records(const std::string& kind) const;
};

/// One curve: (x, y) points, drawn as `style` (gnuplot's `with` clause).
struct Series {
  std::string title;
  std::vector<std::pair<double, double>> points;
  std::string style = "lines lw 1.5";
  bool y2 = false;  // on the right-hand axis
};

/// One figure of the page: its element id, a caption and the curves.
struct Plot {
  std::string id;  // "plot-train-loss": the figure's id, stable for tests and links
  std::string title, xlabel, ylabel, y2label, caption;
  bool log_y = false;
  std::vector<Series> series;
};

/// The curves the records hold, in page order; a curve without data is left out, and so is a
/// plot without curves.
std::vector<Plot> plots_of(const RunData& run);

/// The gnuplot program that draws `plot` as SVG on standard output, its data inline (`$d0 << EOD`
/// heredocs): no temporary file.
std::string gnuplot_script(const Plot& plot);

/// `plot` drawn by gnuplot (an enas::Error, worded, when it fails), as an <svg> element ready to
/// inline: prolog stripped, element ids prefixed with plot.id.
std::string render_plot(const Plot& plot);

/// A table's rows: a label (text) and its value (HTML, escaped already).
using Rows = std::vector<std::pair<std::string, std::string>>;

/// The summary table's rows: status (finished, interrupted, running), command, space, data set,
/// epochs, steps, the best and last valid/test accuracy or perplexity, a search's best
/// architecture's score, time, speed, parameters.
Rows summary_rows(const RunData& run);

/// A search's top architectures as a section holding table#top-arcs: those derivation scored on
/// the whole validation split when there are any, else those the controller sampled (scored on
/// one minibatch); each architecture once, with its best score and how often it was scored.
std::string top_arcs_section(const RunData& run);
/// The confusion matrix of `enas eval` on the run's own data (eval.json), or "" without one.
std::string confusion_section(const RunData& run);

/// A finite number at `record[key]`, if any (NaN and infinities are written as null in JSON).
/// These accessors never throw: a record of unexpected types is read as one without the field.
std::optional<double> finite_number(const nlohmann::json& record, const char* key);
/// `record[key]` when it is a string, else "".
std::string string_at(const nlohmann::json& record, const char* key);
/// `record[key]` rounded down when it is a finite number, else `fallback`.
int64_t integer_at(const nlohmann::json& record, const char* key, int64_t fallback);

/// `text` with &, <, >, " and ' replaced by entities.
std::string html_escape(const std::string& text);

/// The <svg>...</svg> element of an SVG document (XML prolog, DOCTYPE and comments before it
/// dropped) with every id, and the references to it, prefixed with `prefix` so that several
/// inlined drawings keep distinct ids; nullopt when `svg` holds no <svg> element or holds a
/// script (an SVG that is not ours is not inlined).
std::optional<std::string> inline_svg(const std::string& svg, const std::string& prefix);

/// An <img> of an SVG drawing read from the run folder, as a data: URI (alt text `alt`); nullopt
/// when `svg` holds no <svg> element. A file's text is never put into the page: an SVG shown as an
/// image runs no script and fetches nothing, whatever it holds.
std::optional<std::string> svg_image(const std::string& svg, const std::string& alt);

/// `value` for a table cell: up to 6 significant digits for a fraction, integers whole.
std::string number_text(double value);

}  // namespace enas::report
