// Penn Treebank reading (vocabulary, token ids, the folder, limits) and the language-model
// batching of enas_lm's data_utils.input_producer (rows, random and fixed-length segments).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "enas/data/corpus.h"
#include "enas/data/lm_batches.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::error_of;
using test::TempDir;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::vector<int64_t> ids_of(const torch::Tensor& t) {
  auto c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// A tiny corpus in PTB's layout: a leading and a trailing space on every line. In byte order its
// vocabulary is <eos> 0, <unk> 1, N 2, cat 3, cats 4, dog 5, sat 6, the 7.
constexpr const char* kTrain = " the cat sat \n the dog sat \n N cats <unk> \n";
constexpr const char* kValid = " the dog \n cat sat \n";
constexpr const char* kTest = " N <unk> the \n";
const std::vector<int64_t> kTrainIds = {7, 3, 6, 0, 7, 5, 6, 0, 2, 4, 1, 0};
const std::vector<int64_t> kValidIds = {7, 5, 0, 3, 6, 0};
const std::vector<int64_t> kTestIds = {2, 1, 7, 0};

void write_tiny_ptb(const std::string& dir) {
  fs::create_directories(dir);
  write_text(dir + "/ptb.train.txt", kTrain);
  write_text(dir + "/ptb.valid.txt", kValid);
  write_text(dir + "/ptb.test.txt", kTest);
}

// ------------------------------------------------------------------------------ the real files

TEST(PtbData, RealCorpusHasMikolovsCounts) {
  const std::string data = test::data_dir();
  if (data.empty() || !fs::exists(data + "/ptb/ptb.train.txt")) {
    GTEST_SKIP() << "no Penn Treebank under ENAS_DATA_DIR";
  }
  Corpus c = load_ptb(data);
  EXPECT_TRUE(fs::equivalent(c.dir, fs::path(data) / "ptb")) << c.dir;
  EXPECT_EQ(c.train.numel(), 929589);
  EXPECT_EQ(c.valid.numel(), 73760);
  EXPECT_EQ(c.test.numel(), 82430);
  ASSERT_EQ(c.vocab.size(), 10000);
  EXPECT_GE(c.vocab.find("<eos>"), 0);
  EXPECT_GE(c.vocab.find("<unk>"), 0);
  EXPECT_EQ(c.vocab.find("zzz-not-a-word"), -1);
  int64_t unsorted = 0;
  for (int64_t i = 0; i + 1 < c.vocab.size(); ++i)
    unsorted += !(c.vocab.word(i) < c.vocab.word(i + 1));
  EXPECT_EQ(unsorted, 0);
  for (const auto* s : {&c.train, &c.valid, &c.test}) {
    EXPECT_EQ(s->scalar_type(), torch::kLong);
    EXPECT_GE(s->min().item<int64_t>(), 0);
    EXPECT_LT(s->max().item<int64_t>(), 10000);
  }
  // The training file ends with a line's <eos>.
  EXPECT_EQ(c.vocab.word(c.train[-1].item<int64_t>()), "<eos>");
}

// ------------------------------------------------------------------------------ a tiny corpus

TEST(PtbData, TinyCorpusIdsFollowTheSortedVocabulary) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  EXPECT_EQ(read_words(tmp.file("ptb.valid.txt")),
            (std::vector<std::string>{"the", "dog", "<eos>", "cat", "sat", "<eos>"}));
  Corpus c = load_ptb(tmp.path());
  EXPECT_EQ(c.dir, tmp.path());
  ASSERT_EQ(c.vocab.size(), 8);
  const std::vector<std::string> sorted = {"<eos>", "<unk>", "N",   "cat",
                                           "cats",  "dog",   "sat", "the"};
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(c.vocab.word(i), sorted[i]);
    EXPECT_EQ(c.vocab.find(sorted[i]), i);
  }
  EXPECT_EQ(ids_of(c.train), kTrainIds);
  EXPECT_EQ(ids_of(c.valid), kValidIds);
  EXPECT_EQ(ids_of(c.test), kTestIds);
  // One <eos> per line.
  auto eos = [](const torch::Tensor& t) { return (t == 0).sum().item<int64_t>(); };
  EXPECT_EQ(eos(c.train), 3);
  EXPECT_EQ(eos(c.valid), 2);
  EXPECT_EQ(eos(c.test), 1);
}

TEST(PtbData, UnknownWordNamesFileLineAndWord) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  write_text(tmp.file("ptb.valid.txt"), " the dog \n the zebra sat \n");
  const std::string msg = error_of([&] { load_ptb(tmp.path()); });
  EXPECT_PRED2(contains, msg, tmp.file("ptb.valid.txt") + ":2");
  EXPECT_PRED2(contains, msg, "zebra");
  // read_token_ids says the same with any vocabulary.
  Vocabulary v = Vocabulary::from_words({"the", "dog", "<eos>"});
  const std::string direct = error_of([&] { read_token_ids(tmp.file("ptb.valid.txt"), v); });
  EXPECT_PRED2(contains, direct, ":2");
  EXPECT_PRED2(contains, direct, "zebra");
}

