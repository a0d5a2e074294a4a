#pragma once
// Starts the gpudoctor binary as a user's shell would, with its stdout and stderr each a pipe or
// a pseudo-terminal, and reads both at once (neither can fill and stall the other).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace spawn {

struct Options {
  std::vector<std::string> args;           ///< after the binary's name
  std::map<std::string, std::string> env;  ///< the whole environment (PATH defaults to /usr/bin:/bin)
  bool pty_out = false;                    ///< stdout a pseudo-terminal
  bool pty_err = false;                    ///< stderr a pseudo-terminal (the same one when both)
  unsigned short rows = 0, cols = 0;       ///< its size, when not 0
  std::string cwd;
};

struct Child {
  pid_t pid = -1;
  int out = -1, err = -1;  ///< read ends (pty master or pipe)
  int master = -1;         ///< the pseudo-terminal's master, when one
};

struct Result {
  int code = -1;  ///< exit code, or 128+N after signal N
  std::string out, err;
};

inline Child start(const Options& o) {
  Child c;
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  std::string slave;
  if (o.pty_out || o.pty_err) {
    c.master = ::posix_openpt(O_RDWR | O_NOCTTY);
    ::grantpt(c.master);
    ::unlockpt(c.master);
    slave = ::ptsname(c.master);
    if (o.rows != 0) {
      winsize w{o.rows, o.cols, 0, 0};
      ::ioctl(c.master, TIOCSWINSZ, &w);
    }
  }
  if (!o.pty_out) [[maybe_unused]]
    int r = ::pipe(out_pipe);
  if (!o.pty_err) [[maybe_unused]]
    int r = ::pipe(err_pipe);
  c.pid = ::fork();
  if (c.pid == 0) {
    int s = -1;
    if (c.master >= 0) {
      ::setsid();
      s = ::open(slave.c_str(), O_RDWR);
      ::ioctl(s, TIOCSCTTY, 0);
      termios t{};
      ::tcgetattr(s, &t);
      t.c_oflag &= ~static_cast<tcflag_t>(OPOST);  // the test reads the bytes as written
      ::tcsetattr(s, TCSANOW, &t);
    }
    ::dup2(o.pty_out ? s : out_pipe[1], 1);
    ::dup2(o.pty_err ? s : err_pipe[1], 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    for (int fd = 3; fd < 256; ++fd) ::close(fd);
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) ::_exit(125);
    auto env = o.env;
    if (!env.count("PATH")) env["PATH"] = "/usr/bin:/bin";
    // The rule-table test's log (tests/rules/): passed through the clean environment.
    if (const char* log = std::getenv("GPUDOCTOR_TEST_RULE_LOG")) env.emplace("GPUDOCTOR_TEST_RULE_LOG", log);
    std::vector<std::string> envs;
    for (auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> argv{const_cast<char*>(GPUDOCTOR_BINARY)}, envp;
    for (auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& x : envs) envp.push_back(x.data());
    envp.push_back(nullptr);
    ::execve(GPUDOCTOR_BINARY, argv.data(), envp.data());
    ::_exit(126);
  }
  if (!o.pty_out) {
    ::close(out_pipe[1]);
    c.out = out_pipe[0];
  }
  if (!o.pty_err) {
    ::close(err_pipe[1]);
    c.err = err_pipe[0];
  }
  if (o.pty_out) c.out = c.master;
  else if (o.pty_err) c.err = c.master;
  return c;
}

/// Reads until `want` appears in the child's stdout (or stderr with `from_err`), at most `limit`.
inline bool read_until(Child& c, Result& r, const std::string& want, bool from_err = false,
                       std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const std::string& have = from_err ? r.err : r.out;
    if (have.find(want) != std::string::npos) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    std::vector<pollfd> fds;
    if (c.out >= 0) fds.push_back({c.out, POLLIN, 0});
    if (c.err >= 0 && c.err != c.out) fds.push_back({c.err, POLLIN, 0});
    if (fds.empty()) return false;
    if (::poll(fds.data(), fds.size(), static_cast<int>(left)) <= 0) continue;
    for (auto& p : fds) {
      if (p.revents == 0) continue;
      char buf[65536];
      ssize_t n = ::read(p.fd, buf, sizeof buf);
      std::string& into = p.fd == c.out ? r.out : r.err;
      if (n > 0) {
        into.append(buf, static_cast<size_t>(n));
      } else {
        if (p.fd == c.out) c.out = -1;
        if (p.fd == c.err) c.err = -1;
        ::close(p.fd);
      }
    }
  }
}

/// Reads everything and waits for the end.
inline Result finish(Child& c, Result r = {}) {
  read_until(c, r, std::string(1, '\0') + "never", false, std::chrono::minutes(10));
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline Result run(const Options& o) {
  Child c = start(o);
  return finish(c);
}

}  // namespace spawn
