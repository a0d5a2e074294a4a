// The compute half of the fake libcuda.so.1: what `gpudoctor probe` calls (contexts, memory,
// copies, our PTX kernels, streams, events, peers), answering from the scenario's "cuda" section.
//
// A fake GPU: device memory is address space reserved with mmap, of which only the first and
// last 8 MiB of each allocation hold data (what the probe reads back: whole small buffers, the
// ends of large ones), so an "80 GB" GPU costs a few MiB. Kernels are ours, by name, run on the
// CPU with the same definitions as the PTX (src/probe/ptx.hpp). Time is virtual: each operation
// advances its stream's clock by bytes / the rate the scenario gives, and events read the clock.
//
// "cuda": { ..., "devices": [ { ..., "attributes": { "16": 132, ... }, "free_mem": bytes,
//             "timing": { "d2d_gbs", "h2d_gbs", "d2h_gbs", "copy_kernel_gbs", "copy4_kernel_gbs" }, "context_error": code } ],
//           "timing": { same keys, for every device }, "peer_gbs": { "0>1": 397 } or a number,
//           "can_access_peer": true, "module_error": code, "jit_log": "...", "kernel_wrong": true }

#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fake_answers.hpp"
#include "probe/ptx.hpp"

namespace {

using nlohmann::json;
using DevicePtr = unsigned long long;
constexpr int k_invalid_value = 1, k_out_of_memory = 2, k_invalid_device = 101, k_not_found = 500,
              k_invalid_handle = 400;
constexpr std::size_t k_window = std::size_t{8} << 20U;

const json& cuda() { return fake::answers("cuda"); }
const json* device(int ordinal) {
  const auto& c = cuda();
  if (!c.contains("devices") || ordinal < 0 || static_cast<std::size_t>(ordinal) >= c["devices"].size()) return nullptr;
  return &c["devices"][static_cast<std::size_t>(ordinal)];
}

struct Context {
  int device = 0;
  std::uint64_t allocated = 0;
};
Context g_contexts[64];
thread_local Context* g_current = nullptr;  // per thread, as the driver's current context is
// One lock for the fake's shared state: the quick probe drives its GPUs from several threads.
std::recursive_mutex g_lock;

struct Allocation {
  std::uintptr_t base = 0;
  std::size_t size = 0;
  std::size_t mapped = 0;  // reserved bytes
  Context* context = nullptr;
  // What our fill kernel last wrote into it (so a product of filled matrices can be computed
  // wherever it is read, without the memory the fake does not keep).
  bool filled = false;
  std::uint32_t seed = 0, bits = 0, kind = 0;
  // A product C = A B (column-major, n x n) that cuBLAS's fake wrote here: computed on read.
  bool product = false;
  std::uintptr_t a = 0, b = 0;
  int n = 0;
  bool wrong = false;
};
std::map<std::uintptr_t, Allocation> g_allocations;

struct Stream {
  double clock_ms = 0;
  Context* context = nullptr;
};
struct Event {
  double at_ms = 0;
};

double rate(const char* key, double fallback) {
  int dev = g_current != nullptr ? g_current->device : 0;
  if (const json* d = device(dev); d != nullptr && d->contains("timing") && (*d)["timing"].contains(key))
    return (*d)["timing"][key].get<double>();
  if (cuda().contains("timing") && cuda()["timing"].contains(key)) return cuda()["timing"][key].get<double>();
  return fallback;
}
void advance(void* stream, double bytes, double gbs) {
  if (stream != nullptr && gbs > 0) static_cast<Stream*>(stream)->clock_ms += bytes / gbs / 1e6;
}

Allocation* allocation_of(std::uintptr_t p) {
  auto it = g_allocations.upper_bound(p);
  if (it == g_allocations.begin()) return nullptr;
  --it;
  auto& a = it->second;
  return p < a.base + a.size ? &a : nullptr;
}

std::uint16_t to_half(float v) {  // round to nearest even; the products here are normal or tiny
  std::uint32_t bits = 0;
  std::memcpy(&bits, &v, 4);
  auto sign = static_cast<std::uint16_t>((bits >> 16U) & 0x8000U);
  if (std::fabs(v) < 6.1035156e-05F) return sign;
  int exp = static_cast<int>((bits >> 23U) & 0xFFU) - 127 + 15;
  std::uint32_t mant = bits & 0x7FFFFFU;
  std::uint32_t half = (static_cast<std::uint32_t>(exp) << 10U) | (mant >> 13U);
  std::uint32_t rest = mant & 0x1FFFU;
  if (rest > 0x1000U || (rest == 0x1000U && (half & 1U) != 0)) ++half;
  return static_cast<std::uint16_t>(sign | half);
}
std::uint16_t to_bf16(float v) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &v, 4);
  bits += 0x7FFFU + ((bits >> 16U) & 1U);
  return static_cast<std::uint16_t>(bits >> 16U);
}

