#include <array>
#include <cstring>
#include <fmt/format.h>

#include "driver/cuda_api.hpp"
#include "driver/driver_probe.hpp"
#include "driver/library.hpp"

namespace gpudoctor {

namespace {

CallResult cuda_result(const cuda::Functions& fn, int code) {
  CallResult r;
  r.code = code;
  const char* s = nullptr;
  if (fn.get_error_name != nullptr && fn.get_error_name(code, &s) == 0 && s != nullptr) r.name = s;
  else r.name = fmt::format("CUresult {}", code);
  s = nullptr;
  if (fn.get_error_string != nullptr && fn.get_error_string(code, &s) == 0 && s != nullptr) r.message = s;
  return r;
}

}  // namespace

std::string format_cuda_uuid(const cuda::Uuid& u) {
  const unsigned char* b = u.bytes;
  return fmt::format("GPU-{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                     b[14], b[15]);
}

void probe_cuda(const std::function<void(const CudaProbe&)>& emit) {
  CudaProbe out;
  out.attempted = true;
  // Before each call that may hang or crash, the parent learns its name.
  auto calling = [&](std::string call) {
    out.in_call = std::move(call);
    emit(out);
  };
  calling("dlopen(libcuda.so.1)");
  SharedLibrary lib("libcuda.so.1");
  if (!lib.loaded()) {
    out.load_error = LibraryLoad::failure(lib.error());
    out.library = Fact<std::string>::unknown("libcuda.so.1 could not be loaded");
    out.init = Fact<CallResult>::unknown("library not loaded");
    out.in_call.clear();
    emit(out);
    return;
  }
  if (auto p = lib.path()) out.library = *p;
  out.load_error = LibraryLoad::success();
  cuda::Functions fn;
#define GPUDOCTOR_BIND(member, sig, ...) lib.bind(fn.member, {__VA_ARGS__});
  GPUDOCTOR_CUDA_FUNCTIONS(GPUDOCTOR_BIND)
#undef GPUDOCTOR_BIND
  if (fn.driver_get_version != nullptr) {
    calling("cuDriverGetVersion");
    int v = 0;
    int code = fn.driver_get_version(&v);
    if (code == 0) out.driver_version = v;
    else out.driver_version = Fact<int>::unknown("cuDriverGetVersion -> " + cuda_result(fn, code).name);
  }
  if (fn.init == nullptr) {
    out.init = Fact<CallResult>::unknown("cuInit is not exported: not a real libcuda");
    out.in_call.clear();
    emit(out);
    return;
  }
  // Emit before cuInit: if it hangs, the parent still knows the library and its version.
  out.init = Fact<CallResult>::unknown("cuInit did not return");
  calling("cuInit");
  out.init = cuda_result(fn, fn.init(0));
  if (!out.init->ok() || fn.device_get_count == nullptr) {
    out.in_call.clear();
    emit(out);
    return;
  }
  calling("cuDeviceGetCount");
  int count = 0;
  int code = fn.device_get_count(&count);
  if (code != 0) {
    out.device_count = Fact<int>::unknown("cuDeviceGetCount -> " + cuda_result(fn, code).name);
    out.in_call.clear();
    emit(out);
    return;
  }
  out.device_count = count;
  for (int i = 0; i < count && i < 64; ++i) {
    calling(fmt::format("the queries of CUDA device {}", i));
    CudaDevice d;
    d.ordinal = i;
    cuda::Device dev = 0;
    if (fn.device_get == nullptr || fn.device_get(&dev, i) != 0) {
      out.devices.push_back(std::move(d));
      continue;
    }
    if (fn.device_get_name) {
      std::array<char, 256> buf{};
      if (fn.device_get_name(buf.data(), static_cast<int>(buf.size()), dev) == 0)
        d.name = std::string(buf.data(), strnlen(buf.data(), buf.size()));
    }
    if (fn.device_get_uuid) {
      cuda::Uuid u{};
      if (fn.device_get_uuid(&u, dev) == 0) d.uuid = format_cuda_uuid(u);
    }
    if (fn.device_get_pci_bus_id) {
      std::array<char, 64> buf{};
      if (fn.device_get_pci_bus_id(buf.data(), static_cast<int>(buf.size()), dev) == 0)
        d.pci_bus_id = std::string(buf.data(), strnlen(buf.data(), buf.size()));
    }
    if (fn.device_get_attribute) {
      int v = 0;
      if (fn.device_get_attribute(&v, cuda::k_attr_cc_major, dev) == 0) d.cc_major = v;
      if (fn.device_get_attribute(&v, cuda::k_attr_cc_minor, dev) == 0) d.cc_minor = v;
    }
    if (fn.device_total_mem) {
      std::size_t bytes = 0;
      if (fn.device_total_mem(&bytes, dev) == 0) d.memory_total_bytes = static_cast<std::uint64_t>(bytes);
    }
    out.devices.push_back(std::move(d));
  }
  out.in_call.clear();
  emit(out);
}

}  // namespace gpudoctor
