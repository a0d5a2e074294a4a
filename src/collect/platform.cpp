#include <algorithm>
#include <cctype>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"

namespace gpudoctor {

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}
}  // namespace

void collect_platform(CollectContext& ctx) {
  auto& p = ctx.snapshot.platform;
  const auto& fs = ctx.fs;
  auto note = [&](const std::string& kind, Source s) {
    if (!p.container) p.container_kind = kind;
    p.container = true;
    p.container_evidence.push_back(std::move(s));
  };
  if (fs.exists("/.dockerenv")) note("docker", {"/.dockerenv", "present (created by Docker in every container)"});
  if (fs.exists("/run/.containerenv")) note("podman", {"/run/.containerenv", "present (created by Podman)"});
  if (auto cg = fs.read_text("/proc/1/cgroup", 64 * 1024)) {
    if (auto kind = parse::cgroup_container(*cg)) note(*kind, {"/proc/1/cgroup", std::string(parse::trim(*cg))});
  }
  const auto& env = ctx.options.environment;
  if (ctx.fs.is_host()) {
    if (auto it = env.find("KUBERNETES_SERVICE_HOST"); it != env.end())
      note("kubernetes", {"env KUBERNETES_SERVICE_HOST", "set (a Kubernetes pod)"});
    if (auto it = env.find("container"); it != env.end() && !it->second.empty())
      note(it->second, {"env container", it->second});
  }

  std::string release = lower(ctx.snapshot.host.kernel_release.value_or(""));
  if (release.find("microsoft") != std::string::npos || release.find("wsl") != std::string::npos) {
    p.wsl = true;
    p.wsl_evidence.push_back({"/proc/sys/kernel/osrelease", ctx.snapshot.host.kernel_release.value_or("")});
  }
  p.dxg_present = fs.exists("/dev/dxg");
  if (p.dxg_present) {
    p.wsl = true;
    p.wsl_evidence.push_back({"/dev/dxg", "present (the WSL2 GPU paravirtualization device)"});
  }
  for (const auto& name : fs.list_dir("/usr/lib/wsl/lib")) {
    if (name.rfind("libcuda", 0) == 0 || name.rfind("libnvidia-ml", 0) == 0 || name == "nvidia-smi")
      p.wsl_driver_libraries.push_back("/usr/lib/wsl/lib/" + name);
  }
  if (!p.wsl_driver_libraries.empty() && !p.wsl) {
    p.wsl = true;
    p.wsl_evidence.push_back({"/usr/lib/wsl/lib", "holds the Windows driver's CUDA libraries"});
  }
}

}  // namespace gpudoctor
