#pragma once
// Our own declarations of the cuBLAS, cuDNN and NCCL entry points `gpudoctor probe` calls (no CUDA
// SDK at build time). Signatures and enum values from cublas_api.h / library_types.h (CUDA 11.0
// to 13.0), cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h (cuDNN 8 and 9, the "legacy" API that 9.x
// still exports) and nccl.h (NCCL 2.x); checked on the H100/H200 machines (scripts/device/probe_on_gpu.sh).

#include <cstddef>

#include "driver/cuda_api.hpp"

namespace gpudoctor::blas {

using Status = int;  // cublasStatus_t
using Handle = struct cublasContext*;
using Stream = cuda::Stream;  // cudaStream_t is CUstream

inline constexpr int k_op_n = 0;                    // CUBLAS_OP_N
inline constexpr int k_r_32f = 0;                   // CUDA_R_32F (library_types.h)
inline constexpr int k_r_16f = 2;                   // CUDA_R_16F
inline constexpr int k_r_16bf = 14;                 // CUDA_R_16BF
inline constexpr int k_compute_32f = 68;            // CUBLAS_COMPUTE_32F
inline constexpr int k_compute_32f_fast_tf32 = 77;  // CUBLAS_COMPUTE_32F_FAST_TF32
inline constexpr int k_gemm_default = -1;           // CUBLAS_GEMM_DEFAULT
inline constexpr int k_major_version = 0;           // MAJOR_VERSION (libraryPropertyType)
inline constexpr int k_minor_version = 1;
inline constexpr int k_patch_level = 2;

#define GPUDOCTOR_CUBLAS_FUNCTIONS(X)                                                                                                                    \
  X(create, Status(Handle*), "cublasCreate_v2")                                                                                                          \
  X(destroy, Status(Handle), "cublasDestroy_v2")                                                                                                         \
  X(set_stream, Status(Handle, Stream), "cublasSetStream_v2")                                                                                            \
  X(get_property, Status(int, int*), "cublasGetProperty")                                                                                                \
  X(status_string, const char*(Status), "cublasGetStatusString")                                                                                         \
  X(gemm_ex, Status(Handle, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int, const void*, void*, int, int, int, int), \
    "cublasGemmEx")

}  // namespace gpudoctor::blas

namespace gpudoctor::dnn {

using Status = int;  // cudnnStatus_t
using Handle = struct cudnnContext*;
using TensorDesc = struct cudnnTensorStruct*;
using FilterDesc = struct cudnnFilterStruct*;
using ConvDesc = struct cudnnConvolutionStruct*;

inline constexpr int k_nchw = 0;               // CUDNN_TENSOR_NCHW
inline constexpr int k_float = 0;              // CUDNN_DATA_FLOAT
inline constexpr int k_cross_correlation = 1;  // CUDNN_CROSS_CORRELATION
inline constexpr int k_fwd_implicit_gemm = 0;  // CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM

#define GPUDOCTOR_CUDNN_FUNCTIONS(X)                                                                                                                                \
  X(get_version, std::size_t(), "cudnnGetVersion")                                                                                                                  \
  X(error_string, const char*(Status), "cudnnGetErrorString")                                                                                                       \
  X(create, Status(Handle*), "cudnnCreate")                                                                                                                         \
  X(destroy, Status(Handle), "cudnnDestroy")                                                                                                                        \
  X(set_stream, Status(Handle, cuda::Stream), "cudnnSetStream")                                                                                                     \
  X(create_tensor, Status(TensorDesc*), "cudnnCreateTensorDescriptor")                                                                                              \
  X(set_tensor_4d, Status(TensorDesc, int, int, int, int, int, int), "cudnnSetTensor4dDescriptor")                                                                  \
  X(destroy_tensor, Status(TensorDesc), "cudnnDestroyTensorDescriptor")                                                                                             \
  X(create_filter, Status(FilterDesc*), "cudnnCreateFilterDescriptor")                                                                                              \
  X(set_filter_4d, Status(FilterDesc, int, int, int, int, int, int), "cudnnSetFilter4dDescriptor")                                                                  \
  X(destroy_filter, Status(FilterDesc), "cudnnDestroyFilterDescriptor")                                                                                             \
  X(create_conv, Status(ConvDesc*), "cudnnCreateConvolutionDescriptor")                                                                                             \
  X(set_conv_2d, Status(ConvDesc, int, int, int, int, int, int, int, int),                                                                                          \
    "cudnnSetConvolution2dDescriptor")                                                                                                                              \
  X(destroy_conv, Status(ConvDesc), "cudnnDestroyConvolutionDescriptor")                                                                                            \
  X(workspace_size, Status(Handle, TensorDesc, FilterDesc, ConvDesc, TensorDesc, int, std::size_t*),                                                                \
    "cudnnGetConvolutionForwardWorkspaceSize")                                                                                                                      \
  X(conv_forward, Status(Handle, const void*, TensorDesc, const void*, FilterDesc, const void*, ConvDesc, int, void*, std::size_t, const void*, TensorDesc, void*), \
    "cudnnConvolutionForward")

}  // namespace gpudoctor::dnn

namespace gpudoctor::nccl {

using Result = int;  // ncclResult_t
using Comm = struct ncclComm*;

inline constexpr int k_float32 = 7;  // ncclFloat32
inline constexpr int k_sum = 0;      // ncclSum

#define GPUDOCTOR_NCCL_FUNCTIONS(X)                                   \
  X(get_version, Result(int*), "ncclGetVersion")                      \
  X(error_string, const char*(Result), "ncclGetErrorString")          \
  X(comm_init_all, Result(Comm*, int, const int*), "ncclCommInitAll") \
  X(comm_destroy, Result(Comm), "ncclCommDestroy")                    \
  X(group_start, Result(), "ncclGroupStart")                          \
  X(group_end, Result(), "ncclGroupEnd")                              \
  X(all_reduce, Result(const void*, void*, std::size_t, int, int, Comm, cuda::Stream), "ncclAllReduce")

}  // namespace gpudoctor::nccl
