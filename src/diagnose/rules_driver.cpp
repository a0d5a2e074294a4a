// Driver layer: the kernel module, the user-space driver libraries, the device nodes.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/escape.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {

namespace {

// Whether the kernel log holds one of the catalogue's lines (kb/data/kernel_log.toml) named by `ids`.
bool log_has(const RuleContext& ctx, std::initializer_list<const char*> ids, std::string* line_out = nullptr) {
  for (const auto& line : ctx.s.kernel_log.lines) {
    for (const char* id : ids) {
      if (ctx.kb.kernel_log_is(id, line)) {
        if (line_out) *line_out = line;
        return true;
      }
    }
  }
  return false;
}

std::string install_driver_fix(const RuleContext& ctx) {
  auto pm = ctx.package_manager();
  std::string id = ctx.s.host.os_id.value_or("");
  if (id == "ubuntu" || ctx.s.host.os_id_like.value_or("").find("ubuntu") != std::string::npos)
    return fmt::format("sudo ubuntu-drivers install   (or: sudo apt install {}), then reboot", ctx.kb.ubuntu_driver_package());
  if (pm == PackageManager::apt) return "sudo apt install nvidia-driver   (from the non-free component; or NVIDIA's CUDA repository: "
                                        "sudo apt install cuda-drivers), then reboot";
  if (pm == PackageManager::dnf) return "sudo dnf install nvidia-driver kmod-nvidia-open-dkms   (NVIDIA's CUDA repository; Fedora: "
                                        "akmod-nvidia from RPM Fusion), then reboot";
  if (pm == PackageManager::zypper) return "sudo zypper install nvidia-open-driver-G06-signed-kmp-default nvidia-compute-G06, then reboot";
  return "install the NVIDIA driver for this distribution (https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/), "
         "then reboot";
}

std::string headers_fix(const RuleContext& ctx) {
  auto pm = ctx.package_manager();
  if (pm == PackageManager::apt) return "sudo apt install linux-headers-$(uname -r) && sudo dkms autoinstall";
  if (pm == PackageManager::dnf) return "sudo dnf install kernel-devel-$(uname -r) kernel-headers && sudo dkms autoinstall";
  return "install the headers of the running kernel, then: sudo dkms autoinstall";
}

std::string initramfs_fix(const RuleContext& ctx) {
  auto pm = ctx.package_manager();
  if (pm == PackageManager::apt) return "sudo update-initramfs -u";
  if (pm == PackageManager::dnf || pm == PackageManager::zypper) return "sudo dracut --force";
  if (pm == PackageManager::pacman) return "sudo mkinitcpio -P";
  return "regenerate the initramfs (update-initramfs -u or dracut --force)";
}

void add_module_evidence(const RuleContext& ctx, Finding& f) {
  const auto& s = ctx.s;
  f.evidence.push_back({"/proc/modules", "no nvidia module loaded"});
  if (ctx.nvml_init_code()) f.evidence.push_back(ctx.nvml_init_evidence());
  for (const auto& p : s.pci_gpus) {
    f.evidence.push_back({"/sys/bus/pci/devices/" + p.address + "/driver",
                          p.driver.known() ? "bound to " + *p.driver : "no driver bound"});
  }
}

}  // namespace

