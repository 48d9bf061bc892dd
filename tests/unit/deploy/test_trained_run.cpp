// A trained run opened for use (deploy/trained_run.h) from a folder written here: the language
// model's weights are the moving average's once averaging started, as its test perplexity was
// measured; a search's folder and a folder without a checkpoint are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "enas/child/factory.h"
#include "enas/deploy/trained_run.h"
#include "enas/train/lm_trainer.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;

Config tiny_lm_config() {
  Config c;
  c.dataset = "ptb";
  c.search_for = "rnn";
  c.child_fixed_arc = "0 1 1 0";
  c.child_hidden_size = 8;
  c.num_epochs = 2;
  return c;
}

/// A final language-model run's folder: config.json, vocab.txt and ckpt-1.pt of `kind`, whose
/// average (when `averaged`) holds the weights as they were, the model's then moved by +1.
RnnLm write_lm_run(const std::string& dir, bool averaged, const std::string& kind = "lm_final") {
  fs::create_directories(dir);
  const Config c = tiny_lm_config();
  std::ofstream(dir + "/config.json") << to_json(c).dump(2);
  std::ofstream(dir + "/vocab.txt") << "<eos>\n<unk>\na\nb\n";
  torch::manual_seed(5);
  RnnLm model = make_language_model(c, 4, false);
  WeightAverage average(model->parameters());
  if (averaged) {
    average.start();
    average.update();  // the average: the weights as they are now
    torch::NoGradGuard guard;
    for (auto& p : model->parameters()) p.add_(1.0);
  }
  torch::serialize::OutputArchive archive, m, a;
  archive.write("meta", c10::IValue(nlohmann::json({{"kind", kind}, {"epoch", 1}}).dump()));
  model->save(m);
  archive.write("model", m);
  average.save(a);
  archive.write("average", a);
  archive.save_to(dir + "/ckpt-1.pt");
  return model;
}

TEST(TrainedRun, AnAveragedLanguageModelIsOpenedWithTheAverage) {
  test::TempDir tmp;
  for (const bool averaged : {false, true}) {
    SCOPED_TRACE(averaged);
    const std::string dir = tmp.file(averaged ? "averaged" : "plain");
    const RnnLm saved = write_lm_run(dir, averaged);
    const TrainedRun run = open_trained_run(dir);
    ASSERT_TRUE(run.language());
    EXPECT_EQ(run.averaged, averaged);
    EXPECT_FALSE(run.finished);  // no result.json, epoch 1 of 2
    EXPECT_EQ(run.vocab, (std::vector<std::string>{"<eos>", "<unk>", "a", "b"}));
    const auto mine = run.lm->named_parameters();
    for (const auto& p : saved->named_parameters()) {
      // The averaged run's model moved by +1 after its average was taken.
      const torch::Tensor expected = averaged ? p.value() - 1.0 : p.value();
      EXPECT_TRUE(torch::allclose(mine[p.key()], expected, 0, 1e-6)) << p.key();
    }
  }
}

TEST(TrainedRun, ASearchOrAnEmptyFolderIsRefusedSayingWhatItIs) {
  test::TempDir tmp;
  write_lm_run(tmp.file("search"), false, "lm_search");
  EXPECT_TRUE(test::contains(test::error_of([&] { open_trained_run(tmp.file("search")); }),
                             "--from_search"));
  fs::create_directories(tmp.file("empty"));
  std::ofstream(tmp.file("empty/config.json")) << to_json(tiny_lm_config()).dump();
  EXPECT_TRUE(test::contains(test::error_of([&] { open_trained_run(tmp.file("empty")); }),
                             "holds no checkpoint"));
  EXPECT_TRUE(test::contains(test::error_of([&] { open_trained_run(tmp.file("nowhere")); }),
                             "no such folder"));
}

}  // namespace
}  // namespace enas
