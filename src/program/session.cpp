#include "program/session.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <fmt/format.h>
#include <memory>
#include <optional>

#include "driver/child_process.hpp"
#include "driver/nvml_sampler.hpp"
#include "explain/explain.hpp"
#include "kb/knowledge_base.hpp"
#include "program/gpu_usage.hpp"
#include "program/launcher.hpp"
#include "program/proc_tree.hpp"

namespace gpudoctor::program {

namespace {

constexpr std::size_t k_max_log_events = 200;
constexpr std::size_t k_max_cpu_points = 3000;
constexpr std::size_t k_log_file_limit = 16u << 20;  ///< inspect: the last 16 MiB of a log file

/// One stream of the program's output, read through explain's catalogue.
class LogStream {
 public:
  LogStream(std::string name, const explain::Catalogue& catalogue)
      : m_name(std::move(name)), m_reader(catalogue), m_splitter([this](std::size_t n, std::string_view raw) { m_reader.line(n, raw); }) {}

  void push(std::string_view bytes, double t_s, std::vector<LogEvent>& events) {
    m_splitter.push(bytes);
    take(t_s, events);
  }
  void finish(double t_s, std::vector<LogEvent>& events) {
    m_splitter.finish();
    take(t_s, events);
  }
  [[nodiscard]] std::size_t lines() const { return m_splitter.stats().lines; }

 private:
  void take(double t_s, std::vector<LogEvent>& events) {
    const auto& lines = m_reader.reading().lines;
    for (; m_taken < lines.size(); ++m_taken) {
      const auto& a = lines[m_taken];
      if (a.cause.empty() || events.size() >= k_max_log_events) continue;
      LogEvent e;
      e.t_s = t_s;
      e.stream = m_name;
      e.line = a.line;
      e.text = a.text.substr(0, 300);
      e.message = a.message;
      e.cause = a.cause;
      e.severity = a.severity;
      events.push_back(std::move(e));
    }
  }
  std::string m_name;
  explain::TextReader m_reader;
  explain::LineSplitter m_splitter;
  std::size_t m_taken = 0;
};

/// Everything watched about one program.
class Watch {
 public:
  Watch(std::chrono::milliseconds interval, bool watch_gpus) : m_interval(interval), m_kb(kb::KnowledgeBase::get()) {
    // The knowledge base and the log catalogue are loaded (the members above): give the memory their
    // parsing freed back to the system before the sampler is forked and the watch goes on for hours.
#ifdef __GLIBC__
    ::malloc_trim(0);
#endif
    if (watch_gpus) m_sampler = std::make_unique<ChildStream>([interval](const Emit& emit) { sample_nvml(interval, emit); });
  }

  /// The tree to watch, from now.
  void begin(pid_t root, std::optional<pid_t> adopter) {
    m_start = std::chrono::steady_clock::now();
    m_root = root;
    std::set<pid_t> ignored;
    if (m_sampler && m_sampler->pid() > 0) ignored.insert(m_sampler->pid());
    m_tree = std::make_unique<ProcessTree>("/proc", root, adopter, ignored, m_kb);
    tick();
  }

  [[nodiscard]] int sampler_fd() const { return m_sampler ? m_sampler->fd() : -1; }
  [[nodiscard]] ChildStream* sampler() { return m_sampler.get(); }

  /// The sampler has something to say.
  void on_sampler() {
    if (!m_sampler) return;
    m_sampler->read_states([&](const std::string& line) {
      auto m = parse_sampler_message(line);
      if (!m) return;
      if (m->error) m_sampler_error = *m->error;
      if (m->gpus) m_usage.gpus(*m->gpus);
      if (m->reading && m_pending.size() < 1000) {
        m_pending.push_back(std::move(*m->reading));
        m_any_reading = true;
      }
    });
  }

  double now_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count(); }

  void tick() {
    double t = now_s();
    bool full = m_ticks == 0 || t - m_last_full >= 1.0;
    if (full) m_last_full = t;
    ++m_ticks;
    m_tree->tick(t, full);
    if (auto cpu = m_tree->cpu_percent(); cpu && m_cpu.size() < 100000) m_cpu.push_back({t, *cpu});
    take_readings();
  }

  void output(Stream s, std::string_view bytes) {
    auto& log = s == Stream::out ? m_out : m_err;
    log.push(bytes, now_s(), m_events);
  }

