// The probe's own GPU code and its host mirror: the fill values must be exact in the format they
// are written as (so the host recomputes products exactly), spread over [-1, 1), and the half and
// bfloat16 decoders must read IEEE bit patterns right. The PTX runs only on a GPU
// (tests/hw/probe_real_gpu.sh); here its text is held to what the driver's JIT needs.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <set>

#include "probe/ptx.hpp"

namespace gpudoctor::probe {
namespace {

TEST(ProbePtx, FillValuesAreExactInTheirFormatAndSpread) {
  for (unsigned bits : {8U, 11U, 24U}) {
    std::set<float> distinct;
    double sum = 0;
    const std::uint32_t n = 1U << 16U;
    for (std::uint32_t i = 0; i < n; ++i) {
      float v = fill_value(42, i, bits);
      ASSERT_GE(v, -1.0F);
      ASSERT_LT(v, 1.0F);
      // A multiple of 2^-(bits-1): exact with `bits` significant bits.
      double scaled = std::ldexp(static_cast<double>(v), static_cast<int>(bits) - 1);
      ASSERT_EQ(scaled, std::round(scaled)) << v;
      if (bits == 8) {  // bf16: the float's upper half holds all of it
        auto u = std::bit_cast<std::uint32_t>(v);
        ASSERT_EQ(u & 0xFFFFU, 0U) << v;
        ASSERT_EQ(bf16_to_float(static_cast<std::uint16_t>(u >> 16U)), v);
      }
      distinct.insert(v);
      sum += v;
    }
    EXPECT_GT(distinct.size(), bits == 8 ? 250U : 1500U) << bits;  // every mantissa bit varies
    EXPECT_NEAR(sum / n, 0.0, 0.02) << bits;
  }
  EXPECT_NE(fill_value(1, 0, 11), fill_value(2, 0, 11));  // seeds give other matrices
}

TEST(ProbePtx, HalfAndBfloat16Decode) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0F);
  EXPECT_EQ(half_to_float(0xC000), -2.0F);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0F, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0F);
  EXPECT_TRUE(std::isinf(half_to_float(0x7C00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0F);
  EXPECT_EQ(bf16_to_float(0xC040), -3.0F);
}

TEST(ProbePtx, ThePtxDeclaresWhatOldDriversAccept) {
  std::string_view ptx = kernels_ptx();
  EXPECT_NE(ptx.find(".version 6.0"), std::string_view::npos);  // CUDA 9.0 and newer drivers
  EXPECT_NE(ptx.find(".target sm_30"), std::string_view::npos);
  EXPECT_NE(ptx.find(".address_size 64"), std::string_view::npos);
  for (const char* entry : {".visible .entry gd_axpi(", ".visible .entry gd_fill(", ".visible .entry gd_copy("})
    EXPECT_NE(ptx.find(entry), std::string_view::npos) << entry;
}

}  // namespace
}  // namespace gpudoctor::probe
