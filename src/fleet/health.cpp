#include "fleet/health.hpp"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace gpudoctor::fleet {

namespace {

/// `s` without control bytes, at most `limit` bytes: the line must stay one line.
std::string one_line(const std::string& s, std::size_t limit) {
  std::string out;
  for (char c : s) {
    if (out.size() >= limit) break;
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  return out;
}

}  // namespace

std::vector<std::string> mark_unanswered(Snapshot& s) {
  std::vector<std::string> out;
  auto mark = [&](ChildOutcome& c, const std::string& what) {
    if (c.status != ChildStatus::timeout) return;
    out.push_back(fmt::format("{} did not answer ({})", what, c.detail.empty() ? "time limit" : c.detail));
    c.status = ChildStatus::unanswered;
  };
  mark(s.driver.nvml_child, s.driver.nvml.in_call.empty() ? std::string("the NVML probe") : s.driver.nvml.in_call);
  mark(s.driver.cuda_child, s.driver.cuda.in_call.empty() ? std::string("the CUDA probe") : s.driver.cuda.in_call);
  if (s.compute.attempted)
    mark(s.compute.child, s.compute.last_step.empty() ? std::string("the quick probe") : "the quick probe at " + s.compute.last_step);
  return out;
}

HealthVerdict judge_health(const Diagnosis& d, std::vector<std::string> unanswered) {
  HealthVerdict v;
  v.unanswered = std::move(unanswered);
  for (const auto& c : d.causes) {
    bool node_layer = c.layer == Layer::hardware || c.layer == Layer::driver || c.layer == Layer::platform;
    if (c.severity != Severity::error || !node_layer) continue;
    v.fit = false;
    v.cause = c.cause;
    v.line = fmt::format("ERROR: gpudoctor: Health check failed: {}: {}", c.cause, one_line(c.title, 300));
    return v;
  }
  std::string seen;
  for (const auto& l : d.layers)
    if (l.layer == Layer::hardware) seen = one_line(l.summary, 200);
  v.line = "OK: gpudoctor: node fit" + (seen.empty() ? std::string() : ": " + seen);
  if (!v.unanswered.empty()) v.line += "; not judged: " + one_line(v.unanswered.front(), 200);
  return v;
}

std::string slurm_node_name() {
  if (const char* n = std::getenv("SLURMD_NODENAME"); n != nullptr && *n != '\0') return n;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "";
  std::string name(host);
  return name.substr(0, name.find('.'));
}

bool valid_node_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> drain_command(const std::string& node, const std::string& cause) {
  return {"scontrol", "update", "NodeName=" + node, "State=DRAIN", "Reason=gpudoctor: " + cause};
}

int run_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace gpudoctor::fleet
