// A fake libnccl.so.2 for `gpudoctor probe`: communicators over the fake GPUs, and an all-reduce
// that really sums the ranks' buffers (where the fake device memory holds data) and advances each
// stream's clock by what the scenario's bus bandwidth allows. "wrong_sum": true adds 1 to some
// elements, as collectives over a faulty link do.
//
// "nccl": { "version": 22809, "init": 0 (ncclResult_t), "bus_gbs": 328, "wrong_sum": false }

#include <cstring>
#include <vector>

#include "fake_answers.hpp"
#include "fake_libraries.hpp"

namespace {
const nlohmann::json& nccl() { return fake::answers("nccl"); }
struct Comm {
  int rank = 0, size = 0;
};
struct Op {
  const float* send;
  float* recv;
  std::size_t count;
  Comm* comm;
  void* stream;
};
std::vector<Op> g_ops;
int g_depth = 0;

void run_ops() {
  if (g_ops.empty()) return;
  auto n = static_cast<double>(g_ops.front().comm->size);
  double bus = nccl().value("bus_gbs", 330.0);
  double algbw = n > 1 ? bus * n / (2.0 * (n - 1)) : bus;
  const Op& first = g_ops.front();
  // Summed where the probe looks: the first and last 64 KiB of each buffer (the rest costs time only).
  const std::size_t bytes = first.count * 4, edge = std::size_t{64} << 10U;
  for (auto [lo, hi] : fake::backed(reinterpret_cast<std::uintptr_t>(first.send), bytes)) {
    for (std::size_t i = lo / 4; i < hi / 4; ++i) {
      if (i * 4 >= edge && i * 4 + edge < bytes) continue;
      float sum = 0;
      for (const auto& op : g_ops) sum += op.send[i];
      if (nccl().value("wrong_sum", false) && i % 1000 == 3) sum += 1;
      for (const auto& op : g_ops) op.recv[i] = sum;
    }
  }
  for (const auto& op : g_ops) gdfake_advance(op.stream, static_cast<double>(op.count * 4), algbw);
  g_ops.clear();
}
}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT int ncclGetVersion(int* v) {
  *v = nccl().value("version", 22809);
  return 0;
}
EXPORT const char* ncclGetErrorString(int code) {
  switch (code) {
    case 0: return "no error";
    case 1: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case 2: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case 3: return "internal error - please report this issue to the NCCL developers";
    default: return "unknown result code";
  }
}
EXPORT int ncclCommInitAll(Comm** comms, int n, const int*) {
  if (int code = nccl().value("init", 0); code != 0) return code;
  for (int i = 0; i < n; ++i) comms[i] = new Comm{i, n};
  return 0;
}
EXPORT int ncclCommDestroy(Comm* c) {
  delete c;
  return 0;
}
EXPORT int ncclGroupStart() {
  ++g_depth;
  return 0;
}
EXPORT int ncclGroupEnd() {
  if (--g_depth == 0) run_ops();
  return 0;
}
EXPORT int ncclAllReduce(const void* send, void* recv, std::size_t count, int type, int op, Comm* comm, void* stream) {
  if (type != 7 || op != 0) return 4;  // ncclInvalidArgument: the probe sums fp32
  g_ops.push_back({static_cast<const float*>(send), static_cast<float*>(recv), count, comm, stream});
  if (g_depth == 0) run_ops();
  return 0;
}