TEST(PtbData, MissingFilesAreNamed) {
  TempDir tmp;
  write_text(tmp.file("ptb.train.txt"), kTrain);
  write_text(tmp.file("ptb.valid.txt"), kValid);
  std::string msg = error_of([&] { load_ptb(tmp.path()); });
  EXPECT_PRED2(contains, msg, "ptb.test.txt");
  EXPECT_PRED2(contains, msg, tmp.path());
  fs::remove(tmp.file("ptb.valid.txt"));
  write_text(tmp.file("ptb.test.txt"), kTest);
  EXPECT_PRED2(contains, error_of([&] { find_ptb_dir(tmp.path()); }), "ptb.valid.txt");

  TempDir empty;
  msg = error_of([&] { find_ptb_dir(empty.path()); });
  EXPECT_PRED2(contains, msg, "ptb.train.txt");
  EXPECT_PRED2(contains, msg, empty.path());
  EXPECT_PRED2(contains, error_of([&] { read_words(empty.file("nope.txt")); }), "nope.txt");
}

TEST(PtbData, ParentFolderWithPtbSubfolderIsAccepted) {
  TempDir tmp;
  write_tiny_ptb(tmp.file("ptb"));
  EXPECT_EQ(find_ptb_dir(tmp.path()), tmp.file("ptb"));
  EXPECT_EQ(find_ptb_dir(tmp.file("ptb")), tmp.file("ptb"));
  Corpus c = load_ptb(tmp.path());
  EXPECT_EQ(c.dir, tmp.file("ptb"));
  EXPECT_EQ(ids_of(c.train), kTrainIds);
}

TEST(PtbData, LimitsTruncateAfterTheVocabularyIsBuilt) {
  TempDir tmp;
  write_tiny_ptb(tmp.path());
  Corpus c = load_ptb(tmp.path(), 5, 2);
  // "cats" and "N" only occur after the 5th training token; they stay in the vocabulary.
  EXPECT_EQ(c.vocab.size(), 8);
  EXPECT_EQ(ids_of(c.train), std::vector<int64_t>(kTrainIds.begin(), kTrainIds.begin() + 5));
  EXPECT_EQ(ids_of(c.valid), std::vector<int64_t>(kValidIds.begin(), kValidIds.begin() + 2));
  EXPECT_EQ(ids_of(c.test), std::vector<int64_t>(kTestIds.begin(), kTestIds.begin() + 2));
  // Limits beyond the streams, and 0, keep everything.
  Corpus all = load_ptb(tmp.path(), 1000, 1000);
  EXPECT_EQ(ids_of(all.train), kTrainIds);
  EXPECT_EQ(ids_of(all.test), kTestIds);
  EXPECT_EQ(ids_of(load_ptb(tmp.path(), 0, 0).valid), kValidIds);
}

// ------------------------------------------------------------------------------------ batching

TEST(PtbBatches, BatchifyCutsTheStreamIntoEqualRows) {
  auto stream = torch::arange(23, torch::kLong) * 10;
  auto rows = batchify(stream, 4);
  ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{4, 5}));
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t c = 0; c < 5; ++c) EXPECT_EQ(rows[r][c].item<int64_t>(), (r * 5 + c) * 10);
  }
  EXPECT_EQ(batchify(stream, 1).sizes(), (std::vector<int64_t>{1, 23}));
  EXPECT_THROW(batchify(torch::arange(7, torch::kLong), 4), Error);  // rows of 1 token
  EXPECT_THROW(batchify(stream, 0), Error);
}

TEST(PtbBatches, SegmentTargetsAreTheInputsShiftedByOne) {
  auto rows = batchify(torch::arange(40, torch::kLong) * 3 + 1, 2);  // (2, 20)
  Segment s{4, 7};
  auto [x, y] = segment_xy(rows, s);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 7}));
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 7}));
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t t = 0; t < 7; ++t) {
      EXPECT_EQ(x[r][t].item<int64_t>(), rows[r][4 + t].item<int64_t>());
      EXPECT_EQ(y[r][t].item<int64_t>(), rows[r][5 + t].item<int64_t>());
    }
  }
  EXPECT_TRUE(torch::equal(y.narrow(1, 0, 6), x.narrow(1, 1, 6)));
}

// Checks the structural promises of random_length_segments for one epoch.
void expect_epoch_shape(const std::vector<Segment>& segs, int64_t row_len, int64_t bptt) {
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs.front().start, 0);
  for (size_t i = 0; i < segs.size(); ++i) {
    EXPECT_GE(segs[i].len, 1) << i;
    EXPECT_LE(segs[i].len, bptt + 20) << i;
    EXPECT_LE(segs[i].start + segs[i].len + 1, row_len) << i;  // the target exists
    if (i > 0) {
      EXPECT_EQ(segs[i].start, segs[i - 1].start + segs[i - 1].len) << i;
    }
  }
  const int64_t end = segs.back().start + segs.back().len;
  EXPECT_LE(row_len - end, 3);
  if (segs.size() > 1) {
    const int64_t before = segs[segs.size() - 2].start + segs[segs.size() - 2].len;
    EXPECT_GT(row_len - before, 3) << "the epoch went on after reaching the row's end";
  }
}

