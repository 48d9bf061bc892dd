#include "enas/controller/controller.h"

#include <sstream>

#include "enas/config/config.h"
#include "enas/controller/macro_controller.h"
#include "enas/controller/micro_controller.h"
#include "enas/controller/rnn_controller.h"
#include "enas/space/space.h"
#include "enas/util/error.h"

namespace enas {

ControllerImpl::ControllerImpl(ControllerOptions options)
    : options_(std::move(options)), rng_(options_.seed) {}

ArcBatch ControllerImpl::sample(int64_t batch) {
  torch::NoGradGuard guard;
  return run(batch, nullptr);
}

ArcBatch ControllerImpl::score(const std::vector<std::vector<int>>& arcs) {
  for (const auto& a : arcs) {
    require(static_cast<int64_t>(a.size()) == arc_length(),
            "controller: an architecture of {} numbers, expected {}", a.size(), arc_length());
  }
  return run(static_cast<int64_t>(arcs.size()), &arcs);
}

void ControllerImpl::build_policy(bool op_logits) {
  const int64_t h = options_.lstm_size, nb = options_.num_branches;
  core_ = register_module("core", LstmCore(h));
  w_emb_ = register_parameter("w_emb", torch::empty({nb, h}));
  if (op_logits) w_soft_ = register_parameter("w_soft", torch::empty({h, nb}));
  w_attn_1_ = register_parameter("w_attn_1", torch::empty({h, h}));
  w_attn_2_ = register_parameter("w_attn_2", torch::empty({h, h}));
  v_attn_ = register_parameter("v_attn", torch::empty({h, 1}));
  for (auto* t : {&w_emb_, &w_attn_1_, &w_attn_2_, &v_attn_}) controller_uniform_(*t);
  if (op_logits) controller_uniform_(w_soft_);
}

std::string ControllerImpl::rng_state() const {
  std::ostringstream out;
  out << rng_;
  return out.str();
}

void ControllerImpl::set_rng_state(const std::string& state) {
  std::istringstream in(state);
  in >> rng_;
  require(!in.fail(), "checkpoint: the controller's random state is unreadable");
}

torch::Tensor ControllerImpl::shape_logits(torch::Tensor logits, double tanh_constant) const {
  if (options_.temperature > 0) logits = logits / options_.temperature;
  if (tanh_constant > 0) logits = tanh_constant * torch::tanh(logits);
  return logits;
}

std::pair<torch::Tensor, torch::Tensor> ControllerImpl::choose(
    const torch::Tensor& logits, const std::vector<std::vector<int>>* forced,
    const std::vector<int>& positions, std::vector<std::vector<int>>& arcs) {
  const int64_t rows = logits.size(0), k = logits.size(1);
  const int64_t m = static_cast<int64_t>(positions.size());
  auto log_p = torch::log_softmax(logits, 1);  // (R, K)
  std::vector<int64_t> picks(rows);
  if (forced) {
    for (int64_t r = 0; r < rows; ++r) {
      int v = (*forced)[r / m][positions[r % m]];
      require(v >= 0 && v < k, "controller: decision {} is {}, allowed 0..{}", positions[r % m], v,
              k - 1);
      picks[r] = v;
    }
  } else {
    // Inverse-CDF draws from our own generator: reproducible, and checkpointable as text.
    auto probs = log_p.detach().exp().to(torch::kCPU, torch::kDouble).contiguous();
    const double* p = probs.data_ptr<double>();
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (int64_t r = 0; r < rows; ++r) {
      double u = uniform(rng_), acc = 0;
      int64_t pick = k - 1;
      for (int64_t j = 0; j < k; ++j) {
        acc += p[r * k + j];
        if (u < acc) {
          pick = j;
          break;
        }
      }
      picks[r] = pick;
    }
  }
  for (int64_t r = 0; r < rows; ++r) arcs[r / m][positions[r % m]] = static_cast<int>(picks[r]);
  auto choice =
      torch::tensor(picks, torch::TensorOptions().dtype(torch::kLong)).to(logits.device());
  return {choice, log_p.gather(1, choice.unsqueeze(1)).squeeze(1)};
}

namespace {

/// `--controller_type random`: every architecture of the space equally likely (each decision
/// uniform over what the space allows there), never trained. The baseline that tells whether the
/// controller helps.
class RandomControllerImpl : public ControllerImpl {
 public:
  RandomControllerImpl(ControllerOptions o, const Space& space)
      : ControllerImpl(std::move(o)),
        space_(space),
        sizes_{static_cast<int>(options_.num_layers), static_cast<int>(options_.num_cells),
               static_cast<int>(options_.num_branches)} {}
  bool trainable() const override { return false; }
  int64_t arc_length() const override { return space_.arc_length(sizes_); }

 protected:
  ArcBatch run(int64_t batch, const std::vector<std::vector<int>>* forced) override {
    ArcBatch out;
    out.log_prob = torch::zeros({batch});
    out.entropy = torch::zeros({batch});
    out.skip_penalty = torch::zeros({batch});
    out.skip_count = torch::zeros({batch});
    const int length = space_.arc_length(sizes_);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int> arc(length);
      double lp = 0;
      for (int pos = 0; pos < length; ++pos) {
        const int k = space_.choices_at(sizes_, pos);
        arc[pos] = forced ? (*forced)[b][pos] : std::uniform_int_distribution<int>(0, k - 1)(rng_);
        require(arc[pos] >= 0 && arc[pos] < k, "controller: decision {} is {}, allowed 0..{}", pos,
                arc[pos], k - 1);
        lp -= std::log(static_cast<double>(k));
        if (space_.is_skip(sizes_, pos)) out.skip_count[b] += arc[pos];
      }
      out.log_prob[b] = lp;
      out.entropy[b] = -lp;
      out.arcs.push_back(std::move(arc));
    }
    return out;
  }

 private:
  const Space& space_;
  SpaceSizes sizes_;
};

}  // namespace

Controller make_controller(const Config& c) {
  const Space& space = space_named(c.search_for);
  ControllerOptions o;
  o.num_branches = c.child_num_branches;
  o.tanh_constant = c.controller_tanh_constant;
  o.op_tanh_reduce = c.controller_op_tanh_reduce;
  o.temperature = c.controller_temperature;
  o.skip_target = c.controller_skip_target;
  o.num_layers = c.child_num_layers;
  o.num_cells = c.child_num_cells;
  o.seed = static_cast<uint64_t>(c.seed) * 0x2545F4914F6CDD1Dull + 17;
  if (space.language()) {
    o.num_branches = space.num_ops();  // enas_lm's controller_num_functions
  } else {
    require(c.child_num_branches >= 1 && c.child_num_branches <= space.num_ops(),
            "--child_num_branches is {}, allowed 1..{} for the {} space", c.child_num_branches,
            space.num_ops(), space.name());
  }
  if (c.controller_type == "random") return std::make_shared<RandomControllerImpl>(o, space);
  require(c.controller_type == "lstm", "--controller_type is '{}', allowed: lstm, random",
          c.controller_type);
  switch (space.kind()) {
    case SpaceKind::kRnn:
      return std::make_shared<RnnControllerImpl>(o);
    case SpaceKind::kMacro:
      require(c.controller_search_whole_channels,
              "a macro search needs --controller_search_whole_channels: the authors' "
              "channel-slice search (--nocontroller_search_whole_channels) is not supported; "
              "their scripts always search whole channels");
      return std::make_shared<MacroControllerImpl>(o);
    case SpaceKind::kMicro:
      return std::make_shared<MicroControllerImpl>(o);
  }
  fail("the {} space has no controller head", space.name());
}

}  // namespace enas
