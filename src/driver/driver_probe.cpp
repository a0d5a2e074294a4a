#include "driver/driver_probe.hpp"

#include <nlohmann/json.hpp>

#include "core/snapshot_json.hpp"
#include "core/utf8.hpp"
#include "driver/child_process.hpp"

namespace gpudoctor {

namespace {
std::vector<ChildWork> probe_jobs() {
  std::vector<ChildWork> jobs;
  jobs.emplace_back([](const Emit& emit) {
    probe_nvml([&](const NvmlProbe& p) { emit(json_text(to_json(p))); });
  });
  jobs.emplace_back([](const Emit& emit) {
    probe_cuda([&](const CudaProbe& p) { emit(json_text(to_json(p))); });
  });
  return jobs;
}
}  // namespace

DriverProbeInFlight::DriverProbeInFlight() : m_group(probe_jobs()) {}

DriverProbe probe_driver(std::chrono::milliseconds limit) {
  DriverProbeInFlight probe;
  return probe.finish(limit);
}

DriverProbe DriverProbeInFlight::finish(std::chrono::milliseconds limit) {
  DriverProbe probe;
  probe.mode = DriverProbeOrigin::host;
  auto reports = m_group.wait(limit);

  probe.nvml_child = reports[0].outcome;
  probe.cuda_child = reports[1].outcome;
  try {
    if (!reports[0].last_state.empty()) probe.nvml = nvml_probe_from_json(nlohmann::json::parse(reports[0].last_state));
  } catch (const std::exception& e) {
    probe.nvml_child.detail += std::string(" (unreadable report: ") + e.what() + ")";
  }
  try {
    if (!reports[1].last_state.empty()) probe.cuda = cuda_probe_from_json(nlohmann::json::parse(reports[1].last_state));
  } catch (const std::exception& e) {
    probe.cuda_child.detail += std::string(" (unreadable report: ") + e.what() + ")";
  }
  probe.nvml.attempted = true;
  probe.cuda.attempted = true;
  return probe;
}

}  // namespace gpudoctor
