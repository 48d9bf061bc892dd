// The Config table (JSON, printing, validation) and the built-in presets of the authors' scripts.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "enas/config/config.h"
#include "enas/config/presets.h"
#include "enas/space/authors_arcs.h"
#include "enas/util/error.h"
#include "test_util.h"

namespace enas {
namespace {

using test::contains;
using test::error_of;

using test::TempDir;

// -------------------------------------------------------------------------------------- config

TEST(Config, JsonRoundTrip) {
  Config a;
  a.batch_size = 7;
  a.seed = 42;
  a.memory_format = "contiguous";
  a.child_lr_max = 0.3f;
  a.dataset = "cifar10";
  a.child_fixed_arc = "0 1 0 1";
  auto j = to_json(a);
  EXPECT_EQ(j["batch_size"], 7);
  EXPECT_EQ(j["dataset"], "cifar10");
  Config b;
  apply_json(b, j, "test");
  EXPECT_EQ(to_json(b), j);
  EXPECT_EQ(b.batch_size, 7);
  EXPECT_EQ(b.seed, 42);
  EXPECT_EQ(b.memory_format, "contiguous");
  EXPECT_FLOAT_EQ(b.child_lr_max, 0.3f);
  EXPECT_EQ(b.child_fixed_arc, "0 1 0 1");
}

TEST(Config, ApplyJsonOnlyTouchesNamedFields) {
  Config c;
  apply_json(c, nlohmann::json{{"num_epochs", 3}, {"child_lr_max", 1}}, "test");
  EXPECT_EQ(c.num_epochs, 3);
  EXPECT_FLOAT_EQ(c.child_lr_max, 1.0f);  // an integer is a valid float
  EXPECT_EQ(c.batch_size, Config{}.batch_size);
}

TEST(Config, ApplyJsonErrors) {
  Config c;
  std::string msg = error_of([&] { apply_json(c, nlohmann::json{{"nope", 1}}, "cfg.json"); });
  EXPECT_PRED2(contains, msg, "cfg.json");
  EXPECT_PRED2(contains, msg, "unknown flag 'nope'");
  msg = error_of([&] { apply_json(c, nlohmann::json{{"batch_size", "x"}}, "cfg.json"); });
  EXPECT_PRED2(contains, msg, "'batch_size' has the wrong type");
  EXPECT_PRED2(contains, error_of([&] {
                 apply_json(c, nlohmann::json{{"batch_size", 1.5}}, "f");
               }),
               "'batch_size' must be an integer, got 1.5");
  // Past the field's range: refused, not wrapped (2^32 + 1 layers used to become 1).
  EXPECT_PRED2(contains, error_of([&] {
                 apply_json(c, nlohmann::json::parse(R"({"child_num_layers": 4294967297})"), "f");
               }),
               "out of range for a 32-bit integer");
  EXPECT_PRED2(contains, error_of([&] {
                 apply_json(c, nlohmann::json::parse(R"({"seed": 18446744073709551615})"), "f");
               }),
               "out of range for a 64-bit integer");
  apply_json(c, nlohmann::json::parse(R"({"child_num_layers": 2147483647})"), "f");
  EXPECT_EQ(c.child_num_layers, 2147483647);
  EXPECT_PRED2(contains, error_of([&] {
                 apply_json(c, nlohmann::json{{"memory_format", 1}}, "f");
               }),
               "'memory_format'");
  EXPECT_PRED2(contains, error_of([&] { apply_json(c, nlohmann::json::array(), "f"); }),
               "JSON object");
}

TEST(Config, ConfigFileErrors) {
  TempDir dir;
  Config c;
  { std::ofstream(dir.file("bad.json")) << "{ not json"; }
  EXPECT_PRED2(contains, error_of([&] { apply_config_file(c, dir.file("bad.json")); }),
               "not valid JSON");
  { std::ofstream(dir.file("good.json")) << R"({"batch_size": 5})"; }
  apply_config_file(c, dir.file("good.json"));
  EXPECT_EQ(c.batch_size, 5);
}

TEST(Config, TheStartOfRunTableShowsWhatDefinesTheRunAndWhatDiffersFromThePreset) {
  Config base;
  find_preset("cifar10_micro_search").apply(base);
  Config c = base;
  c.preset = "cifar10_micro_search";
  c.controller_train_steps = 7;  // changed by a flag
  c.child_cutout_size = 3;       // changed: an image field
  c.child_hidden_size = 999;     // changed, but the language model's: not shown for micro
  const std::string text = format_config_summary(c, base, kSearchMode);
  std::map<std::string, std::string> rows;
  std::istringstream in(text);
  std::string header;
  std::getline(in, header);
  EXPECT_NE(header.find("preset cifar10_micro_search"), std::string::npos) << header;
  for (std::string line; std::getline(in, line);) {
    const auto dots = line.find("..");
    ASSERT_NE(dots, std::string::npos) << line;
    const auto value = line.find_first_not_of('.', dots);  // none: an empty value (data)
    rows[line.substr(0, dots)] = value == std::string::npos ? "" : line.substr(value);
  }
  EXPECT_EQ(rows["controller_train_steps"], "7");
  EXPECT_EQ(rows["child_cutout_size"], "3");
  EXPECT_EQ(rows.count("child_hidden_size"), 0u);
  // What defines the run is there though unchanged; an unchanged value of the preset is not.
  for (const char* name : {"preset", "dataset", "search_for", "batch_size", "num_epochs",
                           "child_num_layers", "child_num_cells", "child_out_filters"}) {
    EXPECT_EQ(rows.count(name), 1u) << name;
  }
  EXPECT_EQ(rows["batch_size"], "160");
  EXPECT_EQ(rows.count("controller_lr"), 0u);
  EXPECT_EQ(rows.count("child_hidden_size"), 0u);
  EXPECT_LT(rows.size(), 25u);
  EXPECT_NE(header.find(std::to_string(rows.size()) + " of " + std::to_string(to_json(c).size())),
            std::string::npos)
      << header;
}

TEST(Config, FormatConfigPrintsDottedSortedLines) {
  Config c;
  std::string text = format_config(c);
  std::istringstream in(text);
  std::vector<std::string> lines, names;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_EQ(lines.size(), to_json(c).size());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "batch_size" + std::string(67, '.') + "128"),
            lines.end());
  for (const auto& line : lines) {
    names.push_back(line.substr(0, line.find('.')));
    if (line.rfind("child_fixed_arc.", 0) != 0) {
      EXPECT_EQ(line.size(), 80u) << line;
    }
  }
  // The arc is longer than 80 columns with its name: one dot.
  EXPECT_NE(std::find(lines.begin(), lines.end(), std::string("child_fixed_arc.") + kMicroFinalArc),
            lines.end());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(Config, ValidateNamesTheBadFlag) {
  EXPECT_NO_THROW(validate(Config{}));
  auto bad = [](const std::function<void(Config&)>& change) {
    Config c;
    change(c);
    return error_of([&] { validate(c); });
  };
  EXPECT_PRED2(contains, bad([](Config& c) { c.batch_size = 0; }), "--batch_size");
  EXPECT_PRED2(contains, bad([](Config& c) { c.child_out_filters = 3; }), "--child_out_filters");
  EXPECT_PRED2(contains, bad([](Config& c) { c.child_clip_mode = "bad"; }), "--child_clip_mode");
  EXPECT_PRED2(contains, bad([](Config& c) { c.dataset = "imagenet"; }), "--dataset");
  EXPECT_PRED2(contains, bad([](Config& c) { c.cifar100_labels = "all"; }), "--cifar100_labels");
  EXPECT_PRED2(contains, bad([](Config& c) { c.vocab_min_count = 0; }), "--vocab_min_count");
  EXPECT_PRED2(contains, bad([](Config& c) { c.child_keep_prob = 0; }), "--child_keep_prob");
}

// ------------------------------------------------------------------------------------- presets

TEST(Config, ValidateRefusesNonFiniteNumbers) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    Config c;
    c.controller_entropy_weight = bad;
    EXPECT_PRED2(contains, error_of([&] { validate(c); }),
                 "--controller_entropy_weight must be a finite number");
  }
  Config c;
  c.num_epochs = 0;
  EXPECT_PRED2(contains, error_of([&] { validate(c); }), "--num_epochs must be >= 1");
}

