// The ONNX exporter on networks built here (no run folder, no runtime): the file parses with
// ONNX's own classes, declares the inputs and outputs docs/export.md promises, has no op outside
// the standard domain, folds every batch norm, and carries its metadata. That a runtime computes
// the same numbers as enas is tests/e2e/test_export.cpp's.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "enas/child/factory.h"
#include "enas/data/class_names.h"
#include "enas/deploy/onnx_export.h"
#include "test_util.h"

namespace enas {
namespace {

/// An image run built in memory: random weights and random running statistics.
TrainedRun image_run(const std::string& space, const std::string& arc, int64_t layers) {
  TrainedRun run;
  run.config.search_for = space;
  run.config.dataset = "cifar10";
  run.config.child_fixed_arc = arc;
  run.config.child_num_layers = layers;
  run.config.child_num_cells = 2;
  run.config.child_out_filters = 4;
  run.arc = fixed_architecture(run.config);
  run.classes = builtin_class_names("cifar10");
  run.stats = {{0.5f, 0.4f, 0.3f}, {0.2f, 0.0f, 0.25f}};  // a constant channel's std is 0
  torch::manual_seed(3);
  run.image = make_fixed_child(run.config, run.shape, *run.arc);
  torch::NoGradGuard guard;
  for (auto& b : run.image->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_();
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
  }
  run.image->eval();
  return run;
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

std::map<std::string, std::string> metadata(const onnx::ModelProto& m) {
  std::map<std::string, std::string> out;
  for (const auto& p : m.metadata_props()) out[p.key()] = p.value();
  return out;
}

std::set<std::string> ops(const onnx::ModelProto& m) {
  std::set<std::string> out;
  for (const auto& n : m.graph().node()) {
    EXPECT_TRUE(n.domain().empty()) << n.op_type() << " is outside the standard domain";
    out.insert(n.op_type());
  }
  return out;
}

std::vector<std::string> dims(const onnx::ValueInfoProto& v) {
  std::vector<std::string> out;
  for (const auto& d : v.type().tensor_type().shape().dim()) {
    out.push_back(d.has_dim_param() ? d.dim_param() : std::to_string(d.dim_value()));
  }
  return out;
}

TEST(OnnxExport, ImageNetworksDeclareTheirInputsOutputsAndMetadataWithBatchNormFolded) {
  if (!onnx_export_available()) GTEST_SKIP() << "built without ONNX export";
  EXPECT_EQ(onnx_opset(), 13);
  for (const auto& [space, arc, layers] :
       std::vector<std::tuple<std::string, std::string, int64_t>>{
           {"micro", "0 2 1 4 0 0 2 3 0 1 1 4 2 3 0 2", 1},
           {"macro", "0 4 1 1 0 1 5 1 0 1 2 0 1 1 0 3 1 0 0 1 1", 6}}) {
    SCOPED_TRACE(space);
    const TrainedRun run = image_run(space, arc, layers);
    const onnx::ModelProto m = parse(export_onnx(run));
    ASSERT_EQ(m.opset_import_size(), 1);
    EXPECT_EQ(m.opset_import(0).version(), 13);
    ASSERT_EQ(m.graph().input_size(), 1);
    EXPECT_EQ(m.graph().input(0).name(), "image");
    EXPECT_EQ(dims(m.graph().input(0)), (std::vector<std::string>{"N", "3", "32", "32"}));
    ASSERT_EQ(m.graph().output_size(), 2);
    EXPECT_EQ(m.graph().output(0).name(), "logits");
    EXPECT_EQ(m.graph().output(1).name(), "probs");
    EXPECT_EQ(dims(m.graph().output(1)), (std::vector<std::string>{"N", "10"}));
    const auto found = ops(m);
    EXPECT_FALSE(found.count("BatchNormalization")) << "batch norm is folded";
    EXPECT_TRUE(found.count("Conv"));
    EXPECT_TRUE(found.count("Softmax"));
    EXPECT_TRUE(found.count(space == "micro" ? "AveragePool" : "MaxPool"));
    const auto meta = metadata(m);
    EXPECT_EQ(meta.at("space"), space);
    EXPECT_EQ(meta.at("arc"), run.arc->text());
    EXPECT_EQ(nlohmann::json::parse(meta.at("classes")), nlohmann::json(run.classes));
    EXPECT_EQ(nlohmann::json::parse(meta.at("std")).size(), 3u);
    EXPECT_EQ(nlohmann::json::parse(meta.at("input")).at("height"), 32);
  }
}

TEST(OnnxExport, TheLanguageModelIsOneStepOfTheCell) {
  if (!onnx_export_available()) GTEST_SKIP() << "built without ONNX export";
  TrainedRun run;
  run.config.search_for = "rnn";
  run.config.dataset = "ptb";
  run.config.child_fixed_arc = "0 1 1 0 1 2";  // three nodes: relu, tanh, sigmoid
  run.config.child_hidden_size = 8;
  run.arc = fixed_architecture(run.config);
  run.vocab = {"<eos>", "<unk>", "a", "b", "c"};
  run.lm = make_language_model(run.config, 5, false);
  run.lm->eval();
  const onnx::ModelProto m = parse(export_onnx(run));
  ASSERT_EQ(m.graph().input_size(), 2);
  EXPECT_EQ(m.graph().input(0).name(), "token");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::INT64);
  EXPECT_EQ(dims(m.graph().input(1)), (std::vector<std::string>{"N", "8"}));
  ASSERT_EQ(m.graph().output_size(), 2);
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  EXPECT_EQ(dims(m.graph().output(0)), (std::vector<std::string>{"N", "5"}));
  EXPECT_EQ(m.graph().output(1).name(), "new_state");
  const auto found = ops(m);
  for (const char* op : {"Gather", "MatMul", "Tanh", "Sigmoid", "Relu", "Gemm"}) {
    EXPECT_TRUE(found.count(op)) << op;
  }
  // The tied embedding is stored once: the softmax reads the same initializer.
  int embeddings = 0;
  for (const auto& init : m.graph().initializer()) embeddings += init.name() == "w_emb";
  EXPECT_EQ(embeddings, 1);
  EXPECT_EQ(nlohmann::json::parse(metadata(m).at("vocab")), nlohmann::json(run.vocab));
}

}  // namespace
}  // namespace enas
