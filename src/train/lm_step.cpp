#include "enas/train/lm_step.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "enas/config/config.h"
#include "enas/run/checkpoint.h"
#include "enas/train/sgd.h"
#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

LmStepOptions LmStepOptions::from(const Config& c) {
  LmStepOptions o;
  o.alpha = c.child_alpha;
  o.beta = c.child_beta;
  o.weight_decay = c.child_weight_decay;
  o.grad_bound = c.child_clip_mode == "none" ? 0.0 : c.child_grad_bound;
  o.bptt = c.child_bptt_steps;
  return o;
}

LmStep lm_train_step(RnnLmImpl& model, const torch::Tensor& x, const torch::Tensor& y,
                     torch::Tensor& state, double lr, const LmStepOptions& o, const Team& team) {
  const auto params = model.step_parameters();
  LmOutput out = model.forward(x, y, state);
  state = out.state;
  torch::Tensor reg = out.loss;
  if (o.alpha > 0) reg = reg + o.alpha * out.all_s.pow(2).mean();
  if (o.beta > 0 && out.all_s.size(1) > 1) {
    const int64_t t = out.all_s.size(1);
    reg = reg +
          o.beta * (out.all_s.narrow(1, 1, t - 1) - out.all_s.narrow(1, 0, t - 1)).pow(2).mean();
  }
  // Undefined rather than zeroed: backward then hands each its gradient without a fill and an add.
  for (const auto& p : params) p.mutable_grad().reset();
  reg.backward();
  // weight_decay * sum(w^2) belongs to the loss; its gradient is added directly (same update,
  // before clipping as in enas_lm, without a graph over every weight).
  model.add_decay_grad(o.weight_decay);
  const torch::Tensor l2 = model.decayed_square_sum();

  LmStep s;
  s.tokens = x.numel();
  s.lr = lr * static_cast<double>(x.size(1)) / static_cast<double>(o.bptt);
  torch::NoGradGuard guard;
  std::vector<torch::Tensor> grads, with_grad;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;  // off the sampled path: no update, as a zero gradient
    grads.push_back(p.grad());
    with_grad.push_back(p);
  }
  // Every process's loss is the mean over its equal part of the batch (and so are the activation
  // terms), so the mean of their gradients is the whole batch's. The decay's gradient, the same
  // everywhere, is unchanged by it.
  team.mean(grads);
  if (o.on_device) {
    const auto dev = torch::TensorOptions().device(x.device()).dtype(torch::kFloat);
    const torch::Tensor norm = grads.empty() ? torch::zeros({}, dev) : global_norm(grads);
    if (o.grad_bound > 0 && !grads.empty()) {
      // bound / max(norm, bound): 1 (an exact no-op) when the norm is within the bound.
      const torch::Tensor scale = norm.clamp_min(o.grad_bound).reciprocal().mul_(o.grad_bound);
      for (auto& g : grads) g.mul_(scale);
    }
    if (!grads.empty()) torch::_foreach_add_(with_grad, grads, -s.lr);
    torch::Tensor loss = out.loss.detach();
    if (!team.alone()) {
      // Equal parts of the batch: the mean of the processes' means is the whole batch's.
      team.mean({loss});
      s.tokens *= team.size();
    }
    s.values = torch::stack(
        {loss.to(torch::kDouble), l2.to(torch::kDouble).reshape({}), norm.to(torch::kDouble)});
    return s;
  }
  s.grad_norm = grads.empty() ? 0.0 : global_norm(grads).item<double>();
  if (o.grad_bound > 0 && s.grad_norm > o.grad_bound) {
    // tf.clip_by_global_norm: every gradient times bound / max(norm, bound).
    torch::_foreach_mul_(grads, o.grad_bound / s.grad_norm);
  }
  if (!grads.empty()) torch::_foreach_add_(with_grad, grads, -s.lr);
  s.loss = out.loss.item<double>();
  s.l2 = l2.item<double>();
  if (!team.alone()) {
    std::vector<double> whole = {s.loss * static_cast<double>(s.tokens),
                                 static_cast<double>(s.tokens)};
    team.sum(whole);  // a loss that is not finite anywhere is not finite everywhere
    s.loss = whole[0] / whole[1];
    s.tokens = static_cast<int64_t>(whole[1]);
  }
  return s;
}

