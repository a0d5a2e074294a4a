#pragma once
// The watched program's process tree, read-only through /proc: the main process and every
// descendant (children found through /proc/PID/task/TID/children, or by scanning PPid where the
// kernel lacks those files; orphans that gpudoctor adopted as a subreaper included), and per
// process the CUDA and framework libraries it mapped (/proc/PID/maps), the /dev/nvidia* files it
// holds open (/proc/PID/fd), its CPU time (/proc/PID/stat), its PID in each namespace
// (/proc/PID/status NSpid) and its allow-listed environment (/proc/PID/environ).
//
// Everything read there is another process's and hostile: each file is read with a size limit,
// and the counts kept are bounded (processes, libraries, descriptors, variables).

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/snapshot.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor::program {

// Pure parsers of /proc text (tests feed text copied from real machines).

struct ProcStat {
  std::string comm;  ///< the name in parentheses (at most 15 bytes from the kernel); exec changes it
  std::uint32_t ppid = 0;
  char state = '?';
  std::uint64_t utime = 0, stime = 0;  ///< clock ticks
  std::uint64_t start_time = 0;        ///< clock ticks after boot
  std::uint64_t vsize = 0;             ///< bytes of address space: changes when a mapping comes or goes
};
/// /proc/PID/stat; the command in parentheses may hold spaces and ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
/// The NSpid line of /proc/PID/status: this namespace's PID first, the innermost last.
std::vector<std::uint32_t> parse_nspid(std::string_view status);
/// /proc/PID/task/TID/children: PIDs separated by spaces.
std::vector<std::uint32_t> parse_pid_list(std::string_view text);
/// Files named in /proc/PID/maps (the path column), each once, in order; at most `limit`.
std::vector<std::string> parse_maps_files(std::string_view maps, std::size_t limit = 4096);
/// NUL-separated NAME=VALUE pairs, only the names the allow-list admits (values cut at 4 KiB, at most 256).
std::map<std::string, std::string> parse_environ(std::string_view environ, const kb::KnowledgeBase& kb);
/// /proc/PID/cmdline: NUL-separated arguments.
std::vector<std::string> parse_cmdline(std::string_view text);

/// Reads one file of /proc with a size limit; nullopt when it cannot be read.
std::optional<std::string> read_proc_file(const std::string& path, std::size_t limit);
/// The target of a namespace link such as /proc/PID/ns/pid ("pid:[4026531836]"), cut at 64
/// bytes; empty when it cannot be read.
std::string read_namespace_link(const std::string& path);

class ProcessTree {
 public:
  /// Watches `root` and its descendants under `proc` ("/proc"). With `adopter` (gpudoctor's own
  /// PID, when it is a subreaper), its children other than `ignored` (its own helper processes)
  /// are watched too: orphans of the program are reparented to it.
  ProcessTree(std::string proc, pid_t root, std::optional<pid_t> adopter, std::set<pid_t> ignored,
              const kb::KnowledgeBase& kb);

  /// One reading at `t_s` seconds after the watch began. `full`: also re-read maps (when the
  /// process's address space changed size since maps was last read), open files,
  /// environment, and every thread's children (each process's first reading is always full). A
  /// process whose comm changed since the last reading (it ran exec) has its command and
  /// environment read again at once, full or not.
  void tick(double t_s, bool full);

  /// Every process seen, by PID (gone ones keep their last reading).
  [[nodiscard]] const std::map<pid_t, ProgramProcess>& processes() const { return m_processes; }
  /// PIDs alive at the last reading.
  [[nodiscard]] const std::set<pid_t>& alive() const { return m_alive; }
  /// CPU use of the whole tree between the last two readings, percent of one core; nullopt at first.
  [[nodiscard]] std::optional<double> cpu_percent() const { return m_cpu_percent; }
  /// Total CPU seconds of the tree (the last reading of each process, gone ones included).
  [[nodiscard]] double cpu_seconds() const;
  /// What could not be read (permissions, a limit reached), each said once.
  [[nodiscard]] const std::vector<std::string>& notes() const { return m_notes; }

 private:
  void note(const std::string& text);
  std::vector<pid_t> children_of(pid_t pid, bool all_threads);
  void first_look(pid_t pid, ProgramProcess& p, double t_s);
  /// What the last reading of a process left to compare the next one with.
  struct LastReading {
    std::uint64_t start_time = 0;             ///< another at the same PID: the PID was reused
    std::optional<std::uint64_t> ticks;       ///< utime + stime
    std::string comm;                         ///< another name: the process ran exec
    std::optional<std::uint64_t> maps_vsize;  ///< vsize when maps was last read: the same, no new library
  };
  void full_look(pid_t pid, ProgramProcess& p, double t_s, std::uint64_t vsize, LastReading& last);
  void read_command(pid_t pid, ProgramProcess& p);

  std::string m_proc;
  pid_t m_root;
  std::optional<pid_t> m_adopter;
  std::set<pid_t> m_ignored;
  const kb::KnowledgeBase& m_kb;
  std::map<pid_t, ProgramProcess> m_processes;
  std::map<pid_t, LastReading> m_last;
  std::set<pid_t> m_alive;
  std::optional<double> m_last_t;
  std::optional<double> m_cpu_percent;
  bool m_children_files = true;  ///< the kernel has /proc/PID/task/TID/children
  std::vector<std::string> m_notes;
  double m_clock_ticks = 100;
};

}  // namespace gpudoctor::program
