#include "driver/child_process.hpp"
#include "core/path.hpp"
#include "core/signal_name.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <thread>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace gpudoctor {

namespace {

// Closes every descriptor from `first` on, in a forked child. close_range(2) through syscall():
// glibc wraps it only from 2.34 (the release binary runs on 2.28), and kernels before 5.9 lack it
// (RHEL 8's 4.18): then each descriptor up to the limit is closed.
#ifndef SYS_close_range
#define SYS_close_range 436  // the same number on every architecture
#endif
void close_from(int first) {
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
  long limit = ::sysconf(_SC_OPEN_MAX);
  if (limit < 0 || limit > 1048576) limit = 1048576;
  for (long fd = first; fd < limit; ++fd) ::close(static_cast<int>(fd));
}

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

// How long a killed child may take to die before it is left behind.
constexpr std::chrono::milliseconds k_kill_grace{1000};

// waitpid without blocking past `until`: true once the child is reaped (or is no child of
// ours any more), with its status in `status`.
bool reap_within(pid_t pid, std::chrono::steady_clock::time_point until, int& status) {
  for (;;) {
    pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) return true;
    if (got < 0 && errno != EINTR) {
      status = 0;
      return true;  // ECHILD: reaped elsewhere
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return false;
    auto nap = std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(2));
    std::this_thread::sleep_for(nap);
  }
}

}  // namespace

struct ChildGroup::Running {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;
  ChildReport report;
  bool done_reading = false;
  bool complete = false;     ///< the child sent its last word (OnState said so)
  bool left_behind = false;  ///< did not die of SIGKILL in time: never waited for again
  std::chrono::steady_clock::time_point start;
};

namespace {

void take_lines(ChildGroup::Running& r, std::size_t job, const ChildGroup::OnState& on_state) {
  bool stopped = false;
  take_complete_lines(r.buffer, [&](std::string_view line) {
    if (line.empty()) return false;
    r.report.last_state = std::string(line);
    stopped = on_state && on_state(job, r.report.last_state);
    return stopped;
  });
  if (stopped) {
    r.complete = r.done_reading = true;
    r.buffer.clear();
  }
}

}  // namespace

namespace {

// Starts `job` in a child process whose only descriptor beyond /dev/null on 0-2 is the write end
// of a pipe; the parent gets the read end. An error text when it cannot start.
std::string start_child(const ChildWork& job, pid_t& pid_out, int& fd_out, bool die_with_parent = false) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fmt::format("pipe: {}", std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    std::string why = fmt::format("fork: {}", std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    return why;
  }
  if (pid == 0) {
    if (die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // The child keeps nothing of the parent's but its own pipe: a child left behind (stuck in
    // the kernel) then holds no pipe or file that someone waits on to close.
    int out = ::fcntl(fds[1], F_DUPFD_CLOEXEC, 3);
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
      ::dup2(devnull, STDERR_FILENO);
    }
    if (out >= 0 && out != 3) out = ::dup3(out, 3, O_CLOEXEC);
    if (out == 3) close_from(4);
    else out = fds[1];
    // A reader gone away is the end of the work, not a signal death.
    ::signal(SIGPIPE, SIG_IGN);
    // The child never returns into the caller's code: whatever the job does, it ends here.
    int status = 0;
    try {
      job([out](const std::string& state) { write_all(out, state + "\n"); });
    } catch (...) {
      status = 70;  // EX_SOFTWARE
    }
    ::_exit(status);
  }
  ::close(fds[1]);
  pid_out = pid;
  fd_out = fds[0];
  return {};
}

}  // namespace

ChildGroup::ChildGroup(const std::vector<ChildWork>& jobs) : m_running(jobs.size()), m_start(std::chrono::steady_clock::now()) {
  auto& running = m_running;
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto& r = running[i];
    r.start = std::chrono::steady_clock::now();
    std::string why = start_child(jobs[i], r.pid, r.fd);
    if (!why.empty()) {
      r.report.outcome = {ChildStatus::failed, why, 0};
      r.done_reading = true;
    }
  }
}

