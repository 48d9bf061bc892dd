// `enas launch`: starts the processes of a distributed run on this machine (torchrun's job, for
// machines without Python). Everything after `--` is the enas command each process runs.
#include <unistd.h>

#include <climits>

#include "cli.h"
#include "enas/dist/launch.h"
#include "enas/util/error.h"

namespace enas::cli {

namespace {

/// This program's own path, so that the processes run the same enas.
std::string self_path() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  require(n > 0, "launch: cannot find this program's path (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

void add_launch_command(CLI::App& app, State& state) {
  auto* sub = app.add_subcommand(
      "launch",
      "start a distributed run's processes here: enas launch --nproc_per_node N -- train ...");
  static LaunchOptions o;
  static std::vector<std::string> command;
  sub->add_option("--nproc_per_node", o.nproc_per_node, "processes on this machine")
      ->capture_default_str();
  sub->add_option("--nnodes", o.nnodes, "machines in the run")->capture_default_str();
  sub->add_option("--node_rank", o.node_rank, "this machine's place among them (0-based)")
      ->capture_default_str();
  sub->add_option("--master_addr", o.master_addr, "address of the machine of rank 0")
      ->capture_default_str();
  sub->add_option("--master_port", o.master_port, "port of the rendezvous on it")
      ->capture_default_str();
  sub->add_option("--threads", o.threads,
                  "threads per process, passed on as --threads (0: the cores divided among "
                  "the processes); a command's own --threads wins")
      ->capture_default_str();
  sub->add_option("--grace", o.grace_seconds,
                  "seconds the other processes get to save and stop after one fails")
      ->capture_default_str();
  sub->add_flag("--oversubscribe", o.oversubscribe,
                "start more processes than this machine has cores (refused otherwise)");
  sub->add_flag("--exec", o.exec,
                "run the command after -- as a program of its own (as torchrun's --no-python), "
                "not as an enas command");
  sub->add_option("command", command, "the enas command each process runs, after --")->required();
  sub->callback([&state] {
    state.run = [] {
      o.command = command;
      if (!o.exec) o.command.insert(o.command.begin(), self_path());
      return launch(o);
    };
  });
}

}  // namespace enas::cli