TEST(PtbBatches, RandomSegmentsTileTheRow) {
  for (const int64_t bptt : {35, 8, 3}) {
    for (const int64_t row_len : {9, 100, 1234}) {
      SCOPED_TRACE("bptt " + std::to_string(bptt) + " row_len " + std::to_string(row_len));
      std::mt19937_64 rng(static_cast<uint64_t>(bptt * 1000 + row_len));
      expect_epoch_shape(random_length_segments(row_len, bptt, rng), row_len, bptt);
    }
  }
  std::mt19937_64 rng(1);
  EXPECT_THROW(random_length_segments(100, 0, rng), Error);
}

std::vector<int64_t> lengths(const std::vector<Segment>& segs) {
  std::vector<int64_t> out;
  for (const auto& s : segs) out.push_back(s.len);
  return out;
}

TEST(PtbBatches, RandomSegmentsDependOnTheSeedOnly) {
  std::mt19937_64 a(42), b(42), c(43);
  const auto first = lengths(random_length_segments(5000, 35, a));
  EXPECT_EQ(first, lengths(random_length_segments(5000, 35, b)));
  EXPECT_NE(first, lengths(random_length_segments(5000, 35, c)));
  // The generator moves on: the next epoch differs from the first.
  EXPECT_NE(first, lengths(random_length_segments(5000, 35, a)));
}

// P(trunc(base + z) == k) for z ~ N(0, 5^2) truncated to [-10, 10] (base + z > 0 throughout).
double length_probability(double base, int64_t k) {
  auto cdf = [](double z) { return 0.5 * (1.0 + std::erf(z / (5.0 * std::sqrt(2.0)))); };
  const double lo = std::max(static_cast<double>(k) - base, -10.0);
  const double hi = std::min(static_cast<double>(k + 1) - base, 10.0);
  if (hi <= lo) return 0.0;
  return (cdf(hi) - cdf(lo)) / (cdf(10.0) - cdf(-10.0));
}

TEST(PtbBatches, RandomSegmentLengthsFollowInputProducersDistribution) {
  // Base bptt with probability 0.95, else bptt / 2; plus a 2-sigma truncated normal of std 5;
  // truncated toward zero. With bptt 35 every draw is positive and below bptt + 20, so the exact
  // law of a length is computable; the last segment (cut by the row's end) is left out.
  const int64_t bptt = 35;
  std::mt19937_64 rng(7);
  const auto segs = random_length_segments(2'000'000, bptt, rng);
  ASSERT_GT(segs.size(), 50000u);
  double mean = 0, short_frac = 0;
  const size_t n = segs.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    mean += static_cast<double>(segs[i].len) / n;
    short_frac += segs[i].len <= 26 ? 1.0 / n : 0.0;
  }
  double want_mean = 0, want_short = 0, total = 0;
  for (int64_t k = 0; k <= bptt + 20; ++k) {
    const double p = 0.95 * length_probability(bptt, k) + 0.05 * length_probability(bptt / 2.0, k);
    total += p;
    want_mean += p * k;
    if (k <= 26) want_short += p;
  }
  ASSERT_NEAR(total, 1.0, 1e-9);
  // Standard errors: ~0.025 for the mean (sd ~5.8), ~0.001 for the fraction; bounds ~6 sd.
  EXPECT_NEAR(mean, want_mean, 0.15);
  EXPECT_NEAR(short_frac, want_short, 0.006);
  // The paper's rough mean 0.95 bptt + 0.05 bptt / 2, less the ~0.5 the truncation costs.
  EXPECT_NEAR(mean, 0.95 * bptt + 0.05 * bptt / 2.0, 1.0);
  RecordProperty("mean_len", std::to_string(mean));
}

TEST(PtbBatches, FixedSegmentsDropOrCoverTheTail) {
  auto segs = fixed_length_segments(23, 5);
  ASSERT_EQ(segs.size(), 4u);  // (23 - 1) / 5
  for (size_t i = 0; i < segs.size(); ++i) {
    EXPECT_EQ(segs[i].start, static_cast<int64_t>(i) * 5);
    EXPECT_EQ(segs[i].len, 5);
  }
  auto all = fixed_length_segments(23, 5, true);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.back().start, 20);
  EXPECT_EQ(all.back().len, 2);
  for (const int64_t row_len : {2, 21, 23, 100, 101}) {
    for (const int64_t len : {1, 5, 35}) {
      SCOPED_TRACE(std::to_string(row_len) + " / " + std::to_string(len));
      EXPECT_EQ(static_cast<int64_t>(fixed_length_segments(row_len, len).size()),
                (row_len - 1) / len);
      int64_t covered = 0;
      for (const auto& s : fixed_length_segments(row_len, len, true)) {
        EXPECT_EQ(s.start, covered);
        EXPECT_GE(s.len, 1);
        covered += s.len;
      }
      EXPECT_EQ(covered, row_len - 1);  // every target once, none beyond the row
    }
  }
  EXPECT_THROW(fixed_length_segments(10, 0), Error);
}

}  // namespace
}  // namespace enas
