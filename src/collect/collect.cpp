#include "collect/collect.hpp"

#include <memory>
#include <new>

#include "driver/driver_probe.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <span>

extern char** environ;  // NOLINT: POSIX

namespace gpudoctor {

namespace {

constexpr CollectorEntry k_collectors[] = {
    {"host_info", collect_host_info, "/etc/os-release, /proc/sys/kernel/osrelease, uname(2)"},
    {"environment", collect_environment, "the process environment, by allow-list (kb/data/environment.toml)"},
    {"pci", collect_pci, "/sys/bus/pci/devices/*/{vendor,device,class,driver,*_link_*,numa_node}"},
    {"kernel_modules", collect_kernel_modules,
     "/proc/modules, /sys/module/*/version, /lib/modules/RELEASE/modules.dep, modprobe.d, /proc/cmdline, "
     "/var/lib/dkms"},
    {"nvidia_proc", collect_nvidia_proc, "/proc/driver/nvidia/version, /proc/driver/nvidia/gpus/*/information"},
    {"device_nodes", collect_device_nodes, "/dev/nvidia*, /dev/dxg, /etc/group, getgroups(2), access(2)"},
    {"secure_boot", collect_secure_boot, "/sys/firmware/efi/efivars/SecureBoot-*, /sys/kernel/security/lockdown"},
    {"platform", collect_platform, "/.dockerenv, /run/.containerenv, /proc/1/cgroup, /proc/sys/kernel/osrelease, /usr/lib/wsl/lib"},
    {"driver_files", collect_driver_files, "/etc/ld.so.conf*, the library folders of kb/data/driver.toml, nvidia-smi, nvidia-modprobe"},
    {"kernel_log", collect_kernel_log, "/dev/kmsg (when readable), /var/log/kern.log, /var/log/dmesg"},
    {"python_envs", collect_python_envs, "python3 on PATH, VIRTUAL_ENV, CONDA_PREFIX, --python; pyvenv.cfg, lib/python3.X"},
    {"framework_installs", collect_framework_installs,
     "the dist-info (METADATA, WHEEL) of the frameworks and their companions, torch/version.py, "
     "tensorflow/python/platform/build_info.py, the jax CUDA plugins, Jupyter kernel.json files"},
    {"framework_libraries", collect_framework_libraries,
     "site-packages of each environment (torch/version.py, jax_plugins, build_info.py, nvidia wheels' RECORD), the "
     "ELF headers of the frameworks' libraries and their dependencies, /etc/ld.so.cache"},
    {"driver_probe", collect_driver_probe, "libnvidia-ml.so.1 and libcuda.so.1 of this machine, in child processes"},
};

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tm);
}

}  // namespace

std::span<const CollectorEntry> collectors() { return k_collectors; }

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

Snapshot collect(const CollectOptions& options) {
  Snapshot snapshot;
  snapshot.tool_version = GPUDOCTOR_VERSION;
  snapshot.collected_at = now_iso8601();
  RootFs fs(options.root);
  snapshot.host.root = options.root.empty() ? "/" : options.root;
  // The probe's children start first: cuInit takes most of the time, and the files are read
  // while it runs.
  std::unique_ptr<DriverProbeInFlight> probe;
  bool probing = options.driver == DriverProbeMode::host || (options.driver == DriverProbeMode::automatic && fs.is_host());
  if (probing) probe = std::make_unique<DriverProbeInFlight>();
  CollectContext ctx{fs, options, snapshot, probe.get()};
  for (const auto& c : k_collectors) {
    std::string_view name(c.name);
    if (!options.python_environments &&
        (name == "python_envs" || name == "framework_installs" || name == "framework_libraries"))
      continue;
    if (options.files_collected && name == "driver_probe") options.files_collected(snapshot);
    try {
      c.run(ctx);
    } catch (const std::bad_alloc&) {
      throw;  // out of memory is the tool's failure (exit 3), never a note beside a verdict
    } catch (const std::exception& e) {
      snapshot.collector_errors.push_back(fmt::format("{}: {}", c.name, e.what()));
    }
  }
  return snapshot;
}

}  // namespace gpudoctor
