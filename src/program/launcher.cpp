#include "program/launcher.hpp"
#include "core/path.hpp"
#include "core/signal_name.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>

namespace gpudoctor::program {

namespace {

// Forwarded to the program; SIGCHLD only wakes the loop when a child ends (SA_RESTART: writes go on).
constexpr int k_caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGCHLD};

int g_signal_write_fd = -1;  // the self-pipe the handlers write to

struct SignalNote {
  int sig;
  int code;  // si_code: SI_KERNEL for what the terminal generated, SI_USER for kill(2)
};

void on_signal(int sig, siginfo_t* info, void*) {
  int saved = errno;
  SignalNote n{sig, info != nullptr ? info->si_code : SI_USER};
  if (g_signal_write_fd >= 0) [[maybe_unused]] auto w = ::write(g_signal_write_fd, &n, sizeof n);
  errno = saved;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, -1);
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A pseudo-terminal pair whose slave copies the terminal `like` (modes and size), with output
// processing off so that the program's bytes come out of the master exactly as it wrote them
// (the real terminal applies its own processing when gpudoctor writes them there).
struct Pty {
  int master = -1;
  std::string slave;
};

Pty open_pty(int like) {
  Pty p;
  p.master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (p.master < 0) throw std::runtime_error(fmt::format("posix_openpt: {}", std::strerror(errno)));
  std::array<char, 128> name{};
  if (::grantpt(p.master) != 0 || ::unlockpt(p.master) != 0 || ::ptsname_r(p.master, name.data(), name.size()) != 0) {
    int e = errno;
    ::close(p.master);
    throw std::runtime_error(fmt::format("pseudo-terminal: {}", std::strerror(e)));
  }
  p.slave = name.data();
  int s = ::open(p.slave.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s >= 0) {
    termios t{};
    if (::tcgetattr(like, &t) == 0) {
      t.c_oflag &= ~static_cast<tcflag_t>(OPOST);
      ::tcsetattr(s, TCSANOW, &t);
    }
    winsize w{};
    if (::ioctl(like, TIOCGWINSZ, &w) == 0) ::ioctl(s, TIOCSWINSZ, &w);
    ::close(s);
  }
  return p;
}

[[noreturn]] void child_fail(int report_fd, int err) {
  [[maybe_unused]] auto w = ::write(report_fd, &err, sizeof err);
  ::_exit(127);
}

const char* signal_name(int sig) {
  const char* n = signal_abbrev(sig);
  return n != nullptr ? n : "?";
}

}  // namespace

ExitStatus exit_status(int status) {
  ExitStatus e;
  if (WIFEXITED(status)) {
    e.code = WEXITSTATUS(status);
    e.text = fmt::format("exited with {}", e.code);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
    e.code = 128 + e.signal;
    e.core_dumped = WCOREDUMP(status);
    e.text = fmt::format("killed by SIG{} (signal {}){}", signal_name(e.signal), e.signal, e.core_dumped ? ", core dumped" : "");
  } else {
    e.code = 1;
    e.text = "ended in an unknown way";
  }
  return e;
}

