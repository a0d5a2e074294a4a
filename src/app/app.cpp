#include "app/app.hpp"
#include "app/docs.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <pwd.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "collect/collect.hpp"
#include "collect/python_code.hpp"
#include "core/escape.hpp"
#include "core/snapshot_json.hpp"
#include "core/unique_fd.hpp"
#include "core/utf8.hpp"
#include "diagnose/diagnose.hpp"
#include "explain/explain.hpp"
#include "fleet/health.hpp"
#include "fleet/merge.hpp"
#include "fleet/slurm.hpp"
#include "kb/knowledge_base.hpp"
#include "probe/compute_probe.hpp"
#include "program/launcher.hpp"
#include "program/session.hpp"
#include "report/redact.hpp"
#include "report/report.hpp"
#include "sys/root_fs.hpp"

namespace gpudoctor {

namespace {

struct Options {
  bool json = false;
  bool markdown = false;
  bool no_color = false;
  std::string root = "/";
  std::string driver = "auto";
  double timeout_s = 20;
  bool library_versions = false;
  bool verbose = false;  ///< check: every library, environment and piece of evidence in the terminal report
  std::string from;
  std::string output;
  std::vector<std::string> frameworks;
  std::string python;
  std::string input = "-";
  bool host = false;
  bool list_patterns = false;
  bool quick = false;
  bool with_probe = false;                          ///< snapshot --probe
  double probe_limit_s = 0;                         ///< 0: 30 s for --quick, 180 s for the full probe
  std::vector<std::string> command;                 ///< run: the program and its arguments
  std::string json_file, markdown_file, html_file;  ///< run: where the reports go beside stderr
  int interval_ms = 100;                            ///< run, inspect: time between readings
  bool no_redact = false;                           ///< keep secrets, user and host names in snapshots, Markdown and run's files
  int inspect_pid = 0;                              ///< inspect: the process
  double duration_s = 5;                            ///< inspect: how long to watch
  bool prometheus = false;                          ///< check: the Prometheus exposition format on stdout
  std::string prometheus_file;                      ///< check: ... written atomically to this file (node_exporter's textfile collector)
  bool node_only = false;                           ///< health: the node's own layers only (no Python environments)
  bool drain = false;                               ///< health: drain this node in Slurm on a fault
  std::string label;                                ///< snapshot: the node's name in fleet reports
  std::vector<std::string> inputs;                  ///< merge: snapshot files and folders
  double lag = 0.8;                                 ///< merge: a figure below this fraction of the fleet's median lags
  std::string partition;                            ///< fleet: srun --partition
  std::string nodes;                                ///< fleet: a Slurm host list
  double fleet_timeout_s = 120;                     ///< fleet: the whole srun step's time limit
  std::string bcast = "auto";                       ///< fleet: copy the binary with srun --bcast (auto, yes, no)
  std::string bcast_dir = "/tmp";
  bool remove_bcast_copy = false;  ///< snapshot (hidden): this binary is srun --bcast's copy; remove it once loaded
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

CollectOptions collect_options(const Options& o) {
  // A root that cannot be read, or holds nothing, is bad input: say so instead of a verdict of
  // health drawn from no facts.
  RootFs fs(o.root);
  if (auto why = fs.unusable()) throw UsageError(*why);
  CollectOptions c;
  if (!o.python.empty()) {
    // A relative --python means the working folder on this machine; inside another root there is none.
    std::error_code ec;
    if (o.python.front() != '/' && !fs.is_host())
      throw UsageError(fmt::format("--python {}: give the interpreter's absolute path inside {}", o.python, o.root));
    c.python = o.python.front() == '/' ? o.python : std::filesystem::absolute(o.python, ec).lexically_normal().string();
    if (auto why = python_interpreter_problem(fs, c.python)) throw UsageError(*why);
  }
  c.root = o.root;
  c.driver = o.driver == "host" ? DriverProbeMode::host : o.driver == "none" ? DriverProbeMode::none
                                                                             : DriverProbeMode::automatic;
  c.driver_timeout = std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000));
  c.environment = process_environment();
  std::error_code exe_error;
  c.own_executable = std::filesystem::read_symlink("/proc/self/exe", exe_error).string();
  if (fs.is_host()) {
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    if (!ec) c.cwd = cwd.string();
  }
  c.ask_library_versions = o.library_versions;
  c.python_environments = !o.node_only;
  return c;
}

/// Who runs gpudoctor and on which machine (and, with --root, the image's host name): what the
/// redactor replaces besides what the values themselves show. `snap` adds the words that must stay.
RedactionContext redaction_context(const Options& o, const Snapshot* snap) {
  RedactionContext c;
  if (const passwd* pw = ::getpwuid(::geteuid())) c.user_names.emplace_back(pw->pw_name);
  for (const char* var : {"USER", "LOGNAME"})
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') c.user_names.emplace_back(v);
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) c.host_names.emplace_back(host);
  if (o.root != "/" && o.from.empty()) {
    if (auto text = RootFs(o.root).read_text("/etc/hostname", 256)) c.host_names.push_back(text->substr(0, text->find('\n')));
  }
  if (snap != nullptr) {
    c.keep_words.push_back(snap->host.os_id.value_or(""));
    std::istringstream like(snap->host.os_id_like.value_or(""));
    for (std::string w; like >> w;) c.keep_words.push_back(w);
  }
  return c;
}

