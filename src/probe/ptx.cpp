#include "probe/ptx.hpp"

#include <bit>
#include <cmath>

namespace gpudoctor::probe {

namespace {

// Hand-written PTX (PTX ISA reference, "Instruction Set"); grid-stride loops, so any grid size
// covers any n. The hash in gd_fill is the "lowbias32" integer hash; fill_value below mirrors it.
constexpr std::string_view k_ptx = R"PTX(
.version 6.0
.target sm_30
.address_size 64

.visible .entry gd_axpi(
	.param .u64 gd_axpi_x,
	.param .u64 gd_axpi_y,
	.param .u32 gd_axpi_n,
	.param .f32 gd_axpi_a
)
{
	.reg .pred %p<2>;
	.reg .b32 %r<10>;
	.reg .f32 %f<6>;
	.reg .b64 %rd<8>;

	ld.param.u64 %rd1, [gd_axpi_x];
	ld.param.u64 %rd2, [gd_axpi_y];
	ld.param.u32 %r1, [gd_axpi_n];
	ld.param.f32 %f1, [gd_axpi_a];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mov.u32 %r2, %ctaid.x;
	mov.u32 %r3, %ntid.x;
	mov.u32 %r4, %tid.x;
	mad.lo.u32 %r5, %r2, %r3, %r4;
	mov.u32 %r6, %nctaid.x;
	mul.lo.u32 %r7, %r6, %r3;
AXPI_LOOP:
	setp.ge.u32 %p1, %r5, %r1;
	@%p1 bra AXPI_DONE;
	mul.wide.u32 %rd3, %r5, 4;
	add.s64 %rd4, %rd1, %rd3;
	ld.global.f32 %f2, [%rd4];
	cvt.rn.f32.u32 %f3, %r5;
	fma.rn.f32 %f4, %f2, %f1, %f3;
	add.s64 %rd5, %rd2, %rd3;
	st.global.f32 [%rd5], %f4;
	add.u32 %r5, %r5, %r7;
	bra.uni AXPI_LOOP;
AXPI_DONE:
	ret;
}

.visible .entry gd_fill(
	.param .u64 gd_fill_p,
	.param .u32 gd_fill_n,
	.param .u32 gd_fill_seed,
	.param .u32 gd_fill_kind,
	.param .u32 gd_fill_shift,
	.param .u32 gd_fill_half,
	.param .f32 gd_fill_scale
)
{
	.reg .pred %p<4>;
	.reg .b32 %r<16>;
	.reg .f32 %f<4>;
	.reg .b16 %h<2>;
	.reg .b64 %rd<8>;

	ld.param.u64 %rd1, [gd_fill_p];
	ld.param.u32 %r1, [gd_fill_n];
	ld.param.u32 %r2, [gd_fill_seed];
	ld.param.u32 %r3, [gd_fill_kind];
	ld.param.u32 %r13, [gd_fill_shift];
	ld.param.u32 %r14, [gd_fill_half];
	ld.param.f32 %f3, [gd_fill_scale];
	cvta.to.global.u64 %rd1, %rd1;
	mov.u32 %r4, %ctaid.x;
	mov.u32 %r5, %ntid.x;
	mov.u32 %r6, %tid.x;
	mad.lo.u32 %r7, %r4, %r5, %r6;
	mov.u32 %r8, %nctaid.x;
	mul.lo.u32 %r9, %r8, %r5;
	mul.lo.u32 %r2, %r2, 0x9E3779B9;
FILL_LOOP:
	setp.ge.u32 %p1, %r7, %r1;
	@%p1 bra FILL_DONE;
	add.u32 %r10, %r7, %r2;
	shr.u32 %r11, %r10, 16;
	xor.b32 %r10, %r10, %r11;
	mul.lo.u32 %r10, %r10, 0x7FEB352D;
	shr.u32 %r11, %r10, 15;
	xor.b32 %r10, %r10, %r11;
	mul.lo.u32 %r10, %r10, 0x846CA68B;
	shr.u32 %r11, %r10, 16;
	xor.b32 %r10, %r10, %r11;
	shr.u32 %r11, %r10, %r13;
	sub.s32 %r11, %r11, %r14;
	cvt.rn.f32.s32 %f1, %r11;
	mul.f32 %f2, %f1, %f3;
	setp.eq.u32 %p2, %r3, 0;
	@%p2 bra FILL_F32;
	setp.eq.u32 %p3, %r3, 1;
	@%p3 bra FILL_F16;
	mov.b32 %r12, %f2;
	shr.u32 %r12, %r12, 16;
	cvt.u16.u32 %h1, %r12;
	mul.wide.u32 %rd3, %r7, 2;
	add.s64 %rd4, %rd1, %rd3;
	st.global.u16 [%rd4], %h1;
	bra.uni FILL_NEXT;
FILL_F16:
	cvt.rn.f16.f32 %h1, %f2;
	mul.wide.u32 %rd3, %r7, 2;
	add.s64 %rd4, %rd1, %rd3;
	st.global.u16 [%rd4], %h1;
	bra.uni FILL_NEXT;
FILL_F32:
	mul.wide.u32 %rd3, %r7, 4;
	add.s64 %rd4, %rd1, %rd3;
	st.global.f32 [%rd4], %f2;
FILL_NEXT:
	add.u32 %r7, %r7, %r9;
	bra.uni FILL_LOOP;
FILL_DONE:
	ret;
}

.visible .entry gd_copy(
	.param .u64 gd_copy_dst,
	.param .u64 gd_copy_src,
	.param .u64 gd_copy_n
)
{
	.reg .pred %p<2>;
	.reg .b32 %r<10>;
	.reg .b64 %rd<12>;

	ld.param.u64 %rd1, [gd_copy_dst];
	ld.param.u64 %rd2, [gd_copy_src];
	ld.param.u64 %rd3, [gd_copy_n];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mov.u32 %r1, %ctaid.x;
	mov.u32 %r2, %ntid.x;
	mov.u32 %r3, %tid.x;
	mul.wide.u32 %rd4, %r1, %r2;
	cvt.u64.u32 %rd5, %r3;
	add.s64 %rd4, %rd4, %rd5;
	mov.u32 %r4, %nctaid.x;
	mul.wide.u32 %rd6, %r4, %r2;
COPY_LOOP:
	setp.ge.u64 %p1, %rd4, %rd3;
	@%p1 bra COPY_DONE;
	shl.b64 %rd7, %rd4, 4;
	add.s64 %rd8, %rd2, %rd7;
	ld.global.v4.u32 {%r5, %r6, %r7, %r8}, [%rd8];
	add.s64 %rd9, %rd1, %rd7;
	st.global.v4.u32 [%rd9], {%r5, %r6, %r7, %r8};
	add.s64 %rd4, %rd4, %rd6;
	bra.uni COPY_LOOP;
COPY_DONE:
	ret;
}

// gd_copy4: four 16-byte loads in flight per thread (elements i, i+T, i+2T, i+3T of a grid of T
// threads), then their four stores; the rest one at a time. (A variant with the .cs streaming
// hint was slower than this one at every grid on the H200: bench/RESULTS.md 2026-12-03.)
.visible .entry gd_copy4(
	.param .u64 gd_copy4_dst,
	.param .u64 gd_copy4_src,
	.param .u64 gd_copy4_n
)
{
	.reg .pred %p<3>;
	.reg .b32 %r<24>;
	.reg .b64 %rd<24>;

	ld.param.u64 %rd1, [gd_copy4_dst];
	ld.param.u64 %rd2, [gd_copy4_src];
	ld.param.u64 %rd3, [gd_copy4_n];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mov.u32 %r1, %ctaid.x;
	mov.u32 %r2, %ntid.x;
	mov.u32 %r3, %tid.x;
	mul.wide.u32 %rd4, %r1, %r2;
	cvt.u64.u32 %rd5, %r3;
	add.s64 %rd4, %rd4, %rd5;
	mov.u32 %r4, %nctaid.x;
	mul.wide.u32 %rd6, %r4, %r2;
	shl.b64 %rd10, %rd6, 4;
	mul.lo.u64 %rd11, %rd6, 3;
	shl.b64 %rd12, %rd6, 2;
GD_COPY4_LOOP4:
	add.s64 %rd13, %rd4, %rd11;
	setp.ge.u64 %p1, %rd13, %rd3;
	@%p1 bra GD_COPY4_TAIL;
	shl.b64 %rd7, %rd4, 4;
	add.s64 %rd8, %rd2, %rd7;
	add.s64 %rd14, %rd8, %rd10;
	add.s64 %rd15, %rd14, %rd10;
	add.s64 %rd16, %rd15, %rd10;
	ld.global.v4.u32 {%r5, %r6, %r7, %r8}, [%rd8];
	ld.global.v4.u32 {%r9, %r10, %r11, %r12}, [%rd14];
	ld.global.v4.u32 {%r13, %r14, %r15, %r16}, [%rd15];
	ld.global.v4.u32 {%r17, %r18, %r19, %r20}, [%rd16];
	add.s64 %rd9, %rd1, %rd7;
	add.s64 %rd17, %rd9, %rd10;
	add.s64 %rd18, %rd17, %rd10;
	add.s64 %rd19, %rd18, %rd10;
	st.global.v4.u32 [%rd9], {%r5, %r6, %r7, %r8};
	st.global.v4.u32 [%rd17], {%r9, %r10, %r11, %r12};
	st.global.v4.u32 [%rd18], {%r13, %r14, %r15, %r16};
	st.global.v4.u32 [%rd19], {%r17, %r18, %r19, %r20};
	add.s64 %rd4, %rd4, %rd12;
	bra.uni GD_COPY4_LOOP4;
GD_COPY4_TAIL:
	setp.ge.u64 %p2, %rd4, %rd3;
	@%p2 bra GD_COPY4_DONE;
	shl.b64 %rd7, %rd4, 4;
	add.s64 %rd8, %rd2, %rd7;
	ld.global.v4.u32 {%r5, %r6, %r7, %r8}, [%rd8];
	add.s64 %rd9, %rd1, %rd7;
	st.global.v4.u32 [%rd9], {%r5, %r6, %r7, %r8};
	add.s64 %rd4, %rd4, %rd6;
	bra.uni GD_COPY4_TAIL;
GD_COPY4_DONE:
	ret;
}

)PTX";

}  // namespace

std::string_view kernels_ptx() { return k_ptx; }

float fill_value(std::uint32_t seed, std::uint32_t i, unsigned bits) {
  std::uint32_t x = i + seed * 0x9E3779B9U;
  x ^= x >> 16U;
  x *= 0x7FEB352DU;
  x ^= x >> 15U;
  x *= 0x846CA68BU;
  x ^= x >> 16U;
  int half = 1 << (bits - 1U);
  int k = static_cast<int>(x >> (32U - bits)) - half;
  return static_cast<float>(k) * fill_scale(bits);
}

float fill_scale(unsigned bits) { return std::ldexp(1.0F, -static_cast<int>(bits - 1U)); }

float half_to_float(std::uint16_t h) {
  std::uint32_t sign = (h >> 15U) & 1U;
  std::uint32_t exp = (h >> 10U) & 0x1FU;
  std::uint32_t mant = h & 0x3FFU;
  float v = 0;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant != 0 ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400U), static_cast<int>(exp) - 25);
  return sign != 0 ? -v : v;
}

float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16U); }

}  // namespace gpudoctor::probe
