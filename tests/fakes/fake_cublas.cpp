// A fake libcublas.so.13 for `gpudoctor probe`. cublasGemmEx advances the stream's clock by the
// scenario's rate and marks C as the product of A and B, which the fake libcuda computes for each
// element read back (from the fill recipes of A and B); "wrong": true scales and shifts every element,
// as a GPU that computes wrong results. "create" answers cublasCreate_v2 with a cublasStatus_t, as
// a cuBLAS that cannot initialize does (CUBLAS_STATUS_NOT_INITIALIZED = 1).
//
// "cublas": { "create": 0, "version": [13, 1, 0], "gemm_status": 0, "wrong": false,
//             "tflops": { "bf16": 820, "fp16": 776, "tf32": 426, "fp32": 51.8 },
//             "device_factor": { "1": 0.4 } }   (a GPU that runs at a fraction of the rate)

#include "fake_answers.hpp"
#include "fake_libraries.hpp"

namespace {
const nlohmann::json& blas() { return fake::answers("cublas"); }
struct Handle {
  void* stream = nullptr;
};
}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT int cublasCreate_v2(Handle** h) {
  if (int code = blas().value("create", 0); code != 0) return code;
  *h = new Handle;
  return 0;
}
EXPORT int cublasDestroy_v2(Handle* h) {
  delete h;
  return 0;
}
EXPORT int cublasSetStream_v2(Handle* h, void* s) {
  h->stream = s;
  return 0;
}
EXPORT int cublasGetProperty(int type, int* v) {
  if (type < 0 || type > 2) return 7;  // CUBLAS_STATUS_INVALID_VALUE
  *v = blas().contains("version") ? blas()["version"][static_cast<std::size_t>(type)].get<int>() : 0;
  return 0;
}
EXPORT const char* cublasGetStatusString(int status) {
  switch (status) {
    case 0: return "the operation completed successfully";
    case 1: return "the library was not initialized";
    case 3: return "the resource allocation failed";
    case 13: return "the GPU program failed to execute";
    default: return "unknown error";
  }
}
EXPORT int cublasGemmEx(Handle* h, int, int, int m, int n, int k, const void*, const void* a, int a_type, int,
                        const void* b, int, int, const void*, void* c, int, int, int compute, int) {
  if (int code = blas().value("gemm_status", 0); code != 0) return code;
  // cudaDataType 14 bf16, 2 fp16, 0 fp32; compute type 77 is CUBLAS_COMPUTE_32F_FAST_TF32.
  const char* precision = a_type == 14 ? "bf16" : a_type == 2 ? "fp16"
                                              : compute == 77 ? "tf32"
                                                              : "fp32";
  double tflops = 800;
  if (blas().contains("tflops") && blas()["tflops"].contains(precision)) tflops = blas()["tflops"][precision].get<double>();
  std::string dev = std::to_string(gdfake_current_device());
  if (blas().contains("device_factor") && blas()["device_factor"].contains(dev))
    tflops *= blas()["device_factor"][dev].get<double>();
  // FLOP / (TFLOP/s) in the stream clock's units: bytes / GB/s / 1e6 = ms, so pass FLOP / 1e3 against TFLOP/s.
  gdfake_advance(h->stream, 2.0 * m * n * static_cast<double>(k) / 1e3, tflops);
  gdfake_product(reinterpret_cast<std::uintptr_t>(c), reinterpret_cast<std::uintptr_t>(a),
                 reinterpret_cast<std::uintptr_t>(b), n, blas().value("wrong", false));
  return 0;
}