  void read_log_file(const std::string& name, int fd) {
    LogStream log(name, explain::Catalogue::get());
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(k_log_file_limit))
      ::lseek(fd, st.st_size - static_cast<off_t>(k_log_file_limit), SEEK_SET);
    std::array<char, 65536> buf{};
    std::size_t total = 0;
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      log.push(std::string_view(buf.data(), static_cast<std::size_t>(n)), 0, m_events);
      total += static_cast<std::size_t>(n);
      if (total >= k_log_file_limit) break;
    }
    log.finish(0, m_events);
    m_file_lines += log.lines();
  }

  std::string status_text() const {
    std::string s = fmt::format("gpudoctor {:.0f}s", now_s());
    for (const auto& [index, sample] : m_usage.latest()) {
      s += fmt::format("  GPU{} ", index);
      s += sample.utilization_percent.known()          ? fmt::format("{}%", *sample.utilization_percent)
           : sample.device_utilization_percent.known() ? fmt::format("(device {}%)", *sample.device_utilization_percent)
                                                       : std::string("?%");
      if (sample.memory_bytes.known()) s += fmt::format(" {:.1f} GiB", static_cast<double>(*sample.memory_bytes) / (1u << 30));
    }
    if (!m_cpu.empty()) s += fmt::format("  CPU {:.0f}%", m_cpu.back().percent);
    return s;
  }

  void finish(Program& p) {
    on_sampler();
    // A program shorter than NVML's start: wait a little for the sampler's first reading, so that
    // the report still names the GPUs and what was on them at the end.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (m_sampler && m_sampler->fd() >= 0 && !m_any_reading && m_sampler_error.empty() &&
           std::chrono::steady_clock::now() < until) {
      pollfd pfd{m_sampler->fd(), POLLIN, 0};
      if (::poll(&pfd, 1, 50) > 0) on_sampler();
    }
    take_readings();
    double end = now_s();
    m_out.finish(end, m_events);
    m_err.finish(end, m_events);
    p.duration_s = end;
    p.interval_ms = static_cast<double>(m_interval.count());
    for (const auto& [pid, proc] : m_tree->processes()) p.processes.push_back(proc);
    if (const auto& procs = m_tree->processes(); procs.count(m_root)) p.env = procs.at(m_root).env;
    if (m_cpu.size() <= k_max_cpu_points) {
      p.cpu = m_cpu;
    } else {
      double step = static_cast<double>(m_cpu.size()) / static_cast<double>(k_max_cpu_points);
      for (std::size_t k = 0; k < k_max_cpu_points; ++k) p.cpu.push_back(m_cpu[static_cast<std::size_t>(static_cast<double>(k) * step)]);
    }
    if (end > 0) p.cpu_mean_percent = 100.0 * m_tree->cpu_seconds() / end;
    m_usage.finish(p, end);
    p.log = m_events;
    p.watcher_pid_namespace = read_namespace_link("/proc/self/ns/pid");
    p.watcher_mount_namespace = read_namespace_link("/proc/self/ns/mnt");
    p.log_lines = m_out.lines() + m_err.lines() + m_file_lines;
    for (const auto& n : m_tree->notes()) p.notes.push_back(n);
    if (!m_sampler) {
      p.per_process = PerProcess::no_nvml;
      p.notes.push_back("the GPUs were not watched (--driver none)");
    } else if (!m_sampler_error.empty()) {
      p.per_process = PerProcess::no_nvml;
      p.notes.push_back("the GPUs could not be watched: " + m_sampler_error);
    } else if (!m_usage.have_gpus()) {
      p.notes.push_back(m_sampler->fd() < 0 ? "the NVML sampler stopped before it named the GPUs (NVML hung or crashed)"
                                            : "NVML did not name the GPUs during the watch");
    }
    if (p.per_process == PerProcess::not_visible)
      p.notes.push_back(
          "per-process figures are not visible from this container: the driver lists processes by PIDs of "
          "another PID namespace, none of which is the program's; device-level figures are every process's");
  }

 private:
  void take_readings() {
    if (m_pending.empty()) return;
    double base = std::chrono::duration<double>(m_start.time_since_epoch()).count();
    auto match = pid_match(m_tree->processes(), [](std::uint32_t pid) {
      return ::access(fmt::format("/proc/{}", pid).c_str(), F_OK) == 0;
    });
    for (const auto& r : m_pending) m_usage.reading(r, std::max(0.0, r.monotonic_s - base), match);
    m_pending.clear();
  }

  std::chrono::milliseconds m_interval;
  const kb::KnowledgeBase& m_kb;
  std::unique_ptr<ChildStream> m_sampler;
  std::string m_sampler_error;
  bool m_any_reading = false;
  std::unique_ptr<ProcessTree> m_tree;
  pid_t m_root = 0;
  std::chrono::steady_clock::time_point m_start;
  std::size_t m_ticks = 0;
  double m_last_full = 0;
  std::vector<CpuSample> m_cpu;
  std::vector<NvmlReading> m_pending;
  GpuUsage m_usage;
  std::vector<LogEvent> m_events;
  LogStream m_out{"stdout", explain::Catalogue::get()};
  LogStream m_err{"stderr", explain::Catalogue::get()};
  std::size_t m_file_lines = 0;
};

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

}  // namespace

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
  p.started_at = utc_now();
  if (char* cwd = ::getcwd(nullptr, 0)) {
    p.cwd = cwd;
    std::free(cwd);
  }
  // The sampler starts first: it must not inherit the program's terminals, and NVML is ready
  // by the time the program creates its context.
  Watch watch(request.interval, request.watch_gpus);
  LaunchOptions lo;
  lo.argv = request.argv;
  lo.pty_out = ::isatty(STDOUT_FILENO) != 0;
  lo.pty_err = ::isatty(STDERR_FILENO) != 0;
  Launcher launcher(lo);
  p.pid = static_cast<std::uint32_t>(launcher.pid());
  watch.begin(launcher.pid(), ::getpid());

  // The status line: drawn on stderr (a terminal) only while the program's last byte on a
  // terminal ended a line, and taken away before any byte of the program is written.
  bool status_shown = false;
  bool at_line_start = true;
  auto clear_status = [&] {
    if (!status_shown) return;
    static constexpr char erase[] = "\r\x1b[2K";
    (void)!::write(STDERR_FILENO, erase, sizeof erase - 1);
    status_shown = false;
  };
  LoopHooks hooks;
  hooks.tick = request.interval;
  hooks.on_output = [&](Stream s, std::string_view bytes) {
    if (!bytes.empty()) at_line_start = bytes.back() == '\n';
    watch.output(s, bytes);
  };
  hooks.before_write = [&](int) { clear_status(); };
  hooks.on_tick = [&] {
    watch.tick();
    if (request.status_line && at_line_start) {
      std::string line = "\r\x1b[2K\x1b[2m" + watch.status_text() + "\x1b[0m";
      (void)!::write(STDERR_FILENO, line.data(), line.size());
      status_shown = true;
    }
  };
  if (int fd = watch.sampler_fd(); fd >= 0) {
    hooks.extra[fd] = [&](int fd_ready) {
      watch.on_sampler();
      if (watch.sampler_fd() != fd_ready) hooks.extra.erase(fd_ready);  // its output ended
    };
  }
  ExitStatus st = launcher.run(hooks);
  clear_status();
  watch.finish(p);
  if (auto* s = watch.sampler()) s->stop(launcher.reaped().count(s->pid()) > 0);
  p.exit_status = st.code;
  p.ended = st.text;
  r.exit_code = st.code;
  if (request.scan_code) p.code = request.scan_code(p);
  return r;
}

