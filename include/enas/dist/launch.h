#pragma once
/// `enas launch`: torchrun's job for machines without Python. Starts the processes of this node,
/// each with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT), prefixes every line they print with "[rank] ", forwards SIGINT and SIGTERM to
/// them, and when one fails stops the others.
#include <string>
#include <vector>

namespace enas {

struct LaunchOptions {
  int nproc_per_node = 1;                 // processes started here
  int nnodes = 1;                         // machines in the job
  int node_rank = 0;                      // this machine's place among them
  std::string master_addr = "127.0.0.1";  // where rank 0 serves the rendezvous
  int master_port = 29500;
  int threads = 0;                   // --threads per process; 0: this machine's cores / nproc
  std::vector<std::string> command;  // what each process runs: program, then its arguments
  bool exec = false;                 // command is any program (torchrun's --no-python), not enas
  int grace_seconds = 30;            // after stopping the others: SIGKILL for what is left
  bool oversubscribe = false;        // allow more processes than this machine's cores
};

/// Runs the job's processes on this node to their end. Returns 0 when every one exited 0; else
/// the first failure's status (its exit code, or 128 + the signal that ended it). A process that
/// fails makes the others get SIGTERM (a run saves and stops, docs/reliability.md), then SIGKILL
/// after grace_seconds. Bad options are an enas::Error.
int launch(const LaunchOptions& options);

/// The command line of every process: an enas `command` gets `--threads` appended when it has
/// none (so that the processes share the cores instead of each taking all); an `exec` one runs
/// as given.
std::vector<std::string> process_command(const LaunchOptions& options);

}  // namespace enas
