#include <fnmatch.h>

#include <algorithm>

#include "collect/collect.hpp"
#include "core/path.hpp"
#include "collect/parsers.hpp"
#include "core/version.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

namespace {

void add_conf(const RootFs& fs, const std::string& path, std::vector<std::string>& dirs, int depth) {
  if (depth > 8) return;
  auto text = fs.read_text(path, 256 * 1024);
  if (!text) return;
  auto conf = parse::ld_so_conf(*text);
  for (auto& d : conf.dirs) dirs.push_back(d);
  for (const auto& pattern : conf.includes) {
    std::string pat = pattern.front() == '/' ? pattern : path_dirname(path) + "/" + pattern;
    std::string dir = path_dirname(pat);
    std::string glob(path_basename(pat));
    for (const auto& name : fs.list_dir(dir)) {
      if (::fnmatch(glob.c_str(), name.c_str(), 0) == 0) add_conf(fs, dir + "/" + name, dirs, depth + 1);
    }
  }
}

}  // namespace

void collect_driver_files(CollectContext& ctx) {
  auto& df = ctx.snapshot.driver_files;
  const auto& fs = ctx.fs;
  std::vector<std::string> dirs;
  const auto& env = ctx.options.environment;
  if (fs.is_host()) {
    if (auto it = env.find("LD_LIBRARY_PATH"); it != env.end())
      for (auto& d : absolute_folders(it->second)) dirs.push_back(d);
  }
  add_conf(fs, "/etc/ld.so.conf", dirs, 0);
  for (const auto& d : kb::KnowledgeBase::get().library_dirs()) dirs.push_back(d);

  std::vector<std::string> seen_resolved;
  for (const auto& dir : dirs) {
    auto resolved_dir = fs.resolve(dir);
    if (!resolved_dir || std::find(seen_resolved.begin(), seen_resolved.end(), *resolved_dir) != seen_resolved.end())
      continue;
    seen_resolved.push_back(*resolved_dir);
    df.library_dirs.push_back(dir);
    for (const auto& name : fs.list_dir(dir)) {
      bool cuda = name.rfind("libcuda.so", 0) == 0;
      bool nvml = name.rfind("libnvidia-ml.so", 0) == 0;
      if (!cuda && !nvml) continue;
      std::string stem = cuda ? "libcuda.so." : "libnvidia-ml.so.";
      bool soname_link = name == stem + "1";
      auto own_version = version_from_library_name(name, stem);
      if (!soname_link && !own_version) continue;  // libcuda.so (dev link) and others
      DriverLibraryFile f;
      f.name = name;
      f.path = dir + "/" + name;
      auto target = fs.resolve(f.path);
      f.resolved = target.value_or("");
      if (!target) {
        f.version = Fact<std::string>::unknown("dangling link");
      } else if (auto v = version_from_library_name(path_basename(*target), stem)) {
        f.version = *v;
      } else {
        f.version = Fact<std::string>::unknown("file name " + std::string(path_basename(*target)) + " carries no version");
      }
      df.libraries.push_back(std::move(f));
    }
  }

  std::vector<std::string> bin_dirs;
  if (fs.is_host()) {
    if (auto it = env.find("PATH"); it != env.end()) bin_dirs = absolute_folders(it->second);
  }
  for (const char* d : {"/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin", "/usr/local/nvidia/bin", "/usr/lib/wsl/lib"})
    bin_dirs.emplace_back(d);
  df.nvidia_smi = Fact<std::string>::unknown("nvidia-smi not found on PATH or the usual folders");
  for (const auto& d : bin_dirs) {
    if (auto st = fs.stat(d + "/nvidia-smi"); st && S_ISREG(st->st_mode)) {
      df.nvidia_smi = d + "/nvidia-smi";
      break;
    }
  }
  df.nvidia_modprobe_setuid = Fact<bool>::unknown("nvidia-modprobe not found");
  for (const auto& d : bin_dirs) {
    if (auto st = fs.stat(d + "/nvidia-modprobe"); st && S_ISREG(st->st_mode)) {
      df.nvidia_modprobe_setuid = (st->st_mode & S_ISUID) != 0 && st->st_uid == 0;
      break;
    }
  }
}

}  // namespace gpudoctor
