// The run report's curves: which records make which plot, the gnuplot program that draws one,
// and running it (util/process.h).
#include <fmt/format.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "enas/space/space.h"
#include "enas/util/error.h"
#include "enas/util/process.h"
#include "report_parts.h"

namespace enas::report {

namespace {

using Points = std::vector<std::pair<double, double>>;

// A curve of more points than this is thinned: a 310-epoch search logs ~15,000 controller
// updates, and every point is an SVG path segment (a marker: a <use> element) in the page.
constexpr size_t kMaxLinePoints = 1500;
constexpr size_t kMaxMarkers = 2000;

// matplotlib's first colours: what readers of DARTS and ENAS plots are used to.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};

/// (record[x], record[y]) of every record holding both, optionally only those whose "split"
/// is `split`.
Points points_of(const std::vector<const nlohmann::json*>& records, const char* x, const char* y,
                 const char* split = nullptr) {
  Points out;
  for (const nlohmann::json* r : records) {
    if (split && string_at(*r, "split") != split) continue;
    const auto xv = finite_number(*r, x), yv = finite_number(*r, y);
    if (xv && yv) out.emplace_back(*xv, *yv);
  }
  return out;
}

/// At most kMaxLinePoints: the means of runs of consecutive points (a line keeps its shape).
Points thin_line(const Points& p) {
  if (p.size() <= kMaxLinePoints) return p;
  const size_t k = (p.size() + kMaxLinePoints - 1) / kMaxLinePoints;
  Points out;
  for (size_t i = 0; i < p.size(); i += k) {
    const size_t end = std::min(p.size(), i + k);
    double sx = 0, sy = 0;
    for (size_t j = i; j < end; ++j) sx += p[j].first, sy += p[j].second;
    out.emplace_back(sx / (end - i), sy / (end - i));
  }
  return out;
}

/// At most kMaxMarkers: every k-th point (a cloud keeps its spread, which means would hide).
Points thin_markers(const Points& p) {
  if (p.size() <= kMaxMarkers) return p;
  const size_t k = (p.size() + kMaxMarkers - 1) / kMaxMarkers;
  Points out;
  for (size_t i = 0; i < p.size(); i += k) out.push_back(p[i]);
  return out;
}

Series line(std::string title, const Points& p, bool y2 = false) {
  return {std::move(title), thin_line(p), "lines lw 1.5", y2};
}
Series markers(std::string title, const Points& p) {
  return {std::move(title), thin_markers(p), "points pt 7 ps 0.4", false};
}
Series line_points(std::string title, const Points& p, bool y2 = false) {
  return {std::move(title), thin_line(p), "linespoints lw 1.5 pt 7 ps 0.6", y2};
}

/// Adds `plot` when one of its curves has a point, without the empty curves.
void add(std::vector<Plot>& plots, Plot plot) {
  plot.series.erase(std::remove_if(plot.series.begin(), plot.series.end(),
                                   [](const Series& s) { return s.points.empty(); }),
                    plot.series.end());
  if (!plot.series.empty()) plots.push_back(std::move(plot));
}

/// A gnuplot double-quoted string.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

/// The last non-empty line gnuplot printed: after an echo of the offending command and a caret,
/// its message ("line 3: all points y value undefined!").
std::string last_line(const std::string& text) {
  std::string last;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string one = first_line(text.substr(start, end - start));
    if (one != "no message") last = one;
    start = end + 1;
  }
  return last.empty() ? "no message" : last;
}

}  // namespace