// The largest snapshot `check --from` reads: a day of `gpudoctor run` on eight GPUs is about
// 40 MiB; what is larger (or endless, as /dev/zero) is not a snapshot.
constexpr std::size_t k_max_snapshot_bytes = std::size_t{64} << 20;

// The whole of `path` ("-": standard input), at most `limit` bytes: more is bad input.
std::string read_input(const std::string& path, std::size_t limit, const char* what) {
  UniqueFd own;
  int fd = STDIN_FILENO;
  if (path != "-") {
    own = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!own.valid()) throw UsageError(fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
    fd = own.get();
  }
  std::string text;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw UsageError(fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
    if (n == 0) return text;
    if (text.size() + static_cast<std::size_t>(n) > limit)
      throw UsageError(fmt::format("{} {} is larger than {} MiB: not one gpudoctor wrote", what, path, limit >> 20));
    text.append(buf, static_cast<std::size_t>(n));
  }
}

// Writes `text` to `path`: a file that cannot be opened is bad input (2), one that cannot take
// the bytes (a full disk) a failure (3).
void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw UsageError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  errno = 0;
  f << text;
  f.close();
  if (!f) {
    int e = errno;
    throw std::runtime_error(fmt::format("writing {} failed{}", path, e != 0 ? std::string(": ") + std::strerror(e) : ""));
  }
}

// Writes `text` to `path` atomically, as node_exporter's textfile collector needs (a scrape never
// sees half a file): a temporary file in the same folder, mode 0644, synced, then renamed over.
void write_file_atomic(const std::string& path, const std::string& text) {
  std::filesystem::path target(path);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd.valid()) throw UsageError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  auto fail = [&](const char* step) {
    int e = errno;
    ::unlink(temp.c_str());
    throw std::runtime_error(fmt::format("writing {} failed ({}): {}", path, step, std::strerror(e)));
  };
  for (std::size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd.get(), 0644) != 0) fail("chmod");
  if (::fsync(fd.get()) != 0) fail("fsync");
  if (::close(fd.release()) != 0) fail("close");
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(temp.c_str());
    throw UsageError(fmt::format("cannot write {}: {}", path, std::strerror(e)));
  }
}

Snapshot load_snapshot(const std::string& path) {
  std::string text = read_input(path, k_max_snapshot_bytes, "snapshot");
  try {
    return snapshot_from_json(parse_json_text(text));
  } catch (const SnapshotError& e) {
    throw UsageError(fmt::format("{}: {}", path, e.what()));
  }
}

Snapshot collect_with_probe(const Options& o, std::ostream& err);

int check(const Options& o, std::ostream& out, std::ostream& err, bool color) {
  if (o.prometheus && (o.json || o.markdown)) throw UsageError("--prometheus is an output format of its own: not with --json or --markdown");
  if (o.with_probe && !o.from.empty()) throw UsageError("--probe runs on this host: not with --from (a snapshot keeps the figures of `snapshot --probe`)");
  Snapshot snap;
  ReportHeader h;
  h.version = GPUDOCTOR_VERSION;
  if (o.with_probe) {
    snap = collect_with_probe(o, err);
    h.source = snap.compute.attempted ? fmt::format("this host, {} probe", to_string(snap.compute.mode)) : "this host";
  } else if (!o.from.empty()) {
    snap = load_snapshot(o.from);
    if (!o.frameworks.empty()) snap.requested_frameworks = o.frameworks;  // asked now, not when it was taken
    h.source = "snapshot " + o.from + (snap.redacted ? " (redacted)" : "");
  } else {
    snap = collect(collect_options(o));
    snap.requested_frameworks = o.frameworks;
    h.source = snap.host.root == "/" ? "this host" : "inspected root";
  }
  h.root = snap.host.root;
  h.collected_at = snap.collected_at;
  h.verbose = o.verbose;
  Diagnosis d = diagnose(snap);
  if (!o.prometheus_file.empty()) {
    std::ostringstream metrics;
    prometheus_report(metrics, d, snap, h);
    write_file_atomic(o.prometheus_file, metrics.str());
  }
  if (o.prometheus) {
    prometheus_report(out, d, snap, h);
  } else if (o.json) {
    auto j = json_report(d, h);
    if (snap.compute.attempted) j["probe"] = to_json(snap.compute);
    if (!snap.collector_errors.empty()) j["collector_errors"] = snap.collector_errors;
    out << json_text(j, 2) << "\n";
  } else if (o.markdown) {
    Redactor redactor(redaction_context(o, &snap));
    markdown_report(out, d, h, o.no_redact ? nullptr : &redactor);
  } else {
    terminal_report(out, d, h, color);
    for (const auto& e : snap.collector_errors) out << "note: a collector failed: " << escape::terminal(e) << "\n";
  }
  return d.healthy ? k_exit_healthy : k_exit_problem;
}

