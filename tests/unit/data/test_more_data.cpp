// The readers of issue 27's data sets, on byte-exact small files: CIFAR-100's records, MNIST's
// idx pair, any text corpus, and the registry that names them.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "enas/data/cifar100.h"
#include "enas/data/corpus.h"
#include "enas/data/datasets.h"
#include "enas/data/fashion_mnist.h"
#include "test_util.h"

namespace enas {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::error_of;
using test::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// Record i: coarse label coarse[i], fine label fine[i]; the red plane 10 + i, green 100 + i with
// (y 1, x 3) = 7, blue 200 + i.
std::string cifar100_records(const std::vector<uint8_t>& coarse, const std::vector<uint8_t>& fine) {
  std::string bytes;
  for (size_t i = 0; i < coarse.size(); ++i) {
    bytes += static_cast<char>(coarse[i]);
    bytes += static_cast<char>(fine[i]);
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 1024; ++k) {
        const bool marker = c == 1 && k == 32 + 3;
        bytes += static_cast<char>(marker ? 7 : (c == 0 ? 10 : c == 1 ? 100 : 200) + i);
      }
    }
  }
  return bytes;
}

TEST(Cifar100, ReadsTheFineOrTheCoarseLabelAndThePlanesAfterBoth) {
  TempDir dir;
  write_bytes(dir.file("train.bin"), cifar100_records({19, 0, 7}, {99, 3, 42}));
  ASSERT_EQ(fs::file_size(dir.file("train.bin")), 3u * kCifar100RecordBytes);
  const ImageSplit fine = read_cifar100_file(dir.file("train.bin"), Cifar100Labels::kFine);
  const ImageSplit coarse = read_cifar100_file(dir.file("train.bin"), Cifar100Labels::kCoarse);
  EXPECT_TRUE(torch::equal(fine.labels, torch::tensor({99, 3, 42}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(coarse.labels, torch::tensor({19, 0, 7}, torch::kInt64)));
  ASSERT_EQ(fine.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(fine.images[2][0][0][0].item<int>(), 12);
  EXPECT_EQ(fine.images[1][1][1][3].item<int>(), 7);
  EXPECT_EQ(fine.images[1][1][1][4].item<int>(), 101);
  EXPECT_EQ(fine.images[0][2][31][31].item<int>(), 200);
}

TEST(Cifar100, RefusesCifar10RecordsBadLabelsAndTruncation) {
  TempDir dir;
  write_bytes(dir.file("bad.bin"), cifar100_records({20}, {5}));
  std::string msg =
      error_of([&] { read_cifar100_file(dir.file("bad.bin"), Cifar100Labels::kFine); });
  EXPECT_PRED2(contains, msg, "record 0 has coarse label 20 and fine label 5") << msg;
  write_bytes(dir.file("cut.bin"), cifar100_records({1, 2}, {1, 2}).substr(0, 5000));
  msg = error_of([&] { read_cifar100_file(dir.file("cut.bin"), Cifar100Labels::kFine); });
  EXPECT_PRED2(contains, msg, "5000 bytes, expected a multiple of 3074") << msg;
  // CIFAR-10's 3,073-byte records: 3 of them are not a multiple of 3,074.
  write_bytes(dir.file("c10.bin"), std::string(3 * 3073, '\1'));
  msg = error_of([&] { read_cifar100_file(dir.file("c10.bin"), Cifar100Labels::kFine); });
  EXPECT_PRED2(contains, msg, "not the binary version of CIFAR-100") << msg;
  EXPECT_PRED2(contains, error_of([] { parse_cifar100_labels("medium"); }),
               "--cifar100_labels is 'medium', allowed: fine (100 classes), coarse");
}

TEST(Cifar100, FindsItsFolderLoadsBothSplitsWithLimitsAndSaysWhatIsMissing) {
  TempDir dir;
  const std::string folder = dir.file("cifar-100-binary");
  fs::create_directories(folder);
  write_bytes(folder + "/train.bin", cifar100_records({1, 2, 3, 4}, {10, 20, 30, 40}));
  std::string msg = error_of([&] { load_cifar100(dir.path(), Cifar100Labels::kFine); });
  EXPECT_PRED2(contains, msg, "has train.bin but no test.bin") << msg;
  write_bytes(folder + "/test.bin", cifar100_records({5, 6}, {50, 60}));
  const ImageDataset data = load_cifar100(dir.path(), Cifar100Labels::kFine, 3, 1);
  EXPECT_EQ(data.name, "cifar100");
  EXPECT_EQ(data.num_classes, 100);
  EXPECT_EQ(data.train.size(), 3);
  EXPECT_EQ(data.test.size(), 1);
  EXPECT_EQ(data.test.labels[0].item<int64_t>(), 50);
  EXPECT_EQ(load_cifar100(folder, Cifar100Labels::kCoarse).num_classes, 20);
  msg = error_of([&] { load_cifar100(dir.file("none"), Cifar100Labels::kFine); });
  EXPECT_PRED2(contains, msg, "cifar-100-binary.tar.gz") << msg;
}

void write_idx(const std::string& path, uint32_t magic, const std::vector<uint32_t>& dims,
               const std::string& data) {
  std::string bytes;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>(v >> shift);
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  write_bytes(path, bytes + data);
}

TEST(Mnist, ReadsTheIdxPairFromItsFolderOrItsMnistSubfolder) {
  TempDir dir;
  const std::string folder = dir.file("mnist");
  fs::create_directories(folder);
  std::string pixels(2 * 28 * 28, '\0');
  pixels[28 * 28 + 5] = static_cast<char>(255);
  write_idx(folder + "/train-images-idx3-ubyte", 0x803, {2, 28, 28}, pixels);
  write_idx(folder + "/train-labels-idx1-ubyte", 0x801, {2}, std::string("\7\2", 2));
  write_idx(folder + "/t10k-images-idx3-ubyte", 0x803, {1, 28, 28}, pixels.substr(0, 784));
  write_idx(folder + "/t10k-labels-idx1-ubyte", 0x801, {1}, std::string("\0", 1));
  for (const std::string& where : {dir.path(), folder}) {
    const ImageDataset data = load_mnist(where);
    EXPECT_EQ(data.name, "mnist");
    ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
    EXPECT_EQ(data.train.images[1][0][0][5].item<int>(), 255);
    EXPECT_TRUE(torch::equal(data.train.labels, torch::tensor({7, 2}, torch::kInt64)));
    EXPECT_EQ(data.test.size(), 1);
  }
  const std::string msg = error_of([&] { load_mnist(dir.file("nothing")); });
  EXPECT_PRED2(contains, msg, "MNIST folder") << msg;
  EXPECT_PRED2(contains, msg, "--data") << msg;
}

// ------------------------------------------------------------------------------ text corpora

std::vector<int64_t> ids_of(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

void write_corpus(const std::string& dir, const std::string& train, const std::string& valid,
                  const std::string& test, const std::string& pattern = "{}.txt") {
  fs::create_directories(dir);
  for (const auto& [split, text] : {std::pair{"train", train}, {"valid", valid}, {"test", test}}) {
    write_bytes(dir + "/" + fmt::format(fmt::runtime(pattern), split), text);
  }
}

TEST(TextCorpus, AnyCorpusReadsAsPtbWithTheSortedVocabulary) {
  TempDir dir;
  // Vocabulary in byte order: <eos> 0, a 1, b 2, c 3, é 4 (UTF-8, after ASCII).
  write_corpus(dir.path(), "a b\n\nc \xc3\xa9 a\n", "b a\n", "\xc3\xa9\n");
  const Corpus c = load_text_corpus(dir.path());
  EXPECT_EQ(c.vocab.words(), (std::vector<std::string>{"<eos>", "a", "b", "c", "\xc3\xa9"}));
  EXPECT_EQ(ids_of(c.train), (std::vector<int64_t>{1, 2, 0, 0, 3, 4, 1, 0}));
  EXPECT_EQ(ids_of(c.valid), (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(ids_of(c.test), (std::vector<int64_t>{4, 0}));
  EXPECT_EQ(c.folded, 0);
  EXPECT_EQ(vocabulary_text(c.vocab), "<eos>\na\nb\nc\n\xc3\xa9\n");
}

TEST(TextCorpus, PtbReadAsAnyCorpusGivesTheSameIds) {
  TempDir dir;
  const std::string train = " the cat sat \n the dog sat \n N cats <unk> \n";
  write_corpus(dir.path(), train, " the dog \n", " N <unk> the \n", "ptb.{}.txt");
  const Corpus ptb = load_ptb(dir.path()), any = load_text_corpus(dir.path());
  EXPECT_EQ(any.vocab.words(), ptb.vocab.words());
  for (auto [a, b] :
       {std::pair{any.train, ptb.train}, {any.valid, ptb.valid}, {any.test, ptb.test}})
    EXPECT_TRUE(torch::equal(a, b));
}

TEST(TextCorpus, RareWordsFoldIntoUnkAndUnknownWordsNeedIt) {
  TempDir dir;
  write_corpus(dir.path(), "a a b\nc a b\n", "a z\n", "b\n");
  std::string msg = error_of([&] { load_text_corpus(dir.path()); });
  EXPECT_PRED2(contains, msg, "valid.txt:1: word 'z' is not in the training vocabulary") << msg;
  EXPECT_PRED2(contains, msg, "--vocab_min_count") << msg;
  // c is seen once: with a minimum of 2 it becomes <unk>, which then stands for z too.
  const Corpus c = load_text_corpus(dir.path(), 2);
  EXPECT_EQ(c.folded, 1);
  EXPECT_EQ(c.vocab.words(), (std::vector<std::string>{"<eos>", "<unk>", "a", "b"}));
  EXPECT_EQ(ids_of(c.train), (std::vector<int64_t>{2, 2, 3, 0, 1, 2, 3, 0}));
  EXPECT_EQ(ids_of(c.valid), (std::vector<int64_t>{2, 1, 0}));
  // A corpus with <unk> of its own maps unknown words to it without folding anything.
  write_corpus(dir.file("own"), "a <unk>\n", "q\n", "a\n");
  EXPECT_EQ(ids_of(load_text_corpus(dir.file("own")).valid), (std::vector<int64_t>{1, 0}));
}

TEST(TextCorpus, WikiTextsLayoutAndLimits) {
  TempDir dir;
  write_corpus(dir.path(), "x y z\nx\n", "x\n", "y\n", "wiki.{}.tokens");
  const Corpus c = load_text_corpus(dir.path(), 1, 3, 1);
  EXPECT_EQ(c.train.numel(), 3);
  EXPECT_EQ(c.valid.numel(), 1);
  EXPECT_EQ(c.vocab.size(), 4);  // the vocabulary of the whole file
}

TEST(TextCorpus, NotTextMissingFilesAndEmptyFilesAreNamed) {
  TempDir dir;
  write_corpus(dir.file("nul"), std::string("a\nb\0c\n", 6), "a\n", "a\n");
  std::string msg = error_of([&] { load_text_corpus(dir.file("nul")); });
  EXPECT_PRED2(contains, msg, "train.txt:2: a NUL byte at column 2") << msg;
  write_corpus(dir.file("latin1"), "caf\xe9\n", "a\n", "a\n");
  msg = error_of([&] { load_text_corpus(dir.file("latin1")); });
  EXPECT_PRED2(contains, msg, "train.txt:1: byte 4 (0xe9) is not UTF-8") << msg;
  write_corpus(dir.file("empty"), "", "a\n", "a\n");
  msg = error_of([&] { load_text_corpus(dir.file("empty")); });
  EXPECT_PRED2(contains, msg, "holds no words") << msg;
  fs::create_directories(dir.file("half"));
  write_bytes(dir.file("half") + "/train.txt", "a\n");
  msg = error_of([&] { load_text_corpus(dir.file("half")); });
  EXPECT_PRED2(contains, msg, "has train.txt but no valid.txt") << msg;
  msg = error_of([&] { load_text_corpus(dir.file("absent")); });
  EXPECT_PRED2(contains, msg, "does not exist") << msg;
  fs::create_directories(dir.file("other"));
  msg = error_of([&] { load_text_corpus(dir.file("other")); });
  EXPECT_PRED2(contains, msg, "expected train.txt, valid.txt and test.txt") << msg;
}

// ------------------------------------------------------------------------------ the registry

TEST(DataRegistry, EveryImageSetKnowsItsShapeAndClassesBeforeReading) {
  DataRequest r;
  r.dataset = "cifar100";
  EXPECT_EQ(dataset_shape(r).num_classes, 100);
  r.cifar100_labels = "coarse";
  EXPECT_EQ(dataset_shape(r).num_classes, 20);
  r.dataset = "mnist";
  EXPECT_EQ(dataset_shape(r).channels, 1);
  EXPECT_EQ(dataset_shape(r).height, 28);
  EXPECT_EQ(dataset_names(/*text=*/true), "ptb, text");
  EXPECT_EQ(dataset_names(/*text=*/false), "cifar10, cifar100, fashion_mnist, mnist, folder");
  for (const auto& d : all_datasets()) {
    EXPECT_EQ(d.text, d.load_text != nullptr) << d.name;
    EXPECT_EQ(!d.text, d.load_images != nullptr && d.shape != nullptr) << d.name;
  }
}

TEST(DataRegistry, ATextCorpusLoadsThroughTheRequest) {
  TempDir dir;
  write_corpus(dir.path(), "a a b\nc\n", "a q\n", "b\n");
  DataRequest r;
  r.dataset = "text";
  r.data = dir.path();
  r.vocab_min_count = 2;
  const Corpus c = load_corpus(r);
  EXPECT_EQ(c.vocab.words(), (std::vector<std::string>{"<eos>", "<unk>", "a"}));
  EXPECT_EQ(c.folded, 2);
}

}  // namespace
}  // namespace enas