void rule_driver_missing(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (ctx.wsl() || !ctx.nvidia_on_pci() || ctx.module_loaded()) return;
  // GPUs reserved for virtual machines.
  for (const auto& p : s.pci_gpus) {
    if (p.driver.is("vfio-pci")) {
      Finding f;
      f.cause = "driver_not_loaded";
      f.layer = Layer::driver;
      f.title = fmt::format("GPU {} is bound to vfio-pci: it is reserved for a virtual machine", p.address);
      f.evidence.push_back({"/sys/bus/pci/devices/" + p.address + "/driver", "vfio-pci"});
      f.fix.push_back(
          "Use the GPU inside the VM it is passed to, or release it: remove its id from the vfio-pci.ids= "
          "kernel option or /etc/modprobe.d, then reboot so that the nvidia module binds it.");
      out.push_back(std::move(f));
      return;
    }
  }
  const auto& km = s.modules;
  std::string release = s.host.kernel_release.value_or("");
  bool installed_for_running = !km.nvidia_module_files.empty();
  bool installed_elsewhere = !km.kernels_with_nvidia_module.empty() && !installed_for_running;
  bool user_space = ctx.any_driver_library() || s.driver_files.nvidia_smi.known();

  // Secure Boot refusing the module.
  std::string reject_line;
  bool rejected = log_has(ctx, {"module_key_rejected", "module_signature_rejected", "lockdown_unsigned_module"},
                          &reject_line);
  if (s.secure_boot.enabled.is(true) && installed_for_running && (rejected || km.nvidia_module_signed.is(false))) {
    Finding f;
    f.cause = "secure_boot_blocks_module";
    f.layer = Layer::driver;
    f.title = "Secure Boot refuses to load the NVIDIA kernel module";
    f.evidence.push_back({"/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c", "Secure Boot enabled"});
    if (km.nvidia_module_signed.is(false))
      f.evidence.push_back({km.nvidia_module_files.front(), "carries no module signature"});
    if (rejected) f.evidence.push_back({s.kernel_log.source.value_or("kernel log"), reject_line});
    if (s.secure_boot.lockdown.known()) f.evidence.push_back({"/sys/kernel/security/lockdown", *s.secure_boot.lockdown});
    add_module_evidence(ctx, f);
    f.fix.push_back(
        "Enroll the key DKMS signs modules with, then reboot and confirm the enrollment in the blue MOK "
        "manager screen: sudo mokutil --import /var/lib/dkms/mok.pub   (Ubuntu: /var/lib/shim-signed/mok/MOK.der)");
    f.fix.push_back(
        "Or install the distribution's pre-signed driver modules (Ubuntu: sudo ubuntu-drivers install), or "
        "turn Secure Boot off in the firmware setup.");
    f.explains = {"driver_not_loaded"};
    out.push_back(std::move(f));
  }

  Finding f;
  f.layer = Layer::driver;
  if (!installed_for_running && !installed_elsewhere && !user_space) {
    f.cause = "driver_not_installed";
    f.title = "An NVIDIA GPU is present but no NVIDIA driver is installed";
    add_module_evidence(ctx, f);
    f.evidence.push_back({"/lib/modules/" + (release.empty() ? std::string("*") : release),
                          "no nvidia.ko module file"});
    f.evidence.push_back({"library folders", "no libcuda.so.1 or libnvidia-ml.so.1 in " + fmt::format("{}", fmt::join(s.driver_files.library_dirs, ", "))});
    f.fix.push_back(install_driver_fix(ctx));
    out.push_back(std::move(f));
    return;
  }
  f.cause = "driver_not_loaded";
  add_module_evidence(ctx, f);
  if (installed_for_running) {
    f.title = "The NVIDIA driver is installed but its kernel module is not loaded";
    f.evidence.push_back({km.nvidia_module_files.front(), "installed for the running kernel " + release});
    for (const auto& b : km.blacklists) {
      if (b.said.find("nvidia") != std::string::npos &&
          (b.said.rfind("blacklist", 0) == 0 || b.said.rfind("install", 0) == 0 || b.where == "/proc/cmdline")) {
        f.evidence.push_back(b);
        f.title = "The NVIDIA kernel module is blocked from loading";
        f.fix.push_back("Remove the line that blocks it: " + b.where + ": " + b.said);
      }
    }
    if (s.secure_boot.enabled.is(true)) {
      f.evidence.push_back({"Secure Boot", "enabled (the module's signature could not be checked: " +
                                               km.nvidia_module_signed.reason + ")"});
    }
    f.fix.push_back("sudo modprobe nvidia && sudo modprobe nvidia-uvm   (then read the reason of any failure in: sudo dmesg | grep -i nvidia)");
    if (s.secure_boot.enabled.is(true))
      f.fix.push_back("If modprobe says \"Key was rejected by service\", enroll the module key: sudo mokutil --import /var/lib/dkms/mok.pub, then reboot.");
  } else if (installed_elsewhere) {
    f.title = fmt::format("The NVIDIA module was built for {} but not for the running kernel {}",
                          fmt::join(km.kernels_with_nvidia_module, ", "), release.empty() ? "(unknown)" : release);
    for (const auto& k : km.kernels_with_nvidia_module) f.evidence.push_back({"/lib/modules/" + k, "has an nvidia module"});
    f.evidence.push_back({"/lib/modules/" + release, "has no nvidia module"});
    for (const auto& d : km.dkms_status) f.evidence.push_back(d);
    f.fix.push_back("The kernel was updated and DKMS did not rebuild the module for it: " + headers_fix(ctx));
    f.fix.push_back("Then load it (sudo modprobe nvidia) or reboot; or boot the older kernel " + km.kernels_with_nvidia_module.back() + ".");
  } else {
    f.title = "The NVIDIA user-space driver is installed but its kernel module was never built";
    for (const auto& l : s.driver_files.libraries) f.evidence.push_back({l.path, "present" + (l.version.known() ? " (" + *l.version + ")" : std::string())});
    f.evidence.push_back({"/lib/modules", "no nvidia module for any kernel"});
    for (const auto& d : km.dkms_status) f.evidence.push_back(d);
    f.fix.push_back("Build it: " + headers_fix(ctx) + "   (or reinstall the driver package so that DKMS builds it)");
    f.fix.push_back("Then: sudo modprobe nvidia, or reboot");
  }
  out.push_back(std::move(f));
}

