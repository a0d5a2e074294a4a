#pragma once
// Our own declarations of the NVML entry points gpudoctor calls (no NVIDIA SDK at build time).
// Layouts and versioned names from nvml.h (NVML 13; verbatim copy in NVIDIA/go-nvml
// gen/nvml/nvml.h), checked on driver 580.159.04 (shared/facts A3). Each function is listed
// once, with the exported names to try, newest first.

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>

namespace gpudoctor::nvml {

using Return = int;  // nvmlReturn_t
using Device = struct nvmlDevice_st*;

inline constexpr unsigned k_name_buffer = 96;     // NVML_DEVICE_NAME_V2_BUFFER_SIZE
inline constexpr unsigned k_uuid_buffer = 96;     // NVML_DEVICE_UUID_V2_BUFFER_SIZE
inline constexpr unsigned k_version_buffer = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

/// The text NVML wrote into a buffer of `cap` bytes: up to its first NUL, never past the buffer.
inline std::string buffer_text(const char* buf, std::size_t cap) { return {buf, strnlen(buf, cap)}; }

struct PciInfo {  // nvmlPciInfo_t, as filled by nvmlDeviceGetPciInfo_v3
  char bus_id_legacy[16];
  unsigned domain;
  unsigned bus;
  unsigned device;
  unsigned pci_device_id;  // (device id << 16) | 0x10de
  unsigned pci_subsystem_id;
  char bus_id[32];  // "00000000:00:06.0"
};

struct Memory {  // nvmlMemory_t (v1), bytes
  unsigned long long total, free, used;
};

struct MemoryV2 {  // nvmlMemory_v2_t, bytes; `used` excludes `reserved`
  unsigned version;
  unsigned long long total, reserved, free, used;
};
/// NVML_STRUCT_VERSION(Memory, 2): sizeof | 2 << 24. A literal 2 gets FUNCTION_NOT_FOUND on R580.
inline constexpr unsigned k_memory_v2_version = static_cast<unsigned>(sizeof(MemoryV2)) | (2U << 24U);

struct ProcessInfo {  // nvmlProcessInfo_t as used by the _v3 process queries
  unsigned pid;
  unsigned long long used_gpu_memory;  // bytes; ~0ULL when not available
  unsigned gpu_instance_id;
  unsigned compute_instance_id;
};
inline constexpr unsigned long long k_value_not_available = ~0ULL;

struct Utilization {  // nvmlUtilization_t, percent over the last sample period
  unsigned gpu, memory;
};
struct ProcessUtilizationSample {  // nvmlProcessUtilizationSample_t
  unsigned pid;
  unsigned long long time_stamp;                   // CPU timestamp of the sample, microseconds
  unsigned sm_util, mem_util, enc_util, dec_util;  // percent
};
inline constexpr int k_clock_sm = 1;                // NVML_CLOCK_SM
inline constexpr int k_clock_mem = 2;               // NVML_CLOCK_MEM
inline constexpr int k_temperature_gpu = 0;         // NVML_TEMPERATURE_GPU
inline constexpr unsigned k_nvlink_max_links = 18;  // NVML_NVLINK_MAX_LINKS (NVML 12 and 13)

// nvmlClocksEventReasons (nvml.h; formerly "clocks throttle reasons"), bits of a 64-bit mask.
inline constexpr unsigned long long k_reason_gpu_idle = 0x1;
inline constexpr unsigned long long k_reason_applications_clocks = 0x2;
inline constexpr unsigned long long k_reason_sw_power_cap = 0x4;
inline constexpr unsigned long long k_reason_hw_slowdown = 0x8;
inline constexpr unsigned long long k_reason_sync_boost = 0x10;
inline constexpr unsigned long long k_reason_sw_thermal = 0x20;
inline constexpr unsigned long long k_reason_hw_thermal = 0x40;
inline constexpr unsigned long long k_reason_hw_power_brake = 0x80;
inline constexpr unsigned long long k_reason_display_clocks = 0x100;

// X(member, signature, exported names newest first...)
#define GPUDOCTOR_NVML_FUNCTIONS(X)                                                                       \
  X(init, Return(), "nvmlInit_v2", "nvmlInit")                                                            \
  X(shutdown, Return(), "nvmlShutdown")                                                                   \
  X(error_string, const char*(Return), "nvmlErrorString")                                                 \
  X(system_driver_version, Return(char*, unsigned), "nvmlSystemGetDriverVersion")                         \
  X(system_nvml_version, Return(char*, unsigned), "nvmlSystemGetNVMLVersion")                             \
  X(system_cuda_driver_version, Return(int*), "nvmlSystemGetCudaDriverVersion_v2",                        \
    "nvmlSystemGetCudaDriverVersion")                                                                     \
  X(device_count, Return(unsigned*), "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount")                       \
  X(device_handle_by_index, Return(unsigned, Device*), "nvmlDeviceGetHandleByIndex_v2",                   \
    "nvmlDeviceGetHandleByIndex")                                                                         \
  X(device_name, Return(Device, char*, unsigned), "nvmlDeviceGetName")                                    \
  X(device_uuid, Return(Device, char*, unsigned), "nvmlDeviceGetUUID")                                    \
  X(device_pci_info, Return(Device, PciInfo*), "nvmlDeviceGetPciInfo_v3")                                 \
  X(device_memory_v2, Return(Device, MemoryV2*), "nvmlDeviceGetMemoryInfo_v2")                            \
  X(device_memory, Return(Device, Memory*), "nvmlDeviceGetMemoryInfo")                                    \
  X(device_compute_capability, Return(Device, int*, int*), "nvmlDeviceGetCudaComputeCapability")          \
  X(device_compute_mode, Return(Device, int*), "nvmlDeviceGetComputeMode")                                \
  X(device_mig_mode, Return(Device, unsigned*, unsigned*), "nvmlDeviceGetMigMode")                        \
  X(device_max_mig_count, Return(Device, unsigned*), "nvmlDeviceGetMaxMigDeviceCount")                    \
  X(device_mig_handle, Return(Device, unsigned, Device*), "nvmlDeviceGetMigDeviceHandleByIndex")          \
  X(device_pcie_gen_current, Return(Device, unsigned*), "nvmlDeviceGetCurrPcieLinkGeneration")            \
  X(device_pcie_gen_max, Return(Device, unsigned*), "nvmlDeviceGetGpuMaxPcieLinkGeneration",              \
    "nvmlDeviceGetMaxPcieLinkGeneration")                                                                 \
  X(device_pcie_width_current, Return(Device, unsigned*), "nvmlDeviceGetCurrPcieLinkWidth")               \
  X(device_pcie_width_max, Return(Device, unsigned*), "nvmlDeviceGetMaxPcieLinkWidth")                    \
  X(device_remapped_rows, Return(Device, unsigned*, unsigned*, unsigned*, unsigned*),                     \
    "nvmlDeviceGetRemappedRows")                                                                          \
  X(device_compute_processes, Return(Device, unsigned*, ProcessInfo*),                                    \
    "nvmlDeviceGetComputeRunningProcesses_v3")                                                            \
  X(device_graphics_processes, Return(Device, unsigned*, ProcessInfo*),                                   \
    "nvmlDeviceGetGraphicsRunningProcesses_v3")                                                           \
  X(device_handle_by_uuid, Return(const char*, Device*), "nvmlDeviceGetHandleByUUID")                     \
  X(device_clock, Return(Device, int, unsigned*), "nvmlDeviceGetClockInfo")                               \
  X(device_max_clock, Return(Device, int, unsigned*), "nvmlDeviceGetMaxClockInfo")                        \
  X(device_temperature, Return(Device, int, unsigned*), "nvmlDeviceGetTemperature")                       \
  X(device_power_usage, Return(Device, unsigned*), "nvmlDeviceGetPowerUsage")                             \
  X(device_power_limit, Return(Device, unsigned*), "nvmlDeviceGetEnforcedPowerLimit")                     \
  X(device_power_default_limit, Return(Device, unsigned*), "nvmlDeviceGetPowerManagementDefaultLimit")    \
  X(device_clock_event_reasons, Return(Device, unsigned long long*),                                      \
    "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")                \
  X(device_utilization, Return(Device, Utilization*), "nvmlDeviceGetUtilizationRates")                    \
  X(device_nvlink_state, Return(Device, unsigned, int*), "nvmlDeviceGetNvLinkState")                      \
  X(device_process_utilization, Return(Device, ProcessUtilizationSample*, unsigned*, unsigned long long), \
    "nvmlDeviceGetProcessUtilization")

// Return codes the probe acts on (nvml.h).
inline constexpr Return k_success = 0;
inline constexpr Return k_error_not_found = 6;
inline constexpr Return k_error_insufficient_size = 7;

/// The entry points, filled with dlsym (`SharedLibrary::bind`); nullptr when missing.
struct Functions {
#define GPUDOCTOR_DECLARE(member, sig, ...) std::add_pointer_t<sig> member = nullptr;
  GPUDOCTOR_NVML_FUNCTIONS(GPUDOCTOR_DECLARE)
#undef GPUDOCTOR_DECLARE
};

}  // namespace gpudoctor::nvml