/// Reads of a product: each element computed from its factors' fill recipes, in double, then
/// rounded to the output type (what the tensor cores' fp32 accumulation gives, to rounding).
bool read_product(const Allocation& c, std::uintptr_t src, std::uintptr_t dst, std::size_t n) {
  const Allocation* a = allocation_of(c.a);
  const Allocation* b = allocation_of(c.b);
  if (a == nullptr || b == nullptr || !a->filled || !b->filled) return false;
  std::size_t esize = a->kind == 0 ? 4 : 2;
  auto dim = static_cast<std::uint32_t>(c.n);
  for (std::size_t off = 0; off + esize <= n; off += esize) {
    std::size_t e = (src + off - c.base) / esize;
    auto i = static_cast<std::uint32_t>(e % dim), j = static_cast<std::uint32_t>(e / dim);
    double sum = 0;
    for (std::uint32_t k = 0; k < dim; ++k)
      sum += static_cast<double>(gpudoctor::probe::fill_value(a->seed, k * dim + i, a->bits)) *
             static_cast<double>(gpudoctor::probe::fill_value(b->seed, j * dim + k, b->bits));
    auto v = static_cast<float>(c.wrong ? sum * 1.25 + 4.0 : sum);  // wrong: as if a high bit stuck
    if (esize == 4) std::memcpy(reinterpret_cast<void*>(dst + off), &v, 4);
    else {
      std::uint16_t h = a->kind == 2 ? to_bf16(v) : to_half(v);
      std::memcpy(reinterpret_cast<void*>(dst + off), &h, 2);
    }
  }
  return true;
}

/// The parts of [p, p + n) that hold data, as offsets from p: inside the head or tail window of
/// a device allocation, or everything for host memory.
std::vector<std::pair<std::size_t, std::size_t>> backed(std::uintptr_t p, std::size_t n) {
  const Allocation* a = allocation_of(p);
  if (a == nullptr) return {{0, n}};
  std::vector<std::pair<std::size_t, std::size_t>> out;
  auto add = [&](std::uintptr_t lo, std::uintptr_t hi) {
    lo = std::max(lo, static_cast<std::uintptr_t>(p));
    hi = std::min(hi, static_cast<std::uintptr_t>(p + n));
    if (lo < hi) out.emplace_back(lo - p, hi - p);
  };
  std::size_t head = std::min(a->size, k_window);
  add(a->base, a->base + head);
  if (a->size > head) add(a->base + std::max(head, a->size - k_window), a->base + a->size);
  return out;
}

void copy_bytes(std::uintptr_t dst, std::uintptr_t src, std::size_t n) {
  if (const Allocation* c = allocation_of(src); c != nullptr && c->product && allocation_of(dst) == nullptr)
    if (read_product(*c, src, dst, n)) return;
  for (auto [s0, s1] : backed(src, n))
    for (auto [d0, d1] : backed(dst, n)) {
      std::size_t lo = std::max(s0, d0), hi = std::min(s1, d1);
      if (lo < hi) std::memmove(reinterpret_cast<void*>(dst + lo), reinterpret_cast<const void*>(src + lo), hi - lo);
    }
}

struct Module {
  int id = 0;
};
Module g_module;
enum class Kernel { axpi = 1,
                    fill,
                    copy,
                    copy4 };
Kernel g_kernels[] = {Kernel::axpi, Kernel::fill, Kernel::copy, Kernel::copy4};

}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

// For the fake cuBLAS, cuDNN and NCCL (they link against this library, as the real ones do).
EXPORT void gdfake_copy(std::uintptr_t dst, std::uintptr_t src, std::size_t n) { copy_bytes(dst, src, n); }
EXPORT std::size_t gdfake_backed(std::uintptr_t p, std::size_t n, std::size_t* lo, std::size_t* hi, std::size_t max) {
  std::lock_guard guard(g_lock);
  auto parts = backed(p, n);
  std::size_t i = 0;
  for (; i < parts.size() && i < max; ++i) {
    lo[i] = parts[i].first;
    hi[i] = parts[i].second;
  }
  return i;
}
EXPORT void gdfake_advance(void* stream, double bytes, double gbs) { advance(stream, bytes, gbs); }
EXPORT int gdfake_current_device() { return g_current != nullptr ? g_current->device : -1; }
EXPORT void gdfake_product(std::uintptr_t c, std::uintptr_t a, std::uintptr_t b, int n, bool wrong) {
  std::lock_guard guard(g_lock);
  if (Allocation* out = allocation_of(c)) {
    out->product = true;
    out->a = a;
    out->b = b;
    out->n = n;
    out->wrong = wrong;
  }
}

