#pragma once
// NVML readings under load, inside the probe's child: a thread samples the GPU the probe is
// working on every 20 ms (clocks, temperature, power, clock-event reasons, utilization, and the
// PCIe link while host copies run: links train down to gen 1 at idle, so only a reading under
// load says what the link can do). Internal to src/probe/.

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/snapshot.hpp"
#include "driver/library.hpp"
#include "driver/nvml_api.hpp"

namespace gpudoctor::probe {

enum class Load { none,
                  host_copy,
                  compute };

using NvmlFunctions = gpudoctor::nvml::Functions;

class Telemetry {
 public:
  Telemetry();
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  /// Starts following the GPU with this UUID ("GPU-..."); returns its slot, or -1 when NVML
  /// cannot find it (the reason is in `why_not`).
  int track(const std::string& uuid);
  /// The load now running on `slot` (Load::none between steps); each GPU has its own.
  void set_load(int slot, Load load);
  /// Reads the PCIe link of `slot` now, from the calling thread, while it has a host copy in
  /// flight: a copy can end between two of the sampling thread's 20 ms readings (a quick probe's
  /// 32 MiB copies take a few ms; on a loaded machine the thread may not run at all meanwhile), so
  /// the copy step takes one reading itself and the link under load is never left unknown.
  void read_link_now(int slot);
  [[nodiscard]] LoadTelemetry result(int slot) const;
  [[nodiscard]] Fact<unsigned> pci_device_id(int slot) const;
  /// Compute processes on the GPU other than this one.
  [[nodiscard]] std::vector<NvmlProcess> other_processes(int slot) const;
  [[nodiscard]] const std::string& why_not() const { return m_why_not; }

 private:
  void run();
  void sample(std::size_t slot, nvml::Device dev, Load load);

  SharedLibrary m_lib;
  NvmlFunctions m_fn;
  bool m_ready = false;
  std::string m_why_not;
  std::vector<nvml::Device> m_devices;
  std::vector<LoadTelemetry> m_results;
  mutable std::mutex m_mutex;
  std::vector<Load> m_loads;  // by slot
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

}  // namespace gpudoctor::probe
