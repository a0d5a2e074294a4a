#include "program/proc_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/path.hpp"

namespace gpudoctor::program {

namespace {

constexpr std::size_t k_max_processes = 4096;
constexpr std::size_t k_max_libraries = 256;  ///< per process
constexpr std::size_t k_max_device_files = 64;
constexpr std::size_t k_max_fds = 65536;  ///< descriptors looked at per process
constexpr std::size_t k_maps_limit = 16u << 20;
constexpr std::size_t k_small_limit = 64u << 10;
constexpr std::size_t k_environ_limit = 1u << 20;

std::optional<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string basename_of(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // "1234 (python3 my (odd) name) S 1 1234 ...": the command ends at the last ')'.
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open || close + 2 > text.size())
    return std::nullopt;
  std::string_view rest = text.substr(close + 2);
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < rest.size() && fields.size() < 22) {
    auto sp = rest.find(' ', i);
    if (sp == std::string_view::npos) sp = rest.size();
    fields.push_back(rest.substr(i, sp - i));
    i = sp + 1;
  }
  // Fields after the command, counted from 3 (state) as proc(5) numbers them.
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  ProcStat st;
  st.comm = std::string(text.substr(open + 1, std::min<std::size_t>(close - open - 1, 64)));
  st.state = fields[0][0];
  auto ppid = number(fields[1]);
  auto ut = number(fields[11]);
  auto stt = number(fields[12]);
  auto start = number(fields[19]);
  auto vsize = number(fields[20]);
  if (!ppid || !ut || !stt || !start || !vsize) return std::nullopt;
  st.ppid = static_cast<std::uint32_t>(*ppid);
  st.utime = *ut;
  st.stime = *stt;
  st.start_time = *start;
  st.vsize = *vsize;
  return st;
}

std::vector<std::uint32_t> parse_nspid(std::string_view status) {
  std::vector<std::uint32_t> out;
  bool seen = false, bad = false;
  for_each_line(status, [&](std::string_view line) {
    if (seen || line.substr(0, 6) != "NSpid:") return;
    seen = true;
    std::size_t i = 6;
    while (i < line.size() && out.size() < 32) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      std::size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      if (j > i) {
        auto v = number(line.substr(i, j - i));
        if (!v || *v > 0xFFFFFFFFu) {
          bad = true;
          return;
        }
        out.push_back(static_cast<std::uint32_t>(*v));
      }
      i = j;
    }
  });
  if (bad) return {};
  return out;
}

std::vector<std::uint32_t> parse_pid_list(std::string_view text) {
  std::vector<std::uint32_t> out;
  std::size_t i = 0;
  while (i < text.size() && out.size() < k_max_processes) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
    if (j > i)
      if (auto v = number(text.substr(i, j - i)); v && *v > 0 && *v <= 0x7FFFFFFFu) out.push_back(static_cast<std::uint32_t>(*v));
    i = j;
  }
  return out;
}

std::vector<std::string> parse_maps_files(std::string_view maps, std::size_t limit) {
  // "7f1c2a000000-7f1c2a200000 r-xp 00000000 fd:01 1234567   /usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04"
  std::vector<std::string> out;
  std::set<std::string_view> seen;
  for_each_line(maps, [&](std::string_view line) {
    if (out.size() >= limit) return;
    // The path starts at the first '/' after the five fields.
    std::size_t field = 0, i = 0;
    while (i < line.size() && field < 5) {
      while (i < line.size() && line[i] != ' ') ++i;
      while (i < line.size() && line[i] == ' ') ++i;
      ++field;
    }
    if (field < 5 || i >= line.size() || line[i] != '/') return;
    std::string_view path = line.substr(i);
    if (path.size() > 4096) return;
    // A file deleted since it was mapped: "/path (deleted)".
    constexpr std::string_view deleted = " (deleted)";
    if (path.size() > deleted.size() && path.substr(path.size() - deleted.size()) == deleted)
      path.remove_suffix(deleted.size());
    if (seen.insert(path).second) out.emplace_back(path);
  });
  return out;
}

std::map<std::string, std::string> parse_environ(std::string_view environ, const kb::KnowledgeBase& kb) {
  std::map<std::string, std::string> out;
  std::size_t at = 0;
  while (at < environ.size() && out.size() < 256) {
    auto nul = environ.find('\0', at);
    std::string_view entry = environ.substr(at, nul == std::string_view::npos ? std::string_view::npos : nul - at);
    at = nul == std::string_view::npos ? environ.size() : nul + 1;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq > 256) continue;
    std::string_view name = entry.substr(0, eq);
    if (!kb.env_allowed(name)) continue;
    out.emplace(std::string(name), std::string(entry.substr(eq + 1, 4096)));
  }
  return out;
}

