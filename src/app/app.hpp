#pragma once
// The program as a library: parses the command line and runs the command. main() only calls this.

#include <iosfwd>

namespace gpudoctor {

enum ExitCode : int {
  k_exit_healthy = 0,  ///< the GPU path is healthy
  k_exit_problem = 1,  ///< a problem was found
  k_exit_usage = 2,    ///< bad command line or unreadable input
  k_exit_failure = 3,  ///< gpudoctor itself failed
};

/// Runs gpudoctor with `argv`; writes the report to `out`, errors to `err`. `out_is_terminal`
/// decides colour (never with NO_COLOR set). Never throws.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, bool out_is_terminal);

}  // namespace gpudoctor
