// The CUDA path against the CPU (docs/gpu.md): every child's forward and backward (micro and
// macro, fixed and shared, the aux head on; drop-path on the device alone, since the two devices
// draw different masks), the controller's scores of the same architectures and its sampling, the
// language model's step, the loader's batches on the device, and a checkpoint written on the
// device and read on the CPU and back. Without a GPU every test reports itself skipped.
// ENAS_TEST_DEVICE=cpu runs them against a second copy on the CPU instead (what
// scripts/device_check.sh --rehearse does): that proves the tests' own logic, not CUDA's.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "enas/child/factory.h"
#include "enas/child/rnn_lm.h"
#include "enas/child/shared_child.h"
#include "enas/config/config.h"
#include "enas/controller/controller.h"
#include "enas/data/batch_loader.h"
#include "enas/data/image_dataset.h"
#include "enas/run/checkpoint.h"
#include "enas/run/run_dir.h"
#include "enas/space/arc_text.h"
#include "enas/space/space.h"
#include "enas/train/lm_step.h"
#include "test_util.h"

namespace enas {
namespace {

torch::Device target() {
  const char* chosen = std::getenv("ENAS_TEST_DEVICE");
  return chosen && std::string(chosen) == "cpu" ? torch::Device(torch::kCPU)
                                                : torch::Device(torch::kCUDA);
}

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (dev_.is_cuda() && !torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    // TF32 rounds convolutions and products to 10 bits of mantissa: compare in full float.
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  const torch::Device dev_ = target();
};

/// The largest |a - b| relative to b's largest value (at least 1e-3), on the CPU in double.
double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.detach().to(torch::kCPU, torch::kDouble);
  const torch::Tensor y = b.detach().to(torch::kCPU, torch::kDouble);
  return (x - y).abs().max().item<double>() / std::max(y.abs().max().item<double>(), 1e-3);
}

Config image_config(const std::string& space) {
  Config c;
  c.search_for = space;
  c.child_out_filters = 8;
  c.child_keep_prob = 1.0f;  // the devices would draw different dropout masks
  c.child_drop_path_keep_prob = 1.0f;
  if (space == kMicroSpace) {
    c.child_num_layers = 1;
    c.child_num_cells = 2;
    c.child_num_branches = 5;
    c.child_use_aux_heads = true;
    c.child_fixed_arc = "0 2 1 4 0 0 2 3 0 1 1 4 2 3 0 2";
  } else {
    c.child_num_layers = 4;
    c.child_num_branches = 6;
    c.child_fixed_arc = "0 1 1 2 0 1 3 1 0 1";
  }
  return c;
}

/// One training-mode forward and backward of two copies of `make()`'s child, one on the CPU and
/// one on `dev`, on the same images: the logits, the aux logits and every gradient agree.
void expect_same_step(const std::function<ImageChild()>& make, torch::Device dev) {
  torch::manual_seed(0);
  ImageChild cpu = make();
  torch::manual_seed(0);
  ImageChild other = make();
  other->to(dev);
  cpu->train();
  other->train();
  torch::manual_seed(1);
  const torch::Tensor images = torch::randn({4, 3, 32, 32});              // (B, C, H, W)
  const torch::Tensor labels = torch::randint(0, 10, {4}, torch::kLong);  // (B)
  auto loss_of = [](const ChildOutput& out, const torch::Tensor& y) {
    torch::Tensor loss = torch::nn::functional::cross_entropy(out.logits, y);
    if (out.aux_logits.defined()) {
      loss = loss + 0.4 * torch::nn::functional::cross_entropy(out.aux_logits, y);
    }
    return loss;
  };
  const ChildOutput a = cpu->forward(images);
  const ChildOutput b = other->forward(images.to(dev));
  EXPECT_TRUE(b.logits.device() == dev);
  EXPECT_LT(rel_diff(b.logits, a.logits), 1e-4);
  ASSERT_EQ(a.aux_logits.defined(), b.aux_logits.defined());
  if (a.aux_logits.defined()) {
    EXPECT_LT(rel_diff(b.aux_logits, a.aux_logits), 1e-4);
  }
  loss_of(a, labels).backward();
  loss_of(b, labels.to(dev)).backward();
  const auto pa = cpu->named_parameters(), pb = other->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  int compared = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const torch::Tensor ga = pa[i].value().grad(), gb = pb[i].value().grad();
    ASSERT_EQ(ga.defined(), gb.defined()) << pa[i].key();
    if (!ga.defined()) continue;
    EXPECT_LT(rel_diff(gb, ga), 1e-3) << pa[i].key();
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

TEST_F(Cuda, FixedChildrenStepAsOnTheCpu) {
  for (const char* space : {kMicroSpace, kMacroSpace}) {
    SCOPED_TRACE(space);
    const Config c = image_config(space);
    expect_same_step([&] { return make_fixed_child(c, {3, 32, 32, 10}); }, dev_);
  }
}

TEST_F(Cuda, SharedChildrenStepAsOnTheCpu) {
  for (const char* space : {kMicroSpace, kMacroSpace}) {
    SCOPED_TRACE(space);
    Config c = image_config(space);
    const std::vector<int> arc = parse_int_list(c.child_fixed_arc, "architecture");
    c.child_fixed_arc = "";
    expect_same_step(
        [&] {
          SharedChild child = make_shared_child(c, {3, 32, 32, 10});
          child->set_arc(arc);
          return ImageChild(child);
        },
        dev_);
  }
}

TEST_F(Cuda, DropPathRunsOnTheDevice) {
  Config c = image_config(kMicroSpace);
  c.child_drop_path_keep_prob = 0.6f;
  ImageChild child = make_fixed_child(c, {3, 32, 32, 10});
  child->to(dev_);
  child->train();
  child->set_progress(50, 100);
  const ChildOutput out = child->forward(torch::randn({4, 3, 32, 32}).to(dev_));
  torch::nn::functional::cross_entropy(out.logits, torch::zeros({4}, torch::kLong).to(dev_))
      .backward();
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
  for (const auto& p : child->parameters()) {
    if (p.grad().defined()) {
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
}

TEST_F(Cuda, ControllerScoresAndSamplesAsOnTheCpu) {
  for (const char* space : {kMicroSpace, kMacroSpace}) {
    SCOPED_TRACE(space);
    Config c = image_config(space);
    c.child_fixed_arc = "";
    torch::manual_seed(0);
    Controller cpu = make_controller(c);
    torch::manual_seed(0);
    Controller other = make_controller(c);
    other->to(dev_);
    // Architectures sampled on the device, scored on both.
    const ArcBatch sampled = other->sample(6);
    ASSERT_EQ(sampled.arcs.size(), 6u);
    const ArcBatch a = cpu->score(sampled.arcs), b = other->score(sampled.arcs);
    EXPECT_LT(rel_diff(b.log_prob, a.log_prob), 1e-4);
    EXPECT_LT(rel_diff(b.entropy, a.entropy), 1e-4);
    EXPECT_LT(rel_diff(sampled.log_prob, b.log_prob), 1e-4) << "sampling and scoring agree";
    // The score's gradient reaches every controller weight on the device as on the CPU.
    a.log_prob.sum().backward();
    b.log_prob.sum().backward();
    const auto pa = cpu->parameters(), pb = other->parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
      if (pa[i].grad().defined()) {
        EXPECT_LT(rel_diff(pb[i].grad(), pa[i].grad()), 1e-3) << i;
      }
    }
  }
}

TEST_F(Cuda, LanguageModelStepsAsOnTheCpu) {
  Config c;
  c.search_for = kRnnSpace;
  c.child_hidden_size = 16;
  c.child_fixed_arc = "0 1 1 0";
  c.child_num_layers = 2;
  c.child_alpha = 0.5f;
  c.child_beta = 1.0f;
  // The devices would draw different masks.
  c.child_drop_e = c.child_drop_i = c.child_drop_x = c.child_drop_l = c.child_drop_o = 0;
  c.child_drop_w = 0;
  torch::manual_seed(0);
  RnnLm cpu = make_language_model(c, 40, /*shared=*/false);
  torch::manual_seed(0);
  RnnLm other = make_language_model(c, 40, /*shared=*/false);
  other->to(dev_);
  cpu->train();
  other->train();
  torch::manual_seed(1);
  const torch::Tensor x = torch::randint(0, 40, {4, 6}, torch::kLong);  // (B, T)
  const torch::Tensor y = torch::randint(0, 40, {4, 6}, torch::kLong);  // (B, T)
  torch::Tensor sa = 0.1 * torch::randn({4, 16});                       // (B, H)
  torch::Tensor sb = sa.to(dev_);
  const LmStepOptions o = LmStepOptions::from(c);
  // The device runs the step as the training loop does there: clipped on the device, read once.
  LmStepOptions od = o;
  od.on_device = true;
  const LmStep a = lm_train_step(*cpu, x, y, sa, 1.0, o);
  LmStep b = lm_train_step(*other, x.to(dev_), y.to(dev_), sb, 1.0, od);
  ASSERT_TRUE(b.values.defined());
  EXPECT_EQ(b.values.device(), dev_);
  b.read();
  EXPECT_NEAR(b.loss, a.loss, 1e-5 * a.loss);
  EXPECT_NEAR(b.grad_norm, a.grad_norm, 1e-4 * a.grad_norm);
  EXPECT_LT(rel_diff(sb, sa), 1e-4);
  const auto pa = cpu->parameters(), pb = other->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_LT(rel_diff(pb[i], pa[i]), 1e-5) << i;
}

TEST_F(Cuda, TheLoaderBuildsTheSameBatchesOnTheDevice) {
  torch::manual_seed(0);
  const ImageSplit split{torch::randint(0, 256, {40, 3, 8, 8}, torch::kUInt8),
                         torch::arange(40, torch::kInt64).remainder(10)};
  const ChannelStats stats = channel_stats(split);
  BatchLoaderOptions o;
  o.batch_size = 16;
  o.seed = 3;
  o.augment.cutout_size = 4;
  BatchLoader cpu(split, stats, o);
  o.device = dev_;
  o.build_on_device = true;  // as on a GPU, where it is always on
  BatchLoader other(split, stats, o);
  cpu.start_epoch(1);
  other.start_epoch(1);
  int batches = 0;
  while (auto a = cpu.next()) {
    auto b = other.next();
    ASSERT_TRUE(b.has_value());
    EXPECT_TRUE(b->images.device() == dev_);
    EXPECT_TRUE(torch::equal(b->images.cpu(), a->images));
    EXPECT_TRUE(torch::equal(b->labels.cpu(), a->labels));
    ++batches;
  }
  EXPECT_EQ(batches, 3);
  EXPECT_FALSE(other.next().has_value());
}

TEST_F(Cuda, ACheckpointWrittenOnTheDeviceIsReadOnTheCpuAndBack) {
  test::TempDir dir;
  const RunDir run = RunDir::open(dir.file("run"), "train", false, false);
  const Config c = image_config(kMicroSpace);
  auto write = [&](ImageChild& child, int64_t epoch) {
    CheckpointParts parts;
    parts.module("model", *child);
    return run.save_checkpoint({epoch, 0}, {{"epoch", epoch}, {"kind", "final"}},
                               [&](torch::serialize::OutputArchive& a) { parts.save(a); });
  };
  auto read = [&](ImageChild& child, const std::string& path) {
    CheckpointParts parts;
    parts.module("model", *child);
    load_checkpoint(path, "final", [&](torch::serialize::InputArchive& a) { parts.load(a, path); });
  };
  auto expect_same = [](ImageChild& a, ImageChild& b, torch::Device on) {
    const auto pa = a->parameters(), pb = b->parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
      EXPECT_TRUE(pb[i].device() == on) << i;
      EXPECT_TRUE(torch::equal(pb[i].cpu(), pa[i].cpu())) << i;
    }
  };
  torch::manual_seed(0);
  ImageChild on_device = make_fixed_child(c, {3, 32, 32, 10});
  on_device->to(dev_);
  torch::manual_seed(1);  // other weights: the read must replace them
  ImageChild on_cpu = make_fixed_child(c, {3, 32, 32, 10});
  read(on_cpu, write(on_device, 1));
  expect_same(on_device, on_cpu, torch::kCPU);

  torch::manual_seed(2);
  ImageChild back = make_fixed_child(c, {3, 32, 32, 10});
  back->to(dev_);
  read(back, write(on_cpu, 2));
  expect_same(on_cpu, back, dev_);
}

}  // namespace
}  // namespace enas