void rule_nouveau(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  std::vector<const PciGpu*> on_nouveau;
  for (const auto& p : s.pci_gpus)
    if (p.driver.is("nouveau")) on_nouveau.push_back(&p);
  bool loaded = s.modules.loaded("nouveau");
  if (on_nouveau.empty() && !(loaded && !ctx.module_loaded() && ctx.nvidia_on_pci())) return;
  Finding f;
  f.cause = "nouveau_loaded";
  f.layer = Layer::driver;
  f.title = "The open-source nouveau driver holds the GPU, so the NVIDIA driver cannot";
  for (const auto* p : on_nouveau) f.evidence.push_back({"/sys/bus/pci/devices/" + p->address + "/driver", "nouveau"});
  if (loaded) f.evidence.push_back({"/proc/modules", "nouveau loaded"});
  bool blacklisted = false;
  for (const auto& b : s.modules.blacklists) {
    if (b.said.find("nouveau") != std::string::npos) {
      blacklisted = true;
      f.evidence.push_back(b);
    }
  }
  if (blacklisted) {
    f.title += " (it is blacklisted, but the initramfs still loads it)";
    f.fix.push_back(initramfs_fix(ctx) + "   (the blacklist takes effect only in a regenerated initramfs)");
  } else {
    f.fix.push_back("printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf");
    f.fix.push_back(initramfs_fix(ctx));
  }
  f.fix.push_back("sudo reboot");
  f.explains = {"driver_not_loaded", "driver_not_installed"};
  out.push_back(std::move(f));
}

void rule_driver_version_mismatch(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (ctx.wsl()) return;
  Finding f;
  f.cause = "driver_library_mismatch";
  f.layer = Layer::driver;
  bool certain = false;
  auto module = ctx.module_version();
  auto lib = ctx.loaded_libcuda();
  if (ctx.nvml_init_is("driver_library_mismatch")) {
    certain = true;
    f.evidence.push_back(ctx.nvml_init_evidence());
  }
  if (ctx.cuda_init_is("driver_library_mismatch")) {
    certain = true;
    f.evidence.push_back(ctx.cuda_init_evidence());
  }
  std::string api_line;
  if (log_has(ctx, {"api_mismatch"}, &api_line)) {
    certain = true;
    f.evidence.push_back({s.kernel_log.source.value_or("kernel log"), api_line});
  }
  // The user-space version: what NVML itself reports, else the version in libcuda's file name.
  std::optional<std::string> user_space;
  std::string user_space_source;
  if (ctx.nvml_init_ok() && s.driver.nvml.driver_version.known()) {
    user_space = *s.driver.nvml.driver_version;
    user_space_source = "nvmlSystemGetDriverVersion (" + s.driver.nvml.library.value_or("libnvidia-ml.so.1") + ")";
  } else if (lib && lib->version.known() && lib->resolved.find("/compat/") == std::string::npos) {
    user_space = *lib->version;
    user_space_source = lib->path;
  }
  bool versions_differ = module && user_space && *user_space != *module;
  if (!certain && !versions_differ) return;
  if (module) {
    f.evidence.push_back({s.modules.modules.count("nvidia") && s.modules.modules.at("nvidia").version.known()
                              ? "/sys/module/nvidia/version"
                              : "/proc/driver/nvidia/version",
                          "kernel module " + *module});
  }
  if (user_space) f.evidence.push_back({user_space_source, "user-space driver " + *user_space});
  else if (lib) f.evidence.push_back({lib->path, "user-space driver of unknown version"});
  std::vector<std::string> versions;
  for (const auto& l : s.driver_files.libraries)
    if (l.version.known() && std::find(versions.begin(), versions.end(), *l.version) == versions.end()) versions.push_back(*l.version);
  f.title = fmt::format("The NVIDIA kernel module ({}) and the user-space driver ({}) are of different versions",
                        module.value_or("unknown version"), user_space.value_or("unknown version"));
  f.fix.push_back("The driver was upgraded while the old module stayed loaded: reboot.");
  f.fix.push_back("Without a reboot: stop every program that uses the GPU, then: sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia nvidia_uvm");
  if (versions.size() > 1) {
    f.fix.push_back("Several driver versions are installed (" + fmt::format("{}", fmt::join(versions, ", ")) +
                    "): remove the packages of the one that does not match the module, then run sudo ldconfig.");
  }
  f.explains = {"uvm_module_missing"};
  out.push_back(std::move(f));
}