std::vector<Plot> plots_of(const RunData& run) {
  std::vector<Plot> plots;
  const auto steps = run.records(run.language ? "lm_step" : "step");
  const auto epochs = run.records(run.language ? "lm_epoch" : "epoch");
  if (run.language) {
    // Perplexities span orders of magnitude (10,000 at the start, below 100 at the end).
    add(plots, {"plot-train-ppl",
                "training perplexity",
                "step",
                "perplexity",
                "",
                "Perplexity of the training segments since the epoch began, at every logged step, "
                "and over each whole epoch.",
                true,
                {line("logged steps", points_of(steps, "step", "ppl")),
                 line_points("epoch", points_of(epochs, "step", "train_ppl"))}});
    const auto evals = run.records("lm_eval");
    add(plots, {"plot-eval-ppl",
                "validation and test perplexity",
                "epoch",
                "perplexity",
                "",
                "Perplexity on the whole validation and test text after each epoch.",
                true,
                {line_points("valid", points_of(evals, "epoch", "ppl", "valid")),
                 line_points("test", points_of(evals, "epoch", "ppl", "test")),
                 line_points("train", points_of(epochs, "epoch", "train_ppl"))}});
  } else {
    add(plots, {"plot-train-loss",
                "training loss",
                "step",
                "cross-entropy",
                "",
                "Loss of the logged minibatches, and the mean over each epoch.",
                false,
                {line("logged minibatches", points_of(steps, "step", "loss")),
                 line_points("epoch mean", points_of(epochs, "step", "train_loss"))}});
    add(plots, {"plot-train-acc",
                "training accuracy",
                "step",
                "accuracy",
                "",
                "Accuracy of the logged minibatches, and over each epoch.",
                false,
                {line("logged minibatches", points_of(steps, "step", "train_acc")),
                 line_points("epoch", points_of(epochs, "step", "train_acc"))}});
    const auto evals = run.records("eval");
    add(plots, {"plot-eval-acc",
                "validation and test accuracy",
                "epoch",
                "accuracy",
                "",
                run.search ? "Accuracy of the shared weights on the whole splits, a freshly "
                             "sampled architecture for every batch (as the authors' eval_once)."
                           : "Accuracy on the whole validation and test splits.",
                false,
                {line_points("valid", points_of(evals, "epoch", "accuracy", "valid")),
                 line_points("test", points_of(evals, "epoch", "accuracy", "test"))}});
  }
  {
    Points lr = points_of(steps, "step", "lr");
    const char* x = "step";
    if (lr.empty()) {
      lr = points_of(epochs, "epoch", "lr");
      x = "epoch";
    }
    add(plots, {"plot-lr",
                "learning rate",
                x,
                "learning rate",
                "",
                "The child's learning rate as the schedule set it.",
                false,
                {line("learning rate", lr)}});
  }
  if (run.language) {
    add(plots, {"plot-epoch-time",
                "training speed per epoch",
                "epoch",
                "tokens per second",
                "",
                "Training tokens per second of each epoch.",
                false,
                {line_points("tokens/s", points_of(epochs, "epoch", "tokens_per_s"))}});
  } else {
    add(plots, {"plot-epoch-time",
                "time per epoch",
                "epoch",
                "seconds",
                "images per second",
                "Wall time of each epoch's training pass, and its images per second.",
                false,
                {line_points("seconds", points_of(epochs, "epoch", "seconds")),
                 line_points("images/s", points_of(epochs, "epoch", "images_per_s"), true)}});
  }
  if (!run.search) return plots;

  const auto ctrl = run.records("controller");
  add(plots, {"plot-ctrl-reward",
              "controller reward",
              "controller step",
              "reward",
              "",
              "Mean reward of each controller update and the moving-average baseline it is "
              "compared with.",
              false,
              {line("reward", points_of(ctrl, "ctrl_step", "reward")),
               line("baseline", points_of(ctrl, "ctrl_step", "baseline"))}});
  add(plots, {"plot-ctrl-entropy",
              "controller entropy",
              "controller step",
              "entropy",
              "",
              "Entropy of the sampled architectures' decisions: it falls as the policy settles.",
              false,
              {line("entropy", points_of(ctrl, "ctrl_step", "entropy"))}});
  if (run.space && run.space->has_skips()) {
    add(plots, {"plot-ctrl-skip",
                "skip rate",
                "controller step",
                "skip rate",
                "",
                "Fraction of the possible skip connections the sampled architectures use.",
                false,
                {line("skip rate", points_of(ctrl, "ctrl_step", "skip_rate"))}});
  }
  Points sampled;
  for (const ScoredArc& a : run.arcs) {
    if (a.kind == "controller" && a.ctrl_step >= 0) sampled.emplace_back(a.ctrl_step, a.score);
  }
  if (run.language) {
    add(plots, {"plot-sampled-ppl",
                "perplexity of the sampled architectures",
                "controller step",
                "validation perplexity",
                "",
                "Validation perplexity of each architecture the controller sampled (its reward's "
                "measure), and the mean of each update.",
                true,
                {markers("sampled", sampled),
                 line("update mean", points_of(ctrl, "ctrl_step", "valid_ppl"))}});
  } else {
    add(plots,
        {"plot-sampled-acc",
         "accuracy of the sampled architectures",
         "controller step",
         "validation accuracy",
         "",
         "Accuracy of each architecture the controller sampled on one validation "
         "minibatch (its reward's measure), and the mean of each update.",
         false,
         {markers("sampled", sampled), line("update mean", points_of(ctrl, "ctrl_step", "acc"))}});
  }
  return plots;
}

