#pragma once
// Runs driver calls in child processes with a time limit, so that a hung cuInit or a library
// that crashes yields a finding instead of a hung or crashed gpudoctor.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor {

/// What a child reports through `emit`: each call replaces what the parent keeps, so a child
/// killed half-way still leaves the last state it emitted.
using Emit = std::function<void(const std::string& state)>;
using ChildWork = std::function<void(const Emit& emit)>;

struct ChildReport {
  ChildOutcome outcome;
  std::string last_state;  ///< the last complete state the child emitted; empty if none
};

/// Jobs running in child processes, started together. The children's standard output and
/// error go to /dev/null, so a library that prints cannot spoil gpudoctor's output.
class ChildGroup {
 public:
  /// Starts every job in its own child process at once; the caller goes on meanwhile.
  explicit ChildGroup(const std::vector<ChildWork>& jobs);
  /// Kills and reaps children never waited for.
  ~ChildGroup();
  ChildGroup(const ChildGroup&) = delete;
  ChildGroup& operator=(const ChildGroup&) = delete;

  /// Waits for every child, at most `limit` counted from the start; children still running
  /// then are killed. A child that does not die within a second of SIGKILL (stuck in the
  /// kernel) is left behind with outcome "stuck": this never blocks past `limit` plus that
  /// second. Call once. `on_state` (may be empty) sees each state as it arrives, with
  /// the index of the job that sent it; it returns true when that state is the job's last word:
  /// the child is then killed instead of waited for (a driver tearing down its contexts can take
  /// seconds) and its outcome is "ok".
  using OnState = std::function<bool(std::size_t job, const std::string& state)>;
  std::vector<ChildReport> wait(std::chrono::milliseconds limit, const OnState& on_state = {});

  struct Running;  ///< one child (defined in child_process.cpp)

 private:
  std::vector<Running> m_running;
  std::chrono::steady_clock::time_point m_start;
  bool m_waited = false;
};

/// One job in a child process that reports for as long as it runs (the NVML sampler of
/// `gpudoctor run`): its states are read as they come, without blocking. The child dies with
/// gpudoctor (PR_SET_PDEATHSIG) and is killed by stop() or the destructor.
class ChildStream {
 public:
  explicit ChildStream(const ChildWork& job);
  ~ChildStream();
  ChildStream(const ChildStream&) = delete;
  ChildStream& operator=(const ChildStream&) = delete;

  /// Why the child could not start; empty when it runs.
  [[nodiscard]] const std::string& error() const { return m_error; }
  [[nodiscard]] pid_t pid() const { return m_pid; }
  /// The descriptor to poll for its states; -1 once its output ended.
  [[nodiscard]] int fd() const { return m_fd; }
  /// Calls `on_state` for each complete state available now. False once the child's output ended.
  bool read_states(const std::function<void(const std::string& state)>& on_state);
  /// Kills and reaps the child (`already_reaped`: someone else waited for it; only forget it).
  void stop(bool already_reaped);

 private:
  pid_t m_pid = -1;
  int m_fd = -1;
  std::string m_buffer;
  std::string m_error;
};

/// Starts every job and waits for all of them, at most `limit` in all.
std::vector<ChildReport> run_children(const std::vector<ChildWork>& jobs, std::chrono::milliseconds limit);

}  // namespace gpudoctor
