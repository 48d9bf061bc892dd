#include "enas/util/op_profile.h"

#include <ATen/record_function.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include "enas/util/error.h"

namespace enas {

namespace {

using Clock = std::chrono::steady_clock;

struct Frame {
  Clock::time_point start;
  std::string key;
  double child_ms = 0;
  std::optional<OpCost> cost;  // set when a rule covers this call and no covering call encloses it
};

// Callbacks are plain function pointers: they reach the live profile through this.
std::mutex g_mutex;
std::shared_ptr<void> g_active;  // the live OpProfile::State, type-erased
thread_local std::vector<Frame> t_stack;
thread_local int t_costed_open = 0;  // covered calls on this thread's stack

OpArg to_arg(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined()) return OpArg::none();
    return OpArg::tensor(t.sizes().vec(), static_cast<int64_t>(t.element_size()));
  }
  if (v.isInt()) return OpArg::integer(v.toInt());
  if (v.isBool()) {
    OpArg a = OpArg::integer(v.toBool() ? 1 : 0);
    a.kind = OpArg::Kind::kBool;
    return a;
  }
  if (v.isList()) {  // int[], SymInt[], bool[], Tensor[]
    OpArg ints = OpArg::int_list({});
    std::vector<std::vector<int64_t>> shapes;
    int64_t item = 4;
    for (const c10::IValue& e : v.toListRef()) {
      if (e.isInt()) {
        ints.ints.push_back(e.toInt());
      } else if (e.isBool()) {
        ints.ints.push_back(e.toBool() ? 1 : 0);
      } else if (e.isTensor() && e.toTensor().defined()) {
        shapes.push_back(e.toTensor().sizes().vec());
        item = static_cast<int64_t>(e.toTensor().element_size());
      } else {
        OpArg other;
        other.kind = OpArg::Kind::kOther;
        return other;
      }
    }
    return shapes.empty() ? ints : OpArg::tensors(std::move(shapes), item);
  }
  OpArg other;
  other.kind = v.isNone() ? OpArg::Kind::kNone : OpArg::Kind::kOther;
  return other;
}

std::optional<OpCost> call_cost(const at::RecordFunction& fn) {
  if (t_costed_open > 0 || fn.scope() != at::RecordScope::FUNCTION) return std::nullopt;
  if (!has_op_rule(fn.name())) return std::nullopt;
  std::vector<OpArg> args;
  for (const c10::IValue& v : fn.inputs()) args.push_back(to_arg(v));
  return op_cost(fn.name(), args);
}

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
    std::optional<OpCost> cost = call_cost(fn);
    if (cost) ++t_costed_open;
    t_stack.push_back({Clock::now(), op_key(fn), 0.0, cost});
    return nullptr;
  };
  auto end = [](const at::RecordFunction&, at::ObserverContext*) {
    if (t_stack.empty()) return;  // started before the profile did
    Frame f = std::move(t_stack.back());
    t_stack.pop_back();
    if (f.cost) --t_costed_open;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - f.start).count();
    if (!t_stack.empty()) t_stack.back().child_ms += ms;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_active) return;
    auto& row = static_cast<State*>(g_active.get())->rows[f.key];
    row.key = f.key;
    row.calls += 1;
    row.total_ms += ms;
    row.self_ms += ms - f.child_ms;
    if (f.cost) {
      row.cost += *f.cost;
      row.costed_ms += ms;
    }
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

OpCost OpProfile::total_cost() const {
  OpCost sum;
  for (const auto& r : rows()) sum += r.cost;
  return sum;
}

double OpProfile::costed_ms() const {
  double sum = 0;
  for (const auto& r : rows()) sum += r.costed_ms;
  return sum;
}

std::string OpProfile::table(size_t limit, const MachineLimits* limits) const {
  const auto all = rows();
  double sum = 0;
  for (const auto& r : all) sum += r.self_ms;
  std::string out =
      fmt::format("{:>10} {:>6} {:>10} {:>7}", "self ms", "self%", "total ms", "calls");
  if (limits) out += fmt::format(" {:>8} {:>7} {:>6}", "GFLOP/s", "GB/s", "roof%");
  out += "  op [input shape][N contiguous, L channels-last, ? other]\n";
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& r = all[i];
    // The project's own operators are listed wherever they rank: they are what --profile is
    // usually asked about, and a small self time hides their total.
    if (i >= limit && r.key.rfind("enas::", 0) != 0) continue;
    out += fmt::format("{:10.1f} {:5.1f}% {:10.1f} {:7}", r.self_ms,
                       sum > 0 ? 100.0 * r.self_ms / sum : 0.0, r.total_ms, r.calls);
    if (limits) {
      if (r.costed_ms > 0 && (r.cost.flops > 0 || r.cost.bytes > 0)) {
        const double s = r.costed_ms / 1e3;
        out += fmt::format(" {:8.1f} {:7.2f} {:5.1f}%", r.cost.flops / s / 1e9,
                           r.cost.bytes / s / 1e9, 100.0 * roofline_seconds(r.cost, *limits) / s);
      } else {
        out += fmt::format(" {:>8} {:>7} {:>6}", "", "", "");
      }
    }
    out += fmt::format("  {}\n", r.key);
  }
  return out;
}

}  // namespace enas