TEST(Config, ResumeChangesAreFreeWarnedOrRefused) {
  const Config saved;
  Config now = saved;
  now.threads = 7;
  now.num_epochs = 9;
  now.data = "/moved";
  EXPECT_TRUE(resume_changes(saved, now, "run/config.json").empty());
  now.child_l2_reg = 1e-3f;
  const auto warnings = resume_changes(saved, now, "run/config.json");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_PRED2(contains, warnings[0], "--child_l2_reg changes from");
  for (auto change : std::vector<std::function<void(Config&)>>{
           [](Config& c) { c.child_out_filters = 32; }, [](Config& c) { c.seed = 2; },
           [](Config& c) { c.batch_size = 64; }, [](Config& c) { c.dataset = "cifar10"; },
           [](Config& c) { c.child_fixed_arc = "0 0"; }}) {
    Config changed = saved;
    change(changed);
    std::string msg = error_of([&] { resume_changes(saved, changed, "run/config.json"); });
    EXPECT_PRED2(contains, msg, "here but");
    EXPECT_PRED2(contains, msg, "in run/config.json");
  }
}

TEST(Presets, AllNamesAreListed) {
  std::set<std::string> names;
  for (const auto& p : all_presets()) names.insert(p.name);
  for (const char* want : {"default", "cifar10_micro_final", "cifar10_macro_final",
                           "cifar10_micro_search", "cifar10_macro_search"}) {
    EXPECT_EQ(names.count(want), 1u) << want;
  }
}