int explain_command(const Options& o, std::ostream& out, bool color) {
  const auto& catalogue = explain::Catalogue::get();
  if (o.list_patterns) {
    for (const auto& m : catalogue.messages()) out << m.pattern << "\n";
    return k_exit_healthy;
  }
  // The file is closed on every way out, a throw of read_text included; standard input is not ours.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, std::fclose);
  std::FILE* in = stdin;
  if (o.input != "-") {
    std::error_code ec;
    if (std::filesystem::is_directory(o.input, ec)) throw UsageError(fmt::format("cannot read {}: it is a directory", o.input));
    file.reset(std::fopen(o.input.c_str(), "rb"));
    if (!file) throw UsageError(fmt::format("cannot read {}: {}", o.input, std::strerror(errno)));
    in = file.get();
  }
  auto reading = explain::read_text(in, catalogue);
  bool failed = std::ferror(in) != 0;
  int read_errno = errno;
  file.reset();
  if (failed)
    throw std::runtime_error(fmt::format("reading {} failed after {} bytes: {}", o.input == "-" ? "standard input" : o.input,
                                         reading.stats.bytes, std::strerror(read_errno)));
  if (reading.blank)
    throw UsageError(fmt::format("nothing to explain: {} is empty", o.input == "-" ? "standard input" : o.input));
  std::optional<Snapshot> host;
  if (o.host) host = collect(collect_options(o));
  Diagnosis d = explain::diagnose_text(reading, host ? &*host : nullptr);
  ReportHeader h;
  h.command = "explain";
  h.version = GPUDOCTOR_VERSION;
  h.root = o.input == "-" ? "standard input" : o.input;
  h.source = fmt::format("{} lines, {} bytes{}", reading.stats.lines, reading.stats.bytes, o.host ? ", with this host" : "");
  h.collected_at = host ? host->collected_at : "";
  if (o.json) out << json_text(json_report(d, h), 2) << "\n";
  else if (o.markdown) {
    Redactor redactor(redaction_context(o, host ? &*host : nullptr));
    markdown_report(out, d, h, o.no_redact ? nullptr : &redactor);
  } else {
    terminal_report(out, d, h, color);
  }
  return d.healthy ? k_exit_healthy : k_exit_problem;
}

/// `collect`, with `gpudoctor probe`'s real work on every GPU in Snapshot::compute (or why not).
Snapshot collect_with_probe(const Options& o, std::ostream& err) {
  ProbePlan plan;
  plan.quick = o.quick;
  plan.sonames = probe_sonames([](std::string_view role) { return kb::KnowledgeBase::get().sonames_newest_first(role); });
  double limit = o.probe_limit_s > 0 ? o.probe_limit_s : (o.quick ? 30.0 : 180.0);
  plan.limit = std::chrono::milliseconds(static_cast<long long>(limit * 1000));
  std::unique_ptr<ComputeProbeInFlight> inflight;
  CollectOptions options = collect_options(o);
  if (o.root == "/" && o.driver != "none") {
    // The compute child starts as soon as the files tell which libraries the frameworks load,
    // and runs beside the driver probe: both spend most of their time in cuInit.
    options.files_collected = [&](const Snapshot& files) {
      Snapshot chosen_from = files;
      chosen_from.requested_frameworks = o.frameworks;
      plan.libraries = choose_probe_libraries(chosen_from, plan.sonames);
      inflight = std::make_unique<ComputeProbeInFlight>(plan);
    };
  }
  Snapshot snap = collect(options);
  snap.requested_frameworks = o.frameworks;
  // Real work needs a driver that initialized and found a device; otherwise the lower layers' verdict is the answer.
  if (auto why = why_no_compute_probe(snap, o.root != "/")) {
    snap.compute.why_not = *why;
  } else if (inflight) {
    bool show = !o.json && !o.markdown && ::isatty(STDERR_FILENO) != 0;
    auto started = std::chrono::steady_clock::now();
    snap.compute = inflight->finish([&](const std::string& step) {
      if (!show) return;
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      err << fmt::format("\r\x1b[2Kprobe {:5.1f}s  {}", s, step) << std::flush;
    });
    if (show) err << "\r\x1b[2K" << std::flush;
  }
  inflight.reset();  // a child not waited for (no driver, no device) is killed here
  return snap;
}

int probe_command(const Options& o, std::ostream& out, std::ostream& err, bool color) {
  Snapshot snap = collect_with_probe(o, err);
  ReportHeader h;
  h.command = "probe";
  h.version = GPUDOCTOR_VERSION;
  h.root = snap.host.root;
  h.source = snap.compute.attempted ? fmt::format("this host, {} probe", to_string(snap.compute.mode)) : "this host";
  h.collected_at = snap.collected_at;
  Diagnosis d = diagnose(snap);
  if (o.json) {
    auto j = json_report(d, h);
    j["probe"] = to_json(snap.compute);
    out << json_text(j, 2) << "\n";
  } else if (o.markdown) {
    Redactor redactor(redaction_context(o, &snap));
    markdown_report(out, d, h, o.no_redact ? nullptr : &redactor);
  } else {
    terminal_report(out, d, h, color);
  }
  return d.healthy ? k_exit_healthy : k_exit_problem;
}

/// The short host name ("gpu-node-07" of "gpu-node-07.cluster.example"), the default label.
std::string short_host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "";
  std::string name(host);
  return name.substr(0, name.find('.'));
}

