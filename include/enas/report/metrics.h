#pragma once
/// Reading a run's metrics.jsonl back (the reports, `enas report`, the tests): what the run's
/// MetricsListener (run/reporter.h) wrote, as a run that never stopped would have written it.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace enas {

/// The largest metrics.jsonl (and arcs.jsonl) a reader takes: a record in memory takes about ten
/// times its line, so a larger file would cost gigabytes.
inline constexpr uint64_t kMaxMetricsBytes = uint64_t{64} << 20;

/// The records of a metrics.jsonl as a run that never stopped would have written them: at each
/// "resume" record, what the interrupted process logged past the checkpoint resumed from (records
/// with a larger "step", or "ctrl_step") is dropped, since it was trained again. So the last value
/// per epoch is the one that counts. A line that is not JSON (a write cut by a crash) is skipped.
std::vector<nlohmann::json> read_metrics(const std::string& path);

}  // namespace enas
