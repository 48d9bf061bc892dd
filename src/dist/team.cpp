#include "enas/dist/team.h"

#include <csignal>
#include <map>

#include "enas/dist/dist.h"
#include "enas/util/error.h"
#include "enas/util/signals.h"

namespace enas {

Team::Team(std::shared_ptr<Dist> dist, bool sync_bn) : dist_(std::move(dist)), sync_bn_(sync_bn) {
  if (dist_ && dist_->world_size() == 1) dist_.reset();
}

int Team::rank() const { return dist_ ? dist_->rank() : 0; }
int Team::size() const { return dist_ ? dist_->world_size() : 1; }
std::string Team::backend() const { return dist_ ? dist_->backend() : ""; }

std::pair<int64_t, int64_t> Team::part(int64_t n) const {
  return {n * rank() / size(), n * (rank() + 1) / size()};
}

void Team::sum(std::vector<double>& values) const {
  if (!dist_ || values.empty()) return;
  torch::Tensor t =
      torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kDouble);
  dist_->all_reduce_sum(t);  // in place: from_blob shares `values`' storage
}

int Team::agreed_stop() const {
  const int mine = stop_requested();
  if (!dist_) return mine;
  std::vector<double> seen{mine == SIGINT ? 1.0 : 0.0, mine != 0 && mine != SIGINT ? 1.0 : 0.0};
  sum(seen);
  const int agreed = seen[1] > 0 ? SIGTERM : seen[0] > 0 ? SIGINT : 0;
  if (agreed != 0) request_stop(agreed);
  return agreed;
}

std::string Team::from_leader(const std::string& text) const {
  if (!dist_) return text;
  torch::Tensor size = torch::tensor({static_cast<int64_t>(text.size())}, torch::kLong);
  dist_->broadcast(size);
  const int64_t n = size.item<int64_t>();
  torch::Tensor bytes = torch::zeros({std::max<int64_t>(n, 1)}, torch::kByte);
  if (leader()) std::copy(text.begin(), text.end(), bytes.data_ptr<uint8_t>());
  dist_->broadcast(bytes);
  const auto* p = reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>());
  return std::string(p, p + n);
}

void Team::copy_from_leader(const std::vector<torch::Tensor>& tensors) const {
  if (!dist_) return;
  torch::NoGradGuard no_grad;
  // One message per (dtype, device): rank 0's values flattened, sent, and copied back.
  std::map<std::string, std::vector<torch::Tensor>> groups;
  for (const auto& t : tensors) {
    if (t.defined() && t.numel() > 0) {
      groups[std::string(c10::toString(t.scalar_type())) + t.device().str()].push_back(t);
    }
  }
  for (auto& [key, group] : groups) {
    std::vector<torch::Tensor> flat;
    for (const auto& t : group) flat.push_back(t.reshape({-1}));
    torch::Tensor all = torch::cat(flat);
    dist_->broadcast(all);
    int64_t at = 0;
    for (auto& t : group) {
      t.copy_(all.narrow(0, at, t.numel()).view(t.sizes()));
      at += t.numel();
    }
  }
}

std::function<void(const std::vector<torch::Tensor>&)> Team::gradient_averager() const {
  if (!dist_) return {};
  std::shared_ptr<Dist> dist = dist_;
  return [dist](const std::vector<torch::Tensor>& grads) { dist->all_reduce_mean(grads); };
}

void Team::mean(const std::vector<torch::Tensor>& tensors) const {
  if (dist_ && !tensors.empty()) dist_->all_reduce_mean(tensors);
}

torch::Tensor Team::whole_rows(const torch::Tensor& mine, int64_t n) const {
  const auto [begin, end] = part(n);
  require(mine.dim() >= 1 && mine.size(0) == end - begin,
          "this process holds {} rows of {} split {} ways; expected {}", mine.size(0), n, size(),
          end - begin);
  if (!dist_) return mine;
  torch::NoGradGuard no_grad;
  // Each process writes its rows into zeros and the sum assembles them: x + 0 is x exactly.
  std::vector<int64_t> sizes = mine.sizes().vec();
  sizes[0] = n;
  torch::Tensor all = torch::zeros(sizes, mine.options());
  all.narrow(0, begin, end - begin).copy_(mine);
  dist_->all_reduce_sum(all);
  return all;
}

}  // namespace enas