/// The copy srun --bcast made of this binary (slurm_bcast_<job>.<step>_<node>), removed once it
/// runs: a running program keeps its image. Anything else of that name is left alone.
void remove_bcast_copy() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec || self.filename().string().rfind("slurm_bcast_", 0) != 0) return;
  ::unlink(self.c_str());
}

int snapshot(const Options& o, std::ostream& out, std::ostream& err) {
  if (o.remove_bcast_copy) remove_bcast_copy();
  Snapshot snap = o.with_probe ? collect_with_probe(o, err) : collect(collect_options(o));
  // The node's name: --label, else the name Slurm gave it (slurmd sets SLURMD_NODENAME for its
  // jobs), else the short host name.
  std::string chosen = o.label;
  if (const char* slurm = std::getenv("SLURMD_NODENAME"); chosen.empty() && slurm != nullptr && fleet::valid_node_name(slurm))
    chosen = slurm;
  snap.label = chosen.empty() ? short_host_name() : chosen;
  nlohmann::json j = to_json(snap);
  // Made to be shared: redacted unless the user keeps everything for their own use. A label
  // chosen to name the node by (--label, Slurm's node name) stays; the host name does not.
  if (!o.no_redact) Redactor(redaction_context(o, &snap)).snapshot(j);
  if (!chosen.empty()) j["label"] = chosen;
  std::string text = json_text(j, 2) + "\n";
  if (o.output.empty() || o.output == "-") {
    out << text;
  } else {
    write_file(o.output, text);
  }
  return k_exit_healthy;
}

/// `gpudoctor health`: Slurm's HealthCheckProgram, Prolog and Epilog. Exit 0 when the node is
/// fit, 1 for a fault of the node itself; what could not be judged (a query that did not answer,
/// gpudoctor's own failure) is never a fault, because Slurm drains a node on a non-zero exit.
int health_command(const Options& o, std::ostream& out, std::ostream& err) {
  Options node = o;
  node.node_only = true;
  fleet::HealthVerdict v;
  try {
    Snapshot snap = o.with_probe ? collect_with_probe(node, err) : collect(collect_options(node));
    auto unanswered = fleet::mark_unanswered(snap);
    v = fleet::judge_health(diagnose(snap), std::move(unanswered));
  } catch (const UsageError&) {
    throw;  // a wrong command line is the operator's to see (exit 2)
  } catch (const std::exception& e) {
    out << "OK: gpudoctor: not judged: internal error: " << escape::terminal(e.what()) << "\n";
    return k_exit_healthy;
  }
  out << v.line << "\n";
  for (const auto& u : v.unanswered) err << "gpudoctor: not judged: " << escape::terminal(u) << "\n";
  if (v.fit || !o.drain) return v.fit ? k_exit_healthy : k_exit_problem;
  out.flush();
  std::string name = fleet::slurm_node_name();
  if (!fleet::valid_node_name(name)) {
    err << "gpudoctor: not draining: " << escape::terminal(name) << " is not a node name\n";
    return k_exit_problem;
  }
  auto argv = fleet::drain_command(name, v.cause);
  int rc = fleet::run_and_wait(argv);
  if (rc == 0) err << fmt::format("gpudoctor: drained {} (Reason=\"gpudoctor: {}\")\n", name, v.cause);
  else if (rc == 127) err << "gpudoctor: could not run scontrol (is it on PATH?): " << name << " not drained\n";
  else err << fmt::format("gpudoctor: scontrol exited with {}: {} not drained\n", rc, name);
  return k_exit_problem;
}

/// `gpudoctor merge SNAPSHOT...`: one report of many nodes.
int merge_command(const Options& o, std::ostream& out, bool color) {
  std::vector<std::string> files;
  try {
    files = fleet::snapshot_files(o.inputs);
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  if (files.empty()) throw UsageError("merge: name the snapshot files, or folders of them");
  auto report = fleet::merge(
      files, [](const std::string& p) { return load_snapshot(p); }, o.lag);
  if (report.nodes.empty())
    throw UsageError(fmt::format("no readable snapshot among {} file{}; the first: {}: {}", files.size(),
                                 files.size() == 1 ? "" : "s", report.unreadable.front().first,
                                 report.unreadable.front().second));
  if (o.json) out << json_text(fleet::fleet_json(report), 2) << "\n";
  else if (o.markdown) fleet::fleet_markdown(out, report);
  else fleet::fleet_terminal(out, report, color);
  bool all_fit = report.lagging.empty();
  for (const auto& n : report.nodes) all_fit = all_fit && n.healthy;
  return all_fit ? k_exit_healthy : k_exit_problem;
}

/// `gpudoctor fleet`: every node's snapshot through srun, in merge's report.
int fleet_command(const Options& o, std::ostream& out, std::ostream& err, bool color) {
  fleet::FleetOptions f;
  f.partition = o.partition;
  f.nodes = o.nodes;
  f.probe_quick = o.quick;
  f.timeout = std::chrono::milliseconds(static_cast<long long>(o.fleet_timeout_s * 1000));
  f.bcast = o.bcast == "yes" ? fleet::Bcast::always : o.bcast == "no" ? fleet::Bcast::never
                                                                      : fleet::Bcast::automatic;
  f.bcast_dir = o.bcast_dir;
  f.lag = o.lag;
  std::error_code ec;
  f.binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) throw std::runtime_error(fmt::format("cannot read /proc/self/exe: {}", ec.message()));
  fleet::FleetReport report;
  try {
    report = fleet::run_fleet(f, [](const std::string& p) { return load_snapshot(p); });
  } catch (const fleet::FleetError& e) {
    if (e.exit_code == k_exit_usage) throw UsageError(e.what());
    err << "gpudoctor: fleet: " << escape::terminal(e.what()) << "\n";
    return k_exit_failure;
  }
  if (o.json) out << json_text(fleet::fleet_json(report), 2) << "\n";
  else if (o.markdown) fleet::fleet_markdown(out, report);
  else fleet::fleet_terminal(out, report, color);
  bool all_fit = report.lagging.empty() && report.not_answered.empty() && report.unreadable.empty();
  for (const auto& n : report.nodes) all_fit = all_fit && n.healthy;
  return all_fit ? k_exit_healthy : k_exit_problem;
}

