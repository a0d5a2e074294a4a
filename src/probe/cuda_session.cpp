#include "probe/cuda_session.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>

#include "probe/ptx.hpp"

namespace gpudoctor::probe {

Cuda::Cuda() : m_lib("libcuda.so.1") {
#define GPUDOCTOR_BIND(member, sig, ...) m_lib.bind(m_fn.member, {__VA_ARGS__});
  GPUDOCTOR_CUDA_FUNCTIONS(GPUDOCTOR_BIND)
  GPUDOCTOR_CUDA_COMPUTE_FUNCTIONS(GPUDOCTOR_BIND)
#undef GPUDOCTOR_BIND
}

std::string Cuda::describe(int code) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (m_fn.get_error_name == nullptr || m_fn.get_error_name(code, &name) != 0 || name == nullptr)
    return fmt::format("CUresult {}", code);
  if (m_fn.get_error_string != nullptr && m_fn.get_error_string(code, &text) == 0 && text != nullptr)
    return fmt::format("{} ({})", name, text);
  return name;
}

void Cuda::check(int code, const char* call) const {
  if (code != 0) throw StepError(fmt::format("{} -> {}", call, describe(code)));
}

DeviceBuffer::DeviceBuffer(const Cuda& cuda, std::size_t bytes) : m_cuda(cuda), m_bytes(bytes) {
  cuda.check(cuda.need(cuda.fn().mem_alloc, "cuMemAlloc_v2")(&m_ptr, bytes),
             fmt::format("cuMemAlloc_v2({} MiB)", bytes >> 20U).c_str());
}
DeviceBuffer::~DeviceBuffer() {
  if (m_ptr != 0 && m_cuda.fn().mem_free != nullptr) m_cuda.fn().mem_free(m_ptr);
}

PinnedBuffer::PinnedBuffer(const Cuda& cuda, std::size_t bytes) : m_cuda(cuda), m_bytes(bytes) {
  cuda.check(cuda.need(cuda.fn().mem_alloc_host, "cuMemAllocHost_v2")(&m_ptr, bytes),
             fmt::format("cuMemAllocHost_v2({} MiB)", bytes >> 20U).c_str());
}
PinnedBuffer::~PinnedBuffer() {
  if (m_ptr != nullptr && m_cuda.fn().mem_free_host != nullptr) m_cuda.fn().mem_free_host(m_ptr);
}

Stream::Stream(const Cuda& cuda) : m_cuda(cuda) {
  cuda.check(cuda.need(cuda.fn().stream_create, "cuStreamCreate")(&m_stream, cuda::k_stream_non_blocking),
             "cuStreamCreate");
}
Stream::~Stream() {
  if (m_stream != nullptr && m_cuda.fn().stream_destroy != nullptr) m_cuda.fn().stream_destroy(m_stream);
}
void Stream::sync() const {
  m_cuda.check(m_cuda.need(m_cuda.fn().stream_synchronize, "cuStreamSynchronize")(m_stream), "cuStreamSynchronize");
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  std::size_t m = values.size() / 2;
  return values.size() % 2 == 1 ? values[m] : (values[m - 1] + values[m]) / 2;
}

Measured rate_of(const std::vector<double>& ms, double amount, double per_unit, std::string what) {
  Measured m;
  m.median_ms = median(ms);
  m.repeats = static_cast<int>(ms.size());
  m.value = m.median_ms > 0 ? amount / m.median_ms / per_unit : 0;
  m.what = std::move(what);
  return m;
}

std::vector<double> time_on_stream(const Cuda& cuda, cuda::Stream stream, int warmup, int repeats,
                                   const std::function<void()>& op) {
  const auto& fn = cuda.fn();
  auto* create = cuda.need(fn.event_create, "cuEventCreate");
  auto* record = cuda.need(fn.event_record, "cuEventRecord");
  auto* elapsed = cuda.need(fn.event_elapsed_time, "cuEventElapsedTime");
  auto* sync = cuda.need(fn.event_synchronize, "cuEventSynchronize");
  std::vector<cuda::Event> events(static_cast<std::size_t>(repeats) * 2, nullptr);
  auto destroy = [&] {
    for (auto e : events)
      if (e != nullptr && fn.event_destroy != nullptr) fn.event_destroy(e);
  };
  std::vector<double> ms;
  try {
    for (auto& e : events) cuda.check(create(&e, 0), "cuEventCreate");
    for (int i = 0; i < warmup; ++i) op();
    for (std::size_t i = 0; i < static_cast<std::size_t>(repeats); ++i) {
      cuda.check(record(events[2 * i], stream), "cuEventRecord");
      op();
      cuda.check(record(events[2 * i + 1], stream), "cuEventRecord");
    }
    cuda.check(sync(events.back()), "cuEventSynchronize");
    for (std::size_t i = 0; i < static_cast<std::size_t>(repeats); ++i) {
      float t = 0;
      cuda.check(elapsed(&t, events[2 * i], events[2 * i + 1]), "cuEventElapsedTime");
      ms.push_back(t);
    }
  } catch (...) {
    destroy();
    throw;
  }
  destroy();
  return ms;
}

