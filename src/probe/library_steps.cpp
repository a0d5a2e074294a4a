// Steps through the libraries the frameworks load: a matrix product through cuBLAS at each
// precision, a convolution through cuDNN. Inputs are written on the GPU by our fill kernel with
// values exact in every format, so the host recomputes sampled outputs in double exactly.
#include <cmath>
#include <cstring>
#include <fmt/format.h>

#include "probe/ptx.hpp"
#include "probe/steps.hpp"

namespace gpudoctor::probe {

namespace {

struct Precision {
  const char* name;
  int data_type;     // cudaDataType of A, B and C
  int compute_type;  // cublasComputeType_t
  FillKind fill;
  unsigned bits;  // significant bits of the inputs: exact in the format the product reads
  std::size_t element;
  int min_cc_major;
};

const Precision* precision_named(const std::string& name) {
  static const Precision k_table[] = {
      {"bf16", blas::k_r_16bf, blas::k_compute_32f, FillKind::bf16, 8, 2, 8},
      {"fp16", blas::k_r_16f, blas::k_compute_32f, FillKind::fp16, 11, 2, 0},
      {"tf32", blas::k_r_32f, blas::k_compute_32f_fast_tf32, FillKind::fp32, 11, 4, 8},
      {"fp32", blas::k_r_32f, blas::k_compute_32f, FillKind::fp32, 24, 4, 0},
  };
  for (const auto& p : k_table)
    if (name == p.name) return &p;
  return nullptr;
}

float read_element(const void* raw, FillKind kind) {
  std::uint16_t h = 0;
  float f = 0;
  switch (kind) {
    case FillKind::fp32: std::memcpy(&f, raw, 4); return f;
    case FillKind::fp16: std::memcpy(&h, raw, 2); return half_to_float(h);
    case FillKind::bf16: std::memcpy(&h, raw, 2); return bf16_to_float(h);
  }
  return NAN;
}

std::string blas_error(const BlasFunctions& blas, int status, const char* call) {
  const char* s = blas.status_string != nullptr ? blas.status_string(status) : nullptr;
  return fmt::format("{} -> {}", call, s != nullptr ? s : fmt::format("cublasStatus_t {}", status));
}

}  // namespace

GemmProbe matrix_product(const Gpu& gpu, const BlasFunctions& blas, const std::string& precision) {
  GemmProbe out;
  out.precision = precision;
  const Precision* p = precision_named(precision);
  if (p == nullptr) throw StepError("unknown precision " + precision);
  int cc_major = 0;
  gpu.cuda.fn().device_get_attribute(&cc_major, cuda::k_attr_cc_major, gpu.device);
  if (cc_major < p->min_cc_major) {
    out.rate = Fact<Measured>::unknown(
        fmt::format("{} {} {}.0 or newer", precision, probe_reason::needs_compute_capability, p->min_cc_major));
    return out;
  }
  if (blas.create == nullptr || blas.gemm_ex == nullptr || blas.set_stream == nullptr)
    throw StepError("this cuBLAS lacks cublasCreate_v2, cublasSetStream_v2 or cublasGemmEx");
  const int n = gpu.quick ? 4096 : 8192;
  const auto elements = static_cast<std::uint32_t>(n) * static_cast<std::uint32_t>(n);
  DeviceBuffer a(gpu.cuda, elements * p->element);
  DeviceBuffer b(gpu.cuda, elements * p->element);
  DeviceBuffer c(gpu.cuda, elements * p->element);
  auto s = gpu.stream.get();
  gpu.kernels.fill(s, a.ptr(), elements, 11, p->fill, p->bits);
  gpu.kernels.fill(s, b.ptr(), elements, 13, p->fill, p->bits);
  gpu.cuda.check(gpu.cuda.fn().memset_d8_async(c.ptr(), 0xFF, c.bytes(), s), "cuMemsetD8Async");

  blas::Handle handle = nullptr;
  int st = blas.create(&handle);
  if (st != 0) throw StepError(blas_error(blas, st, "cublasCreate_v2"));
  Finally destroy([&] {
    if (blas.destroy != nullptr) blas.destroy(handle);
  });
  st = blas.set_stream(handle, s);
  if (st != 0) throw StepError(blas_error(blas, st, "cublasSetStream_v2"));
  const float alpha = 1.0F, beta = 0.0F;
  auto run = [&] {
    int r = blas.gemm_ex(handle, blas::k_op_n, blas::k_op_n, n, n, n, &alpha, reinterpret_cast<const void*>(a.ptr()),
                         p->data_type, n, reinterpret_cast<const void*>(b.ptr()), p->data_type, n, &beta,
                         reinterpret_cast<void*>(c.ptr()), p->data_type, n, p->compute_type, blas::k_gemm_default);
    if (r != 0) throw StepError(blas_error(blas, r, "cublasGemmEx"));
  };
  const bool slow = precision == "fp32";
  std::vector<double> ms;
  {
    UnderLoad load(gpu, Load::compute);
    ms = time_on_stream(gpu.cuda, s, gpu.quick ? 1 : 3, gpu.quick ? 3 : (slow ? 5 : 20), run);
  }
  double flops = 2.0 * n * static_cast<double>(n) * n;
  out.rate = rate_of(ms, flops, 1e9,
                     fmt::format("{0}x{0}x{0} through cublasGemmEx, {1} in and out{2}", n,
                                 precision == "tf32" ? "fp32" : precision,
                                 precision == "tf32" ? ", TF32 tensor cores" : ", fp32 accumulate"));

  // Sampled entries against the host in double: C(i,j) = sum_k A(i,k) B(k,j), column-major.
  double err2 = 0, ref2 = 0;
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525U + 1013904223U;
    return state >> 8U;
  };
  for (int sample = 0; sample < 24; ++sample) {
    std::uint32_t i = next() % static_cast<std::uint32_t>(n);
    std::uint32_t j = next() % static_cast<std::uint32_t>(n);
    std::uint64_t raw = 0;
    std::uint64_t offset = (static_cast<std::uint64_t>(j) * static_cast<std::uint64_t>(n) + i) * p->element;
    gpu.cuda.check(gpu.cuda.fn().memcpy_dtoh_async(&raw, c.ptr() + offset, p->element, s), "cuMemcpyDtoHAsync_v2");
    gpu.stream.sync();
    double ref = 0;
    for (std::uint32_t k = 0; k < static_cast<std::uint32_t>(n); ++k) {
      ref += static_cast<double>(fill_value(11, k * static_cast<std::uint32_t>(n) + i, p->bits)) *
             static_cast<double>(fill_value(13, j * static_cast<std::uint32_t>(n) + k, p->bits));
    }
    double got = read_element(&raw, p->fill);
    err2 += (got - ref) * (got - ref);
    ref2 += ref * ref;
  }
  out.relative_error = ref2 > 0 ? std::sqrt(err2 / ref2) : (err2 > 0 ? 1e30 : 0.0);
  if (!std::isfinite(*out.relative_error)) out.relative_error = 1e30;  // NaN/inf: JSON has no NaN
  return out;
}