bool stderr_color(const Options& o) {
  const char* no_color_env = std::getenv("NO_COLOR");
  return ::isatty(STDERR_FILENO) != 0 && !o.no_color && (no_color_env == nullptr || *no_color_env == '\0');
}

/// What check collects, for the program's verdict to join (its findings are the root cause of a
/// GPU never used).
/// This host as `run` and `inspect` judge it (`c`: collect_options, already checked): the
/// environment that matters is --python's, else that of the interpreter the program runs
/// (`entry`, found from its command line), else check's.
Snapshot host_for_program(const Options& o, CollectOptions c, const python::ProgramEntry& entry, std::string_view runs) {
  RootFs fs(c.root);
  if (c.python.empty() && fs.is_host() && !entry.interpreter.empty() && !python_interpreter_problem(fs, entry.interpreter)) {
    c.python = entry.interpreter;
    c.python_found_by = fmt::format("the interpreter {} runs", runs);
  }
  Snapshot snap = collect(c);
  snap.requested_frameworks = o.frameworks;
  return snap;
}

void write_program_reports(const Options& o, const Diagnosis& d, const ReportHeader& h, const Program& p) {
  // Made to be shared: redacted unless --no-redact. The redactor learns every value of the JSON
  // report first, so that a user name is replaced in every file, also where its home is not seen.
  auto j = json_report(d, h);
  j["program"] = program_json(d, p);
  Redactor redactor(redaction_context(o, nullptr));
  Redactor* r = o.no_redact ? nullptr : &redactor;
  if (r != nullptr) r->json(j);
  if (!o.json_file.empty()) write_file(o.json_file, json_text(j, 2) + "\n");
  if (!o.html_file.empty()) {
    std::ostringstream html;
    program_html(html, d, h, p, r);
    write_file(o.html_file, html.str());
  }
  if (!o.markdown_file.empty()) {
    std::ostringstream md;
    markdown_report(md, d, h, r);
    program_markdown(md, d, p, r);
    write_file(o.markdown_file, md.str());
  }
}

/// The program's own Python source: what it says about the GPU (the command's script and its local imports).
/// `path_env`: the PATH the command was started with.
python::ProgramCode scan_code(const std::vector<std::string>& argv, const std::string& cwd, const std::string& path_env) {
  return python::scan_program_code(argv, cwd, RootFs("/"), kb::KnowledgeBase::get().python_code(), path_env);
}

std::string own_path_env() {
  const char* path_env = std::getenv("PATH");
  return path_env != nullptr ? path_env : "";
}

void keep_code(Program& p, python::ProgramCode code) {
  p.code = std::move(code.facts);
  p.notes.insert(p.notes.end(), code.notes.begin(), code.notes.end());
}

ReportHeader program_header(const Snapshot& snap, const char* command, std::string source) {
  ReportHeader h;
  h.command = command;
  h.version = GPUDOCTOR_VERSION;
  h.root = snap.host.root;
  h.source = std::move(source);
  h.collected_at = snap.collected_at;
  return h;
}

/// `gpudoctor run -- CMD ...`: gpudoctor's exit code is the program's.
int run_command(const Options& o, std::ostream& out, std::ostream& err) {
  // The report files must be writable before the program runs, not found unwritable after it.
  for (const auto* path : {&o.json_file, &o.markdown_file, &o.html_file}) {
    if (path->empty()) continue;
    std::ofstream probe(*path, std::ios::binary | std::ios::app);
    if (!probe) throw UsageError(fmt::format("cannot write {}: {}", *path, std::strerror(errno)));
  }
  // The program's own source, read before it starts (it may rewrite its files while it runs).
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  python::ProgramCode code = scan_code(o.command, ec ? std::string("/") : cwd.string(), own_path_env());
  Snapshot snap = host_for_program(o, collect_options(o), code.entry, "the program");
  out.flush();
  err.flush();
  program::RunRequest request;
  request.argv = o.command;
  request.interval = std::chrono::milliseconds(o.interval_ms);
  request.status_line = ::isatty(STDERR_FILENO) != 0;
  request.watch_gpus = o.driver != "none";
  program::RunResult result;
  try {
    result = program::run_program(request);
  } catch (const program::LaunchError& e) {
    err << "gpudoctor: " << e.what() << "\n";
    return e.exit_code;
  }
  snap.program = std::move(result.program);
  keep_code(snap.program, std::move(code));
  const Program& p = snap.program;
  Diagnosis d = diagnose(snap);
  ReportHeader h = program_header(snap, "run", "this host and the program");
  err << fmt::format("gpudoctor: {} {} after {:.1f} s\n", p.command.empty() ? "" : printable(p.command.front(), 200), p.ended,
                     p.duration_s);
  terminal_report(err, d, h, stderr_color(o));
  program_terminal(err, d, p);
  write_program_reports(o, d, h, p);
  return result.exit_code;
}

