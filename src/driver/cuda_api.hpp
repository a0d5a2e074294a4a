#pragma once
#include <cstddef>
// Our own declarations of the CUDA driver API entry points gpudoctor calls (libcuda.so.1).
// From cuda.h (CUDA 12.6/13.0) and the driver API reference; checked on driver 580.159.04.

namespace gpudoctor::cuda {

using Result = int;  // CUresult
using Device = int;  // CUdevice
struct Uuid {
  unsigned char bytes[16];
};

inline constexpr int k_attr_cc_major = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
inline constexpr int k_attr_cc_minor = 76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

// X(member, signature, exported names newest first...)
#define GPUDOCTOR_CUDA_FUNCTIONS(X)                                                              \
  X(init, Result(unsigned), "cuInit")                                                           \
  X(driver_get_version, Result(int*), "cuDriverGetVersion")                                     \
  X(get_error_name, Result(Result, const char**), "cuGetErrorName")                             \
  X(get_error_string, Result(Result, const char**), "cuGetErrorString")                         \
  X(device_get_count, Result(int*), "cuDeviceGetCount")                                         \
  X(device_get, Result(Device*, int), "cuDeviceGet")                                            \
  X(device_get_name, Result(char*, int, Device), "cuDeviceGetName")                             \
  X(device_get_uuid, Result(Uuid*, Device), "cuDeviceGetUuid_v2", "cuDeviceGetUuid")            \
  X(device_get_pci_bus_id, Result(char*, int, Device), "cuDeviceGetPCIBusId")                   \
  X(device_get_attribute, Result(int*, int, Device), "cuDeviceGetAttribute")                    \
  X(device_total_mem, Result(std::size_t*, Device), "cuDeviceTotalMem_v2", "cuDeviceTotalMem")

}  // namespace gpudoctor::cuda
