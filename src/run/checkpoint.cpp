#include "enas/run/checkpoint.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "enas/run/reporter.h"
#include "enas/util/error.h"
#include "enas/util/signals.h"
#include "enas/util/text.h"
#include "enas/util/zip_verify.h"

namespace enas {

namespace fs = std::filesystem;

namespace {

std::string describe_kind(const std::string& kind) {
  if (kind == "final") return "a final-training checkpoint (enas train)";
  if (kind == "search") return "an image-search checkpoint (enas search)";
  if (kind == "lm_final") return "a Penn Treebank training checkpoint (enas train)";
  if (kind == "lm_search") return "a Penn Treebank search checkpoint (enas search)";
  return fmt::format("a checkpoint of unknown kind '{}'", kind);
}

}  // namespace

void stop_run(const RunDir& run, Reporter& reporter, const std::string& where,
              const std::string& checkpoint) {
  const int signal = stop_requested();
  const std::string line =
      checkpoint.empty()
          ? fmt::format("Stopped by {} {}; nothing was saved.", signal_name(signal), where)
          : fmt::format("Stopped by {} {}; saved {}. Continue with: {}", signal_name(signal), where,
                        checkpoint, run.resume_command());
  reporter.message(line);
  reporter.record({{"kind", "interrupted"},
                   {"signal", signal_name(signal)},
                   {"where", where},
                   {"checkpoint", checkpoint}});
  throw Interrupted(signal, line);
}

void stop_between_controller_steps(const RunDir& run, Reporter& reporter, int64_t epoch, int done,
                                   int total, const std::function<std::string()>& save) {
  if (!stop_requested() || done >= total) return;
  const std::string saved = save();
  stop_run(run, reporter,
           fmt::format("in epoch {} after controller step {} of {}", epoch + 1, done, total),
           saved);
}

void announce_resume(Reporter& reporter, const std::string& checkpoint,
                     const nlohmann::json& meta) {
  const int64_t epoch = meta.value("epoch", int64_t{0}), batch = meta.value("batch", int64_t{0});
  const int64_t step = meta.value("step", int64_t{0});
  reporter.message(
      batch > 0 ? fmt::format("Resuming from {} (epoch {}, batch {}, step {})", checkpoint, epoch,
                              batch, step)
                : fmt::format("Resuming from {} (epoch {}, step {})", checkpoint, epoch, step));
  nlohmann::json record = {{"kind", "resume"},
                           {"checkpoint", checkpoint},
                           {"epoch", epoch},
                           {"batch", batch},
                           {"step", step}};
  if (meta.contains("ctrl_step")) record["ctrl_step"] = meta["ctrl_step"];
  reporter.record(record);
}

nlohmann::json load_checkpoint(const std::string& path, const std::string& kind,
                               const std::function<void(torch::serialize::InputArchive&)>& read) {
  std::error_code ec;
  require(fs::is_regular_file(path, ec), "cannot read checkpoint {}: no such file", path);
  const std::string damage = zip_damage(path);
  require(damage.empty(), "checkpoint {} is damaged: {}", path, damage);
  torch::serialize::InputArchive archive;
  nlohmann::json meta;
  try {
    archive.load_from(path);
    c10::IValue text;
    archive.read("meta", text);
    meta = parse_json(text.toStringRef(), "the checkpoint's meta");
  } catch (const std::exception&) {
    fail("cannot read checkpoint {}: it is not an enas checkpoint", path);
  }
  const std::string found = meta.value("kind", "");
  require(kind.empty() || found == kind, "checkpoint {} is {}, not {}", path, describe_kind(found),
          describe_kind(kind));
  try {
    read(archive);
  } catch (const c10::Error& e) {
    fail("checkpoint {} does not fit this run: {}", path,
         std::string(e.what_without_backtrace()).substr(0, 200));
  }
  return meta;
}

void load_module_checked(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                         const std::string& checkpoint) {
  auto shapes = [&] {
    std::map<std::string, std::vector<int64_t>> out;
    for (const auto& p : module.named_parameters()) out[p.key()] = p.value().sizes().vec();
    for (const auto& b : module.named_buffers()) out[b.key()] = b.value().sizes().vec();
    return out;
  };
  const auto expected = shapes();
  try {
    module.load(archive);
  } catch (const c10::Error& e) {
    fail("checkpoint {} does not match this model (was the architecture or a size changed?): {}",
         checkpoint, std::string(e.what_without_backtrace()).substr(0, 200));
  }
  for (const auto& [name, shape] : shapes()) {
    require(expected.at(name) == shape,
            "checkpoint {} does not match this model (was the architecture or a size "
            "changed?): {} is [{}] there, [{}] here",
            checkpoint, name, fmt::join(shape, ", "), fmt::join(expected.at(name), ", "));
  }
}

CheckpointParts& CheckpointParts::module(std::string name, torch::nn::Module& module) {
  parts_.push_back(
      {std::move(name), true, [&module](auto& a) { module.save(a); }, nullptr, &module});
  return *this;
}

CheckpointParts& CheckpointParts::loose(Save save, Load load) {
  parts_.push_back({"", false, std::move(save), std::move(load), nullptr});
  return *this;
}

void CheckpointParts::save(torch::serialize::OutputArchive& archive) const {
  for (const auto& p : parts_) {
    if (!p.sub_archive) {
      p.save(archive);
      continue;
    }
    torch::serialize::OutputArchive sub;
    p.save(sub);
    archive.write(p.name, sub);
  }
}

void CheckpointParts::load(torch::serialize::InputArchive& archive,
                           const std::string& checkpoint) const {
  for (const auto& p : parts_) {
    if (!p.sub_archive) {
      p.load(archive);
      continue;
    }
    torch::serialize::InputArchive sub;
    archive.read(p.name, sub);
    if (p.module) {
      load_module_checked(*p.module, sub, checkpoint);
    } else {
      p.load(sub);
    }
  }
}

RunProgress RunCheckpoints::read(const std::string& path, nlohmann::json* meta_out) {
  const nlohmann::json meta = restore_(path);
  if (meta_out) *meta_out = meta;
  RunProgress p;
  p.epoch = meta.at("epoch").get<int64_t>();
  p.step = meta.at("step").get<int64_t>();
  p.rollbacks = meta.value("rollbacks", int64_t{0});
  p.seconds = meta.value("seconds", 0.0);
  p.batch = meta.value("batch", int64_t{0});
  // The searches and the language model keep a mid-epoch position under "position"; the image
  // final trainer writes its field (meter) into the meta itself, as older image searches did
  // (meter, ctrl_t).
  p.position = meta.contains("position") ? meta.at("position") : meta;
  return p;
}

RunProgress RunCheckpoints::resume(const Check& check) {
  const std::string path = run_.checkpoint_to_resume();
  nlohmann::json meta;
  RunProgress p = read(path, &meta);
  if (check) check(path, p);
  announce_resume(reporter_, path, meta);
  return p;
}

RunProgress RunCheckpoints::roll_back() {
  constexpr int64_t kMaxInARow = 5;
  // Mid-epoch checkpoints continue a random stream that just diverged: go back to an epoch's end.
  auto path = run_.latest_epoch_checkpoint();
  require(path.has_value() && in_a_row_ < kMaxInARow,
          "the training loss is not finite after {} rollbacks; try a lower --child_lr", in_a_row_);
  ++in_a_row_;
  reporter_.message(fmt::format("rolling back to previous checkpoint {}", *path));
  RunProgress p = read(*path);
  p.rollbacks += in_a_row_;  // the checkpoint predates this series of rollbacks
  reporter_.record({{"kind", "rollback"}, {"checkpoint", *path}, {"epoch", p.epoch}});
  return p;
}

}  // namespace enas