TEST(Presets, EverySearchPresetNamesAFinalPresetOfItsSpaceAndData) {
  int searches = 0;
  for (const auto& p : all_presets()) {
    if (p.command != "search") {
      EXPECT_EQ(p.final_preset, "") << p.name;
      continue;
    }
    ++searches;
    SCOPED_TRACE(p.name);
    Config searched;
    p.apply(searched);
    searched.preset = p.name;
    const Preset& f = find_preset(final_preset_for(searched));
    EXPECT_EQ(f.name, p.final_preset);
    EXPECT_EQ(f.command, "train");
    Config trained;
    f.apply(trained);
    EXPECT_EQ(trained.dataset, searched.dataset);
    EXPECT_EQ(trained.search_for, searched.search_for);
    EXPECT_EQ(searched.child_fixed_arc, "");  // a search samples its architectures
  }
  EXPECT_GE(searches, 4);
  // A search run without a preset: its data set and space decide.
  Config c;
  c.preset = "";
  c.dataset = "cifar10";
  c.search_for = "macro";
  EXPECT_EQ(final_preset_for(c), "cifar10_macro_final");
  c.dataset = "cifar100";  // the hand-off then trains it on the search's data set
  EXPECT_EQ(final_preset_for(c), "cifar10_macro_final");
  c.search_for = "micro";
  EXPECT_EQ(final_preset_for(c), "cifar100_micro_final");
  c.dataset = "fashion_mnist";
  EXPECT_EQ(final_preset_for(c), "default");
  c.search_for = "rnn";
  for (const char* text : {"ptb", "text"}) {
    c.dataset = text;
    EXPECT_EQ(final_preset_for(c), "ptb_final");
  }
}

TEST(Presets, EveryPresetValidates) {
  for (const auto& p : all_presets()) {
    Config c;
    p.apply(c);
    EXPECT_NO_THROW(validate(c)) << p.name;
  }
}

TEST(Presets, MicroFinalHasTheScriptsValues) {
  Config c;
  find_preset("cifar10_micro_final").apply(c);
  EXPECT_EQ(c.dataset, "cifar10");
  EXPECT_EQ(c.search_for, "micro");
  EXPECT_EQ(c.batch_size, 144);
  EXPECT_EQ(c.num_epochs, 630);
  EXPECT_EQ(c.child_num_layers, 15);
  EXPECT_EQ(c.child_out_filters, 36);
  EXPECT_FLOAT_EQ(c.child_drop_path_keep_prob, 0.6f);
  EXPECT_FLOAT_EQ(c.child_lr_min, 0.0001f);
  EXPECT_EQ(c.child_fixed_arc, kMicroFinalArc);
}

TEST(Presets, MacroFinalHasTheScriptsValues) {
  Config c;
  find_preset("cifar10_macro_final").apply(c);
  EXPECT_EQ(c.search_for, "macro");
  EXPECT_EQ(c.batch_size, 100);
  EXPECT_EQ(c.num_epochs, 310);
  EXPECT_EQ(c.child_num_layers, 24);
  EXPECT_EQ(c.child_out_filters, 96);
  EXPECT_FLOAT_EQ(c.child_keep_prob, 0.5f);
  EXPECT_FLOAT_EQ(c.child_lr_min, 0.001f);
  EXPECT_EQ(c.child_num_branches, 4);
  EXPECT_EQ(c.child_fixed_arc, kMacroFinalArc);
}

TEST(Presets, DefaultRestoresTheEmbeddedDefaults) {
  Config c;
  c.batch_size = 3;
  c.dataset = "cifar10";
  find_preset("default").apply(c);
  EXPECT_EQ(to_json(c), to_json(Config{}));
}

TEST(Presets, UnknownNameListsKnownOnes) {
  std::string msg = error_of([] { find_preset("nope"); });
  EXPECT_PRED2(contains, msg, "'nope'");
  for (const auto& p : all_presets()) EXPECT_PRED2(contains, msg, p.name);
}

}  // namespace
}  // namespace enas
