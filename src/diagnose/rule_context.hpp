#pragma once
// What every rule gets: the snapshot, the knowledge base, and facts derived from the snapshot
// that several rules share. Rules are pure functions of these: they never read the machine.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/finding.hpp"
#include "core/snapshot.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

/// The package managers whose commands the fixes print.
enum class PackageManager {
  none,  ///< not one the fixes know
  apt,
  dnf,
  zypper,
  pacman,
};

class RuleContext {
 public:
  RuleContext(const Snapshot& snapshot, const kb::KnowledgeBase& knowledge) : s(snapshot), kb(knowledge) {}

  const Snapshot& s;
  const kb::KnowledgeBase& kb;

  /// The driver probe ran on this machine (not an inspected root or a snapshot without one).
  [[nodiscard]] bool probed() const { return s.driver.mode == DriverProbeOrigin::host; }
  /// The probed libraries are files of the inspected system (its root is this machine's /), so
  /// their paths can be compared with the collected files.
  [[nodiscard]] bool probe_sees_root() const { return probed() && s.host.root == "/"; }
  [[nodiscard]] bool nvml_init_ok() const { return s.driver.nvml.init.known() && s.driver.nvml.init->ok(); }
  [[nodiscard]] bool cuda_init_ok() const { return s.driver.cuda.init.known() && s.driver.cuda.init->ok(); }
  /// cuInit's result code when it returned.
  [[nodiscard]] std::optional<int> cuda_init_code() const;
  [[nodiscard]] std::optional<int> nvml_init_code() const;
  /// cuInit / nvmlInit_v2 returned a code of this class (kb/data/cuda_errors.toml, nvml_errors.toml).
  [[nodiscard]] bool cuda_init_is(std::string_view klass) const {
    auto c = cuda_init_code();
    return c && kb.cuda_error_is(*c, klass);
  }
  [[nodiscard]] bool nvml_init_is(std::string_view klass) const {
    auto c = nvml_init_code();
    return c && kb.nvml_error_is(*c, klass);
  }
  [[nodiscard]] unsigned nvml_device_count() const { return s.driver.nvml.device_count.value_or(0); }
  [[nodiscard]] int cuda_device_count() const { return s.driver.cuda.device_count.value_or(0); }

  [[nodiscard]] bool wsl() const { return s.platform.wsl; }
  [[nodiscard]] bool nvidia_on_pci() const { return !s.pci_gpus.empty(); }
  /// Some source says an NVIDIA GPU is there: PCI, the kernel module, NVML or CUDA.
  [[nodiscard]] bool gpu_seen() const;
  [[nodiscard]] bool module_loaded() const;
  /// The kernel module's version: /sys/module/nvidia/version, else /proc/driver/nvidia/version.
  [[nodiscard]] std::optional<std::string> module_version() const;
  /// The libcuda.so.1 the loader will pick: the probe's answer, else the first in search order.
  [[nodiscard]] std::optional<DriverLibraryFile> loaded_libcuda() const;
  [[nodiscard]] bool any_driver_library() const { return !s.driver_files.libraries.empty(); }
  /// GPU device nodes (/dev/nvidia0...) present.
  [[nodiscard]] std::vector<const DeviceNode*> gpu_nodes() const;
  /// The package manager of the inspected system, from its os-release (none when unknown).
  [[nodiscard]] PackageManager package_manager() const;

  /// Evidence lines for common facts.
  [[nodiscard]] Source nvml_init_evidence() const;
  [[nodiscard]] Source cuda_init_evidence() const;
  [[nodiscard]] std::string describe_cuda_code(int code) const;
  [[nodiscard]] std::string describe_nvml_code(int code) const;
};

using Rule = void (*)(const RuleContext& ctx, std::vector<Finding>& out);

struct RuleEntry {
  const char* name;
  Rule run;
  /// The cause ids it can report, comma-separated; "id (warning)": that cause only as a warning.
  /// tests/rules/ proves it: every cause a rule reports on any test input is listed in its row.
  const char* causes;
  /// It also reports the causes of the message catalogue's lines (kb/data/messages.toml).
  bool message_causes = false;
};

