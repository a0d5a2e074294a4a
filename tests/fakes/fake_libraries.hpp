#pragma once
// What the fake cuBLAS, cuDNN and NCCL use of the fake libcuda.so.1 (fake_cuda_compute.cpp):
// its fake device memory (only the head and tail of each allocation hold data) and its streams'
// virtual clocks.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

extern "C" {
void gdfake_copy(std::uintptr_t dst, std::uintptr_t src, std::size_t n);
std::size_t gdfake_backed(std::uintptr_t p, std::size_t n, std::size_t* lo, std::size_t* hi, std::size_t max);
void gdfake_advance(void* stream, double bytes, double gbs);
/// The ordinal of the current context's device (-1 when none).
int gdfake_current_device();
/// Marks `c` as holding the product of the filled n x n matrices `a` and `b` (computed on read).
void gdfake_product(std::uintptr_t c, std::uintptr_t a, std::uintptr_t b, int n, bool wrong);
}

namespace fake {
/// The parts of [p, p + n) that hold data, as offsets from p.
inline std::vector<std::pair<std::size_t, std::size_t>> backed(std::uintptr_t p, std::size_t n) {
  std::size_t lo[4], hi[4];
  std::size_t k = gdfake_backed(p, n, lo, hi, 4);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < k; ++i) out.emplace_back(lo[i], hi[i]);
  return out;
}
}  // namespace fake
