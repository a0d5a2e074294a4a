#pragma once
// Collection: every collector reads the system through RootFs and fills its part of the
// Snapshot. The table in collect.cpp lists them; a new collector is one file and one row.

#include <chrono>
#include <functional>
#include <map>
#include <span>
#include <string>

#include "core/snapshot.hpp"
#include "sys/root_fs.hpp"

namespace gpudoctor {

enum class DriverProbeMode {
  automatic,  ///< probe this machine's driver when the root is "/", never for another root
  host,       ///< probe this machine's driver libraries even with --root (never the root's)
  none,       ///< do not load any driver library
};

struct CollectOptions {
  std::string root = "/";
  DriverProbeMode driver = DriverProbeMode::automatic;
  std::chrono::milliseconds driver_timeout{20000};
  /// Load each resolved CUDA library in a child process and ask its own version (this machine
  /// only). Off by default: loading cuBLAS, cuDNN and NCCL costs about 230 MB of memory.
  bool ask_library_versions = false;
  /// The Python interpreter whose environment matters (--python); empty: the one on PATH.
  std::string python;
  /// How `python` was chosen, as reports name it ("--python", "the interpreter the program runs").
  std::string python_found_by = "--python";
  /// This program's own file (/proc/self/exe). Installed from the wheel it is VENV/bin/gpudoctor,
  /// beside VENV/pyvenv.cfg: then that venv is judged first (after --python).
  std::string own_executable;
  /// The working folder, whose project environment (.venv, venv, env in it or a folder above it)
  /// is looked for; empty: none. The app sets it for the root "/" only: an inspected image has none.
  std::string cwd;
  /// The environment of the invoking user (all of it; collectors keep only the allow-list).
  std::map<std::string, std::string> environment;
  /// false for `gpudoctor health`: only the node's own layers (no Python environment, framework
  /// or framework-library collector runs).
  bool python_environments = true;
  /// Called with the snapshot once the files are read and before the driver probe is waited for
  /// (`gpudoctor probe` starts its compute child here, so both run at once).
  std::function<void(const Snapshot&)> files_collected;
};

class DriverProbeInFlight;

/// What every collector gets.
struct CollectContext {
  const RootFs& fs;
  const CollectOptions& options;
  Snapshot& snapshot;
  /// The driver probe, started before the other collectors so that it runs beside them.
  DriverProbeInFlight* driver_probe = nullptr;
};

using Collector = void (*)(CollectContext& ctx);

struct CollectorEntry {
  const char* name;
  Collector run;
  const char* reads;  ///< what it touches, for docs/ARCHITECTURE.md and `--verbose`
};

// One function per collector (collect/*.cpp).
void collect_host_info(CollectContext& ctx);
void collect_environment(CollectContext& ctx);
void collect_pci(CollectContext& ctx);
void collect_kernel_modules(CollectContext& ctx);
void collect_nvidia_proc(CollectContext& ctx);
void collect_device_nodes(CollectContext& ctx);
void collect_secure_boot(CollectContext& ctx);
void collect_platform(CollectContext& ctx);
void collect_driver_files(CollectContext& ctx);
void collect_kernel_log(CollectContext& ctx);
/// The GPU-related lines of a kernel log file, from the last boot it records on: up to 200 fault lines
/// (Xid, fallen off the bus, refused modules) and 200 others, in their order.
std::vector<std::string> kernel_log_lines_of_file(std::string_view text);
void collect_driver_probe(CollectContext& ctx);
void collect_python_envs(CollectContext& ctx);
void collect_framework_installs(CollectContext& ctx);
void collect_framework_libraries(CollectContext& ctx);

/// The collectors, in the order they run.
std::span<const CollectorEntry> collectors();

/// Runs every collector. Never throws for a missing or unreadable file (an absent fact); a
/// collector that fails unexpectedly is recorded in `collector_errors` and the rest go on.
Snapshot collect(const CollectOptions& options);

/// Why `python` (absolute, inside the root) cannot be the interpreter that --python names: it is
/// missing, a folder, not a regular file, unreadable, or neither an ELF file nor a script that
/// starts with #! (a wrapper such as pyenv's shims). nullopt when it can be. Only its first bytes
/// are read; nothing is run.
std::optional<std::string> python_interpreter_problem(const RootFs& fs, const std::string& python);

/// The process environment as a map.
std::map<std::string, std::string> process_environment();

}  // namespace gpudoctor