void rule_uvm(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (ctx.wsl() || !ctx.module_loaded()) return;
  const DeviceNode* node = s.node("/dev/nvidia-uvm");
  bool node_ok = node != nullptr && node->exists;
  bool loaded = s.modules.loaded("nvidia_uvm");
  auto code = ctx.cuda_init_code();

  if (ctx.cuda_init_is("unknown") && loaded && node_ok && s.suspend_count.value_or(0) > 0) {
    Finding f;
    f.cause = "uvm_broken_after_suspend";
    f.layer = Layer::driver;
    f.title = "cuInit fails with an unknown error after the machine was suspended: nvidia_uvm needs a reload";
    f.evidence.push_back(ctx.cuda_init_evidence());
    f.evidence.push_back({"/sys/power/suspend_stats/success", fmt::format("{} suspend(s) since boot", *s.suspend_count)});
    f.evidence.push_back({"/proc/modules", "nvidia_uvm loaded"});
    f.fix.push_back("sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm   (stop GPU programs first; or reboot)");
    f.fix.push_back("To keep it from recurring, enable the driver's suspend support: sudo systemctl enable nvidia-suspend.service nvidia-resume.service");
    out.push_back(std::move(f));
    return;
  }
  if (loaded && node_ok) return;
  if (ctx.cuda_init_ok()) return;  // libcuda loaded it on demand (nvidia-modprobe)
  bool can_autoload = s.driver_files.nvidia_modprobe_setuid.is(true);
  if (!code && can_autoload && !s.platform.container) return;  // not probed: the first CUDA call will load it
  Finding f;
  f.cause = "uvm_module_missing";
  f.layer = Layer::driver;
  f.severity = code ? Severity::error : Severity::warning;
  if (!loaded) f.evidence.push_back({"/proc/modules", "nvidia loaded, nvidia_uvm not loaded"});
  if (!node_ok) f.evidence.push_back({"/dev/nvidia-uvm", "missing"});
  if (code) f.evidence.push_back(ctx.cuda_init_evidence());
  f.evidence.push_back({"nvidia-modprobe", s.driver_files.nvidia_modprobe_setuid.is(true) ? "present, setuid root"
                                                                                          : "not available to load the module on demand"});
  if (s.platform.container && loaded) {
    f.title = "The container has no /dev/nvidia-uvm, which CUDA needs";
    f.fix.push_back("On the host: sudo nvidia-modprobe -u -c=0 (creates /dev/nvidia-uvm), then restart the container.");
  } else {
    f.title = "The nvidia_uvm module is not loaded, so CUDA cannot initialize";
    f.fix.push_back("sudo modprobe nvidia-uvm   (or: sudo nvidia-modprobe -u -c=0, which also creates /dev/nvidia-uvm)");
    f.fix.push_back("Load it at every boot: echo nvidia-uvm | sudo tee /etc/modules-load.d/nvidia-uvm.conf");
  }
  out.push_back(std::move(f));
}

