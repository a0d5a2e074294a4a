#include "collect/collect.hpp"
#include "collect/parsers.hpp"

namespace gpudoctor {

namespace {
constexpr std::uint32_t k_vendor_nvidia = 0x10de;
// PCI base class 0x03 (display): 0x0300 VGA, 0x0302 3D controller, 0x0380 other display.
bool is_display_class(std::uint32_t class_code) { return (class_code >> 16U) == 0x03; }
}  // namespace

void collect_pci(CollectContext& ctx) {
  const std::string base = "/sys/bus/pci/devices";
  ctx.snapshot.pci_scanned = ctx.fs.is_dir(base);
  for (const auto& addr : ctx.fs.list_dir(base)) {
    std::string dir = path_join(base, addr);
    auto vendor = ctx.fs.read_text(path_join(dir, "vendor"), 64);
    auto cls = ctx.fs.read_text(path_join(dir, "class"), 64);
    if (!vendor || !cls) continue;
    auto vendor_id = parse::hex_number(*vendor);
    auto class_code = parse::hex_number(*cls);
    if (!vendor_id || !class_code || !is_display_class(*class_code)) continue;

    PciGpu gpu;
    gpu.address = addr;
    gpu.vendor_id = *vendor_id;
    gpu.class_code = *class_code;
    if (auto dev = ctx.fs.read_text(path_join(dir, "device"), 64)) gpu.device_id = parse::hex_number(*dev).value_or(0);
    if (auto link = ctx.fs.read_link(path_join(dir, "driver"))) {
      gpu.driver = std::string(path_basename(*link));
    } else {
      gpu.driver = Fact<std::string>::unknown("no driver bound (no driver link in sysfs)");
    }
    auto speed = [&](const char* file) -> Fact<double> {
      auto t = ctx.fs.read_text(path_join(dir, file), 64);
      if (!t) return Fact<double>::unknown(std::string(file) + " not present");
      if (auto v = parse::link_speed_gts(*t)) return *v;
      return Fact<double>::unknown(std::string(file) + " says \"" + std::string(parse::trim(*t)) + "\"");
    };
    auto number = [&](const char* file) -> Fact<int> {
      auto t = ctx.fs.read_text(path_join(dir, file), 64);
      if (!t) return Fact<int>::unknown(std::string(file) + " not present");
      if (auto v = parse::decimal(*t)) return *v;
      return Fact<int>::unknown(std::string(file) + " says \"" + std::string(parse::trim(*t)) + "\"");
    };
    gpu.current_link_gts = speed("current_link_speed");
    gpu.max_link_gts = speed("max_link_speed");
    gpu.current_link_width = number("current_link_width");
    gpu.max_link_width = number("max_link_width");
    gpu.numa_node = number("numa_node");
    if (gpu.vendor_id == k_vendor_nvidia) ctx.snapshot.pci_gpus.push_back(std::move(gpu));
    else ctx.snapshot.pci_other_display.push_back(std::move(gpu));
  }
}

}  // namespace gpudoctor
