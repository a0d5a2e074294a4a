#pragma once
// The driver probe: loads libnvidia-ml.so.1 and libcuda.so.1 of this machine with dlopen, each in
// its own child process with a time limit, and records what they answer. Runs with the
// environment of gpudoctor itself, so CUDA_VISIBLE_DEVICES applies as it does to the user's program.

#include <chrono>
#include <functional>

#include "core/snapshot.hpp"
#include "driver/child_process.hpp"
#include "driver/cuda_api.hpp"

namespace gpudoctor {

/// The probe started in its child processes; gpudoctor collects files meanwhile.
class DriverProbeInFlight {
 public:
  DriverProbeInFlight();
  /// Waits for the children, `limit` counted from the start, and reads what they found.
  DriverProbe finish(std::chrono::milliseconds limit);

 private:
  ChildGroup m_group;
};

/// Probes NVML and libcuda in parallel child processes; `limit` bounds the whole probe.
DriverProbe probe_driver(std::chrono::milliseconds limit);

/// "GPU-c0ccbdb1-6bd7-cda5-9b46-ab4973d2062e", as nvidia-smi and NVML print a CUDA UUID.
std::string format_cuda_uuid(const cuda::Uuid& u);

/// The probes themselves, run inside the child. `emit` receives the state as JSON after each step.
void probe_nvml(const std::function<void(const NvmlProbe&)>& emit);
void probe_cuda(const std::function<void(const CudaProbe&)>& emit);

}  // namespace gpudoctor