std::vector<std::string> parse_cmdline(std::string_view text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size() && out.size() < 256) {
    auto nul = text.find('\0', at);
    std::string_view arg = text.substr(at, nul == std::string_view::npos ? std::string_view::npos : nul - at);
    out.emplace_back(arg.substr(0, 4096));
    at = nul == std::string_view::npos ? text.size() : nul + 1;
  }
  return out;
}

std::optional<std::string> read_proc_file(const std::string& path, std::size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[65536];
  bool ok = true;
  while (out.size() < limit) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, limit - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return out;
}

std::string read_namespace_link(const std::string& path) {
  char buf[65];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return {};  // none, or longer than the kernel's
  std::string target(buf, static_cast<std::size_t>(n));
  // The kernel writes "TYPE:[INODE]"; anything else (a planted link) is not kept.
  bool plain = std::all_of(target.begin(), target.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '[' || c == ']' || c == '_';
  });
  return plain ? target : std::string();
}

ProcessTree::ProcessTree(std::string proc, pid_t root, std::optional<pid_t> adopter, std::set<pid_t> ignored,
                         const kb::KnowledgeBase& kb)
    : m_proc(std::move(proc)), m_root(root), m_adopter(adopter), m_ignored(std::move(ignored)), m_kb(kb) {
  long t = ::sysconf(_SC_CLK_TCK);
  if (t > 0) m_clock_ticks = static_cast<double>(t);
}

void ProcessTree::note(const std::string& text) {
  if (m_notes.size() < 32 && std::find(m_notes.begin(), m_notes.end(), text) == m_notes.end()) m_notes.push_back(text);
}

std::vector<pid_t> ProcessTree::children_of(pid_t pid, bool all_threads) {
  std::vector<pid_t> out;
  auto add = [&](const std::string& text) {
    for (auto c : parse_pid_list(text)) out.push_back(static_cast<pid_t>(c));
  };
  std::string task = fmt::format("{}/{}/task", m_proc, pid);
  if (!all_threads) {
    if (auto t = read_proc_file(fmt::format("{}/{}/children", task, pid), k_small_limit)) add(*t);
    else if (errno == ENOENT && ::access(task.c_str(), F_OK) == 0) m_children_files = false;
    return out;
  }
  DIR* d = ::opendir(task.c_str());
  if (d == nullptr) return out;
  std::size_t threads = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (++threads > 4096) break;
    if (auto t = read_proc_file(fmt::format("{}/{}/children", task, e->d_name), k_small_limit)) add(*t);
    else if (errno == ENOENT) m_children_files = false;
  }
  ::closedir(d);
  return out;
}

void ProcessTree::first_look(pid_t pid, ProgramProcess& p, double t_s) {
  p.pid = static_cast<std::uint32_t>(pid);
  p.first_seen_s = t_s;
  read_command(pid, p);
  if (auto status = read_proc_file(fmt::format("{}/{}/status", m_proc, pid), k_small_limit)) p.nspids = parse_nspid(*status);
  p.pid_namespace = read_namespace_link(fmt::format("{}/{}/ns/pid", m_proc, pid));
  p.mount_namespace = read_namespace_link(fmt::format("{}/{}/ns/mnt", m_proc, pid));
  if (auto env = read_proc_file(fmt::format("{}/{}/environ", m_proc, pid), k_environ_limit)) p.env = parse_environ(*env, m_kb);
  else note(fmt::format("the environment of PID {} cannot be read ({}): another user's process", pid, std::strerror(errno)));
}

void ProcessTree::read_command(pid_t pid, ProgramProcess& p) {
  auto cmd = read_proc_file(fmt::format("{}/{}/cmdline", m_proc, pid), k_small_limit);
  if (!cmd) return;
  std::string joined = fmt::format("{}", fmt::join(parse_cmdline(*cmd), " "));
  if (joined.size() > 512) joined.resize(512);
  if (joined.empty() || joined == p.command) return;  // empty: a kernel thread or a zombie's
  bool replaced = !p.command.empty();
  p.command = std::move(joined);
  // A new program (exec) may have been given a new environment.
  if (replaced)
    if (auto env = read_proc_file(fmt::format("{}/{}/environ", m_proc, pid), k_environ_limit)) p.env = parse_environ(*env, m_kb);
}