std::string gnuplot_script(const Plot& plot) {
  std::string s =
      "set terminal svg size 640,360 dynamic enhanced font 'sans,10' background '#ffffff'\n"
      "set output\n"
      "set encoding utf8\n";
  s += fmt::format("set title {} noenhanced\n", quoted(plot.title));
  s += fmt::format("set xlabel {} noenhanced\n", quoted(plot.xlabel));
  s += fmt::format("set ylabel {} noenhanced\n", quoted(plot.ylabel));
  // The key under the plot, where no curve runs; none for one curve (the title names it). The
  // x axis ends where the data do.
  s += plot.series.size() > 1 ? "set key below horizontal noenhanced\n" : "unset key\n";
  s += "set grid\nset autoscale xfix\nset format x '%g'\nset format y '%g'\n";
  const bool y2 =
      std::any_of(plot.series.begin(), plot.series.end(), [](const Series& x) { return x.y2; });
  if (y2) {
    s += fmt::format("set y2label {} noenhanced\nset y2tics\nset ytics nomirror\n",
                     quoted(plot.y2label));
  }
  if (plot.log_y) s += "set logscale y\n";
  // Epochs and controller steps are counts: a short run gets a tick per count, not 1.5.
  double lo = INFINITY, hi = -INFINITY;
  bool counts = true;
  for (const Series& series : plot.series) {
    for (const auto& [x, y] : series.points) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      counts = counts && x == std::floor(x);
    }
  }
  if (counts && hi - lo <= 10) s += "set xtics 1\n";
  std::vector<std::string> parts;
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const Series& series = plot.series[i];
    s += fmt::format("$d{} << EOD\n", i);
    for (const auto& [x, y] : series.points) {
      if (plot.log_y && y <= 0) continue;  // not on a log scale
      s += fmt::format("{:.10g} {:.10g}\n", x, y);
    }
    s += "EOD\n";
    // A line of one point draws nothing (a run's first epoch shows as a point), and markers on
    // hundreds of epochs hide the line.
    const bool lonely = series.points.size() < 3 && series.style.rfind("lines ", 0) == 0;
    const bool crowded = series.points.size() > 40 && series.style.rfind("linespoints", 0) == 0;
    parts.push_back(fmt::format(
        "$d{} using 1:2{} with {} lc rgb '{}' title {}", i, series.y2 ? " axes x1y2" : "",
        lonely    ? "linespoints lw 1.5 pt 7 ps 0.6"
        : crowded ? "lines lw 1.5"
                  : series.style,
        kColours[i % (sizeof kColours / sizeof *kColours)], quoted(series.title)));
  }
  s += "plot ";
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", \\\n     " : "") + parts[i];
  return s + "\n";
}

std::string render_plot(const Plot& plot) {
  const std::string program = find_on_path("gnuplot");
  require(!program.empty(), "gnuplot was not found on PATH");
  // -d: no ~/.gnuplot or system-wide initialisation, so that every machine draws the same.
  const ProcessResult res = run_process(program, {"-d"}, gnuplot_script(plot));
  require(res.io_errno == 0, "plot {}: talking to gnuplot failed: {}", plot.id,
          std::strerror(res.io_errno));
  if (WIFSIGNALED(res.status)) {
    fail("plot {}: gnuplot was killed by signal {}", plot.id, WTERMSIG(res.status));
  }
  require(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0,
          "plot {}: gnuplot failed (exit status {}): {}", plot.id, WEXITSTATUS(res.status),
          last_line(res.err));
  std::optional<std::string> svg = inline_svg(res.out, plot.id);
  require(svg.has_value(), "plot {}: gnuplot printed no SVG", plot.id);
  // gnuplot titles every plot "Gnuplot": a browser shows it as the plot's tooltip.
  const std::string generic = "<title>Gnuplot</title>";
  const size_t at = svg->find(generic);
  if (at != std::string::npos) {
    svg->replace(at, generic.size(), "<title>" + html_escape(plot.title) + "</title>");
  }
  return *svg;
}

}  // namespace enas::report