ChildStream::ChildStream(const ChildWork& job) {
  m_error = start_child(job, m_pid, m_fd, true);
  if (m_fd >= 0) ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) | O_NONBLOCK);
}

bool ChildStream::read_states(const std::function<void(const std::string&)>& on_state) {
  if (m_fd < 0) return false;
  std::array<char, 65536> buf{};
  for (;;) {
    ssize_t got = ::read(m_fd, buf.data(), buf.size());
    if (got > 0) {
      m_buffer.append(buf.data(), static_cast<size_t>(got));
      take_complete_lines(m_buffer, [&](std::string_view line) {
        if (!line.empty()) on_state(std::string(line));
        return false;
      });
      if (m_buffer.size() > (std::size_t{16} << 20)) m_buffer.clear();  // a runaway line: drop
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    ::close(m_fd);  // end of its output (or an error reading it): the child is done
    m_fd = -1;
    return false;
  }
}

void ChildStream::stop(bool already_reaped) {
  if (m_fd >= 0) {
    ::close(m_fd);
    m_fd = -1;
  }
  if (m_pid <= 0) return;
  if (!already_reaped) {
    ::kill(m_pid, SIGKILL);
    int status = 0;
    (void)reap_within(m_pid, std::chrono::steady_clock::now() + k_kill_grace, status);
  }
  m_pid = -1;
}

ChildStream::~ChildStream() { stop(false); }

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
  auto now = std::chrono::steady_clock::now();
  for (auto& r : running) {
    if (r.pid > 0) {
      int status = 0;
      bool timed_out = !r.done_reading;
      double ms = std::chrono::duration<double, std::milli>(now - r.start).count();
      bool reaped = false;
      if (!timed_out && !r.complete) {
        // Its output ended: it is exiting. It may take until the deadline to do so.
        reaped = reap_within(r.pid, std::max(deadline, now + std::chrono::milliseconds(100)), status);
        if (!reaped) timed_out = true;
      }
      if (!reaped) {
        ::kill(r.pid, SIGKILL);
        // A child stuck in the kernel (uninterruptible sleep in a driver call) does not die of
        // SIGKILL until that call returns, which may be never: it is left behind, not waited for.
        reaped = reap_within(r.pid, std::chrono::steady_clock::now() + k_kill_grace, status);
        if (!reaped) r.left_behind = true;
      }
      ::close(r.fd);
      r.fd = -1;
      if (r.complete) {
        r.report.outcome = {ChildStatus::ok, "", ms};
      } else if (!reaped) {
        r.report.outcome = {ChildStatus::stuck,
                            fmt::format("did not finish within {} ms, and did not die when killed (SIGKILL) within {} ms: "
                                        "stuck in the kernel; left behind",
                                        limit.count(), k_kill_grace.count()),
                            ms};
      } else if (timed_out) {
        r.report.outcome = {ChildStatus::timeout, fmt::format("did not finish within {} ms and was killed", limit.count()), ms};
      } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* name = signal_abbrev(sig);
        r.report.outcome = {ChildStatus::crashed, fmt::format("killed by signal {} (SIG{})", sig, name ? name : "?"), ms};
      } else if (WIFEXITED(status) && WEXITSTATUS(status) == 70) {
        r.report.outcome = {ChildStatus::failed, "the driver library threw a C++ exception into the probe", ms};
      } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        r.report.outcome = {ChildStatus::failed, fmt::format("exited with status {}", WEXITSTATUS(status)), ms};
      } else {
        r.report.outcome = {ChildStatus::ok, "", ms};
      }
      r.pid = -1;
    }
    out.push_back(std::move(r.report));
  }
  return out;
}

ChildGroup::~ChildGroup() {
  for (auto& r : m_running) {
    if (r.fd >= 0) ::close(r.fd);
    if (r.pid <= 0) continue;
    ::kill(r.pid, SIGKILL);
    int status = 0;
    (void)reap_within(r.pid, std::chrono::steady_clock::now() + k_kill_grace, status);
  }
}

std::vector<ChildReport> run_children(const std::vector<ChildWork>& jobs, std::chrono::milliseconds limit) {
  ChildGroup group(jobs);
  return group.wait(limit);
}

}  // namespace gpudoctor
