// A fake libnvidia-ml.so.1: the entry points gpudoctor's probe calls, with nvml.h's C ABI,
// answering from the scenario's "nvml" section. Codes default to success where the section
// gives a value, and to NVML_ERROR_NOT_SUPPORTED (3) where it gives none, as real NVML does for
// queries a GPU lacks.
//
// "nvml": { "init": 0, "driver_version": "...", "nvml_version": "...", "cuda_driver_version": 13000,
//           "device_count": N (default: len(devices)), "devices": [ { "handle": 0, "name", "uuid",
//           "pci_bus_id", "memory": {"total","free","used"}, "cc": [9,0], "compute_mode": 0,
//           "mig": [cur, pending], "mig_devices": [{"uuid","memory_total"}], "pcie": {"gen_current",
//           "gen_max","width_current","width_max"}, "remapped_rows": [corr, unc, pending, failure],
//           "processes": [{"pid","used_memory","kind"}], "contexts_file": PATH } ], "hang_in": "nvmlInit_v2", ... }
//
// "contexts_file" stands for the driver's live context list while a watched program runs: the
// file is read at every call, one line "PID USED_MEMORY SM_PERCENT" per process with a CUDA
// context (a test program appends its own line when it "creates its context"). Those processes
// are the compute processes, each one's SM_PERCENT its nvmlDeviceGetProcessUtilization sample
// (timestamped now), and their sum the device's utilization.

#include <sys/time.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <algorithm>
#include <optional>

#include "fake_answers.hpp"

namespace {

using nlohmann::json;
constexpr int k_not_supported = 3;
constexpr int k_uninitialized = 1;
constexpr int k_invalid_argument = 2;
constexpr int k_insufficient_size = 7;
constexpr int k_not_found = 6;

bool g_initialized = false;

const json& nvml() { return fake::answers("nvml"); }

// A member of `obj` by reference (never a copy: handles point into it), or an empty array/object.
const json& member(const json& obj, const char* key, bool array = true) {
  static const json empty_array = json::array(), empty_object = json::object();
  if (obj.is_object() && obj.contains(key)) return obj[key];
  return array ? empty_array : empty_object;
}

struct Handle {  // what an nvmlDevice_t points to
  int device;    // index into devices[]
  int mig;       // -1 for the GPU itself, else index into its mig_devices[]
};
Handle g_handles[64 * 9];

const json* device(void* h, const json** mig_out = nullptr) {
  if (h == nullptr) return nullptr;
  auto* handle = static_cast<Handle*>(h);
  const auto& devs = member(nvml(), "devices");
  if (handle->device < 0 || static_cast<size_t>(handle->device) >= devs.size()) return nullptr;
  const json& d = devs[static_cast<size_t>(handle->device)];
  if (mig_out) {
    *mig_out = nullptr;
    if (handle->mig >= 0) {
      const auto& migs = member(d, "mig_devices");
      if (static_cast<size_t>(handle->mig) < migs.size()) *mig_out = &migs[static_cast<size_t>(handle->mig)];
    }
  }
  return &d;
}

int string_answer(const json& obj, const char* key, char* buf, unsigned len) {
  if (!obj.contains(key) || !obj[key].is_string()) return k_not_supported;
  return fake::copy_string(obj[key].get<std::string>(), buf, len) ? 0 : k_insufficient_size;
}

}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

struct PciInfo {
  char bus_id_legacy[16];
  unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};
struct Memory {
  unsigned long long total, free, used;
};
struct MemoryV2 {
  unsigned version;
  unsigned long long total, reserved, free, used;
};
struct ProcessInfo {
  unsigned pid;
  unsigned long long used_gpu_memory;
  unsigned gpu_instance_id, compute_instance_id;
};

