#include "collect/collect.hpp"
#include "collect/parsers.hpp"

namespace gpudoctor {

void collect_nvidia_proc(CollectContext& ctx) {
  auto& np = ctx.snapshot.nvidia_proc;
  if (auto text = ctx.fs.read_text("/proc/driver/nvidia/version", 4096)) {
    np.version_file_present = true;
    auto v = parse::nvidia_version(*text);
    np.version_banner = v.banner;
    np.module_version = v.version ? Fact<std::string>(*v.version)
                                  : Fact<std::string>::unknown("no version in /proc/driver/nvidia/version");
    np.module_flavour = v.flavour ? Fact<std::string>(*v.flavour) : Fact<std::string>::unknown("banner not recognized");
  } else {
    np.module_version = Fact<std::string>::unknown("/proc/driver/nvidia/version not present");
    np.module_flavour = np.module_version;
  }
  const std::string base = "/proc/driver/nvidia/gpus";
  for (const auto& bdf : ctx.fs.list_dir(base)) {
    if (auto info = ctx.fs.read_text(base + "/" + bdf + "/information", 16 * 1024)) {
      np.gpus.push_back(parse::gpu_information(*info, bdf));
    }
  }
}

}  // namespace gpudoctor
