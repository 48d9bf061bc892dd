#pragma once
/// What the image and the Penn Treebank jobs (jobs.cpp, lm_jobs.cpp) share.
#include <nlohmann/json.hpp>
#include <string>

#include "enas/run/session.h"
#include "enas/train/search_loop.h"

namespace enas {

/// `enas derive`'s work once `trainer` is built: restores `checkpoint`, derives (the
/// architectures shared among the session's processes), writes best_arc.txt / best_arc.json and
/// reports the winner; returns its fields (best_arc, the score, samples, best_arc_file).
nlohmann::json derive_in(Session& session, SearchLoop& trainer, const std::string& checkpoint);

/// A search's result.json: the session's fields, the derived best_arc and its score, the
/// search's own fields and best_arc_file.
nlohmann::json search_result(const Session& session, const SearchResult& result, int64_t params);

}  // namespace enas
