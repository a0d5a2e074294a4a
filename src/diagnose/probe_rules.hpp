#pragma once
// What the probe's rules share (internal to gd_diagnose): what a card should deliver, from the
// knowledge base (probe_expected.cpp), the names of NVML's clock-event reasons, and the finding
// they build. rules_probe.cpp judges each GPU's figures, rules_probe_multi_gpu.cpp what several
// GPUs showed together.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/finding.hpp"
#include "core/snapshot.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor::probe_rules {

// nvmlClocksEventReasons bits (nvml.h) that mean the hardware or its cooling holds the clocks down.
constexpr std::uint64_t k_sw_power_cap = 0x4, k_hw_slowdown = 0x8, k_sw_thermal = 0x20, k_hw_thermal = 0x40,
                        k_hw_power_brake = 0x80, k_applications_clocks = 0x2;

/// The names of the bits set in a clock-event reasons mask ("none" when none is).
std::string reason_names(std::uint64_t bits);

/// What one GPU should deliver (gpu_performance.toml: its model's row, else its architecture's).
struct Expected {
  std::optional<double> memory_gbs, pcie_gbs;
  std::map<std::string, double> tflops;  // by precision
  std::string compute_basis, memory_basis, pcie_basis;
};
Expected expected_for(const GpuProbe& g, const kb::KnowledgeBase& kb);

Finding make(const std::string& cause, Layer layer, Severity sev, std::string title);

}  // namespace gpudoctor::probe_rules