/// `gpudoctor inspect PID`: a running process, watched for a few seconds, read-only.
int inspect_command(const Options& o, std::ostream& out, bool color) {
  CollectOptions options = collect_options(o);  // a bad --root or --python is said before the watch, not after it
  program::InspectRequest request;
  request.pid = o.inspect_pid;
  request.duration = std::chrono::milliseconds(static_cast<long long>(o.duration_s * 1000));
  request.interval = std::chrono::milliseconds(o.interval_ms);
  request.watch_gpus = o.driver != "none";
  Program watched;
  try {
    watched = program::inspect_program(request);
  } catch (const program::InspectError& e) {
    throw UsageError(e.what());
  }
  // Its source as it is now, from its command line, working folder and PATH (/proc/PID/cmdline,
  // cwd, environ); the host is collected after the watch, judging the Python the process runs.
  auto path_env = watched.env.find("PATH");
  python::ProgramCode code = scan_code(watched.command, watched.cwd.empty() ? std::string("/") : watched.cwd,
                                       path_env != watched.env.end() ? path_env->second : own_path_env());
  Snapshot snap = host_for_program(o, std::move(options), code.entry, fmt::format("PID {}", o.inspect_pid));
  snap.program = std::move(watched);
  keep_code(snap.program, std::move(code));
  const Program& p = snap.program;
  Diagnosis d = diagnose(snap);
  ReportHeader h = program_header(snap, "inspect", fmt::format("this host and PID {}", p.pid));
  if (o.json) {
    auto j = json_report(d, h);
    j["program"] = program_json(d, p);
    out << json_text(j, 2) << "\n";
  } else if (o.markdown) {
    Redactor redactor(redaction_context(o, &snap));
    if (!o.no_redact) {
      auto all = json_report(d, h);
      all["program"] = program_json(d, p);
      redactor.json(all);  // learns every value
    }
    markdown_report(out, d, h, o.no_redact ? nullptr : &redactor);
    program_markdown(out, d, p, o.no_redact ? nullptr : &redactor);
  } else {
    terminal_report(out, d, h, color);
    program_terminal(out, d, p);
  }
  write_program_reports(o, d, h, p);
  return d.healthy ? k_exit_healthy : k_exit_problem;
}

