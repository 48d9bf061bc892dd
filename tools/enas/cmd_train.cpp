// `enas train`: final training of a fixed architecture from scratch (train/jobs.h).
#include <fmt/format.h>

#include "cli.h"
#include "enas/train/jobs.h"

namespace enas::cli {

namespace {

int run_train(State& s) {
  const std::vector<std::string> warnings = check_config(s);
  const Compute compute = setup_compute(s.config);
  std::unique_ptr<Job> job = make_train_job(s.config);  // validates the model before any I/O
  if (s.dry_run) {
    fmt::print("{}", job->describe(compute));
    if (s.json) print_json_line(job->describe_json());
    return 0;
  }
  Session session(s.config, session_options(s, "train", warnings));
  session.finish(job->run(session));
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand("train", "train a fixed architecture from scratch");
  bind_config(sub, state, /*with_resume=*/true);
  sub->callback([&state] { state.run = [&state] { return run_train(state); }; });
}

}  // namespace enas::cli
