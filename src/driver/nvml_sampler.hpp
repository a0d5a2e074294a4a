#pragma once
// The NVML sampler of `gpudoctor run` and `inspect`: a child process (ChildStream) that loads
// libnvidia-ml.so.1, and every interval reads, for each GPU, its compute processes with their
// memory (nvmlDeviceGetComputeRunningProcesses_v3), the per-process SM utilization samples since
// the last time it asked (nvmlDeviceGetProcessUtilization with its timestamps; asked every
// k_process_utilization_period and when the compute processes change, since it costs a hundred
// times the other calls), and the device's
// utilization and memory. A hung or crashing NVML stops the readings, never gpudoctor.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "driver/child_process.hpp"

namespace gpudoctor {

/// How often the sampler asks nvmlDeviceGetProcessUtilization (every reading when the interval is
/// longer).
/// Once a second: at 500 ms its 1.4 ms of CPU per call made the whole watcher 1.05% of one core
/// at the default interval on the H200 (bench/RESULTS.md, 2026-12-04).
inline constexpr std::chrono::milliseconds k_process_utilization_period{1000};

/// A GPU as the sampler found it once, at the start.
struct SampledGpu {
  unsigned index = 0;
  std::string name, uuid, pci_bus_id;
  std::optional<std::uint64_t> memory_total_bytes;
};

struct SampledProcess {
  std::uint32_t pid = 0;  ///< in the driver's PID namespace
  std::optional<std::uint64_t> memory_bytes;  ///< unknown: NVML_VALUE_NOT_AVAILABLE
};

struct SampledProcessUtilization {
  std::uint32_t pid = 0;
  unsigned sm_percent = 0;
  std::uint64_t time_stamp_us = 0;  ///< NVML's CPU timestamp of the sample
};

/// One GPU at one reading; each part absent when its call failed.
struct GpuReading {
  unsigned index = 0;
  std::optional<unsigned> utilization_percent;   ///< nvmlDeviceGetUtilizationRates gpu
  std::optional<std::uint64_t> memory_used_bytes;
  std::optional<std::vector<SampledProcess>> processes;
  /// Samples newer than the previous reading's; an empty list when NVML has none (NOT_FOUND:
  /// nothing ran), absent when the call is not supported or failed.
  std::optional<std::vector<SampledProcessUtilization>> process_utilization;
  /// False on the readings between two asks of nvmlDeviceGetProcessUtilization: the samples of the
  /// last ask still stand.
  bool process_utilization_asked = true;
};

struct NvmlReading {
  double monotonic_s = 0;  ///< CLOCK_MONOTONIC when it was taken (same clock as steady_clock on Linux)
  std::uint64_t realtime_us = 0;  ///< CLOCK_REALTIME, microseconds: the clock of NVML's sample timestamps
  std::vector<GpuReading> gpus;
};

/// What the sampler child reports: first the GPUs (or why NVML cannot be used), then readings.
struct SamplerMessage {
  std::optional<std::string> error;          ///< "libnvidia-ml.so.1 could not be loaded: ...", "nvmlInit_v2 -> ..."
  std::optional<std::vector<SampledGpu>> gpus;
  std::optional<NvmlReading> reading;
};

/// The work of the sampler child (run it in a ChildStream): emits SamplerMessage JSON lines until
/// killed.
void sample_nvml(std::chrono::milliseconds interval, const Emit& emit);

/// Reads one line of the sampler child. nullopt for a line that is not a valid message (bounded:
/// at most 64 GPUs and 1024 processes per GPU are kept).
std::optional<SamplerMessage> parse_sampler_message(const std::string& line);

}  // namespace gpudoctor
