#pragma once
/// The run report: one self-contained report.html in a run folder (no network, no other file,
/// no JavaScript: HTML, inline CSS and inline SVG) that shows what the folder holds. Its title
/// (search or final training, space, data set, architecture), a summary (finished or running,
/// epochs, accuracies or perplexities, time), config.json as a table, the curves drawn by
/// gnuplot's svg terminal (training loss and accuracy or perplexity, valid/test accuracy or
/// perplexity per epoch, learning rate, time per epoch; for a search the controller's reward,
/// baseline, entropy, skip rate (macro) and the score of the sampled architectures), the
/// drawings the folder holds (best_arc.svg, arc.svg: report/draw.h) and a search's top
/// architectures from arcs.jsonl. It reads the folder only, so it can be rebuilt at any time:
/// during a run (at each epoch's end) or after it (`enas report RUN`). Torch-free.
///
/// Element ids a reader (or a browser test) can rely on:
///   figure.plot#plot-train-loss, #plot-train-acc, #plot-eval-acc   image runs
///   figure.plot#plot-train-ppl, #plot-eval-ppl                      Penn Treebank runs
///   figure.plot#plot-lr, #plot-epoch-time                           every run with epochs
///   figure.plot#plot-ctrl-reward, #plot-ctrl-entropy                searches
///   figure.plot#plot-ctrl-skip                                      macro searches
///   figure.plot#plot-sampled-acc (#plot-sampled-ppl for rnn)        searches
///   figure.drawing#drawing-best-arc (best_arc.svg), #drawing-arc (arc.svg)
///   code#architecture, table#summary, table.config (#config-run, -child, -controller),
///   table#top-arcs (searches; tr.best: best_arc.txt's), p.note (each thing left out), among
///   them p#no-data (no training record yet) and p#no-gnuplot
/// A plot is present only where the records hold its data. Whether the folder is a search or a
/// final run is its "stage" record's command (else: a search leaves arcs.jsonl).
#include <string>
#include <vector>

namespace enas {

/// Writes `run_dir`/report.html atomically (util/files.h) and returns what it left out, one
/// sentence each (gnuplot not on PATH, a plot gnuplot could not draw, an unreadable file): the
/// page shows each as a note, and a caller that rewrites the report at every epoch warns once.
/// A missing or empty metrics.jsonl gives a page that says there is no data yet; malformed lines
/// are skipped. Throws enas::Error when `run_dir` is not a run folder ("X is not a run folder
/// (no config.json)") or report.html cannot be written.
std::vector<std::string> write_report(const std::string& run_dir);

/// The page write_report writes, without writing it; `warnings` gets what it left out.
std::string report_html(const std::string& run_dir, std::vector<std::string>& warnings);

/// Whether gnuplot is on PATH (without it the report has no curves).
bool gnuplot_available();

}  // namespace enas