Program inspect_program(const InspectRequest& request) {
  Program p;
  p.watched = true;
  p.mode = "inspect";
  p.pid = static_cast<std::uint32_t>(request.pid);
  p.started_at = utc_now();
  p.exit_status = Fact<int>::unknown("still running: inspect does not wait for its end");
  std::string base = fmt::format("/proc/{}", request.pid);
  auto cmd = read_proc_file(base + "/cmdline", 1u << 16);
  if (request.pid <= 0 || !cmd) throw InspectError(fmt::format("no process {} to inspect", request.pid));
  p.command = parse_cmdline(*cmd);
  p.cwd = read_link(base + "/cwd");
  Watch watch(request.interval, request.watch_gpus);
  watch.begin(request.pid, std::nullopt);
  // Its log, where its stdout or stderr is a regular file (read from the start, or its last 16 MiB).
  std::string first_target;
  for (int fd : {1, 2}) {
    std::string link = fmt::format("{}/fd/{}", base, fd);
    std::string target = read_link(link);
    if (target.empty() || target == first_target) continue;
    struct stat st {};
    if (::stat(link.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    int file = ::open(link.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (file < 0) continue;
    watch.read_log_file(target.substr(0, 512), file);
    ::close(file);
    first_target = target;
  }
  auto until = std::chrono::steady_clock::now() + request.duration;
  auto next_tick = std::chrono::steady_clock::now() + request.interval;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= until) break;
    if (now >= next_tick) {
      watch.tick();
      next_tick = now + request.interval;
      if (::kill(request.pid, 0) != 0 && errno == ESRCH) {
        p.ended = "ended during the watch";
        break;
      }
    }
    auto wake = std::min(until, next_tick);
    int timeout = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wake - now).count());  // up: no spin
    pollfd pfd{watch.sampler_fd(), POLLIN, 0};
    if (pfd.fd >= 0) {
      if (::poll(&pfd, 1, std::max(timeout, 0)) > 0) watch.on_sampler();
    } else {
      ::usleep(static_cast<useconds_t>(std::max(timeout, 0)) * 1000);
    }
  }
  watch.finish(p);
  if (p.ended.empty()) p.ended = "still running";
  if (request.scan_code) p.code = request.scan_code(p);
  return p;
}

}  // namespace gpudoctor::program
