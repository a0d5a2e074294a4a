#pragma once
// Runs the gpudoctor binary as users do (fork + execve, a clean environment, both outputs
// captured), for the CLI and probe tests.

#include <sys/resource.h>

#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

struct Run {
  int code = -1;
  std::string out, err;
};

/// Runs the binary; `alarm_s` > 0 ends it with SIGALRM (code 142) after that many seconds, so
/// that a test of "never hangs" fails instead of hanging; `address_space_mib` > 0 limits its
/// virtual memory as `ulimit -v` does (a larger allocation fails in it); a non-empty `cwd` is the
/// working folder it runs in.
inline Run run(const std::vector<std::string>& args, std::map<std::string, std::string> env = {},
               unsigned alarm_s = 0, std::size_t address_space_mib = 0, const std::string& cwd = "") {
  int o[2], e[2];
  if (pipe(o) != 0 || pipe(e) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(o[1], 1);
    dup2(e[1], 2);
    close(o[0]);
    close(e[0]);
    close(o[1]);
    close(e[1]);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(124);
    if (alarm_s > 0) alarm(alarm_s);  // survives execve
    if (address_space_mib > 0) {
      rlimit limit{address_space_mib << 20, address_space_mib << 20};
      if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(125);
    }
    if (!env.count("PATH")) env["PATH"] = "/usr/bin:/bin";
    // The rule-table test's log (tests/rules/): passed through the clean environment.
    if (const char* log = std::getenv("GPUDOCTOR_TEST_RULE_LOG")) env.emplace("GPUDOCTOR_TEST_RULE_LOG", log);
    std::vector<std::string> envs;
    for (auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> argv{const_cast<char*>(GPUDOCTOR_BINARY)}, envp;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& x : envs) envp.push_back(x.data());
    envp.push_back(nullptr);
    execve(GPUDOCTOR_BINARY, argv.data(), envp.data());
    _exit(126);
  }
  close(o[1]);
  close(e[1]);
  Run r;
  char buf[65536];
  ssize_t n;
  while ((n = read(o[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  while ((n = read(e[0], buf, sizeof buf)) > 0) r.err.append(buf, static_cast<size_t>(n));
  close(o[0]);
  close(e[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline std::filesystem::path temp_file(const std::string& name, const std::string& content) {
  std::filesystem::path p = std::filesystem::temp_directory_path() / fmt::format("gpudoctor-cli-{}-{}", getpid(), name);
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

}  // namespace