EXPORT int nvmlInit_v2() {
  fake::maybe_misbehave("nvml", "nvmlInit_v2");
  int code = nvml().value("init", 9);  // no answers: as if the kernel module were not loaded
  g_initialized = code == 0;
  return code;
}
EXPORT int nvmlInit() { return nvmlInit_v2(); }
EXPORT int nvmlShutdown() {
  g_initialized = false;
  return 0;
}
EXPORT const char* nvmlErrorString(int code) { return fake::error_message("nvml", code); }
EXPORT int nvmlSystemGetDriverVersion(char* buf, unsigned len) {
  return g_initialized ? string_answer(nvml(), "driver_version", buf, len) : k_uninitialized;
}
EXPORT int nvmlSystemGetNVMLVersion(char* buf, unsigned len) { return string_answer(nvml(), "nvml_version", buf, len); }
EXPORT int nvmlSystemGetCudaDriverVersion_v2(int* v) {
  if (!nvml().contains("cuda_driver_version")) return 12;  // NVML_ERROR_LIBRARY_NOT_FOUND: no libcuda
  *v = nvml()["cuda_driver_version"].get<int>();
  return 0;
}
EXPORT int nvmlSystemGetCudaDriverVersion(int* v) { return nvmlSystemGetCudaDriverVersion_v2(v); }
EXPORT int nvmlDeviceGetCount_v2(unsigned* count) {
  fake::maybe_misbehave("nvml", "nvmlDeviceGetCount_v2");
  if (!g_initialized) return k_uninitialized;
  const auto& devs = member(nvml(), "devices");
  *count = nvml().value("device_count", static_cast<unsigned>(devs.size()));
  return 0;
}
EXPORT int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** handle) {
  if (!g_initialized) return k_uninitialized;
  const auto& devs = member(nvml(), "devices");
  if (index >= devs.size() || index >= 64) return k_invalid_argument;
  int code = devs[index].value("handle", 0);
  if (code != 0) return code;
  g_handles[index * 9] = {static_cast<int>(index), -1};
  *handle = &g_handles[index * 9];
  return 0;
}
EXPORT int nvmlDeviceGetName(void* h, char* buf, unsigned len) {
  const json* mig = nullptr;
  const json* d = device(h, &mig);
  if (d == nullptr) return k_invalid_argument;
  return string_answer(mig ? *mig : *d, "name", buf, len);
}
EXPORT int nvmlDeviceGetUUID(void* h, char* buf, unsigned len) {
  const json* mig = nullptr;
  const json* d = device(h, &mig);
  if (d == nullptr) return k_invalid_argument;
  return string_answer(mig ? *mig : *d, "uuid", buf, len);
}
EXPORT int nvmlDeviceGetPciInfo_v3(void* h, PciInfo* pci) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  std::memset(pci, 0, sizeof(*pci));
  // "pci_device_id": 0x2330 -> (device << 16) | vendor 0x10de, as nvmlPciInfo_t packs it
  pci->pci_device_id = (d->value("pci_device_id", 0U) << 16U) | 0x10deU;
  return string_answer(*d, "pci_bus_id", pci->bus_id, sizeof(pci->bus_id));
}
EXPORT int nvmlDeviceGetMemoryInfo_v2(void* h, MemoryV2* m) {
  const json* mig = nullptr;
  const json* d = device(h, &mig);
  if (d == nullptr) return k_invalid_argument;
  // Real NVML answers FUNCTION_NOT_FOUND (13) to a wrong struct version (seen on R580).
  if (m->version != (static_cast<unsigned>(sizeof(MemoryV2)) | (2U << 24U))) return 13;
  const json& mem = member(mig ? *mig : *d, "memory", false);
  if (mem.empty()) return k_not_supported;
  m->total = mem.value("total", 0ULL);
  m->free = mem.value("free", 0ULL);
  m->used = mem.value("used", 0ULL);
  m->reserved = mem.value("reserved", 0ULL);
  return 0;
}
EXPORT int nvmlDeviceGetMemoryInfo(void* h, Memory* m) {
  const json* mig = nullptr;
  const json* d = device(h, &mig);
  if (d == nullptr) return k_invalid_argument;
  if (mig) {
    m->total = mig->value("memory_total", 0ULL);
    m->free = m->total;
    m->used = 0;
    return 0;
  }
  const json& mem = member(*d, "memory", false);
  if (mem.empty()) return k_not_supported;
  m->total = mem.value("total", 0ULL);
  m->free = mem.value("free", 0ULL);
  m->used = mem.value("used", 0ULL) + mem.value("reserved", 0ULL);
  return 0;
}
EXPORT int nvmlDeviceGetCudaComputeCapability(void* h, int* major, int* minor) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  if (!d->contains("cc")) return k_not_supported;
  *major = (*d)["cc"][0].get<int>();
  *minor = (*d)["cc"][1].get<int>();
  return 0;
}
EXPORT int nvmlDeviceGetComputeMode(void* h, int* mode) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  *mode = d->value("compute_mode", 0);
  return 0;
}
EXPORT int nvmlDeviceGetMigMode(void* h, unsigned* cur, unsigned* pending) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  if (!d->contains("mig")) return k_not_supported;
  *cur = (*d)["mig"][0].get<unsigned>();
  *pending = (*d)["mig"][1].get<unsigned>();
  return 0;
}
EXPORT int nvmlDeviceGetMaxMigDeviceCount(void* h, unsigned* count) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  if (!d->contains("mig")) return k_not_supported;
  *count = 7;
  return 0;
}
EXPORT int nvmlDeviceGetMigDeviceHandleByIndex(void* h, unsigned index, void** mig) {
  const json* d = device(h);
  if (d == nullptr || index >= 8) return k_invalid_argument;
  const auto& migs = member(*d, "mig_devices");
  if (index >= migs.size()) return k_not_found;
  auto* parent = static_cast<Handle*>(h);
  Handle& slot = g_handles[static_cast<size_t>(parent->device) * 9 + 1 + index];
  slot = {parent->device, static_cast<int>(index)};
  *mig = &slot;
  return 0;
}
namespace {
int pcie(void* h, const char* key, unsigned* out) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  const json& p = member(*d, "pcie", false);
  if (!p.contains(key)) return k_not_supported;
  *out = p[key].get<unsigned>();
  return 0;
}
}  // namespace
EXPORT int nvmlDeviceGetCurrPcieLinkGeneration(void* h, unsigned* v) { return pcie(h, "gen_current", v); }
EXPORT int nvmlDeviceGetGpuMaxPcieLinkGeneration(void* h, unsigned* v) { return pcie(h, "gen_max", v); }
EXPORT int nvmlDeviceGetMaxPcieLinkGeneration(void* h, unsigned* v) { return pcie(h, "gen_max", v); }
EXPORT int nvmlDeviceGetCurrPcieLinkWidth(void* h, unsigned* v) { return pcie(h, "width_current", v); }
EXPORT int nvmlDeviceGetMaxPcieLinkWidth(void* h, unsigned* v) { return pcie(h, "width_max", v); }
EXPORT int nvmlDeviceGetRemappedRows(void* h, unsigned* corr, unsigned* unc, unsigned* pending, unsigned* failure) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  if (!d->contains("remapped_rows")) return k_not_supported;
  const auto& r = (*d)["remapped_rows"];
  *corr = r[0].get<unsigned>();
  *unc = r[1].get<unsigned>();
  *pending = r[2].get<unsigned>();
  *failure = r[3].get<unsigned>();
  return 0;
}
namespace {
struct LiveContext {
  unsigned pid;
  unsigned long long memory;
  unsigned sm;
};
// The device's live contexts (its "contexts_file"), read now; nullopt when it has none.
std::optional<std::vector<LiveContext>> live_contexts(const json& d) {
  if (!d.contains("contexts_file")) return std::nullopt;
  std::vector<LiveContext> out;
  std::ifstream in(d["contexts_file"].get<std::string>());
  std::string line;
  while (std::getline(in, line) && out.size() < 1024) {
    std::istringstream ls(line);
    LiveContext c{};
    if (ls >> c.pid >> c.memory >> c.sm) out.push_back(c);
  }
  return out;
}

int processes(void* h, const char* kind, unsigned* count, ProcessInfo* infos) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  json live = json::array();
  if (auto contexts = live_contexts(*d); contexts && std::string(kind) == "compute")
    for (const auto& c : *contexts) live.push_back({{"pid", c.pid}, {"used_memory", c.memory}});
  std::vector<const json*> matching;
  for (const auto& p : member(*d, "processes"))
    if (p.value("kind", std::string("compute")) == kind) matching.push_back(&p);
  for (const auto& p : live) matching.push_back(&p);
  if (*count < matching.size()) {
    *count = static_cast<unsigned>(matching.size());
    return k_insufficient_size;
  }
  for (size_t i = 0; i < matching.size(); ++i) {
    infos[i] = {};
    infos[i].pid = matching[i]->value("pid", 0U);
    infos[i].used_gpu_memory = matching[i]->value("used_memory", ~0ULL);
    infos[i].gpu_instance_id = 0xFFFFFFFFU;
    infos[i].compute_instance_id = 0xFFFFFFFFU;
  }
  *count = static_cast<unsigned>(matching.size());
  return 0;
}
}  // namespace
EXPORT int nvmlDeviceGetComputeRunningProcesses_v3(void* h, unsigned* count, ProcessInfo* infos) {
  return processes(h, "compute", count, infos);
}
EXPORT int nvmlDeviceGetGraphicsRunningProcesses_v3(void* h, unsigned* count, ProcessInfo* infos) {
  return processes(h, "graphics", count, infos);
}

