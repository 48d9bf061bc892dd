#include "enas/report/metrics.h"

#include <algorithm>
#include <sstream>

#include "enas/util/error.h"
#include "enas/util/files.h"
#include "enas/util/text.h"

namespace enas {

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::istringstream in(read_small_file(path, "metrics file", kMaxMetricsBytes));
  std::vector<nlohmann::json> records;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json r = parse_json(line, path, /*lenient=*/true);
    if (!r.is_object()) continue;
    // A field of another type than ours is no resume (value() would throw on it).
    const auto kind = r.find("kind");
    const auto at = r.find("step"), at_ctrl = r.find("ctrl_step");
    if (kind != r.end() && kind->is_string() && *kind == "resume" &&
        (at == r.end() || at->is_number_integer())) {
      const int64_t step = at != r.end() && at->is_number_integer() ? at->get<int64_t>() : 0;
      const int64_t ctrl =
          at_ctrl != r.end() && at_ctrl->is_number_integer() ? at_ctrl->get<int64_t>() : -1;
      auto redone = [&](const nlohmann::json& e) {
        if (e.contains("step") && e["step"].is_number_integer() &&
            e["step"].get<int64_t>() > step) {
          return true;
        }
        return ctrl >= 0 && e.contains("ctrl_step") && e["ctrl_step"].is_number_integer() &&
               e["ctrl_step"].get<int64_t>() > ctrl;
      };
      records.erase(std::remove_if(records.begin(), records.end(), redone), records.end());
    }
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace enas