// GPUDOCTOR_TEST_RULE_LOG=DIR (the tests only, tests/rules/): each rule's findings appended to
// DIR/rules-PID.log as "rule<TAB>cause<TAB>severity" lines, for the rule-table test.
void log_rules_for_tests() {
  const char* dir = std::getenv("GPUDOCTOR_TEST_RULE_LOG");
  if (dir == nullptr || *dir == '\0') return;
  std::string path = fmt::format("{}/rules-{}.log", dir, ::getpid());
  set_rule_observer([path](std::string_view rule, const Finding& f) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!fd.valid()) return;
    std::string line = fmt::format("{}\t{}\t{}\n", rule, f.cause, to_string(f.severity));
    (void)!::write(fd.get(), line.data(), line.size());
  });
}

}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, bool out_is_terminal) {
  log_rules_for_tests();
  Options o;
  CLI::App app{"gpudoctor: why isn't my framework using the GPU? Checks every layer, names the root cause, says the fix.",
               "gpudoctor"};
  app.set_version_flag("--version", "gpudoctor " GPUDOCTOR_VERSION " (commit " GPUDOCTOR_COMMIT ")");
  app.footer(
      "Exit codes: 0 the GPU path is healthy, 1 a problem was found, 2 usage error or unreadable input, "
      "3 gpudoctor itself failed (run: the program's own exit code).");
  std::string completion_shell;
  bool help_man = false;
  app.add_flag("--help-man", help_man, "print the man page (roff) and exit")->group("");
  app.add_option("--completion", completion_shell, "print the completion script for bash, zsh or fish and exit")
      ->check(CLI::IsMember({"bash", "zsh", "fish"}))
      ->group("");
  app.fallthrough();
  app.require_subcommand(0, 1);
  auto* json = app.add_flag("--json", o.json, "JSON output: verdict, causes[] (id, layer, evidence, fix), layers[]");
  auto* md = app.add_flag("--markdown", o.markdown, "Markdown output, ready to paste into an issue");
  json->excludes(md);
  app.add_flag("--no-redact", o.no_redact,
               "keep tokens, user names, host names and GPU UUIDs in snapshots, Markdown reports and run's report "
               "files (they are redacted by default: they are made to be shared)");
  app.add_flag("--no-color", o.no_color, "no colour (also when NO_COLOR is set or the output is not a terminal)");
  app.add_option("--root", o.root, "inspect the system mounted at DIR instead of / (nothing from it is loaded or run)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--driver", o.driver,
                 "driver probe: auto (this machine's driver when --root is /), host (this machine's driver even with "
                 "--root), none")
      ->check(CLI::IsMember({"auto", "host", "none"}));
  app.add_option("--timeout", o.timeout_s, "time limit in seconds for the driver calls (a hung cuInit is a finding)")
      ->check(CLI::Range(0.1, 600.0));

  app.add_flag("--library-versions", o.library_versions,
               "load each CUDA library the frameworks use in a child process and ask its own version "
               "(this machine only; costs memory)");
  auto* check_cmd = app.add_subcommand("check", "diagnose this host (the default command)");
  check_cmd->add_option("--from", o.from, "diagnose a snapshot written by `gpudoctor snapshot` (- for standard input)");
  check_cmd->add_option("--framework", o.frameworks, "narrow to tensorflow, torch or jax")
      ->check(CLI::IsMember({"tensorflow", "torch", "jax"}));
  check_cmd->add_option("--python", o.python, "the Python interpreter whose environment matters");
  check_cmd->add_flag("--verbose", o.verbose,
                      "the terminal report lists every library of every framework, every environment and all the evidence");
  check_cmd->add_flag("--prometheus", o.prometheus, "Prometheus text format on standard output (verdict, layers, causes, versions, probe figures)");
  check_cmd->add_option("--prometheus-file", o.prometheus_file,
                        "also write the Prometheus text format to FILE, atomically (for node_exporter's textfile collector)");
  check_cmd->add_flag("--probe", o.with_probe, "also run `gpudoctor probe` and judge its figures");
  check_cmd->add_flag(
      "--probe-quick", [&o](std::int64_t) { o.with_probe = o.quick = true; },
      "also run the quick probe (a few seconds)");
  auto* explain_cmd = app.add_subcommand("explain", "explain a pasted log, issue template or tool output (FILE, or - for standard input)");
  explain_cmd->add_option("input", o.input, "the text to read (default: standard input)");
  explain_cmd->add_flag("--host", o.host, "add this host's facts (as check collects them)");
  explain_cmd->add_flag("--list-patterns", o.list_patterns, "print the catalogue's patterns (RE2 syntax), one per line, and exit");
  auto* probe_cmd = app.add_subcommand(
      "probe", "prove the GPUs compute: a kernel, memory, copies, matrix products, cuDNN, peers and NCCL, against what each card should deliver");
  probe_cmd->add_flag("--quick", o.quick, "context, kernel, a short copy and a short matrix product (a few seconds)");
  probe_cmd->add_option("--limit", o.probe_limit_s, "time limit in seconds for the whole probe (default 180, --quick 30)")
      ->check(CLI::Range(1.0, 3600.0));
  probe_cmd->add_option("--framework", o.frameworks, "use the libraries this framework loads (tensorflow, torch or jax)")
      ->check(CLI::IsMember({"tensorflow", "torch", "jax"}));
  probe_cmd->add_option("--python", o.python, "the Python interpreter whose environment matters");
  auto* snap_cmd = app.add_subcommand("snapshot", "write every collected fact as JSON");
  snap_cmd->add_option("-o,--output", o.output, "file to write (default: standard output)");
  snap_cmd->add_option("--python", o.python, "the Python interpreter whose environment matters");
  snap_cmd->add_flag("--probe", o.with_probe,
                     "also run `gpudoctor probe` and keep its figures (check --from judges them elsewhere)");
  snap_cmd->add_flag("--quick", o.quick, "with --probe: the quick probe");
  snap_cmd->add_option("--label", o.label, "the node's name in fleet reports (default: the short host name)");
  snap_cmd->add_flag("--remove-bcast-copy", o.remove_bcast_copy)->group("");  // fleet's srun --bcast copy
  auto* health_cmd = app.add_subcommand(
      "health", "Slurm HealthCheckProgram/Prolog mode: the node's own layers only; exit 0 fit, 1 a fault of the node; one line");
  health_cmd->add_flag(
      "--probe-quick", [&o](std::int64_t) { o.with_probe = o.quick = true; },
      "also run the quick probe on every GPU (a few seconds)");
  health_cmd->add_flag("--drain", o.drain,
                       "on a fault, run scontrol update NodeName=<this node> State=DRAIN Reason=\"gpudoctor: <cause id>\"");
  auto* merge_cmd = app.add_subcommand("merge", "one report of many nodes' snapshots (files, or folders of *.json)");
  merge_cmd->add_option("snapshots", o.inputs, "snapshot files written by `gpudoctor snapshot`, or folders of them");
  merge_cmd->add_option("--lag", o.lag, "a probe figure below this fraction of the fleet's median for its GPU model lags (default 0.8)")
      ->check(CLI::Range(0.05, 1.0));
  auto* fleet_cmd = app.add_subcommand(
      "fleet", "a snapshot of every node through Slurm (one srun step, a task per node), in merge's report, with the nodes that did not answer");
  fleet_cmd->add_option("-p,--partition", o.partition, "the Slurm partition (default: Slurm's default partition; without --nodes, all its nodes)");
  fleet_cmd->add_option("-w,--nodes", o.nodes, "the nodes, a Slurm host list such as gpu[01-16],gpu20 (default: every node of the partition)");
  fleet_cmd->add_flag("--probe-quick", o.quick, "each node also runs the quick probe on every GPU (a few seconds)");
  fleet_cmd->add_option("--timeout", o.fleet_timeout_s, "seconds for the whole srun step; nodes without a snapshot by then did not answer (default 120)")
      ->check(CLI::Range(1.0, 86400.0));
  fleet_cmd->add_option("--bcast", o.bcast,
                        "copy this binary to the nodes with srun --bcast first: auto (when it is not on NFS, Lustre, GPFS, BeeGFS, "
                        "CephFS or another file system nodes share), yes, no")
      ->check(CLI::IsMember({"auto", "yes", "no"}));
  fleet_cmd->add_option("--bcast-dir", o.bcast_dir, "node-local folder for the copy (default /tmp); each copy removes itself once it runs");
  fleet_cmd->add_option("--lag", o.lag, "a probe figure below this fraction of the fleet's median for its GPU model lags (default 0.8)")
      ->check(CLI::Range(0.05, 1.0));

  auto* run_cmd = app.add_subcommand(
      "run", "run a program and watch it: did it use the GPU, how well, and if not, why (gpudoctor run -- CMD ARGS...)");
  run_cmd->add_option("--json", o.json_file, "also write the JSON report to FILE");
  run_cmd->add_option("--markdown", o.markdown_file, "also write the Markdown report to FILE");
  run_cmd->add_option("--html", o.html_file, "also write a self-contained HTML page with the timeline to FILE");
  run_cmd->add_option("--interval", o.interval_ms, "milliseconds between readings of the GPUs and /proc (default 100)")
      ->check(CLI::Range(20, 10000));
  run_cmd->add_option("command", o.command, "the program and its arguments, after --")->required();
  run_cmd->add_option("--python", o.python,
                      "the Python interpreter whose environment matters (default: the one the command runs)");
  run_cmd->positionals_at_end();
  run_cmd->add_option("--framework", o.frameworks, "the framework whose libraries check predicts (tensorflow, torch or jax)")
      ->check(CLI::IsMember({"tensorflow", "torch", "jax"}));

  auto* inspect_cmd = app.add_subcommand("inspect",
                                         "watch a running process and its children for a few seconds, read-only: "
                                         "does it use the GPU, how well, and if not, why");
  inspect_cmd->add_option("pid", o.inspect_pid, "the process")->required()->check(CLI::Range(1, 0x7FFFFFFF));
  inspect_cmd->add_option("--duration", o.duration_s, "seconds to watch (default 5)")->check(CLI::Range(0.1, 3600.0));
  inspect_cmd->add_option("--interval", o.interval_ms, "milliseconds between readings of the GPUs and /proc (default 100)")
      ->check(CLI::Range(20, 10000));
  inspect_cmd->add_option("--python", o.python,
                          "the Python interpreter whose environment matters (default: the one the process runs)");
  inspect_cmd->add_option("--json-file", o.json_file, "also write the JSON report to FILE");
  inspect_cmd->add_option("--markdown-file", o.markdown_file, "also write the Markdown report to FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream o_out, o_err;
    int code = app.exit(e, o_out, o_err);
    out << o_out.str();
    err << o_err.str();
    return code == 0 ? k_exit_healthy : k_exit_usage;
  }
  if (help_man) {
    write_man_page(out, app, GPUDOCTOR_VERSION);
    return k_exit_healthy;
  }
  if (!completion_shell.empty()) {
    write_completion(out, app, completion_shell);
    return k_exit_healthy;
  }
  const char* no_color_env = std::getenv("NO_COLOR");
  bool color = out_is_terminal && !o.no_color && (no_color_env == nullptr || *no_color_env == '\0');
  int code = k_exit_failure;
  try {
    kb::KnowledgeBase::get();
    if (run_cmd->parsed()) code = run_command(o, out, err);
    else if (inspect_cmd->parsed()) code = inspect_command(o, out, color);
    else if (snap_cmd->parsed()) code = snapshot(o, out, err);
    else if (health_cmd->parsed()) code = health_command(o, out, err);
    else if (merge_cmd->parsed()) code = merge_command(o, out, color);
    else if (fleet_cmd->parsed()) code = fleet_command(o, out, err, color);
    else if (explain_cmd->parsed()) code = explain_command(o, out, color);
    else if (probe_cmd->parsed()) code = probe_command(o, out, err, color);
    else code = check(o, out, err, color);
  } catch (const UsageError& e) {
    err << "gpudoctor: " << escape::terminal(e.what()) << "\n";
    return k_exit_usage;
  } catch (const std::bad_alloc&) {
    err << "gpudoctor: internal error: out of memory\n";
    return k_exit_failure;
  } catch (const std::exception& e) {
    err << "gpudoctor: internal error: " << escape::terminal(e.what()) << "\n";
    return k_exit_failure;
  } catch (...) {
    err << "gpudoctor: internal error\n";
    return k_exit_failure;
  }
  // What could not be written (a full disk, a closed pipe) is a failure, whatever the verdict.
  errno = 0;
  out.flush();
  if (!out) {
    int e = errno;
    err << "gpudoctor: cannot write the output" << (e != 0 ? std::string(": ") + std::strerror(e) : std::string()) << "\n";
    return k_exit_failure;
  }
  return code;
}

}  // namespace gpudoctor
