#pragma once
#include <cstddef>
#include <type_traits>
// Our own declarations of the CUDA driver API entry points gpudoctor calls (libcuda.so.1).
// From cuda.h (CUDA 12.6/13.0) and the driver API reference; checked on driver 580.159.04.

namespace gpudoctor::cuda {

using Result = int;  // CUresult
using Device = int;  // CUdevice
struct Uuid {
  unsigned char bytes[16];
};
using Context = struct CUctx_st*;
using Module = struct CUmod_st*;
using Function = struct CUfunc_st*;
using Stream = struct CUstream_st*;
using Event = struct CUevent_st*;
using DevicePtr = unsigned long long;  // CUdeviceptr on 64-bit hosts

inline constexpr int k_attr_cc_major = 75;               // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
inline constexpr int k_attr_cc_minor = 76;               // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
inline constexpr int k_attr_clock_rate_khz = 13;         // CU_DEVICE_ATTRIBUTE_CLOCK_RATE (peak SM clock, kHz)
inline constexpr int k_attr_multiprocessor_count = 16;   // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
inline constexpr int k_attr_memory_clock_rate_khz = 36;  // CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE (peak, kHz)
inline constexpr int k_attr_memory_bus_width = 37;       // CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH (bits)

inline constexpr unsigned k_stream_non_blocking = 1;   // CU_STREAM_NON_BLOCKING
inline constexpr int k_jit_error_log_buffer = 5;       // CU_JIT_ERROR_LOG_BUFFER
inline constexpr int k_jit_error_log_buffer_size = 6;  // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES

// X(member, signature, exported names newest first...)
#define GPUDOCTOR_CUDA_FUNCTIONS(X)                                                  \
  X(init, Result(unsigned), "cuInit")                                                \
  X(driver_get_version, Result(int*), "cuDriverGetVersion")                          \
  X(get_error_name, Result(Result, const char**), "cuGetErrorName")                  \
  X(get_error_string, Result(Result, const char**), "cuGetErrorString")              \
  X(device_get_count, Result(int*), "cuDeviceGetCount")                              \
  X(device_get, Result(Device*, int), "cuDeviceGet")                                 \
  X(device_get_name, Result(char*, int, Device), "cuDeviceGetName")                  \
  X(device_get_uuid, Result(Uuid*, Device), "cuDeviceGetUuid_v2", "cuDeviceGetUuid") \
  X(device_get_pci_bus_id, Result(char*, int, Device), "cuDeviceGetPCIBusId")        \
  X(device_get_attribute, Result(int*, int, Device), "cuDeviceGetAttribute")         \
  X(device_total_mem, Result(std::size_t*, Device), "cuDeviceTotalMem_v2", "cuDeviceTotalMem")

// What `gpudoctor probe` calls on top (compute, memory, copies, timing, peers).
#define GPUDOCTOR_CUDA_COMPUTE_FUNCTIONS(X)                                                                                                          \
  X(primary_ctx_retain, Result(Context*, Device), "cuDevicePrimaryCtxRetain")                                                                        \
  X(primary_ctx_release, Result(Device), "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease")                                                \
  X(ctx_set_current, Result(Context), "cuCtxSetCurrent")                                                                                             \
  X(mem_get_info, Result(std::size_t*, std::size_t*), "cuMemGetInfo_v2", "cuMemGetInfo")                                                             \
  X(mem_alloc, Result(DevicePtr*, std::size_t), "cuMemAlloc_v2")                                                                                     \
  X(mem_free, Result(DevicePtr), "cuMemFree_v2")                                                                                                     \
  X(mem_alloc_host, Result(void**, std::size_t), "cuMemAllocHost_v2")                                                                                \
  X(mem_free_host, Result(void*), "cuMemFreeHost")                                                                                                   \
  X(memcpy_htod_async, Result(DevicePtr, const void*, std::size_t, Stream), "cuMemcpyHtoDAsync_v2")                                                  \
  X(memcpy_dtoh_async, Result(void*, DevicePtr, std::size_t, Stream), "cuMemcpyDtoHAsync_v2")                                                        \
  X(memcpy_dtod_async, Result(DevicePtr, DevicePtr, std::size_t, Stream), "cuMemcpyDtoDAsync_v2")                                                    \
  X(memcpy_peer_async, Result(DevicePtr, Context, DevicePtr, Context, std::size_t, Stream),                                                          \
    "cuMemcpyPeerAsync")                                                                                                                             \
  X(memset_d8_async, Result(DevicePtr, unsigned char, std::size_t, Stream), "cuMemsetD8Async")                                                       \
  X(memset_d32_async, Result(DevicePtr, unsigned, std::size_t, Stream), "cuMemsetD32Async")                                                          \
  X(module_load_data_ex, Result(Module*, const void*, unsigned, int*, void**), "cuModuleLoadDataEx")                                                 \
  X(module_get_function, Result(Function*, Module, const char*), "cuModuleGetFunction")                                                              \
  X(module_unload, Result(Module), "cuModuleUnload")                                                                                                 \
  X(launch_kernel, Result(Function, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, Stream, void**, void**), "cuLaunchKernel") \
  X(stream_create, Result(Stream*, unsigned), "cuStreamCreate")                                                                                      \
  X(stream_destroy, Result(Stream), "cuStreamDestroy_v2")                                                                                            \
  X(stream_synchronize, Result(Stream), "cuStreamSynchronize")                                                                                       \
  X(event_create, Result(Event*, unsigned), "cuEventCreate")                                                                                         \
  X(event_record, Result(Event, Stream), "cuEventRecord")                                                                                            \
  X(event_synchronize, Result(Event), "cuEventSynchronize")                                                                                          \
  X(event_elapsed_time, Result(float*, Event, Event), "cuEventElapsedTime_v2", "cuEventElapsedTime")                                                 \
  X(event_destroy, Result(Event), "cuEventDestroy_v2")                                                                                               \
  X(device_can_access_peer, Result(int*, Device, Device), "cuDeviceCanAccessPeer")                                                                   \
  X(ctx_enable_peer_access, Result(Context, unsigned), "cuCtxEnablePeerAccess")

/// The entry points of both lists, filled with dlsym (`SharedLibrary::bind`); nullptr when missing.
struct Functions {
#define GPUDOCTOR_DECLARE(member, sig, ...) std::add_pointer_t<sig> member = nullptr;
  GPUDOCTOR_CUDA_FUNCTIONS(GPUDOCTOR_DECLARE)
  GPUDOCTOR_CUDA_COMPUTE_FUNCTIONS(GPUDOCTOR_DECLARE)
#undef GPUDOCTOR_DECLARE
};

}  // namespace gpudoctor::cuda
