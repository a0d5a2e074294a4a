#pragma once
// `gpudoctor run -- CMD ...` and `gpudoctor inspect PID`: one watched program, from start to the
// Program part of the snapshot. The verdict is diagnose()'s, over the snapshot this fills.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor::program {

struct RunRequest {
  std::vector<std::string> argv;
  std::chrono::milliseconds interval{100};  ///< between readings of NVML and /proc
  bool status_line = false;                 ///< draw a live status line on stderr (a terminal)
};

struct RunResult {
  Program program;
  int exit_code = 0;  ///< what gpudoctor returns: the program's code, 128+N after signal N
};

/// Runs the program, passing its output (to fds 1 and 2) and signals through, and watches it.
/// Throws LaunchError (launcher.hpp) when it cannot be started.
RunResult run_program(const RunRequest& request);

/// ISO 8601 UTC of now.
std::string utc_now();

}  // namespace gpudoctor::program
