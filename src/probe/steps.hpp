#pragma once
// The probe's steps, inside its child process. Each fills its part of the result, or records
// why it could not (a StepError's text becomes the unknown fact's reason). Internal to src/probe/.

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "core/snapshot.hpp"
#include "probe/cuda_session.hpp"
#include "probe/compute_probe.hpp"
#include "probe/library_api.hpp"
#include "probe/telemetry.hpp"

namespace gpudoctor::blas {
/// The entry points, bound with dlopen/dlsym.
struct Functions {
#define GPUDOCTOR_DECLARE(member, sig, ...) std::add_pointer_t<sig> member = nullptr;
  GPUDOCTOR_CUBLAS_FUNCTIONS(GPUDOCTOR_DECLARE)
#undef GPUDOCTOR_DECLARE
};
}  // namespace gpudoctor::blas

namespace gpudoctor::dnn {
/// The entry points, bound with dlopen/dlsym.
struct Functions {
#define GPUDOCTOR_DECLARE(member, sig, ...) std::add_pointer_t<sig> member = nullptr;
  GPUDOCTOR_CUDNN_FUNCTIONS(GPUDOCTOR_DECLARE)
#undef GPUDOCTOR_DECLARE
};
}  // namespace gpudoctor::dnn

namespace gpudoctor::nccl {
/// The entry points, bound with dlopen/dlsym.
struct Functions {
#define GPUDOCTOR_DECLARE(member, sig, ...) std::add_pointer_t<sig> member = nullptr;
  GPUDOCTOR_NCCL_FUNCTIONS(GPUDOCTOR_DECLARE)
#undef GPUDOCTOR_DECLARE
};
}  // namespace gpudoctor::nccl

namespace gpudoctor::probe {

/// Bytes in a MiB, for the steps' buffer sizes.
inline constexpr std::size_t k_mib = std::size_t{1} << 20U;

/// One GPU with its primary context current, a stream and our kernels loaded.
struct Gpu {
  const Cuda& cuda;
  cuda::Device device;
  cuda::Context context;
  const Stream& stream;
  const Kernels& kernels;
  Telemetry& telemetry;
  int telemetry_slot;
  bool quick;
  std::mutex& host_link;  ///< held while host<->device copies run: one GPU at a time on the host's links
};

/// Runs `f` when the scope ends, however it ends (handles and descriptors of the libraries).
template <typename F>
class Finally {
 public:
  explicit Finally(F f) : m_f(std::move(f)) {}
  ~Finally() { m_f(); }
  Finally(const Finally&) = delete;
  Finally& operator=(const Finally&) = delete;

 private:
  F m_f;
};

/// Tells the telemetry what load runs on `gpu` for the lifetime of a scope.
class UnderLoad {
 public:
  UnderLoad(const Gpu& gpu, Load load) : m_gpu(gpu) { gpu.telemetry.set_load(gpu.telemetry_slot, load); }
  ~UnderLoad() { m_gpu.telemetry.set_load(m_gpu.telemetry_slot, Load::none); }
  UnderLoad(const UnderLoad&) = delete;
  UnderLoad& operator=(const UnderLoad&) = delete;

 private:
  const Gpu& m_gpu;
};

using BlasFunctions = gpudoctor::blas::Functions;

using DnnFunctions = gpudoctor::dnn::Functions;

using NcclFunctions = gpudoctor::nccl::Functions;

/// cuBLAS, cuDNN and NCCL as the plan names them; each entry of `libraries` is updated with what
/// loaded and the library's own version.
struct ComputeLibraries {
  std::unique_ptr<SharedLibrary> cublas_lib, cudnn_lib, nccl_lib;
  std::optional<BlasFunctions> cublas;
  std::optional<DnnFunctions> cudnn;
  std::optional<NcclFunctions> nccl;
  /// `sonames`: what to dlopen for an entry that names no file (the plan's, by role).
  void load(std::vector<ProbeLibrary>& libraries, const ProbeSonames& sonames);
  [[nodiscard]] Fact<std::string> unavailable(const std::vector<ProbeLibrary>& libraries, const char* role) const;
};

// Per GPU (gpu_steps.cpp)
void check_kernel(const Gpu& gpu, GpuProbe& out);
void allocate_most(const Gpu& gpu, GpuProbe& out);
void device_copy(const Gpu& gpu, GpuProbe& out);
void host_copies(const Gpu& gpu, GpuProbe& out);

// Through the libraries (library_steps.cpp)
GemmProbe matrix_product(const Gpu& gpu, const BlasFunctions& blas, const std::string& precision);
Fact<std::string> convolution(const Gpu& gpu, const DnnFunctions& dnn);

// Across GPUs (multi_gpu_steps.cpp); `gpus` hold each GPU's context and stream.
struct GpuHandle {
  cuda::Device device;
  cuda::Context context;
  const Stream* stream;
};
std::vector<PeerProbe> peer_copies(const Cuda& cuda, const std::vector<GpuHandle>& gpus, bool quick);
void all_reduce(const Cuda& cuda, const NcclFunctions& nccl, const std::vector<GpuHandle>& gpus, ComputeProbe& out);

}  // namespace gpudoctor::probe
