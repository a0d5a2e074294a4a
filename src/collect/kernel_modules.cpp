#include "collect/collect.hpp"
#include "core/path.hpp"
#include "collect/parsers.hpp"

#include <algorithm>

namespace gpudoctor {

namespace {

constexpr const char* k_watched[] = {"nvidia", "nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nouveau"};
constexpr std::string_view k_signature_marker = "~Module signature appended~\n";

bool is_nvidia_module_path(std::string_view path) {
  auto base = path_basename(path);
  return base == "nvidia.ko" || base == "nvidia.ko.xz" || base == "nvidia.ko.zst" || base == "nvidia.ko.gz";
}

// Paths of nvidia.ko* in a modules.dep text ("kernel/nvidia-580/nvidia.ko: ..." per line).
std::vector<std::string> nvidia_modules_in_dep(std::string_view dep) {
  std::vector<std::string> out;
  for_each_line(dep, [&](std::string_view line) {
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && is_nvidia_module_path(line.substr(0, colon))) out.emplace_back(line.substr(0, colon));
  });
  return out;
}

std::vector<std::string> nvidia_modules_for_kernel(const RootFs& fs, const std::string& release) {
  std::string dir = "/lib/modules/" + release;
  std::vector<std::string> found;
  if (auto dep = fs.read_text(dir + "/modules.dep", std::size_t{16} << 20)) {
    for (const auto& rel : nvidia_modules_in_dep(*dep)) {
      std::string p = rel.front() == '/' ? rel : dir + "/" + rel;
      if (fs.exists(p)) found.push_back(p);
    }
  }
  // DKMS installs into updates/dkms; before depmod runs it is not in modules.dep yet.
  for (const char* sub : {"/updates/dkms", "/updates", "/extra", "/kernel/drivers/video"}) {
    for (const auto& name : fs.list_dir(dir + sub)) {
      std::string p = dir + sub + "/" + name;
      if (is_nvidia_module_path(p) && std::find(found.begin(), found.end(), p) == found.end()) found.push_back(p);
    }
  }
  return found;
}

}  // namespace

void collect_kernel_modules(CollectContext& ctx) {
  auto& km = ctx.snapshot.modules;
  const auto& fs = ctx.fs;
  std::set<std::string> loaded;
  bool have_proc_modules = false;
  if (auto text = fs.read_text("/proc/modules", std::size_t{4} << 20)) {
    loaded = parse::proc_modules(*text);
    have_proc_modules = true;
  }
  for (const char* name : k_watched) {
    KernelModule m;
    // Built-in modules have /sys/module/NAME but no /proc/modules line.
    m.loaded = loaded.count(name) > 0 || (have_proc_modules ? false : fs.is_dir(std::string("/sys/module/") + name));
    if (!m.loaded && fs.exists(std::string("/sys/module/") + name + "/initstate")) m.loaded = true;
    if (auto v = fs.read_text(std::string("/sys/module/") + name + "/version", 256)) {
      m.version = std::string(parse::trim(*v));
    } else {
      m.version = Fact<std::string>::unknown(std::string("/sys/module/") + name + "/version not present");
    }
    if (auto t = fs.read_text(std::string("/sys/module/") + name + "/taint", 64)) m.taint = std::string(parse::trim(*t));
    else m.taint = Fact<std::string>::unknown("no taint file");
    km.modules[name] = std::move(m);
  }

  const auto& release = ctx.snapshot.host.kernel_release;
  for (const auto& rel : fs.list_dir("/lib/modules")) {
    auto files = nvidia_modules_for_kernel(fs, rel);
    if (files.empty()) continue;
    km.kernels_with_nvidia_module.push_back(rel);
    if (release.is(rel)) km.nvidia_module_files = files;
  }
  km.nvidia_module_signed = Fact<bool>::unknown("no nvidia module file for the running kernel");
  for (const auto& f : km.nvidia_module_files) {
    if (path_basename(f) == "nvidia.ko") {
      auto tail = fs.read_tail(f, k_signature_marker.size());
      if (tail) km.nvidia_module_signed = *tail == k_signature_marker;
      break;
    }
    km.nvidia_module_signed = Fact<bool>::unknown("compressed module (" + std::string(path_basename(f)) +
                                                  "): signature not checked");
  }

  for (const char* dir : {"/etc/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d", "/run/modprobe.d"}) {
    for (const auto& name : fs.list_dir(dir)) {
      if (name.size() < 5 || name.substr(name.size() - 5) != ".conf") continue;
      std::string path = std::string(dir) + "/" + name;
      if (auto text = fs.read_text(path, 256 * 1024)) {
        for (auto& line : parse::modprobe_directives(*text)) km.blacklists.push_back({path, line});
      }
    }
  }
  if (auto cmdline = fs.read_text("/proc/cmdline", 64 * 1024)) {
    for (auto& w : parse::cmdline_directives(*cmdline)) km.blacklists.push_back({"/proc/cmdline", w});
  }
  if (auto n = fs.read_text("/sys/power/suspend_stats/success", 64)) {
    if (auto v = parse::decimal(*n)) ctx.snapshot.suspend_count = *v;
  } else {
    ctx.snapshot.suspend_count = Fact<int>::unknown("/sys/power/suspend_stats/success not present");
  }
  for (const auto& version : fs.list_dir("/var/lib/dkms/nvidia")) {
    std::string vdir = "/var/lib/dkms/nvidia/" + version;
    if (!fs.is_dir(vdir)) continue;
    for (const auto& kernel : fs.list_dir(vdir)) {
      if (kernel == "source" || kernel == "build" || !fs.is_dir(vdir + "/" + kernel)) continue;
      km.dkms_status.push_back({vdir + "/" + kernel, "nvidia " + version + " built for kernel " + kernel});
    }
  }
}

}  // namespace gpudoctor