EXPORT int cuDevicePrimaryCtxRetain(void** ctx, int dev) {
  std::lock_guard guard(g_lock);
  const json* d = device(dev);
  if (d == nullptr || dev >= 64) return k_invalid_device;
  if (int code = d->value("context_error", 0); code != 0) return code;
  g_contexts[dev].device = dev;
  *ctx = &g_contexts[dev];
  return 0;
}
EXPORT int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
EXPORT int cuCtxSetCurrent(void* ctx) {
  std::lock_guard guard(g_lock);
  g_current = static_cast<Context*>(ctx);
  return 0;
}
EXPORT int cuCtxSynchronize() { return 0; }
EXPORT int cuMemGetInfo_v2(std::size_t* free, std::size_t* total) {
  std::lock_guard guard(g_lock);
  if (g_current == nullptr) return 201;  // CUDA_ERROR_INVALID_CONTEXT
  const json* d = device(g_current->device);
  *total = d->value("total_mem", std::size_t{0});
  std::size_t start = d->value("free_mem", *total - std::min(*total, std::size_t{512} << 20U));
  *free = start > g_current->allocated ? start - g_current->allocated : 0;
  return 0;
}
EXPORT int cuMemAlloc_v2(DevicePtr* p, std::size_t size) {
  std::lock_guard guard(g_lock);
  std::size_t free = 0, total = 0;
  if (int c = cuMemGetInfo_v2(&free, &total); c != 0) return c;
  if (size == 0) return k_invalid_value;
  if (size > free) return k_out_of_memory;
  std::size_t mapped = (size + 4095) & ~std::size_t{4095};
  void* base = ::mmap(nullptr, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return k_out_of_memory;
  Allocation a{reinterpret_cast<std::uintptr_t>(base), size, mapped, g_current};
  g_allocations[a.base] = a;
  for (auto [lo, hi] : backed(a.base, size)) {
    std::uintptr_t page_lo = (a.base + lo) & ~std::uintptr_t{4095};
    std::uintptr_t page_hi = (a.base + hi + 4095) & ~std::uintptr_t{4095};
    ::mprotect(reinterpret_cast<void*>(page_lo), page_hi - page_lo, PROT_READ | PROT_WRITE);
  }
  g_current->allocated += size;
  *p = a.base;
  return 0;
}
EXPORT int cuMemFree_v2(DevicePtr p) {
  std::lock_guard guard(g_lock);
  auto it = g_allocations.find(static_cast<std::uintptr_t>(p));
  if (it == g_allocations.end()) return k_invalid_value;
  it->second.context->allocated -= it->second.size;
  ::munmap(reinterpret_cast<void*>(it->second.base), it->second.mapped);
  g_allocations.erase(it);
  return 0;
}
EXPORT int cuMemAllocHost_v2(void** p, std::size_t size) {
  std::lock_guard guard(g_lock);
  *p = std::malloc(size);
  return *p == nullptr ? k_out_of_memory : 0;
}
EXPORT int cuMemFreeHost(void* p) {
  std::lock_guard guard(g_lock);
  std::free(p);
  return 0;
}
EXPORT int cuMemcpyHtoDAsync_v2(DevicePtr dst, const void* src, std::size_t n, void* s) {
  std::lock_guard guard(g_lock);
  copy_bytes(static_cast<std::uintptr_t>(dst), reinterpret_cast<std::uintptr_t>(src), n);
  advance(s, static_cast<double>(n), rate("h2d_gbs", 55));
  return 0;
}
EXPORT int cuMemcpyDtoHAsync_v2(void* dst, DevicePtr src, std::size_t n, void* s) {
  std::lock_guard guard(g_lock);
  copy_bytes(reinterpret_cast<std::uintptr_t>(dst), static_cast<std::uintptr_t>(src), n);
  advance(s, static_cast<double>(n), rate("d2h_gbs", 55));
  return 0;
}
EXPORT int cuMemcpyDtoDAsync_v2(DevicePtr dst, DevicePtr src, std::size_t n, void* s) {
  std::lock_guard guard(g_lock);
  copy_bytes(static_cast<std::uintptr_t>(dst), static_cast<std::uintptr_t>(src), n);
  advance(s, 2.0 * static_cast<double>(n), rate("d2d_gbs", 3000));
  return 0;
}
EXPORT int cuMemcpyPeerAsync(DevicePtr dst, void* dst_ctx, DevicePtr src, void* src_ctx, std::size_t n, void* s) {
  std::lock_guard guard(g_lock);
  copy_bytes(static_cast<std::uintptr_t>(dst), static_cast<std::uintptr_t>(src), n);
  double gbs = 397;
  const json& peer = cuda().contains("peer_gbs") ? cuda()["peer_gbs"] : json();
  std::string key = std::to_string(static_cast<Context*>(src_ctx)->device) + ">" +
                    std::to_string(static_cast<Context*>(dst_ctx)->device);
  if (peer.is_number()) gbs = peer.get<double>();
  else if (peer.is_object() && peer.contains(key)) gbs = peer[key].get<double>();
  advance(s, static_cast<double>(n), gbs);
  return 0;
}
EXPORT int cuMemsetD8Async(DevicePtr p, unsigned char v, std::size_t n, void*) {
  std::lock_guard guard(g_lock);
  if (Allocation* a = allocation_of(static_cast<std::uintptr_t>(p))) a->product = a->filled = false;
  for (auto [lo, hi] : backed(static_cast<std::uintptr_t>(p), n))
    std::memset(reinterpret_cast<void*>(p + lo), v, hi - lo);
  return 0;
}
EXPORT int cuMemsetD32Async(DevicePtr p, unsigned v, std::size_t n, void*) {
  std::lock_guard guard(g_lock);
  for (auto [lo, hi] : backed(static_cast<std::uintptr_t>(p), n * 4))
    for (std::size_t o = lo; o + 4 <= hi; o += 4) std::memcpy(reinterpret_cast<void*>(p + o), &v, 4);
  return 0;
}
EXPORT int cuModuleLoadDataEx(void** module, const void* image, unsigned n, int* options, void** values) {
  std::lock_guard guard(g_lock);
  if (int code = cuda().value("module_error", 0); code != 0) {
    std::string log = cuda().value("jit_log", std::string{});
    char* buf = nullptr;
    std::size_t size = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (options[i] == 5) buf = static_cast<char*>(values[i]);                 // CU_JIT_ERROR_LOG_BUFFER
      if (options[i] == 6) size = reinterpret_cast<std::uintptr_t>(values[i]);  // its size
    }
    if (buf != nullptr && size > 0) fake::copy_string(log.substr(0, size - 1), buf, static_cast<unsigned>(size));
    return code;
  }
  if (std::strstr(static_cast<const char*>(image), ".entry gd_axpi") == nullptr) return 218;  // CUDA_ERROR_INVALID_PTX
  *module = &g_module;
  return 0;
}
EXPORT int cuModuleGetFunction(void** f, void*, const char* name) {
  std::lock_guard guard(g_lock);
  std::string n = name;
  if (n == "gd_axpi") *f = &g_kernels[0];
  else if (n == "gd_fill") *f = &g_kernels[1];
  else if (n == "gd_copy") *f = &g_kernels[2];
  else if (n == "gd_copy4") *f = &g_kernels[3];
  else return k_not_found;
  return 0;
}
EXPORT int cuModuleUnload(void*) { return 0; }
EXPORT int cuLaunchKernel(void* f, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void* s,
                          void** params, void**) {
  std::lock_guard guard(g_lock);
  fake::maybe_misbehave("cuda", "cuLaunchKernel");
  if (f == nullptr || params == nullptr) return k_invalid_handle;
  auto arg = [&](int i) { return params[i]; };
  switch (*static_cast<Kernel*>(f)) {
    case Kernel::axpi: {
      auto x = *static_cast<DevicePtr*>(arg(0)), y = *static_cast<DevicePtr*>(arg(1));
      auto n = *static_cast<std::uint32_t*>(arg(2));
      float a = *static_cast<float*>(arg(3));
      bool wrong = cuda().value("kernel_wrong", false);
      for (auto [lo, hi] : backed(static_cast<std::uintptr_t>(y), std::size_t{n} * 4))
        for (std::size_t i = lo / 4; i < hi / 4; ++i) {
          float xi = 0;
          std::memcpy(&xi, reinterpret_cast<void*>(x + i * 4), 4);
          float yi = std::fma(xi, a, static_cast<float>(i));
          if (wrong && i % 4096 == 17) yi += 1.0F;  // a stuck bit in a few lanes
          std::memcpy(reinterpret_cast<void*>(y + i * 4), &yi, 4);
        }
      return 0;
    }
    case Kernel::fill: {
      auto p = *static_cast<DevicePtr*>(arg(0));
      auto n = *static_cast<std::uint32_t*>(arg(1));
      auto seed = *static_cast<std::uint32_t*>(arg(2));
      auto kind = *static_cast<std::uint32_t*>(arg(3));
      auto shift = *static_cast<std::uint32_t*>(arg(4));
      std::size_t element = kind == 0 ? 4 : 2;
      if (Allocation* a = allocation_of(static_cast<std::uintptr_t>(p)); a != nullptr && a->base == p) {
        a->filled = true;
        a->seed = seed;
        a->bits = 32U - shift;
        a->kind = kind;
        a->product = false;
      }
      for (auto [lo, hi] : backed(static_cast<std::uintptr_t>(p), std::size_t{n} * element))
        for (std::size_t i = lo / element; i < hi / element; ++i) {
          float v = gpudoctor::probe::fill_value(seed, static_cast<std::uint32_t>(i), 32U - shift);
          if (kind == 0) std::memcpy(reinterpret_cast<void*>(p + i * 4), &v, 4);
          else {  // exact in the format by construction: bf16 is the float's upper half; fp16 re-biased
            std::uint32_t bits = 0;
            std::memcpy(&bits, &v, 4);
            auto h = static_cast<std::uint16_t>(bits >> 16U);
            if (kind == 1 && v != 0.0F) {  // normal fp16: the values are multiples of 2^-10 in [-1, 1)
              auto exp = static_cast<std::uint32_t>(static_cast<int>((bits >> 23U) & 0xFFU) - 127 + 15);
              h = static_cast<std::uint16_t>(((bits >> 16U) & 0x8000U) | (exp << 10U) | ((bits >> 13U) & 0x3FFU));
            } else if (kind == 1) {
              h = static_cast<std::uint16_t>((bits >> 16U) & 0x8000U);
            }
            std::memcpy(reinterpret_cast<void*>(p + i * 2), &h, 2);
          }
        }
      return 0;
    }
    case Kernel::copy:
    case Kernel::copy4: {
      auto dst = *static_cast<DevicePtr*>(arg(0)), src = *static_cast<DevicePtr*>(arg(1));
      auto n16 = *static_cast<std::uint64_t*>(arg(2));
      copy_bytes(static_cast<std::uintptr_t>(dst), static_cast<std::uintptr_t>(src), n16 * 16);
      // Each kernel its own rate (default: the one-load kernel's), whatever the grid.
      Kernel k = *static_cast<Kernel*>(f);
      double gbs = rate("copy_kernel_gbs", 2900);
      if (k == Kernel::copy4) gbs = rate("copy4_kernel_gbs", gbs);
      advance(s, 2.0 * static_cast<double>(n16 * 16), gbs);
      return 0;
    }
  }
  return k_invalid_handle;
}
EXPORT int cuStreamCreate(void** s, unsigned) {
  std::lock_guard guard(g_lock);
  *s = new Stream{0, g_current};
  return 0;
}
EXPORT int cuStreamDestroy_v2(void* s) {
  std::lock_guard guard(g_lock);
  delete static_cast<Stream*>(s);
  return 0;
}
EXPORT int cuStreamSynchronize(void*) {
  std::lock_guard guard(g_lock);
  fake::maybe_misbehave("cuda", "cuStreamSynchronize");
  return 0;
}
EXPORT int cuEventCreate(void** e, unsigned) {
  std::lock_guard guard(g_lock);
  *e = new Event{};
  return 0;
}
EXPORT int cuEventRecord(void* e, void* s) {
  std::lock_guard guard(g_lock);
  static_cast<Event*>(e)->at_ms = s != nullptr ? static_cast<Stream*>(s)->clock_ms : 0;
  return 0;
}
EXPORT int cuEventSynchronize(void*) { return 0; }
EXPORT int cuEventElapsedTime(float* ms, void* a, void* b) {
  std::lock_guard guard(g_lock);
  *ms = static_cast<float>(static_cast<Event*>(b)->at_ms - static_cast<Event*>(a)->at_ms);
  return 0;
}
EXPORT int cuEventElapsedTime_v2(float* ms, void* a, void* b) { return cuEventElapsedTime(ms, a, b); }
EXPORT int cuEventDestroy_v2(void* e) {
  std::lock_guard guard(g_lock);
  delete static_cast<Event*>(e);
  return 0;
}
EXPORT int cuDeviceCanAccessPeer(int* can, int a, int b) {
  std::lock_guard guard(g_lock);
  if (device(a) == nullptr || device(b) == nullptr) return k_invalid_device;
  *can = cuda().value("can_access_peer", true) ? 1 : 0;
  return 0;
}
EXPORT int cuCtxEnablePeerAccess(void*, unsigned) { return 0; }
