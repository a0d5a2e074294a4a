#include "program/session.hpp"

#include <unistd.h>

#include <ctime>
#include <fmt/format.h>

#include "program/launcher.hpp"

namespace gpudoctor::program {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

RunResult run_program(const RunRequest& request) {
  RunResult r;
  Program& p = r.program;
  p.watched = true;
  p.mode = "run";
  p.command = request.argv;
  p.interval_ms = static_cast<double>(request.interval.count());
  p.started_at = utc_now();
  if (char* cwd = ::getcwd(nullptr, 0)) {
    p.cwd = cwd;
    std::free(cwd);
  }
  LaunchOptions lo;
  lo.argv = request.argv;
  lo.pty_out = ::isatty(STDOUT_FILENO) != 0;
  lo.pty_err = ::isatty(STDERR_FILENO) != 0;
  Launcher launcher(lo);
  p.pid = static_cast<std::uint32_t>(launcher.pid());
  LoopHooks hooks;
  hooks.tick = request.interval;
  ExitStatus st = launcher.run(hooks);
  p.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - launcher.started()).count();
  p.exit_status = st.code;
  p.ended = st.text;
  r.exit_code = st.code;
  return r;
}

}  // namespace gpudoctor::program
