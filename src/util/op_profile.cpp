#include "enas/util/op_profile.h"

#include <ATen/record_function.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "enas/util/error.h"

namespace enas {

namespace {

using Clock = std::chrono::steady_clock;

struct Frame {
  Clock::time_point start;
  std::string key;
  double child_ms = 0;
};

// Callbacks are plain function pointers: they reach the live profile through this.
std::mutex g_mutex;
std::shared_ptr<void> g_active;  // the live OpProfile::State, type-erased
thread_local std::vector<Frame> t_stack;

std::string op_key(const at::RecordFunction& fn) {
  std::string key = fn.name();
  if (fn.scope() != at::RecordScope::FUNCTION) return key;
  for (const c10::IValue& v : fn.inputs()) {
    if (v.isTensor()) {
      const std::string d = describe_input(v.toTensor());
      if (!d.empty()) key += " " + d;
    }
  }
  return key;
}

}  // namespace

struct OpProfile::State {
  std::map<std::string, OpProfileRow> rows;
};

std::string describe_input(const torch::Tensor& t) {
  if (!t.defined()) return "";
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  s += "]";
  if (t.is_contiguous()) return s + "N";
  if (t.dim() == 4 && t.is_contiguous(torch::MemoryFormat::ChannelsLast)) return s + "L";
  return s + "?";
}

OpProfile::OpProfile() : state_(std::make_shared<State>()) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    require(g_active == nullptr, "only one OpProfile may record at a time");
    g_active = state_;
  }
  auto start = [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
    t_stack.push_back({Clock::now(), op_key(fn), 0.0});
    return nullptr;
  };
  auto end = [](const at::RecordFunction&, at::ObserverContext*) {
    if (t_stack.empty()) return;  // started before the profile did
    Frame f = std::move(t_stack.back());
    t_stack.pop_back();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - f.start).count();
    if (!t_stack.empty()) t_stack.back().child_ms += ms;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_active) return;
    auto& row = static_cast<State*>(g_active.get())->rows[f.key];
    row.key = f.key;
    row.calls += 1;
    row.total_ms += ms;
    row.self_ms += ms - f.child_ms;
  };
  handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(start, end)
          .needsInputs(true)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

OpProfile::~OpProfile() {
  at::removeCallback(handle_);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_active.reset();
}

std::vector<OpProfileRow> OpProfile::rows() const {
  std::vector<OpProfileRow> out;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (const auto& [key, row] : state_->rows) out.push_back(row);
  }
  std::sort(out.begin(), out.end(),
            [](const OpProfileRow& a, const OpProfileRow& b) { return a.self_ms > b.self_ms; });
  return out;
}

std::string OpProfile::table(size_t limit) const {
  const auto all = rows();
  double sum = 0;
  for (const auto& r : all) sum += r.self_ms;
  std::string out =
      fmt::format("{:>10} {:>6} {:>10} {:>7}  {}\n", "self ms", "self%", "total ms", "calls",
                  "op [input shape][N contiguous, L channels-last, ? other]");
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& r = all[i];
    // The project's own operators are listed wherever they rank: they are what --profile is
    // usually asked about, and a small self time hides their total.
    if (i >= limit && r.key.rfind("enas::", 0) != 0) continue;
    out += fmt::format("{:10.1f} {:5.1f}% {:10.1f} {:7}  {}\n", r.self_ms,
                       sum > 0 ? 100.0 * r.self_ms / sum : 0.0, r.total_ms, r.calls, r.key);
  }
  return out;
}

}  // namespace enas
