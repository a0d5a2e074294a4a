#include "driver/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace gpudoctor {

namespace {

// Messages are lines: the state, JSON with no raw newline, then '\n'.
void write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

}  // namespace

struct ChildGroup::Running {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;
  ChildReport report;
  bool done_reading = false;
  bool complete = false;  ///< the child sent its last word (OnState said so)
  std::chrono::steady_clock::time_point start;
};

namespace {

void take_lines(ChildGroup::Running& r, std::size_t job, const ChildGroup::OnState& on_state) {
  size_t nl;
  while ((nl = r.buffer.find('\n')) != std::string::npos) {
    if (nl > 0) {
      r.report.last_state = r.buffer.substr(0, nl);
      if (on_state && on_state(job, r.report.last_state)) {
        r.complete = r.done_reading = true;
        r.buffer.clear();
        return;
      }
    }
    r.buffer.erase(0, nl + 1);
  }
}

}  // namespace

ChildGroup::ChildGroup(const std::vector<ChildWork>& jobs) : m_running(jobs.size()), m_start(std::chrono::steady_clock::now()) {
  auto& running = m_running;
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto& r = running[i];
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      r.report.outcome = {"failed", fmt::format("pipe: {}", std::strerror(errno)), 0};
      r.done_reading = true;
      continue;
    }
    r.start = std::chrono::steady_clock::now();
    pid_t pid = ::fork();
    if (pid < 0) {
      r.report.outcome = {"failed", fmt::format("fork: {}", std::strerror(errno)), 0};
      ::close(fds[0]);
      ::close(fds[1]);
      r.done_reading = true;
      continue;
    }
    if (pid == 0) {
      ::close(fds[0]);
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(devnull, STDERR_FILENO);
      }
      // The child never returns into the caller's code: whatever the job does, it ends here.
      int out = fds[1];
      int status = 0;
      try {
        jobs[i]([out](const std::string& state) { write_all(out, state + "\n"); });
      } catch (...) {
        status = 70;  // EX_SOFTWARE
      }
      ::_exit(status);
    }
    ::close(fds[1]);
    r.pid = pid;
    r.fd = fds[0];
  }
}

std::vector<ChildReport> ChildGroup::wait(std::chrono::milliseconds limit, const OnState& on_state) {
  m_waited = true;
  auto& running = m_running;
  auto deadline = m_start + limit;
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<size_t> which;
    for (size_t i = 0; i < running.size(); ++i) {
      if (!running[i].done_reading) {
        pfds.push_back({running[i].fd, POLLIN, 0});
        which.push_back(i);
      }
    }
    if (pfds.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      auto& r = running[which[k]];
      std::array<char, 65536> buf{};
      ssize_t got = ::read(r.fd, buf.data(), buf.size());
      if (got > 0) {
        r.buffer.append(buf.data(), static_cast<size_t>(got));
        if (r.buffer.size() > (std::size_t{64} << 20)) r.buffer.clear();  // a runaway child: drop
        take_lines(r, which[k], on_state);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        r.done_reading = true;
      }
    }
  }

  std::vector<ChildReport> out;
  for (auto& r : running) {
    if (r.pid > 0) {
      int status = 0;
      bool timed_out = !r.done_reading;
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r.start).count();
      if (timed_out || r.complete) {
        ::kill(r.pid, SIGKILL);
      }
      while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
      }
      ::close(r.fd);
      if (r.complete) {
        r.report.outcome = {"ok", "", ms};
      } else if (timed_out) {
        r.report.outcome = {"timeout", fmt::format("did not finish within {} ms and was killed", limit.count()), ms};
      } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* name = ::sigabbrev_np(sig);
        r.report.outcome = {"crashed", fmt::format("killed by signal {} (SIG{})", sig, name ? name : "?"), ms};
      } else if (WIFEXITED(status) && WEXITSTATUS(status) == 70) {
        r.report.outcome = {"failed", "the driver library threw a C++ exception into the probe", ms};
      } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        r.report.outcome = {"failed", fmt::format("exited with status {}", WEXITSTATUS(status)), ms};
      } else {
        r.report.outcome = {"ok", "", ms};
      }
    }
    out.push_back(std::move(r.report));
  }
  return out;
}


ChildGroup::~ChildGroup() {
  if (m_waited) return;
  for (auto& r : m_running) {
    if (r.pid <= 0) continue;
    ::kill(r.pid, SIGKILL);
    int status = 0;
    while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(r.fd);
  }
}

std::vector<ChildReport> run_children(const std::vector<ChildWork>& jobs, std::chrono::milliseconds limit) {
  ChildGroup group(jobs);
  return group.wait(limit);
}

}  // namespace gpudoctor