Fact<std::string> convolution(const Gpu& gpu, const DnnFunctions& dnn) {
  if (dnn.create == nullptr || dnn.conv_forward == nullptr || dnn.set_conv_2d == nullptr)
    throw StepError("this cuDNN lacks cudnnCreate or the convolution API");
  constexpr int N = 1, C = 32, H = 64, W = 64, K = 64, R = 3, S = 3;
  auto err = [&](int status, const char* call) {
    const char* t = dnn.error_string != nullptr ? dnn.error_string(status) : nullptr;
    return StepError(fmt::format("{} -> {}", call, t != nullptr ? t : fmt::format("cudnnStatus_t {}", status)));
  };
  auto s = gpu.stream.get();
  DeviceBuffer x(gpu.cuda, std::size_t{N} * C * H * W * 4);
  DeviceBuffer w(gpu.cuda, std::size_t{K} * C * R * S * 4);
  DeviceBuffer y(gpu.cuda, std::size_t{N} * K * H * W * 4);
  // 11 significant bits: exact also where cuDNN reads fp32 through TF32 tensor cores.
  gpu.kernels.fill(s, x.ptr(), N * C * H * W, 21, FillKind::fp32, 11);
  gpu.kernels.fill(s, w.ptr(), K * C * R * S, 23, FillKind::fp32, 11);
  gpu.cuda.check(gpu.cuda.fn().memset_d8_async(y.ptr(), 0xFF, y.bytes(), s), "cuMemsetD8Async");

  dnn::Handle handle = nullptr;
  dnn::TensorDesc xd = nullptr, yd = nullptr;
  dnn::FilterDesc wd = nullptr;
  dnn::ConvDesc cd = nullptr;
  Finally cleanup([&] {
    if (cd != nullptr && dnn.destroy_conv) dnn.destroy_conv(cd);
    if (wd != nullptr && dnn.destroy_filter) dnn.destroy_filter(wd);
    if (yd != nullptr && dnn.destroy_tensor) dnn.destroy_tensor(yd);
    if (xd != nullptr && dnn.destroy_tensor) dnn.destroy_tensor(xd);
    if (handle != nullptr && dnn.destroy) dnn.destroy(handle);
  });
  int st = dnn.create(&handle);
  if (st != 0) throw err(st, "cudnnCreate");
  if ((st = dnn.set_stream(handle, s)) != 0) throw err(st, "cudnnSetStream");
  if ((st = dnn.create_tensor(&xd)) != 0 || (st = dnn.create_tensor(&yd)) != 0) throw err(st, "cudnnCreateTensorDescriptor");
  if ((st = dnn.create_filter(&wd)) != 0) throw err(st, "cudnnCreateFilterDescriptor");
  if ((st = dnn.create_conv(&cd)) != 0) throw err(st, "cudnnCreateConvolutionDescriptor");
  if ((st = dnn.set_tensor_4d(xd, dnn::k_nchw, dnn::k_float, N, C, H, W)) != 0) throw err(st, "cudnnSetTensor4dDescriptor");
  if ((st = dnn.set_tensor_4d(yd, dnn::k_nchw, dnn::k_float, N, K, H, W)) != 0) throw err(st, "cudnnSetTensor4dDescriptor");
  if ((st = dnn.set_filter_4d(wd, dnn::k_float, dnn::k_nchw, K, C, R, S)) != 0) throw err(st, "cudnnSetFilter4dDescriptor");
  if ((st = dnn.set_conv_2d(cd, 1, 1, 1, 1, 1, 1, dnn::k_cross_correlation, dnn::k_float)) != 0)
    throw err(st, "cudnnSetConvolution2dDescriptor");
  std::size_t ws_bytes = 0;
  if (dnn.workspace_size != nullptr &&
      (st = dnn.workspace_size(handle, xd, wd, cd, yd, dnn::k_fwd_implicit_gemm, &ws_bytes)) != 0)
    throw err(st, "cudnnGetConvolutionForwardWorkspaceSize");
  std::optional<DeviceBuffer> ws;
  if (ws_bytes > 0) ws.emplace(gpu.cuda, ws_bytes);
  const float alpha = 1.0F, beta = 0.0F;
  st = dnn.conv_forward(handle, &alpha, xd, reinterpret_cast<const void*>(x.ptr()), wd,
                        reinterpret_cast<const void*>(w.ptr()), cd, dnn::k_fwd_implicit_gemm,
                        ws ? reinterpret_cast<void*>(ws->ptr()) : nullptr, ws_bytes, &beta, yd,
                        reinterpret_cast<void*>(y.ptr()));
  if (st != 0) throw err(st, "cudnnConvolutionForward");
  std::vector<float> out(std::size_t{N} * K * H * W);
  gpu.cuda.check(gpu.cuda.fn().memcpy_dtoh_async(out.data(), y.ptr(), y.bytes(), s), "cuMemcpyDtoHAsync_v2");
  gpu.stream.sync();
  double err2 = 0, ref2 = 0;
  for (std::size_t idx = 0; idx < out.size(); idx += 97) {
    int k = static_cast<int>(idx / (H * W)), oh = static_cast<int>(idx / W % H), ow = static_cast<int>(idx % W);
    double ref = 0;
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < R; ++r)
        for (int q = 0; q < S; ++q) {
          int ih = oh + r - 1, iw = ow + q - 1;
          if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
          ref += static_cast<double>(fill_value(21, static_cast<std::uint32_t>((c * H + ih) * W + iw), 11)) *
                 static_cast<double>(fill_value(23, static_cast<std::uint32_t>(((k * C + c) * R + r) * S + q), 11));
        }
    double got = out[idx];
    err2 += (got - ref) * (got - ref);
    ref2 += ref * ref;
  }
  double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : 1;
  if (!(rel < 1e-4))
    throw StepError(fmt::format("cudnnConvolutionForward {} (relative error {:.2g})", probe_reason::wrong_results, rel));
  return fmt::format("3x3 convolution, input {}x{}x{}x{}, {} filters, fp32: results right (relative error {:.1g})", N, C,
                     H, W, K, rel);
}

}  // namespace gpudoctor::probe