void rule_device_permissions(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (ctx.wsl()) return;
  Finding f;
  f.cause = "device_permissions";
  f.layer = Layer::driver;
  std::vector<const DeviceNode*> denied;
  for (const auto& n : s.device_nodes) {
    if (!n.exists || n.path == "/dev/dxg" || n.path == "/dev/nvidia-modeset" || n.path == "/dev/nvidia-uvm-tools") continue;
    if (n.accessible.is(false)) denied.push_back(&n);
  }
  auto nvml = ctx.nvml_init_code();
  bool nvml_denied = ctx.nvml_init_is("no_permission");
  bool cgroup_denied = s.platform.container && (ctx.nvml_init_is("operating_system") || ctx.nvml_init_is("unknown")) && denied.empty() &&
                       !ctx.gpu_nodes().empty();
  if (denied.empty() && !nvml_denied && !cgroup_denied) return;
  std::string groups = fmt::format("{}", fmt::join(s.user.group_names, ", "));
  for (const auto* n : denied) {
    f.evidence.push_back({n->path, fmt::format("mode {:04o}, owner uid {}, group {}; not readable and writable by uid {} "
                                               "(groups: {})",
                                               n->mode.value_or(0), n->uid.value_or(0),
                                               n->group_name.value_or(std::to_string(n->gid.value_or(0))), s.user.uid,
                                               groups)});
  }
  if (nvml && (nvml_denied || cgroup_denied)) f.evidence.push_back(ctx.nvml_init_evidence());
  if (ctx.cuda_init_code()) f.evidence.push_back(ctx.cuda_init_evidence());
  if (cgroup_denied) {
    f.title = "The container lost access to the GPU device nodes (device cgroup)";
    f.fix.push_back(
        "Restart the container. This happens to long-running containers after the host runs systemctl "
        "daemon-reload; the NVIDIA Container Toolkit documents the fix: sudo nvidia-ctk system "
        "create-dev-char-symlinks --create-all on the host, or use the cgroupfs driver.");
    out.push_back(std::move(f));
    return;
  }
  f.title = "This user may not open the NVIDIA device nodes";
  std::string group;
  for (const auto* n : denied) {
    if (n->group_name.known() && (n->mode.value_or(0) & 0060U) == 0060U && *n->group_name != "root") group = *n->group_name;
  }
  if (!group.empty()) {
    f.fix.push_back(fmt::format("sudo usermod -aG {} \"$USER\", then log out and in again (the group applies to new logins)",
                                escape::shell(group)));
  } else {
    f.fix.push_back(
        "The nodes are for root only. Let the driver create them readable by all (the default): remove "
        "NVreg_DeviceFileMode / NVreg_DeviceFileGID overrides from /etc/modprobe.d, or set "
        "'options nvidia NVreg_DeviceFileMode=0666', then reboot.");
  }
  out.push_back(std::move(f));
}

void rule_driver_call_failed(const RuleContext& ctx, std::vector<Finding>& out) {
  auto code = ctx.cuda_init_code();
  if (!code) return;
  if (ctx.kb.cuda_error_is(*code, "system_not_ready")) {
    Finding f;
    f.cause = "fabric_manager_not_running";
    f.layer = Layer::driver;
    f.title = "CUDA reports the system not yet initialized: on an NVSwitch system, nvidia-fabricmanager is not running";
    f.evidence.push_back(ctx.cuda_init_evidence());
    f.fix.push_back(
        "sudo systemctl enable --now nvidia-fabricmanager   (its version must equal the driver's: "
        "nvidia-smi -q | grep 'Driver Version')");
    f.fix.push_back(
        "On a system without NVSwitch, 802 comes from a known KASLR+HMM issue: add 'options nvidia_uvm "
        "uvm_disable_hmm=1' to /etc/modprobe.d and reboot.");
    out.push_back(std::move(f));
  } else if (bool stub = ctx.kb.cuda_error_is(*code, "stub_library"); stub || ctx.kb.cuda_error_is(*code, "compat_not_supported")) {
    auto lib = ctx.loaded_libcuda();
    Finding f;
    f.cause = "conflicting_cuda_installs";
    f.layer = Layer::libraries;
    f.title = stub ? "The CUDA toolkit's stub libcuda is loaded instead of the driver's"
                   : "A forward-compatibility libcuda (cuda-compat) is loaded on a GPU that does not support it";
    f.evidence.push_back(ctx.cuda_init_evidence());
    if (lib) f.evidence.push_back({"libcuda.so.1", lib->path});
    if (const auto* ld = ctx.s.env_var("LD_LIBRARY_PATH")) f.evidence.push_back({"env LD_LIBRARY_PATH", *ld});
    f.fix.push_back(stub ? "Remove the toolkit's stubs folder (…/lib64/stubs) from LD_LIBRARY_PATH and from /etc/ld.so.conf.d, then sudo ldconfig"
                         : "Remove the compat folder (/usr/local/cuda*/compat) from LD_LIBRARY_PATH and /etc/ld.so.conf.d, "
                           "or upgrade the host driver to one that supports this CUDA version");
    out.push_back(std::move(f));
  }
}

}  // namespace gpudoctor