// Readings under load, from the device's "load" object: { "sm_clock": MHz, "sm_clock_max": MHz,
// "temperature": C, "power_mw", "power_limit_mw", "power_default_limit_mw", "reasons": bits,
// "utilization": percent } (values from nvidia-smi -q on the recorded host).
namespace {
int load_answer(void* h, const char* key, unsigned* out) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  const json& load = member(*d, "load", false);
  if (!load.contains(key)) return k_not_supported;
  *out = load[key].get<unsigned>();
  return 0;
}
}  // namespace

EXPORT int nvmlDeviceGetHandleByUUID(const char* uuid, void** handle) {
  if (!g_initialized) return k_uninitialized;
  const auto& devs = member(nvml(), "devices");
  for (unsigned i = 0; i < devs.size(); ++i)
    if (devs[i].value("uuid", std::string{}) == uuid) return nvmlDeviceGetHandleByIndex_v2(i, handle);
  return k_not_found;
}
EXPORT int nvmlDeviceGetClockInfo(void* h, int type, unsigned* mhz) {
  return type == 1 ? load_answer(h, "sm_clock", mhz) : k_not_supported;
}
EXPORT int nvmlDeviceGetMaxClockInfo(void* h, int type, unsigned* mhz) {
  return type == 1 ? load_answer(h, "sm_clock_max", mhz) : k_not_supported;
}
EXPORT int nvmlDeviceGetTemperature(void* h, int, unsigned* c) { return load_answer(h, "temperature", c); }
EXPORT int nvmlDeviceGetPowerUsage(void* h, unsigned* mw) { return load_answer(h, "power_mw", mw); }
EXPORT int nvmlDeviceGetEnforcedPowerLimit(void* h, unsigned* mw) { return load_answer(h, "power_limit_mw", mw); }
EXPORT int nvmlDeviceGetPowerManagementDefaultLimit(void* h, unsigned* mw) {
  return load_answer(h, "power_default_limit_mw", mw);
}
EXPORT int nvmlDeviceGetCurrentClocksEventReasons(void* h, unsigned long long* reasons) {
  unsigned v = 0;
  int code = load_answer(h, "reasons", &v);
  if (code == 0) *reasons = v;
  return code;
}
struct Utilization {
  unsigned gpu, memory;
};
EXPORT int nvmlDeviceGetUtilizationRates(void* h, Utilization* u) {
  if (const json* d = device(h)) {
    if (auto contexts = live_contexts(*d)) {
      unsigned sum = 0;
      for (const auto& c : *contexts) sum += c.sm;
      *u = {std::min(sum, 100u), 0};
      return 0;
    }
  }
  unsigned v = 0;
  int code = load_answer(h, "utilization", &v);
  if (code == 0) *u = {v, v};
  return code;
}
// "nvlink": [1, 1, 0, ...] per link (1 active); no key: the GPU has no NVLink.
EXPORT int nvmlDeviceGetNvLinkState(void* h, unsigned link, int* active) {
  const json* d = device(h);
  if (d == nullptr) return k_invalid_argument;
  const json& links = member(*d, "nvlink");
  if (links.empty()) return k_not_supported;
  if (link >= links.size()) return k_invalid_argument;
  *active = links[link].get<int>();
  return 0;
}

struct ProcessUtilizationSample {
  unsigned pid;
  unsigned long long time_stamp;
  unsigned sm, mem, enc, dec;
};
// One sample per live context, stamped now (CPU time in microseconds, as NVML stamps them);
// NOT_FOUND when no context ran work, as real NVML answers then.
EXPORT int nvmlDeviceGetProcessUtilization(void* h, ProcessUtilizationSample* samples, unsigned* count,
                                           unsigned long long last_seen) {
  const json* d = device(h);
  if (d == nullptr || count == nullptr) return k_invalid_argument;
  auto contexts = live_contexts(*d);
  if (!contexts) return k_not_supported;
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  unsigned long long now = static_cast<unsigned long long>(tv.tv_sec) * 1000000ULL + static_cast<unsigned long long>(tv.tv_usec);
  if (now <= last_seen || contexts->empty()) return k_not_found;
  if (samples == nullptr || *count < contexts->size()) {
    *count = static_cast<unsigned>(contexts->size());
    return k_insufficient_size;
  }
  for (size_t i = 0; i < contexts->size(); ++i) samples[i] = {(*contexts)[i].pid, now, (*contexts)[i].sm, 0, 0, 0};
  *count = static_cast<unsigned>(contexts->size());
  return 0;
}
