#pragma once
// `gpudoctor fleet`: a snapshot of every node through Slurm (one `srun` step, one task per node,
// argument vectors and execvp, never a shell), then the same report as `merge` (one engine),
// plus the nodes that did not answer: not in a state to run a job, a launch that failed, or no
// snapshot within the time limit.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fleet/merge.hpp"

namespace gpudoctor::fleet {

/// How the binary reaches the nodes: run where it is (a path every node shares), or copied by
/// srun's --bcast (sbcast's transport) to a node-local folder first.
enum class Bcast { automatic,
                   always,
                   never };

struct FleetOptions {
  std::string partition;  ///< empty: Slurm's default partition (and, without nodes, every node)
  std::string nodes;      ///< a Slurm host list ("gpu[01-16],gpu20"); empty: every node of the partition
  bool probe_quick = false;
  std::chrono::milliseconds timeout{120000};  ///< for the whole srun step; srun is ended after it
  Bcast bcast = Bcast::automatic;
  std::string bcast_dir = "/tmp";  ///< node-local folder the copy goes to
  double lag = 0.8;
  std::string binary;  ///< this program's path (/proc/self/exe)
};

/// What stops `fleet` before a report: `exit_code` 2 for what the operator must change (no srun,
/// a host list Slurm rejects), 3 for Slurm's failure (srun failed, no node answered).
struct FleetError : std::runtime_error {
  FleetError(int code, const std::string& what) : std::runtime_error(what), exit_code(code) {}
  int exit_code;
};

/// One node as `sinfo --Node --format=%N|%T|%E` lists it.
struct NodeState {
  std::string name, state, reason;
};

/// sinfo's lines "NAME|STATE|REASON" (the reason may hold '|'); a node listed twice (in two
/// partitions) once; names that are no node name are dropped.
std::vector<NodeState> parse_sinfo(std::string_view text);

/// Whether Slurm can start a step on a node in this state now or soon: idle, mixed (CPUs left),
/// completing, with no flag (`*` not responding, `~` powered off, `#` powering up, `!`, `%`, `@`,
/// `$`, `^`, `-`); drained, down, failing, future, maintenance nodes cannot, and an allocated
/// (full) one would make the whole step wait for its jobs to end.
bool usable_state(const std::string& state);

/// Whether `path` lies on a file system that cluster nodes share (NFS, Lustre, GPFS, BeeGFS,
/// CephFS, SMB, AFS, PanFS, OrangeFS, GFS2, OCFS2), by statfs(2)'s magic number; the file
/// system's name in `name`. Unknown, local and FUSE file systems are not taken as shared.
bool on_shared_filesystem(const std::string& path, std::string* name);

/// The argv of the srun step: one task on each of `nodes`, `binary snapshot` (and the quick
/// probe), output labelled by task; with `bcast`, srun copies the binary to bcast_dir first.
std::vector<std::string> srun_command(const FleetOptions& o, const std::vector<std::string>& nodes,
                                      const std::string& job_name, bool bcast);

/// srun --label's output, per task: each line is "<task>: <text>" (the task number padded with
/// spaces to the widest one), and srun cuts a line longer than 1 KiB into labelled pieces. The
/// pieces of a task are joined without their newlines, which keeps JSON whole.
class LabelledStream {
 public:
  using Sink = std::function<void(int task, std::string_view text)>;
  /// Tasks numbered below `tasks`; lines without a label (or of another task) go to `other`.
  LabelledStream(int tasks, Sink sink, std::function<void(std::string_view line)> other);
  void feed(std::string_view bytes);
  void finish();

 private:
  void line(std::string_view l);
  int tasks_;
  Sink sink_;
  std::function<void(std::string_view)> other_;
  std::string pending_;
};

/// The node a line of srun's own messages names as failed ("Task launch for StepId=12.0 failed
/// on node n3: Communication connection failure"): node -> why.
std::optional<std::pair<std::string, std::string>> srun_node_failure(std::string_view line);

/// The child's end: its exit status (128+N for signal N), whether it ran past its time.
struct ChildEnd {
  int status = 0;
  bool timed_out = false;
};

/// Runs `argv` (execvp, standard input /dev/null) and hands its output and error streams to the
/// callbacks as they come. Past `timeout` it gets SIGTERM, two seconds later SIGKILL.
ChildEnd run_streaming(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       const std::function<void(std::string_view)>& on_out,
                       const std::function<void(std::string_view)>& on_err);

/// `name` found on PATH (as execvp would), else empty.
std::string find_on_path(const std::string& name);

/// Gathers every node's snapshot through srun and merges them with `load`.
FleetReport run_fleet(const FleetOptions& o, const SnapshotLoader& load);

}  // namespace gpudoctor::fleet