Kernels::Kernels(const Cuda& cuda) : m_cuda(cuda) {
  const auto& fn = cuda.fn();
  std::string ptx(kernels_ptx());
  std::array<char, 8192> log{};
  std::array<int, 2> options{cuda::k_jit_error_log_buffer, cuda::k_jit_error_log_buffer_size};
  std::array<void*, 2> values{log.data(), reinterpret_cast<void*>(log.size())};  // NOLINT: the JIT API passes sizes as pointers
  int code = cuda.need(fn.module_load_data_ex, "cuModuleLoadDataEx")(&m_module, ptx.c_str(), 2, options.data(),
                                                                     values.data());
  if (code != 0) {
    std::string jit(log.data(), strnlen(log.data(), log.size()));
    throw StepError(fmt::format("cuModuleLoadDataEx (our PTX) -> {}{}", cuda.describe(code),
                                jit.empty() ? "" : "; the JIT said: " + jit));
  }
  auto* get = cuda.need(fn.module_get_function, "cuModuleGetFunction");
  cuda.check(get(&m_axpi, m_module, "gd_axpi"), "cuModuleGetFunction(gd_axpi)");
  cuda.check(get(&m_fill, m_module, "gd_fill"), "cuModuleGetFunction(gd_fill)");
  cuda.check(get(&m_copy, m_module, "gd_copy"), "cuModuleGetFunction(gd_copy)");
  cuda.check(get(&m_copy4, m_module, "gd_copy4"), "cuModuleGetFunction(gd_copy4)");
}

Kernels::~Kernels() {
  if (m_module != nullptr && m_cuda.fn().module_unload != nullptr) m_cuda.fn().module_unload(m_module);
}

void Kernels::launch(cuda::Function f, cuda::Stream s, void** params, const char* name, unsigned grid) const {
  auto* launch = m_cuda.need(m_cuda.fn().launch_kernel, "cuLaunchKernel");
  m_cuda.check(launch(f, grid != 0 ? grid : m_grid, 1, 1, 256, 1, 1, 0, s, params, nullptr), name);
}

void Kernels::axpi(cuda::Stream s, cuda::DevicePtr x, cuda::DevicePtr y, std::uint32_t n, float a) const {
  void* params[] = {&x, &y, &n, &a};
  launch(m_axpi, s, params, "cuLaunchKernel(gd_axpi)");
}

void Kernels::fill(cuda::Stream s, cuda::DevicePtr p, std::uint32_t n, std::uint32_t seed, FillKind kind,
                   unsigned bits) const {
  auto kind_code = static_cast<std::uint32_t>(kind);
  std::uint32_t shift = 32U - bits;
  std::uint32_t half = 1U << (bits - 1U);
  float scale = fill_scale(bits);
  void* params[] = {&p, &n, &seed, &kind_code, &shift, &half, &scale};
  launch(m_fill, s, params, "cuLaunchKernel(gd_fill)");
}

void Kernels::copy(cuda::Stream s, cuda::DevicePtr dst, cuda::DevicePtr src, std::uint64_t bytes, Copy kind,
                   unsigned blocks_per_sm) const {
  std::uint64_t n16 = bytes / 16;
  void* params[] = {&dst, &src, &n16};
  unsigned grid = blocks_per_sm == 0 ? 0 : m_sms * blocks_per_sm;
  switch (kind) {
    case Copy::one: launch(m_copy, s, params, "cuLaunchKernel(gd_copy)", grid); break;
    case Copy::four: launch(m_copy4, s, params, "cuLaunchKernel(gd_copy4)", grid); break;
  }
}

}  // namespace gpudoctor::probe
