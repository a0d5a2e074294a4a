#pragma once
// `gpudoctor run -- CMD ...` and `gpudoctor inspect PID`: one watched program, from start to the
// Program part of the snapshot. The watch: the process tree through /proc (proc_tree), the GPUs
// through the NVML sampler child (driver/nvml_sampler, gpu_usage), the program's output through
// explain's catalogue as it passes. The verdict is diagnose()'s, over the snapshot this fills.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor::program {

/// Reads the program's own source (collect/python_code, when built in): the statements that decide
/// where its work runs. Empty: not read.
using CodeScanner = std::function<std::vector<CodeFact>(const Program& program)>;

struct RunRequest {
  std::vector<std::string> argv;
  std::chrono::milliseconds interval{100};  ///< between readings of NVML and /proc
  bool status_line = false;                 ///< draw a live status line on stderr (a terminal)
  bool watch_gpus = true;                   ///< start the NVML sampler (false: --driver none)
  CodeScanner scan_code;
};

struct RunResult {
  Program program;
  int exit_code = 0;  ///< what gpudoctor returns: the program's code, 128+N after signal N
};

/// Runs the program, passing its output (to fds 1 and 2) and signals through, and watches it.
/// Throws LaunchError (launcher.hpp) when it cannot be started.
RunResult run_program(const RunRequest& request);

struct InspectRequest {
  pid_t pid = 0;
  std::chrono::milliseconds duration{5000};
  std::chrono::milliseconds interval{100};
  bool watch_gpus = true;
  CodeScanner scan_code;
};

/// The process to inspect does not exist or cannot be read.
struct InspectError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Watches a running process and its descendants for `duration`, read-only; its log is read where
/// its stdout or stderr is a regular file.
Program inspect_program(const InspectRequest& request);

/// ISO 8601 UTC of now.
std::string utc_now();

}  // namespace gpudoctor::program
