#include "run_models.h"

#include "enas/child/factory.h"
#include "enas/data/datasets.h"

namespace enas::test {

namespace {

void load_model(torch::nn::Module& model, const std::string& path) {
  torch::serialize::InputArchive archive, model_archive;
  archive.load_from(path);
  archive.read("model", model_archive);
  model.load(model_archive);
}

}  // namespace

ImageChild load_child(const Config& config, const std::string& path) {
  torch::manual_seed(0);
  ImageChild model = make_fixed_child(config, dataset_shape(data_request(config)));
  load_model(*model, path);
  return model;
}

RnnLm load_lm(const Config& config, int64_t vocab, const std::string& path, bool shared) {
  torch::manual_seed(0);
  RnnLm model = make_language_model(config, vocab, shared);
  load_model(*model, path);
  return model;
}

Config run_config(const std::string& run) {
  Config config;
  apply_config_file(config, run + "/config.json");
  return config;
}

std::vector<std::string> differing_tensors(const torch::nn::Module& a, const torch::nn::Module& b) {
  std::vector<std::string> diff;
  auto pb = b.named_parameters();
  for (const auto& item : a.named_parameters()) {
    if (!pb.contains(item.key()) || !torch::equal(item.value(), pb[item.key()])) {
      diff.push_back(item.key());
    }
  }
  auto bb = b.named_buffers();
  for (const auto& item : a.named_buffers()) {
    if (!bb.contains(item.key()) || !torch::equal(item.value(), bb[item.key()])) {
      diff.push_back(item.key());
    }
  }
  return diff;
}

}  // namespace enas::test