void ProcessTree::full_look(pid_t pid, ProgramProcess& p, double t_s, std::uint64_t vsize, LastReading& last) {
  // A process that replaced its program (exec) under the same name since the last look (a change
  // of name is caught at every tick): its new command and environment.
  read_command(pid, p);
  // A library loaded (dlopen, or a new program) adds mappings and so changes the address space's
  // size; while that stays the same, maps (a thousand lines for a PyTorch process, the costliest
  // file of a reading) is not read again.
  if (!(last.maps_vsize == vsize && vsize != 0)) {
    if (auto maps = read_proc_file(fmt::format("{}/{}/maps", m_proc, pid), k_maps_limit)) {
      last.maps_vsize = vsize;
      for (const auto& path : parse_maps_files(*maps)) {
        auto role = m_kb.mapped_role(basename_of(path));
        if (!role) continue;
        bool known = std::any_of(p.libraries.begin(), p.libraries.end(), [&](const MappedLibrary& l) { return l.path == path; });
        if (!known && p.libraries.size() < k_max_libraries) p.libraries.push_back({*role, path, t_s});
      }
    } else {
      note(fmt::format("the mapped libraries of PID {} cannot be read ({})", pid, std::strerror(errno)));
    }
  }
  std::string fd_dir = fmt::format("{}/{}/fd", m_proc, pid);
  if (DIR* d = ::opendir(fd_dir.c_str())) {
    std::size_t n = 0;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      if (++n > k_max_fds) break;
      char target[256];
      ssize_t len = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target - 1);
      if (len <= 0) continue;
      std::string_view t(target, static_cast<std::size_t>(len));
      if (t.substr(0, 11) != "/dev/nvidia") continue;
      if (std::find(p.device_files.begin(), p.device_files.end(), t) == p.device_files.end() &&
          p.device_files.size() < k_max_device_files)
        p.device_files.emplace_back(t);
    }
    ::closedir(d);
  } else {
    note(fmt::format("the open files of PID {} cannot be read ({})", pid, std::strerror(errno)));
  }
}

void ProcessTree::tick(double t_s, bool full) {
  // Who is in the tree now: the root, the known living processes' children, our adopted orphans.
  std::set<pid_t> candidates{m_root};
  for (pid_t p : m_alive) {
    candidates.insert(p);
    for (pid_t c : children_of(p, full)) candidates.insert(c);
  }
  if (m_adopter)
    for (pid_t c : children_of(*m_adopter, true))
      if (!m_ignored.count(c)) candidates.insert(c);
  if (!m_children_files && full) {
    // No children files (a kernel without CONFIG_PROC_CHILDREN): scan every process's parent.
    if (DIR* d = ::opendir(m_proc.c_str())) {
      std::size_t n = 0;
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || ++n > 1u << 20) continue;
        auto pid = number(e->d_name);
        if (!pid || *pid > 0x7FFFFFFF) continue;
        auto st = read_proc_file(fmt::format("{}/{}/stat", m_proc, e->d_name), k_small_limit);
        if (!st) continue;
        auto ps = parse_proc_stat(*st);
        auto parent = ps ? static_cast<pid_t>(ps->ppid) : 0;
        if (ps && (m_alive.count(parent) || parent == m_root || (m_adopter && parent == *m_adopter)) &&
            !m_ignored.count(static_cast<pid_t>(*pid)))
          candidates.insert(static_cast<pid_t>(*pid));
      }
      ::closedir(d);
    }
  }
  std::set<pid_t> alive;
  double delta_ticks = 0;
  for (pid_t pid : candidates) {
    auto text = read_proc_file(fmt::format("{}/{}/stat", m_proc, pid), k_small_limit);
    if (!text) continue;
    auto st = parse_proc_stat(*text);
    if (!st || st->state == 'Z' || st->state == 'X') continue;  // a zombie's figures are final
    auto it = m_processes.find(pid);
    bool reused = it != m_processes.end() && m_last[pid].start_time != st->start_time;
    if (it == m_processes.end() || reused) {
      if (m_processes.size() >= k_max_processes && !reused) {
        note(fmt::format("more than {} processes: the rest are not watched", k_max_processes));
        continue;
      }
      LastReading& last = m_last[pid] = LastReading{st->start_time, std::nullopt, st->comm, std::nullopt};
      ProgramProcess p;
      first_look(pid, p, t_s);
      full_look(pid, p, t_s, st->vsize, last);
      it = m_processes.insert_or_assign(pid, std::move(p)).first;
    } else if (full) {
      full_look(pid, it->second, t_s, st->vsize, m_last[pid]);
    } else if (m_last[pid].comm != st->comm) {
      read_command(pid, it->second);  // it ran exec: the fork's copy of its parent's command is not its own
    }
    LastReading& last = m_last[pid];
    last.comm = st->comm;
    ProgramProcess& p = it->second;
    p.ppid = st->ppid;
    p.last_seen_s = t_s;
    std::uint64_t ticks = st->utime + st->stime;
    if (last.ticks && ticks >= *last.ticks) delta_ticks += static_cast<double>(ticks - *last.ticks);
    last.ticks = ticks;
    p.cpu_seconds = static_cast<double>(ticks) / m_clock_ticks;
    alive.insert(pid);
  }
  if (m_last_t && t_s > *m_last_t) m_cpu_percent = 100.0 * delta_ticks / m_clock_ticks / (t_s - *m_last_t);
  m_last_t = t_s;
  m_alive = std::move(alive);
}

double ProcessTree::cpu_seconds() const {
  double total = 0;
  for (const auto& [_, p] : m_processes) total += p.cpu_seconds.value_or(0);
  return total;
}

}  // namespace gpudoctor::program