std::string find_on_path(const std::string& name, const std::string& path) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return name;
  for (auto dir : split_path_list(path)) {
    std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

Launcher::Launcher(const LaunchOptions& options) : m_options(options) {
  if (m_options.argv.empty()) throw LaunchError("no command to run", 2);
  const char* path_env = std::getenv("PATH");
  std::string program = find_on_path(m_options.argv[0], path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin");
  if (program.empty()) throw LaunchError(fmt::format("{}: command not found", m_options.argv[0]), 127);

  if (::pipe2(m_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  // The outputs: a pseudo-terminal where the destination is a terminal, a pipe otherwise.
  struct Plan {
    Stream stream;
    int child_fd;
    int dest;
    bool pty;
    int read_fd = -1, child_end = -1;
    std::string slave;
  };
  std::vector<Plan> plans = {{Stream::out, STDOUT_FILENO, m_options.out_fd, m_options.pty_out, -1, -1, {}},
                             {Stream::err, STDERR_FILENO, m_options.err_fd, m_options.pty_err, -1, -1, {}}};
  for (auto& p : plans) {
    if (p.pty) {
      Pty t = open_pty(p.dest);
      p.read_fd = t.master;
      p.slave = t.slave;
      m_pty_masters.push_back(t.master);
    } else {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
      p.read_fd = fds[0];
      p.child_end = fds[1];
    }
  }
  // With a pseudo-terminal for stdout the program leads a session of its own. Otherwise a program
  // that reads the terminal gpudoctor holds in the foreground stays in gpudoctor's process group
  // (a background group reading it would be stopped).
  m_own_group = m_options.pty_out || !(::isatty(STDIN_FILENO) != 0 && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp());
  if (m_options.subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  std::vector<char*> argv;
  for (auto& a : m_options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The handlers are in place before the fork, so that no signal in between is lost; the child
  // puts back the dispositions it inherited.
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  struct sigaction previous[std::size(k_caught)];
  g_signal_write_fd = m_signal_pipe[1];
  for (std::size_t i = 0; i < std::size(k_caught); ++i) ::sigaction(k_caught[i], &sa, &previous[i]);

  m_started = std::chrono::steady_clock::now();
  m_pid = ::fork();
  if (m_pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (m_pid == 0) {
    ::close(report[0]);
    for (std::size_t i = 0; i < std::size(k_caught); ++i) ::sigaction(k_caught[i], &previous[i], nullptr);
    if (m_options.pty_out) {
      if (::setsid() < 0) child_fail(report[1], errno);
    } else if (m_own_group) {
      ::setpgid(0, 0);
    }
    bool controlling = false;
    for (auto& p : plans) {
      int fd = p.child_end;
      if (p.pty) {
        fd = ::open(p.slave.c_str(), O_RDWR | (controlling || !m_options.pty_out ? O_NOCTTY : 0));
        if (fd < 0) child_fail(report[1], errno);
        if (!controlling && m_options.pty_out) {
          ::ioctl(fd, TIOCSCTTY, 0);
          controlling = true;
        }
      }
      if (::dup2(fd, p.child_fd) < 0) child_fail(report[1], errno);
      if (fd != p.child_fd) ::close(fd);
    }
    ::execv(program.c_str(), argv.data());
    if (errno == ENOEXEC) {  // no #! line: run it with the shell, as execvp does
      std::vector<char*> sh{const_cast<char*>("/bin/sh"), program.data()};
      for (std::size_t i = 1; i + 1 < argv.size(); ++i) sh.push_back(argv[i]);
      sh.push_back(nullptr);
      ::execv("/bin/sh", sh.data());
    }
    child_fail(report[1], errno);
  }
  if (m_own_group && !m_options.pty_out) ::setpgid(m_pid, m_pid);  // both sides, as shells do: no race
  ::close(report[1]);
  // A reader of gpudoctor's output that goes away is a write error here, passed on to the program
  // (relay); the program itself keeps the SIGPIPE disposition it inherited.
  ::signal(SIGPIPE, SIG_IGN);
  for (auto& p : plans) {
    if (p.child_end >= 0) ::close(p.child_end);
    ::fcntl(p.read_fd, F_SETFL, ::fcntl(p.read_fd, F_GETFL) | O_NONBLOCK);
    m_channels.push_back({p.stream, p.read_fd, p.dest, true});
  }
  int err = 0;
  ssize_t got;
  while ((got = ::read(report[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (got == static_cast<ssize_t>(sizeof err)) {
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_pid = -1;
    int code = err == ENOENT ? 127 : 126;
    throw LaunchError(fmt::format("cannot run {}: {}", m_options.argv[0], std::strerror(err)), code);
  }
}

Launcher::~Launcher() {
  g_signal_write_fd = -1;
  for (int sig : k_caught) ::signal(sig, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  for (auto& c : m_channels)
    if (c.read_fd >= 0) ::close(c.read_fd);
  for (int fd : m_signal_pipe)
    if (fd >= 0) ::close(fd);
  if (m_pid > 0 && !m_main_done) {
    // An exception left run(): the program is not left behind unwatched, nor a zombie.
    ::kill(m_pid, SIGTERM);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void Launcher::forward(int sig, int code) {
  if (sig == SIGCHLD || m_pid <= 0 || m_main_done) return;
  if (sig == SIGWINCH) {
    // A new size for the pseudo-terminals: the kernel tells their foreground group itself.
    bool resized = false;
    for (std::size_t i = 0; i < m_channels.size(); ++i) {
      int master = m_channels[i].read_fd;
      if (std::find(m_pty_masters.begin(), m_pty_masters.end(), master) == m_pty_masters.end()) continue;
      winsize w{}, old{};
      if (::ioctl(m_channels[i].write_fd, TIOCGWINSZ, &w) == 0) {
        ::ioctl(master, TIOCGWINSZ, &old);
        ::ioctl(master, TIOCSWINSZ, &w);
        resized = resized || w.ws_row != old.ws_row || w.ws_col != old.ws_col;
      }
    }
    if (resized) return;
  }
  bool from_terminal = code == SI_KERNEL;
  if (from_terminal && !m_own_group) return;  // the terminal sent it to the program too
  ::kill(from_terminal ? -m_pid : m_pid, sig);
}

void Launcher::reap() {
  for (;;) {
    int status = 0;
    pid_t p = ::waitpid(-1, &status, WNOHANG);
    if (p <= 0) {
      if (p < 0 && errno == EINTR) continue;
      return;
    }
    if (p == m_pid) {
      m_main_done = true;
      m_main_status = status;
    } else {
      m_reaped[p] = status;
    }
  }
}

void Launcher::relay(Channel& c, LoopHooks& hooks) {
  std::array<char, 65536> buf{};
  for (int round = 0; round < 16; ++round) {
    ssize_t n = ::read(c.read_fd, buf.data(), buf.size());
    if (n > 0) {
      std::string_view data(buf.data(), static_cast<size_t>(n));
      if (hooks.before_write) hooks.before_write(c.write_fd);
      if (!write_all(c.write_fd, data)) {
        // Our reader went away (a pipe to `head`): close the program's end too, so that its next
        // write fails as it would have without gpudoctor.
        ::close(c.read_fd);
        c.read_fd = -1;
        c.open = false;
      }
      if (hooks.on_output) hooks.on_output(c.stream, data);
      if (!c.open) return;
      if (static_cast<size_t>(n) < buf.size()) return;
      continue;
    }
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && errno == EAGAIN) return;
    // 0: every writer closed it; EIO: the pseudo-terminal's last slave closed.
    ::close(c.read_fd);
    c.read_fd = -1;
    c.open = false;
    return;
  }
}

ExitStatus Launcher::run(LoopHooks& hooks, std::chrono::milliseconds drain) {
  if (m_pid <= 0) throw std::logic_error("Launcher::run without a program");
  auto next_tick = std::chrono::steady_clock::now() + hooks.tick;
  std::chrono::steady_clock::time_point drain_until{};
  for (;;) {
    reap();
    bool any_open = std::any_of(m_channels.begin(), m_channels.end(), [](const Channel& c) { return c.open; });
    auto now = std::chrono::steady_clock::now();
    if (m_main_done) {
      if (drain_until == std::chrono::steady_clock::time_point{}) drain_until = now + drain;
      if (!any_open || now >= drain_until) break;
    }
    std::vector<pollfd> fds;
    fds.push_back({m_signal_pipe[0], POLLIN, 0});
    for (auto& c : m_channels)
      if (c.open) fds.push_back({c.read_fd, POLLIN, 0});
    std::vector<int> extra_fds;
    for (auto& [fd, _] : hooks.extra) {
      fds.push_back({fd, POLLIN, 0});
      extra_fds.push_back(fd);
    }
    auto wake = m_main_done ? std::min(next_tick, drain_until) : next_tick;
    // SIGCHLD wakes the poll through the self-pipe; the bound is a second look, should one be missed.
    // Rounded up: a timeout cut down to 0 ms spins in poll for the last fraction of a millisecond
    // before every tick (0.8% of a core at 10 ticks a second).
    auto timeout = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
    timeout = std::clamp<long long>(timeout, 0, 250);
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout));
    if (n < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));
    if (n > 0) {
      if (fds[0].revents != 0) {
        SignalNote note{};
        while (::read(m_signal_pipe[0], &note, sizeof note) == static_cast<ssize_t>(sizeof note)) forward(note.sig, note.code);
      }
      std::size_t k = 1;
      for (auto& c : m_channels) {
        if (!c.open) continue;
        if (fds[k].revents != 0) relay(c, hooks);
        ++k;
      }
      for (int fd : extra_fds) {
        if (fds[k].revents != 0) {
          auto it = hooks.extra.find(fd);
          if (it != hooks.extra.end()) it->second(fd);
        }
        ++k;
      }
    }
    now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      if (hooks.on_tick && !m_main_done) hooks.on_tick();
      next_tick = now + hooks.tick;
    }
  }
  // What is still buffered (a descendant that holds the output open is not waited for longer).
  for (auto& c : m_channels)
    if (c.open) relay(c, hooks);
  return exit_status(m_main_status);
}

}  // namespace gpudoctor::program
