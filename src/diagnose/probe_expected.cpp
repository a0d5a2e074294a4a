// What a probed card should deliver, from the knowledge base (kb/data/gpu_performance.toml): its
// model's row by PCI device id or name, else its architecture's per-SM rates; and the names of
// NVML's clock-event reasons.
#include <fmt/format.h>

#include "diagnose/probe_rules.hpp"

namespace gpudoctor::probe_rules {

std::string reason_names(std::uint64_t bits) {
  static const std::pair<std::uint64_t, const char*> k_names[] = {
      {k_applications_clocks, "applications clocks setting"},
      {k_sw_power_cap, "software power cap"},
      {k_hw_slowdown, "hardware slowdown"},
      {0x10, "sync boost"},
      {k_sw_thermal, "software thermal slowdown"},
      {k_hw_thermal, "hardware thermal slowdown"},
      {k_hw_power_brake, "hardware power brake"},
      {0x100, "display clocks setting"},
  };
  std::string out;
  for (const auto& [bit, name] : k_names)
    if ((bits & bit) != 0) out += (out.empty() ? "" : ", ") + std::string(name);
  return out.empty() ? "none" : out;
}

Expected expected_for(const GpuProbe& g, const kb::KnowledgeBase& kb) {
  Expected e;
  std::optional<unsigned> id;
  if (g.pci_device_id.known()) id = *g.pci_device_id;
  if (const auto* m = kb.gpu_model(id, g.name)) {
    e.memory_gbs = m->memory_bandwidth_gbs;
    if (m->bf16_tflops) e.tflops["bf16"] = *m->bf16_tflops;
    if (m->fp16_tflops) e.tflops["fp16"] = *m->fp16_tflops;
    if (m->tf32_tflops) e.tflops["tf32"] = *m->tf32_tflops;
    if (m->fp32_tflops) e.tflops["fp32"] = *m->fp32_tflops;
    e.compute_basis = e.memory_basis = m->name + " datasheet";
  } else if (const auto* a = kb.arch_rates(g.cc_major, g.cc_minor);
             a != nullptr && g.multiprocessors.known() && g.sm_clock_peak_khz.known()) {
    double ghz = *g.sm_clock_peak_khz / 1e6;
    double sms = *g.multiprocessors;
    bool geforce = g.name.find("GeForce") != std::string::npos;
    double tensor = geforce ? a->geforce_tensor_factor : 1.0;
    auto rate = [&](std::optional<double> per_sm, double factor) { return sms * ghz * *per_sm * factor / 1e3; };
    if (a->bf16) e.tflops["bf16"] = rate(a->bf16, tensor);
    if (a->fp16) e.tflops["fp16"] = rate(a->fp16, tensor);
    if (a->tf32) e.tflops["tf32"] = rate(a->tf32, tensor);
    if (a->fp32) e.tflops["fp32"] = rate(a->fp32, 1.0);
    e.compute_basis = fmt::format("{} SMs x {:.0f} MHz, {} rates{}", *g.multiprocessors, ghz * 1e3, a->name,
                                  geforce && tensor != 1.0 ? " (GeForce tensor rate)" : "");
  }
  if (!e.memory_gbs && g.memory_clock_peak_khz.known() && g.memory_bus_width_bits.known() &&
      *g.memory_clock_peak_khz > 0 && *g.memory_bus_width_bits > 0) {
    // Double data rate: two transfers per reported memory clock (what NVIDIA's bandwidthTest assumes).
    e.memory_gbs = 2.0 * *g.memory_clock_peak_khz * 1e3 * (*g.memory_bus_width_bits / 8.0) / 1e9;
    e.memory_basis = fmt::format("{} MHz memory clock x {}-bit bus", *g.memory_clock_peak_khz / 1000,
                                 *g.memory_bus_width_bits);
  }
  const auto& t = g.telemetry;
  if (t.pcie_gen_max.known() && t.pcie_width_max.known()) {
    if (auto lane = kb.pcie_lane_gbs(*t.pcie_gen_max)) {
      e.pcie_gbs = *lane * *t.pcie_width_max;
      e.pcie_basis = fmt::format("PCIe gen {} x{} (what the GPU supports)", *t.pcie_gen_max, *t.pcie_width_max);
    }
  }
  return e;
}

Finding make(const std::string& cause, Layer layer, Severity sev, std::string title) {
  Finding f;
  f.cause = cause;
  f.layer = layer;
  f.severity = sev;
  f.title = std::move(title);
  return f;
}

}  // namespace gpudoctor::probe_rules
