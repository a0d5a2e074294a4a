#pragma once
// The probe's own GPU code: PTX text that the driver compiles for whatever GPU it finds
// (cuModuleLoadDataEx), so no CUDA compiler is needed to build gpudoctor. And the host's copy of
// the fill function, so results computed on the GPU can be checked on the host exactly.

#include <cstdint>
#include <string_view>

namespace gpudoctor::probe {

/// PTX ISA 6.0 (CUDA 9.0 and later drivers), target sm_30: any GPU a CUDA 9+ driver supports can
/// JIT it. Entry points:
///  gd_axpi(const float* x, float* y, u32 n, f32 a)         y[i] = fma(x[i], a, float(i))
///  gd_fill(void* p, u32 n, u32 seed, u32 kind,             p[i] = fill_value(seed, i, bits) stored as
///          u32 shift, u32 half, f32 scale)                 kind (0 fp32, 1 fp16, 2 bf16); shift = 32 - bits,
///                                                           half = 2^(bits-1), scale = 2^-(bits-1)
///  gd_copy(uint4* dst, const uint4* src, u64 n16)          dst[i] = src[i], 16 bytes per thread
std::string_view kernels_ptx();

enum class FillKind : std::uint32_t { fp32 = 0,
                                      fp16 = 1,
                                      bf16 = 2 };

/// The value gd_fill writes at index `i`: a uniform random multiple of 2^-(bits-1) in [-1, 1),
/// from a 32-bit integer hash of i and seed. With `bits` significant bits it is exact in a format
/// of that precision (bf16 8, fp16 and tf32 11, fp32 24), so the host recomputes products
/// exactly, and every mantissa bit varies as in real data (constant or low-entropy inputs
/// draw less power and run faster than real work).
float fill_value(std::uint32_t seed, std::uint32_t i, unsigned bits);
float fill_scale(unsigned bits);

/// IEEE half and bfloat16 bit patterns to float (for reading back results).
float half_to_float(std::uint16_t h);
float bf16_to_float(std::uint16_t b);

}  // namespace gpudoctor::probe
