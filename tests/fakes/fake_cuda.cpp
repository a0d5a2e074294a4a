// A fake libcuda.so.1: the driver API entry points gpudoctor's probe calls, with cuda.h's C
// ABI, answering from the scenario's "cuda" section.
//
// "cuda": { "driver_version": 13000, "init": 0, "devices": [ { "name", "uuid": "GPU-...",
//           "pci_bus_id": "0000:00:06.0", "cc": [9,0], "total_mem": bytes } ],
//           "hang_in": "cuInit", "crash_in": "cuInit" }
// What `gpudoctor probe` calls beyond these: fake_cuda_compute.cpp.

#include <cstring>

#include "fake_answers.hpp"

namespace {
using nlohmann::json;
constexpr int k_not_initialized = 3;
constexpr int k_invalid_device = 101;
constexpr int k_invalid_value = 1;
int g_init = k_not_initialized;
const json& cuda() { return fake::answers("cuda"); }
const json& devices() {
  static const json empty = json::array();
  return cuda().contains("devices") ? cuda()["devices"] : empty;
}
const json* device(int ordinal) {
  const auto& devs = devices();
  if (ordinal < 0 || static_cast<size_t>(ordinal) >= devs.size()) return nullptr;
  return &devs[static_cast<size_t>(ordinal)];
}
int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT int cuDriverGetVersion(int* v) {
  if (v == nullptr) return k_invalid_value;
  *v = cuda().value("driver_version", 0);
  return 0;
}
EXPORT int cuInit(unsigned flags) {
  fake::maybe_misbehave("cuda", "cuInit");
  if (flags != 0) return k_invalid_value;
  g_init = cuda().value("init", 100);  // no answers: no device
  return g_init;
}
EXPORT int cuGetErrorName(int code, const char** s) {
  const char* n = fake::error_name("cuda", code);
  if (n == nullptr) return k_invalid_value;
  *s = n;
  return 0;
}
EXPORT int cuGetErrorString(int code, const char** s) {
  if (fake::error_name("cuda", code) == nullptr) return k_invalid_value;
  *s = fake::error_message("cuda", code);
  return 0;
}
EXPORT int cuDeviceGetCount(int* count) {
  if (g_init != 0) return k_not_initialized;
  *count = static_cast<int>(devices().size());
  return 0;
}
EXPORT int cuDeviceGet(int* dev, int ordinal) {
  if (g_init != 0) return k_not_initialized;
  if (device(ordinal) == nullptr) return k_invalid_device;
  *dev = ordinal;
  return 0;
}
EXPORT int cuDeviceGetName(char* buf, int len, int dev) {
  const json* d = device(dev);
  if (d == nullptr) return k_invalid_device;
  fake::copy_string(d->value("name", std::string{}), buf, static_cast<unsigned>(len));
  return 0;
}
EXPORT int cuDeviceGetUuid_v2(unsigned char* bytes, int dev) {
  const json* d = device(dev);
  if (d == nullptr) return k_invalid_device;
  std::string u = d->value("uuid", std::string{});
  if (u.rfind("GPU-", 0) == 0) u = u.substr(4);
  std::string digits;
  for (char c : u)
    if (hex(c) >= 0) digits += c;
  std::memset(bytes, 0, 16);
  for (size_t i = 0; i < 16 && 2 * i + 1 < digits.size(); ++i)
    bytes[i] = static_cast<unsigned char>(hex(digits[2 * i]) * 16 + hex(digits[2 * i + 1]));
  return 0;
}
EXPORT int cuDeviceGetUuid(unsigned char* bytes, int dev) { return cuDeviceGetUuid_v2(bytes, dev); }
EXPORT int cuDeviceGetPCIBusId(char* buf, int len, int dev) {
  const json* d = device(dev);
  if (d == nullptr) return k_invalid_device;
  fake::copy_string(d->value("pci_bus_id", std::string{}), buf, static_cast<unsigned>(len));
  return 0;
}
EXPORT int cuDeviceGetAttribute(int* v, int attr, int dev) {
  const json* d = device(dev);
  if (d == nullptr) return k_invalid_device;
  if (attr == 75 || attr == 76) {
    if (!d->contains("cc")) return k_invalid_value;
    *v = (*d)["cc"][attr == 75 ? 0 : 1].get<int>();
    return 0;
  }
  // Others as cuDeviceGetAttribute answered on the recorded host: "attributes": {"16": 132, ...}
  std::string key = std::to_string(attr);
  if (d->contains("attributes") && (*d)["attributes"].contains(key)) {
    *v = (*d)["attributes"][key].get<int>();
    return 0;
  }
  return k_invalid_value;
}
EXPORT int cuDeviceTotalMem_v2(size_t* bytes, int dev) {
  const json* d = device(dev);
  if (d == nullptr) return k_invalid_device;
  *bytes = d->value("total_mem", size_t{0});
  return 0;
}
