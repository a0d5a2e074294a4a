#include "diagnose/rule_context.hpp"

#include <fmt/format.h>

#include "core/version.hpp"

namespace gpudoctor {

std::optional<int> RuleContext::cuda_init_code() const {
  if (!s.driver.cuda.init.known()) return std::nullopt;
  return s.driver.cuda.init->code;
}

std::optional<int> RuleContext::nvml_init_code() const {
  if (!s.driver.nvml.init.known()) return std::nullopt;
  return s.driver.nvml.init->code;
}

bool RuleContext::gpu_seen() const {
  return nvidia_on_pci() || !s.nvidia_proc.gpus.empty() || nvml_device_count() > 0 || cuda_device_count() > 0;
}

bool RuleContext::module_loaded() const { return s.modules.loaded("nvidia") || s.nvidia_proc.version_file_present; }

std::optional<std::string> RuleContext::module_version() const {
  auto it = s.modules.modules.find("nvidia");
  if (it != s.modules.modules.end() && it->second.version.known()) return *it->second.version;
  if (s.nvidia_proc.module_version.known()) return *s.nvidia_proc.module_version;
  return std::nullopt;
}

std::optional<DriverLibraryFile> RuleContext::loaded_libcuda() const {
  if (probe_sees_root() && s.driver.cuda.library.known()) {
    DriverLibraryFile f;
    f.name = "libcuda.so.1";
    f.path = *s.driver.cuda.library;
    f.resolved = f.path;
    auto slash = f.path.rfind('/');
    std::string base = slash == std::string::npos ? f.path : f.path.substr(slash + 1);
    if (auto v = version_from_library_name(base, "libcuda.so.")) f.version = *v;
    else f.version = Fact<std::string>::unknown("file name " + base + " carries no version");
    return f;
  }
  for (const auto& f : s.driver_files.libraries)
    if (f.name == "libcuda.so.1") return f;
  return std::nullopt;
}

std::vector<const DeviceNode*> RuleContext::gpu_nodes() const {
  std::vector<const DeviceNode*> out;
  for (const auto& n : s.device_nodes) {
    if (!n.exists) continue;
    std::string_view p = n.path;
    if (p.size() > 11 && p.substr(0, 11) == "/dev/nvidia" && p[11] >= '0' && p[11] <= '9') out.push_back(&n);
  }
  return out;
}

PackageManager RuleContext::package_manager() const {
  std::string ids = s.host.os_id.value_or("") + " " + s.host.os_id_like.value_or("");
  auto has = [&](const char* w) { return ids.find(w) != std::string::npos; };
  if (has("debian") || has("ubuntu")) return PackageManager::apt;
  if (has("rhel") || has("fedora") || has("centos") || has("rocky") || has("almalinux")) return PackageManager::dnf;
  if (has("suse")) return PackageManager::zypper;
  if (has("arch")) return PackageManager::pacman;
  return PackageManager::none;
}

std::string RuleContext::describe_cuda_code(int code) const {
  if (const auto* e = kb.cuda_error(code)) return fmt::format("{} ({}): {}", e->name, code, e->meaning);
  return fmt::format("CUresult {}", code);
}

std::string RuleContext::describe_nvml_code(int code) const {
  if (const auto* e = kb.nvml_error(code)) return fmt::format("{} ({}): {}", e->name, code, e->meaning);
  return fmt::format("nvmlReturn_t {}", code);
}

Source RuleContext::nvml_init_evidence() const {
  const auto& n = s.driver.nvml;
  if (!n.library.known()) {
    return {"dlopen(libnvidia-ml.so.1)", n.load_error.failed() ? n.load_error.error : "not loaded"};
  }
  if (!n.init.known()) return {"nvmlInit_v2", n.init.reason};
  return {"nvmlInit_v2 (" + *n.library + ")",
          fmt::format("{} ({}){}", n.init->name, n.init->code, n.init->message.empty() ? "" : ": \"" + n.init->message + "\"")};
}

Source RuleContext::cuda_init_evidence() const {
  const auto& c = s.driver.cuda;
  if (!c.library.known()) return {"dlopen(libcuda.so.1)", c.load_error.failed() ? c.load_error.error : "not loaded"};
  if (!c.init.known()) return {"cuInit(0) (" + *c.library + ")", c.init.reason};
  std::string extra = c.init->ok() ? fmt::format(", {} device(s)", cuda_device_count()) : "";
  return {"cuInit(0) (" + *c.library + ")",
          fmt::format("{} ({}){}{}", c.init->name, c.init->code,
                      c.init->message.empty() ? "" : ": \"" + c.init->message + "\"", extra)};
}

}  // namespace gpudoctor