/// Every rule, in the order they run (diagnose.cpp).
std::span<const RuleEntry> rules();

// rules_hardware.cpp
void rule_no_nvidia_gpu(const RuleContext& ctx, std::vector<Finding>& out);
void rule_gpu_bad_state(const RuleContext& ctx, std::vector<Finding>& out);
void rule_pcie_link(const RuleContext& ctx, std::vector<Finding>& out);
// rules_driver.cpp
void rule_driver_missing(const RuleContext& ctx, std::vector<Finding>& out);
void rule_nouveau(const RuleContext& ctx, std::vector<Finding>& out);
void rule_driver_version_mismatch(const RuleContext& ctx, std::vector<Finding>& out);
void rule_uvm(const RuleContext& ctx, std::vector<Finding>& out);
void rule_device_permissions(const RuleContext& ctx, std::vector<Finding>& out);
void rule_driver_call_failed(const RuleContext& ctx, std::vector<Finding>& out);
// rules_platform.cpp
void rule_container(const RuleContext& ctx, std::vector<Finding>& out);
void rule_wsl(const RuleContext& ctx, std::vector<Finding>& out);
void rule_operating_system(const RuleContext& ctx, std::vector<Finding>& out);
// rules_libraries.cpp
void rule_libraries(const RuleContext& ctx, std::vector<Finding>& out);
// rules_framework.cpp
void rule_framework_build(const RuleContext& ctx, std::vector<Finding>& out);
void rule_framework_packages(const RuleContext& ctx, std::vector<Finding>& out);
void rule_framework_environment(const RuleContext& ctx, std::vector<Finding>& out);
// rules_environment.cpp
void rule_visible_devices(const RuleContext& ctx, std::vector<Finding>& out);
void rule_mig_compute_mode(const RuleContext& ctx, std::vector<Finding>& out);
void rule_env_forces_cpu(const RuleContext& ctx, std::vector<Finding>& out);
void rule_gpu_held_by_others(const RuleContext& ctx, std::vector<Finding>& out);
// rules_program_code.cpp (what the program's source says; runs last: it reads the findings before it)
void rule_program_code(const RuleContext& ctx, std::vector<Finding>& out);
// rules_probe.cpp (what `gpudoctor probe` measured)
void rule_probe_gpus(const RuleContext& ctx, std::vector<Finding>& out);
void rule_probe_multi_gpu(const RuleContext& ctx, std::vector<Finding>& out);
/// Each probed GPU's figures against what it should deliver, and its verdict.
std::vector<GpuVerdict> probe_verdicts(const RuleContext& ctx);
/// Lines on what the probe used and saw across GPUs: libraries, peer copies, all-reduce.
std::vector<std::string> probe_notes(const RuleContext& ctx);

// diagnose.cpp: a driver call failed and no rule before it explains why (last in the table)
void rule_unexplained_driver_failure(const RuleContext& ctx, std::vector<Finding>& out);

// rules_program.cpp (what `gpudoctor run` and `inspect` saw the program do; these run last, so
// that a finding of a lower layer, the environment or the log explains a GPU never used)
void rule_program_environment(const RuleContext& ctx, std::vector<Finding>& out);
void rule_program_log(const RuleContext& ctx, std::vector<Finding>& out);
/// A process of a program that never used a GPU in a PID namespace of its own whose /proc is
/// still gpudoctor's (the same mount namespace): CUDA fails there with error 304.
void rule_program_pid_namespace(const RuleContext& ctx, std::vector<Finding>& out);
void rule_program_libraries(const RuleContext& ctx, std::vector<Finding>& out);
void rule_program_gpu_use(const RuleContext& ctx, std::vector<Finding>& out);
/// The CUDA libraries the program's processes mapped, beside what check's loader model predicted.
std::vector<LibraryComparison> program_libraries(const RuleContext& ctx);
/// "used_gpu", "starved", "one_of_many", "not_used", "not_visible", "unknown"; "" when no program was watched.
ProgramVerdict program_verdict(const RuleContext& ctx, const std::vector<Finding>& causes);
/// One line on how the program used the GPUs.
std::string program_summary(const RuleContext& ctx);

}  // namespace gpudoctor
