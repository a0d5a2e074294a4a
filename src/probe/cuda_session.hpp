#pragma once
// Inside the probe's child process: the bound driver API, error texts, and small owners of
// device memory, pinned host memory, streams and events. Internal to src/probe/.

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/snapshot.hpp"
#include "driver/cuda_api.hpp"
#include "driver/library.hpp"
#include "probe/ptx.hpp"

namespace gpudoctor::probe {

/// A failed call: "cuMemAlloc_v2 -> CUDA_ERROR_OUT_OF_MEMORY (out of memory)". Steps catch it
/// and record it as the reason their figure is unknown.
struct StepError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using CudaFunctions = cuda::Functions;

/// libcuda.so.1, bound. Throws StepError from `check` with the driver's own names for codes.
class Cuda {
 public:
  Cuda();
  [[nodiscard]] bool loaded() const { return m_lib.loaded(); }
  [[nodiscard]] const std::string& load_error() const { return m_lib.error(); }
  [[nodiscard]] const CudaFunctions& fn() const { return m_fn; }
  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"
  [[nodiscard]] std::string describe(int code) const;
  /// Throws StepError("<call> -> <describe(code)>") when code != 0.
  void check(int code, const char* call) const;
  /// Throws StepError when the entry point is missing from this libcuda.
  template <typename F>
  F* need(F* f, const char* call) const {
    if (f == nullptr) throw StepError(std::string(call) + " is not exported by this libcuda");
    return f;
  }

 private:
  SharedLibrary m_lib;
  CudaFunctions m_fn;
};

/// Device memory of the current context.
class DeviceBuffer {
 public:
  DeviceBuffer(const Cuda& cuda, std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  [[nodiscard]] cuda::DevicePtr ptr() const { return m_ptr; }
  [[nodiscard]] std::size_t bytes() const { return m_bytes; }

 private:
  const Cuda& m_cuda;
  cuda::DevicePtr m_ptr = 0;
  std::size_t m_bytes = 0;
};

/// Page-locked host memory (cuMemAllocHost), for copies at the link's full speed.
class PinnedBuffer {
 public:
  PinnedBuffer(const Cuda& cuda, std::size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  [[nodiscard]] void* data() const { return m_ptr; }
  [[nodiscard]] std::size_t bytes() const { return m_bytes; }

 private:
  const Cuda& m_cuda;
  void* m_ptr = nullptr;
  std::size_t m_bytes = 0;
};

class Stream {
 public:
  explicit Stream(const Cuda& cuda);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  [[nodiscard]] cuda::Stream get() const { return m_stream; }
  void sync() const;

 private:
  const Cuda& m_cuda;
  cuda::Stream m_stream = nullptr;
};

/// Times `op` (enqueued on `stream`) with a pair of events around each run: `warmup` untimed
/// runs, then `repeats` timed ones. Returns every time in milliseconds.
std::vector<double> time_on_stream(const Cuda& cuda, cuda::Stream stream, int warmup, int repeats,
                                   const std::function<void()>& op);
double median(std::vector<double> values);
/// The median of `ms` as a rate: `amount` per median millisecond, divided by `per_unit`
/// (bytes and 1e6 give GB/s; FLOP and 1e9 give TFLOP/s).
Measured rate_of(const std::vector<double>& ms, double amount, double per_unit, std::string what);

/// The probe's PTX module in the current context, and its kernels.
class Kernels {
 public:
  explicit Kernels(const Cuda& cuda);
  ~Kernels();
  Kernels(const Kernels&) = delete;
  Kernels& operator=(const Kernels&) = delete;
  /// y[i] = fma(x[i], a, float(i))
  void axpi(cuda::Stream s, cuda::DevicePtr x, cuda::DevicePtr y, std::uint32_t n, float a) const;
  /// p[i] = fill_value(seed, i, bits), stored as `kind`.
  void fill(cuda::Stream s, cuda::DevicePtr p, std::uint32_t n, std::uint32_t seed, FillKind kind, unsigned bits) const;
  /// Our device copy kernels: one 16-byte load per thread at a time, or four in flight.
  enum class Copy { one,
                    four };
  /// dst = src, `bytes` a multiple of 16, on a grid of `blocks_per_sm` blocks of 256 threads per
  /// multiprocessor (0: the grid of the other kernels).
  void copy(cuda::Stream s, cuda::DevicePtr dst, cuda::DevicePtr src, std::uint64_t bytes, Copy kind = Copy::one,
            unsigned blocks_per_sm = 0) const;
  void set_grid(unsigned multiprocessors) {
    m_sms = multiprocessors;
    m_grid = multiprocessors * 8U;
  }

 private:
  void launch(cuda::Function f, cuda::Stream s, void** params, const char* name, unsigned grid = 0) const;
  const Cuda& m_cuda;
  cuda::Module m_module = nullptr;
  cuda::Function m_axpi = nullptr, m_fill = nullptr, m_copy = nullptr, m_copy4 = nullptr;
  unsigned m_grid = 1024, m_sms = 128;
};

}  // namespace gpudoctor::probe