void LmStep::read() {
  if (!values.defined()) return;
  const torch::Tensor v = values.to(torch::kCPU);
  loss = v[0].item<double>();
  l2 = v[1].item<double>();
  grad_norm = v[2].item<double>();
}

torch::Tensor rows_of(const torch::Tensor& rows, const Team& team) {
  require(rows.size(0) % team.size() == 0,
          "a batch of {} rows does not split evenly across {} processes: pick a --batch_size "
          "that is a multiple of the world size",
          rows.size(0), team.size());
  const auto [begin, end] = team.part(rows.size(0));
  return rows.narrow(0, begin, end - begin);
}

double lm_eval_loss(RnnLmImpl& model, const torch::Tensor& rows,
                    const std::vector<Segment>& segments, bool reset_each,
                    const std::function<void(size_t)>& before_segment, const Team& team) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard guard;
  torch::Tensor state = model.zero_state(rows.size(0));
  // Summed where the losses are (in double): read once at the end, never per segment.
  torch::Tensor total = torch::zeros({}, rows.options().dtype(torch::kDouble));
  int64_t tokens = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (before_segment) before_segment(i);
    if (reset_each) state = model.zero_state(rows.size(0));
    auto [x, y] = segment_xy(rows, segments[i]);
    LmOutput out = model.forward(x, y, state);
    state = out.state;
    total += out.loss.to(torch::kDouble) * static_cast<double>(x.numel());
    tokens += x.numel();
  }
  model.train(was_training);
  std::vector<double> sums = {total.item<double>(), static_cast<double>(tokens)};
  team.sum(sums);
  return sums[1] > 0 ? sums[0] / sums[1] : 0.0;
}

std::string lm_step_line(int64_t epoch, int64_t step, double ppl, double lr, double l2,
                         double grad_norm, double minutes, int avg) {
  std::string line = fmt::format(
      "epoch={:<5d} step={:<7d} ppl={:<9.2f} lr={:<7.3f} |w|={:<6.2f} "
      "|g|={:<6.3f}",
      epoch, step, ppl, lr, l2, grad_norm);
  if (avg >= 0) line += fmt::format(" avg={:<2d}", avg);
  return line + fmt::format(" mins={:<.2f}", minutes);
}

nlohmann::json LmEpochPosition::to_json() const {
  return {{"segment", segment}, {"loss_sum", loss_sum}, {"tokens", tokens}};
}

LmEpochPosition LmEpochPosition::from_json(const nlohmann::json& j, torch::Tensor state) {
  LmEpochPosition p;
  p.segment = j.at("segment").get<int64_t>();
  p.loss_sum = j.at("loss_sum").get<double>();
  p.tokens = j.at("tokens").get<int64_t>();
  p.state = std::move(state);
  return p;
}

