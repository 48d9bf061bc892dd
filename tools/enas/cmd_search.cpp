// `enas search`: ENAS architecture search (shared child + controller), then derivation.
// `enas derive`: derivation from a search checkpoint at any time. Both: train/jobs.h.
#include <fmt/format.h>

#include <filesystem>

#include "cli.h"
#include "enas/train/jobs.h"
#include "enas/util/error.h"

namespace enas::cli {

namespace {

int run_search(State& s) {
  const std::vector<std::string> warnings = check_config(s);
  const Compute compute = setup_compute(s.config);
  std::unique_ptr<Job> job = make_search_job(s.config);
  if (s.dry_run) {
    fmt::print("{}", job->describe(compute));
    if (s.json) print_json_line(job->describe_json());
    return 0;
  }
  Session session(s.config, session_options(s, "search", warnings));
  session.finish(job->run(session));
  return 0;
}

int run_derive(State& s, const std::string& checkpoint) {
  require(std::filesystem::exists(checkpoint), "--checkpoint {} does not exist", checkpoint);
  validate(s.config);
  expect_checkpoint_kind(checkpoint, "search", s.config.dataset);
  setup_compute(s.config);
  std::unique_ptr<Job> job = make_search_job(s.config);
  SessionOptions options;
  options.command = "derive";
  options.checkpoint = checkpoint;
  options.json = s.json;
  Session session(s.config, options);
  session.finish(job->derive(session, checkpoint));
  return 0;
}

}  // namespace

void add_search_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand("search", "ENAS search: shared child + controller, then derive");
  bind_config(sub, state, /*with_resume=*/true);
  sub->callback([&state] { state.run = [&state] { return run_search(state); }; });

  auto* derive = app.add_subcommand(
      "derive", "score sampled architectures of a search checkpoint on the validation split");
  bind_config(derive, state, /*with_resume=*/false);
  static std::string checkpoint;
  derive->add_option("--checkpoint", checkpoint, "a search's ckpt-<epoch>.pt")->required();
  derive->callback([&state] { state.run = [&state] { return run_derive(state, checkpoint); }; });
}

}  // namespace enas::cli
