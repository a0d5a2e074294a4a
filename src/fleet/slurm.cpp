#include "fleet/slurm.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/path.hpp"
#include "fleet/health.hpp"

namespace gpudoctor::fleet {

namespace {

constexpr std::size_t k_max_line = 64 * 1024;        ///< a line of srun's without a label, or sinfo's
constexpr std::size_t k_max_tool_output = 16 << 20;  ///< what sinfo or scontrol may print
constexpr std::size_t k_max_notes = 20;
constexpr std::size_t k_max_snapshot = std::size_t{64} << 20;  ///< as the snapshot reader's limit
constexpr std::size_t k_flush_at = 64 * 1024;  ///< a task's bytes kept in memory before they go to its file

/// `s` without control bytes, at most `limit` bytes.
std::string printable_line(std::string_view s, std::size_t limit = 300) {
  std::string out;
  for (char c : s) {
    if (out.size() >= limit) break;
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct ToolOutput {
  std::string out, err;
};

/// The whole output of a short command (sinfo, scontrol), or FleetError with what it said.
ToolOutput run_tool(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  std::string out, err;
  bool too_long = false;
  auto keep = [&](std::string& into, std::string_view bytes) {
    if (into.size() + bytes.size() > k_max_tool_output) too_long = true;
    else into.append(bytes);
  };
  ChildEnd end = run_streaming(
      argv, timeout, [&](std::string_view b) { keep(out, b); }, [&](std::string_view b) { keep(err, b); });
  std::string cmd = argv[0] + (argv.size() > 2 ? " " + argv[1] + " " + argv[2] : "");
  if (end.timed_out) throw FleetError(3, fmt::format("{} did not answer within {} s", cmd, timeout.count() / 1000));
  if (too_long) throw FleetError(3, fmt::format("{} printed more than {} MiB", cmd, k_max_tool_output >> 20));
  if (end.status != 0)
    throw FleetError(end.status == 127 ? 2 : 3, fmt::format("{} failed (exit status {}): {}", cmd, end.status,
                                                            printable_line(err.empty() ? out : err, 500)));
  return {std::move(out), std::move(err)};
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (!l.empty()) out.emplace_back(l);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

const char* k_install_slurm =
    "install Slurm's client commands (Debian and Ubuntu: apt-get install slurm-client; RHEL and its rebuilds: "
    "the slurm package of EPEL or SchedMD's RPMs) and run `gpudoctor fleet` where srun reaches the cluster "
    "(a login node), or gather snapshots another way and use `gpudoctor merge`";

}  // namespace

std::vector<NodeState> parse_sinfo(std::string_view text) {
  std::vector<NodeState> out;
  std::set<std::string> seen;
  for (const auto& l : split_lines(text)) {
    auto a = l.find('|');
    if (a == std::string::npos) continue;
    auto b = l.find('|', a + 1);
    NodeState n;
    n.name = l.substr(0, a);
    n.state = l.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    n.reason = b == std::string::npos ? "" : printable_line(std::string_view(l).substr(b + 1));
    if (n.reason == "none") n.reason.clear();
    if (!valid_node_name(n.name) || !seen.insert(n.name).second) continue;
    out.push_back(std::move(n));
  }
  return out;
}

bool usable_state(const std::string& state) {
  // slurm's long state names (sinfo %T); a flag character after the name marks a node that is
  // not responding or powered down (sinfo(1), NODE STATE CODES).
  static const std::set<std::string> usable{"idle", "mixed", "completing", "planned"};
  return usable.count(state) > 0;
}

bool on_shared_filesystem(const std::string& path, std::string* name) {
  // statfs(2) f_type values: the kernel's include/uapi/linux/magic.h (NFS, SMB, CIFS, SMB2, AFS,
  // CephFS, GFS2, OCFS2, OrangeFS) and the out-of-tree file systems' own headers (Lustre's
  // LL_SUPER_MAGIC, GPFS's, BeeGFS's, PanFS's).
  struct Known {
    unsigned long magic;
    const char* name;
  };
  static const Known shared[] = {
      {0x6969UL, "NFS"},          {0x517BUL, "SMB"},          {0xFF534D42UL, "CIFS"},   {0xFE534D42UL, "SMB2"},
      {0x5346414FUL, "AFS"},      {0x6B414653UL, "AFS"},      {0x00C36400UL, "CephFS"}, {0x01161970UL, "GFS2"},
      {0x7461636FUL, "OCFS2"},    {0x20030528UL, "OrangeFS"}, {0x0BD00BD0UL, "Lustre"}, {0x47504653UL, "GPFS"},
      {0x19830326UL, "BeeGFS"},   {0xAAD7AAEAUL, "PanFS"},
  };
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return false;
  auto type = static_cast<unsigned long>(fs.f_type) & 0xFFFFFFFFUL;
  for (const auto& k : shared)
    if (k.magic == type) {
      if (name != nullptr) *name = k.name;
      return true;
    }
  if (name != nullptr) *name = fmt::format("0x{:x}", type);
  return false;
}

std::vector<std::string> srun_command(const FleetOptions& o, const std::vector<std::string>& nodes,
                                      const std::string& job_name, bool bcast) {
  std::string list;
  for (const auto& n : nodes) list += (list.empty() ? "" : ",") + n;
  // Slurm's time limit in whole minutes, beyond ours: the job ends even if srun is killed.
  auto minutes = static_cast<long long>(std::ceil(static_cast<double>(o.timeout.count()) / 60000.0)) + 1;
  std::vector<std::string> argv{"srun",
                                "--job-name=" + job_name,
                                fmt::format("--nodes={}", nodes.size()),
                                fmt::format("--ntasks={}", nodes.size()),
                                "--ntasks-per-node=1",
                                "--nodelist=" + list,
                                fmt::format("--time={}", minutes),
                                "--label",
                                "--kill-on-bad-exit=0",  // a node that fails ends only its own task
                                "--no-kill",             // a node that fails does not end the job
                                "--wait=0"};             // the others are waited for, however long the first took
  if (!o.partition.empty()) argv.push_back("--partition=" + o.partition);
  std::string dir = o.bcast_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  // A folder (ending in '/'): srun names each node's copy slurm_bcast_<job>.<step>_<node>.
  if (bcast) argv.push_back("--bcast=" + (dir == "/" ? dir : dir + "/"));
  argv.push_back(o.binary);
  argv.push_back("snapshot");
  if (o.probe_quick) argv.insert(argv.end(), {"--probe", "--quick"});
  if (bcast) argv.push_back("--remove-bcast-copy");
  return argv;
}

LabelledStream::LabelledStream(int tasks, Sink sink, std::function<void(std::string_view)> other)
    : tasks_(tasks), sink_(std::move(sink)), other_(std::move(other)) {}

void LabelledStream::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(bytes.substr(0, k_max_line > pending_.size() ? k_max_line - pending_.size() : 0));
      return;
    }
    if (pending_.empty()) {
      line(bytes.substr(0, nl));
    } else {
      pending_.append(bytes.substr(0, std::min(nl, k_max_line > pending_.size() ? k_max_line - pending_.size() : 0)));
      line(pending_);
      pending_.clear();
    }
    bytes.remove_prefix(nl + 1);
  }
}

void LabelledStream::finish() {
  if (!pending_.empty()) line(pending_);
  pending_.clear();
}

void LabelledStream::line(std::string_view l) {
  // "<spaces><task>: <text>", srun's "%*d: " label.
  std::size_t i = 0;
  while (i < l.size() && l[i] == ' ') ++i;
  std::size_t digits = i;
  while (i < l.size() && l[i] >= '0' && l[i] <= '9' && i - digits < 9) ++i;
  if (i == digits || i >= l.size() || l[i] != ':') {
    other_(l);
    return;
  }
  int task = std::atoi(std::string(l.substr(digits, i - digits)).c_str());
  if (task >= tasks_) {
    other_(l);
    return;
  }
  std::string_view text = l.substr(i + 1);
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  sink_(task, text);
}

std::optional<std::pair<std::string, std::string>> srun_node_failure(std::string_view line) {
  static constexpr std::string_view marker = " failed on node ";
  auto at = line.find(marker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + marker.size());
  auto colon = rest.find(':');
  std::string node(rest.substr(0, colon));
  if (!valid_node_name(node)) return std::nullopt;
  std::string why = colon == std::string_view::npos ? std::string("launch failed") : printable_line(rest.substr(colon + 1));
  if (!why.empty() && why.front() == ' ') why.erase(0, 1);
  return std::make_pair(node, "srun: task launch failed: " + why);
}

std::string find_on_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  for (auto dir : split_path_list(path)) {
    std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

ChildEnd run_streaming(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       const std::function<void(std::string_view)>& on_out,
                       const std::function<void(std::string_view)>& on_err) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ChildEnd end;
  auto started = std::chrono::steady_clock::now();
  auto deadline = started + timeout;
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[64 * 1024];
  while (open_fds > 0) {
    auto now = std::chrono::steady_clock::now();
    if (!end.timed_out && now >= deadline) {
      end.timed_out = true;
      ::kill(pid, SIGTERM);  // srun forwards it to the tasks and ends the step
      kill_at = now + std::chrono::seconds(2);
    }
    if (kill_at && now >= *kill_at) {
      ::kill(pid, SIGKILL);
      kill_at.reset();
      break;  // what the tasks still hold open no longer matters
    }
    auto until = kill_at ? *kill_at : deadline;
    auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();  // up: no spin
    int n = ::poll(fds, 2, static_cast<int>(std::clamp<long long>(wait_ms, 0, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? on_out : on_err)(std::string_view(buf, static_cast<std::size_t>(got)));
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, end.timed_out ? WNOHANG : 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {  // past its time and still running: it had SIGTERM, now SIGKILL
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    break;
  }
  end.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return end;
}

namespace {

/// Each task's bytes, in memory up to k_flush_at, then appended to its file in `dir`.
class TaskFiles {
 public:
  explicit TaskFiles(std::filesystem::path dir, int tasks) : dir_(std::move(dir)), buffers_(static_cast<std::size_t>(tasks)),
                                                           sizes_(static_cast<std::size_t>(tasks), 0) {}
  void add(int task, std::string_view text) {
    auto t = static_cast<std::size_t>(task);
    if (sizes_[t] + text.size() > k_max_snapshot) {
      too_large_.insert(task);
      return;
    }
    sizes_[t] += text.size();
    buffers_[t].append(text);
    if (buffers_[t].size() >= k_flush_at) flush(t);
  }
  void flush_all() {
    for (std::size_t t = 0; t < buffers_.size(); ++t) flush(t);
  }
  std::filesystem::path file(int task) const { return dir_ / fmt::format("task-{}.json", task); }
  bool has(int task) const { return sizes_[static_cast<std::size_t>(task)] > 0; }
  bool too_large(int task) const { return too_large_.count(task) > 0; }

 private:
  void flush(std::size_t t) {
    if (buffers_[t].empty()) return;
    std::ofstream f(file(static_cast<int>(t)), std::ios::binary | std::ios::app);
    f << buffers_[t];
    if (!f) throw std::runtime_error(fmt::format("cannot write {}: {}", file(static_cast<int>(t)).string(), std::strerror(errno)));
    buffers_[t].clear();
  }
  std::filesystem::path dir_;
  std::vector<std::string> buffers_;
  std::vector<std::size_t> sizes_;
  std::set<int> too_large_;
};

/// A private temporary folder, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string pattern = std::string(t != nullptr && *t == '/' ? t : "/tmp") + "/gpudoctor-fleet-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error(fmt::format("cannot make a temporary folder: {}", std::strerror(errno)));
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace

FleetReport run_fleet(const FleetOptions& o, const SnapshotLoader& load) {
  if (find_on_path("srun").empty()) throw FleetError(2, std::string("srun not found on PATH: ") + k_install_slurm);
  for (const char* tool : {"sinfo", "scontrol"})
    if (find_on_path(tool).empty())
      throw FleetError(2, fmt::format("{} not found on PATH (srun is): {}", tool, k_install_slurm));
  const auto tool_time = std::chrono::seconds(30);

  // The nodes asked for, as Slurm expands the host list, and the state of each.
  std::vector<std::string> requested;
  if (!o.nodes.empty()) {
    ToolOutput text;
    try {
      text = run_tool({"scontrol", "show", "hostnames", o.nodes}, tool_time);
    } catch (const FleetError& e) {
      throw FleetError(2, fmt::format("--nodes {}: Slurm does not read it as a host list ({})", o.nodes, e.what()));
    }
    auto names = split_lines(text.out);
    if (names.empty() || text.err.find("Invalid hostlist") != std::string::npos)  // scontrol 22.05 says so on stderr, exit 0
      throw FleetError(2, fmt::format("--nodes {}: Slurm does not read it as a host list: {}", o.nodes,
                                      text.err.empty() ? std::string("no node in it") : printable_line(text.err, 500)));
    std::set<std::string> seen;
    for (auto& n : names) {
      if (!valid_node_name(n)) throw FleetError(2, fmt::format("--nodes {}: {} is not a node name", o.nodes, printable_line(n)));
      if (seen.insert(n).second) requested.push_back(n);
      if (requested.size() > k_max_snapshots) throw FleetError(2, fmt::format("--nodes: more than {} nodes", k_max_snapshots));
    }
  }
  // Without --nodes, the nodes of the partition srun would use: the one named, else Slurm's
  // default (sinfo marks it with '*').
  std::string partition = o.partition;
  if (o.nodes.empty() && partition.empty()) {
    for (auto& p : split_lines(run_tool({"sinfo", "--noheader", "--format=%P"}, tool_time).out))
      if (p.size() > 1 && p.back() == '*') partition = p.substr(0, p.size() - 1);
    if (partition.empty()) throw FleetError(2, "Slurm has no default partition: name one with --partition, or the nodes with --nodes");
  }
  std::vector<std::string> sinfo{"sinfo", "--noheader", "--Node", "--format=%N|%T|%E"};
  if (!partition.empty()) sinfo.push_back("--partition=" + partition);
  if (!o.nodes.empty()) sinfo.push_back("--nodes=" + o.nodes);
  auto states = parse_sinfo(run_tool(sinfo, tool_time).out);
  std::map<std::string, NodeState> state_of;
  for (auto& s : states) state_of[s.name] = s;
  if (o.nodes.empty())
    for (const auto& s : states) requested.push_back(s.name);
  if (requested.empty())
    throw FleetError(2, partition.empty() ? std::string("sinfo lists no node") : fmt::format("sinfo lists no node in partition {}", partition));
  if (requested.size() > k_max_snapshots) throw FleetError(2, fmt::format("more than {} nodes", k_max_snapshots));

  FleetReport r;
  r.command = "fleet";
  r.lag_fraction = o.lag;
  std::vector<std::string> usable;
  for (const auto& n : requested) {
    auto it = state_of.find(n);
    if (it == state_of.end()) {
      r.not_answered_why[n] = partition.empty() ? "not a node sinfo lists" : "not a node of partition " + partition;
    } else if (it->second.state == "allocated") {
      // Slurm starts a step on all its nodes at once: one full node would hold back the others.
      r.not_answered_why[n] = "Slurm state allocated: busy with other jobs, not asked (the step would wait for it)";
    } else if (!usable_state(it->second.state)) {
      r.not_answered_why[n] = "Slurm state " + it->second.state + (it->second.reason.empty() ? "" : ": " + it->second.reason);
    } else {
      usable.push_back(n);
    }
  }
  if (usable.empty()) {
    std::string why;
    for (std::size_t i = 0; i < requested.size() && i < 5; ++i) why += (i > 0 ? "; " : "") + requested[i] + ": " + r.not_answered_why[requested[i]];
    throw FleetError(3, "no node can run a job now: " + why + (requested.size() > 5 ? "; ..." : ""));
  }

  // The binary where every node finds it, or copied there by srun.
  bool bcast = o.bcast == Bcast::always;
  std::string fs_name;
  bool shared = on_shared_filesystem(o.binary, &fs_name);
  if (o.bcast == Bcast::automatic) bcast = !shared;
  if (bcast && o.bcast == Bcast::automatic)
    r.notes.push_back(fmt::format("gpudoctor's binary is not on a file system nodes share (statfs type {}): srun --bcast copied it "
                                  "to {} on each node",
                                  fs_name, o.bcast_dir));

  TempDir temp;
  int tasks = static_cast<int>(usable.size());
  TaskFiles files(temp.path, tasks);
  std::vector<std::vector<std::string>> task_errors(usable.size());
  std::vector<std::string> srun_says;
  auto note = [&](std::string_view line) {
    std::string l = printable_line(line);
    if (l.empty()) return;
    if (auto f = srun_node_failure(l)) r.not_answered_why[f->first] = f->second;
    if (srun_says.size() < k_max_notes) srun_says.push_back(l);
  };
  LabelledStream out(tasks, [&](int t, std::string_view text) { files.add(t, text); },
                     [&](std::string_view l) { note(l); });
  LabelledStream err(
      tasks,
      [&](int t, std::string_view text) {
        auto& e = task_errors[static_cast<std::size_t>(t)];
        if (e.size() < 3) e.push_back(printable_line(text));
      },
      [&](std::string_view l) { note(l); });
  std::string job_name = fmt::format("gpudoctor-fleet-{}", ::getpid());
  auto argv = srun_command(o, usable, job_name, bcast);
  auto started = std::chrono::steady_clock::now();
  ChildEnd end = run_streaming(
      argv, o.timeout, [&](std::string_view b) { out.feed(b); }, [&](std::string_view b) { err.feed(b); });
  out.finish();
  err.finish();
  files.flush_all();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (end.timed_out) {
    // srun was ended; Slurm's own time limit (--time) ends the job if srun could not.
    run_streaming({"scancel", "--name=" + job_name}, std::chrono::seconds(10), [](std::string_view) {}, [](std::string_view) {});
  }

  // One engine: the files through merge, as `gpudoctor merge` reads them.
  std::vector<std::string> paths;
  std::map<std::string, int> task_of;
  for (int t = 0; t < tasks; ++t) {
    if (files.too_large(t)) {
      r.unreadable.emplace_back(fmt::format("srun task {}", t), fmt::format("more than {} MiB of output: not a snapshot", k_max_snapshot >> 20));
      continue;
    }
    if (!files.has(t)) continue;
    paths.push_back(files.file(t).string());
    task_of[paths.back()] = t;
  }
  FleetReport merged = merge(paths, load, o.lag);
  for (auto& n : merged.nodes) {
    n.file = fmt::format("srun task {}", task_of[n.file]);
    r.nodes.push_back(std::move(n));
  }
  for (auto& [file, why] : merged.unreadable) {
    int t = task_of[file];
    if (why.rfind(file + ": ", 0) == 0) why.erase(0, file.size() + 2);
    std::string e = task_errors[static_cast<std::size_t>(t)].empty() ? "" : "; its errors: " + task_errors[static_cast<std::size_t>(t)].front();
    r.unreadable.emplace_back(fmt::format("srun task {}", t), why + e);
  }
  std::set<std::string> answered;
  for (const auto& n : r.nodes) answered.insert(n.host);
  for (const auto& n : requested) {
    if (answered.count(n) > 0) continue;
    r.not_answered.push_back(n);
    if (r.not_answered_why.count(n) > 0) continue;
    r.not_answered_why[n] = end.timed_out ? fmt::format("no snapshot within --timeout {} s (srun was ended)", o.timeout.count() / 1000)
                                          : fmt::format("no snapshot (srun ended with exit status {})", end.status);
  }
  // What srun said, and what the tasks with no snapshot said on their error stream.
  for (auto& s : srun_says) r.notes.push_back("srun: " + (s.rfind("srun: ", 0) == 0 ? s.substr(6) : s));
  for (int t = 0; t < tasks && r.notes.size() < 2 * k_max_notes; ++t)
    if (!files.has(t))
      for (const auto& e : task_errors[static_cast<std::size_t>(t)]) r.notes.push_back(fmt::format("srun task {}: {}", t, e));
  if (r.nodes.empty()) {
    std::string said;
    for (std::size_t i = 0; i < r.notes.size() && i < 6; ++i) said += "\n  " + r.notes[i];
    throw FleetError(3, fmt::format("no node answered: srun {} after {:.1f} s{}{}",
                                    end.timed_out ? "was ended at --timeout" : fmt::format("exited with status {}", end.status), took,
                                    said.empty() ? "" : "; it said:", said));
  }
  analyze(r);
  return r;
}

}  // namespace gpudoctor::fleet