LmEpoch train_lm_epoch(RnnLmImpl& model, const torch::Tensor& rows, const Config& c, int64_t epoch,
                       int64_t rollbacks, int64_t& step, Reporter& reporter, const RunDir& run,
                       const std::function<double()>& minutes, const LmEpochHooks& hooks,
                       const LmEpochPosition* from, const Team& team) {
  using Clock = std::chrono::steady_clock;
  std::mt19937_64 rng(mix_seed(c.seed, epoch, 0x5e9 + rollbacks));
  const auto segments = random_length_segments(rows.size(1), c.child_bptt_steps, rng);
  LmStepOptions options = LmStepOptions::from(c);
  options.on_device = hooks.step_on_device.value_or(!rows.device().is_cpu());
  LmEpochPosition at;
  at.state = model.zero_state(rows.size(0));
  const int64_t whole_rows = rows.size(0) * team.size();  // the processes' parts are equal
  if (from) {
    require(from->segment < static_cast<int64_t>(segments.size()) && from->state.defined() &&
                from->state.dim() == 2 && from->state.size(0) == whole_rows &&
                from->state.size(1) == at.state.size(1),
            "the checkpoint's position ({} segments in) does not fit this epoch of {} segments",
            from->segment, segments.size());
    at = *from;
    // The checkpoint holds every row's state, whatever the number of processes that wrote it.
    const auto [begin, end] = team.part(whole_rows);
    at.state = from->state.narrow(0, begin, end - begin).to(at.state.device());
  }
  const int64_t tokens_before = at.tokens;
  const auto t0 = Clock::now();
  model.train();
  LmEpoch out;
  torch::Tensor pending;  // (1) on the device: the losses of the steps since the last read, summed
  // Reads the pending losses into `at` (and the step's numbers, when given, into it): one
  // transfer. False when a loss was not finite.
  auto settle = [&](LmStep* s) {
    if (!pending.defined()) return true;
    torch::Tensor read = s ? torch::cat({pending, s->values}) : pending;
    read = read.to(torch::kCPU);
    if (s) {
      s->values = read.narrow(0, 1, 3);
      s->read();
    }
    pending = torch::Tensor();
    const double sum = read[0].item<double>();
    at.loss_sum += sum;
    return std::isfinite(sum);
  };
  for (size_t i = static_cast<size_t>(at.segment); i < segments.size(); ++i) {
    if (hooks.before_step) hooks.before_step();
    auto [x, y] = segment_xy(rows, segments[i]);
    LmStep s = lm_train_step(model, x, y, at.state, c.child_lr, options, team);
    if (s.values.defined()) {
      // On the device the losses add up there, in double as on the host, and are read only
      // where the loop must look: a log line, a stop, the pass's end. A loss that stopped being
      // finite is seen there, and the pass rolls back as it would have at once (to the epoch's
      // start either way).
      const torch::Tensor loss = s.values.narrow(0, 0, 1);
      pending = pending.defined() ? pending + loss : loss.clone();
    } else if (!std::isfinite(s.loss)) {
      out.finite = false;
      return out;
    } else {
      at.loss_sum += s.loss;
    }
    ++step;
    ++at.segment;
    at.tokens += s.tokens;
    reporter.tick({"child", epoch, step, s.tokens});
    if (hooks.after_step) hooks.after_step();
    const bool log = step % c.log_every == 0;
    const bool stop = hooks.save && team.agreed_stop() != 0 && i + 1 < segments.size();
    if ((log || stop) && !settle(&s)) {
      out.finite = false;
      return out;
    }
    if (log) {
      const double ppl = perplexity(at.loss_sum / static_cast<double>(at.segment));
      const int avg = hooks.avg_flag ? hooks.avg_flag() : -1;
      reporter.message(lm_step_line(epoch, step, ppl, s.lr, s.l2, s.grad_norm, minutes(), avg));
      nlohmann::json r = {{"kind", "lm_step"},
                          {"epoch", epoch},
                          {"step", step},
                          {"ppl", ppl},
                          {"lr", s.lr},
                          {"l2", s.l2},
                          {"grad_norm", s.grad_norm}};
      if (avg >= 0) r["averaging"] = avg == 1;
      reporter.record(r);
    }
    if (stop) {
      LmEpochPosition saved_at = at;
      saved_at.state = team.whole_rows(at.state, whole_rows);  // what the checkpoint holds
      const std::string saved = hooks.save(saved_at);
      stop_run(run, reporter,
               fmt::format("in epoch {} after step {} ({} segments)", epoch + 1, step, at.segment),
               saved);
    }
  }
  if (!settle(nullptr)) {
    out.finite = false;
    return out;
  }
  out.at = at;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  out.train_ppl = perplexity(at.loss_sum / static_cast<double>(std::max<int64_t>(at.segment, 1)));
  out.tokens_per_s = seconds > 0 ? static_cast<double>(at.tokens - tokens_before) / seconds : 0;
  reporter.record({{"kind", "lm_epoch"},
                   {"epoch", epoch + 1},
                   {"step", step},
                   {"train_ppl", out.train_ppl},
                   {"tokens_per_s", out.tokens_per_s}});
  return out;
}

double perplexity(double loss) {
  if (!std::isfinite(loss) || loss > 700) return std::numeric_limits<double>::infinity();
  return std::exp(loss);
}

void report_valid_ppl(Reporter& reporter, const RunDir& run, const char* what, int64_t epoch,
                      int64_t step, double ppl, const nlohmann::json& extra) {
  reporter.message(fmt::format("valid_ppl={:<.2f}", ppl));
  require(std::isfinite(ppl),
          "the validation perplexity overflowed after epoch {}: {} diverged; {} is the newest "
          "checkpoint (from before); try a lower --child_lr",
          epoch, what, run.latest_checkpoint().value_or("none"));
  nlohmann::json record = {
      {"kind", "lm_eval"}, {"epoch", epoch}, {"step", step}, {"split", "valid"}, {"ppl", ppl}};
  if (extra.is_object()) record.update(extra);
  reporter.record(record);
}

}  // namespace enas
