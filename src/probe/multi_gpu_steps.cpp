// Steps across GPUs: the peer-access matrix with copy bandwidth per ordered pair, and an
// all-reduce through NCCL in this one process (one communicator per GPU), as a multi-GPU
// strategy (MirroredStrategy, DistributedDataParallel, pmap) does.
#include <bit>
#include <fmt/format.h>

#include "probe/steps.hpp"

namespace gpudoctor::probe {

namespace {

constexpr int k_peer_already_enabled = 704;  // CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED

void make_current(const Cuda& cuda, cuda::Context ctx) {
  cuda.check(cuda.need(cuda.fn().ctx_set_current, "cuCtxSetCurrent")(ctx), "cuCtxSetCurrent");
}

std::string nccl_error(const NcclFunctions& nccl, int code, const char* call) {
  const char* s = nccl.error_string != nullptr ? nccl.error_string(code) : nullptr;
  return fmt::format("{} -> {}", call, s != nullptr ? s : fmt::format("ncclResult_t {}", code));
}

}  // namespace

std::vector<PeerProbe> peer_copies(const Cuda& cuda, const std::vector<GpuHandle>& gpus, bool quick) {
  const auto& fn = cuda.fn();
  const std::size_t bytes = quick ? 64 * k_mib : 512 * k_mib;
  std::vector<std::unique_ptr<DeviceBuffer>> src, dst;
  for (const auto& g : gpus) {
    make_current(cuda, g.context);
    src.push_back(std::make_unique<DeviceBuffer>(cuda, bytes));
    dst.push_back(std::make_unique<DeviceBuffer>(cuda, bytes));
    cuda.check(fn.memset_d8_async(src.back()->ptr(), 0x33, bytes, g.stream->get()), "cuMemsetD8Async");
    g.stream->sync();
  }
  std::vector<PeerProbe> out;
  auto* can_access = cuda.need(fn.device_can_access_peer, "cuDeviceCanAccessPeer");
  auto* enable = cuda.need(fn.ctx_enable_peer_access, "cuCtxEnablePeerAccess");
  auto* copy = cuda.need(fn.memcpy_peer_async, "cuMemcpyPeerAsync");
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    for (std::size_t j = 0; j < gpus.size(); ++j) {
      if (i == j) continue;
      PeerProbe p;
      p.from = static_cast<int>(i);
      p.to = static_cast<int>(j);
      int can = 0;
      cuda.check(can_access(&can, gpus[i].device, gpus[j].device), "cuDeviceCanAccessPeer");
      p.can_access = can != 0;
      try {
        make_current(cuda, gpus[i].context);
        if (p.can_access) {
          int code = enable(gpus[j].context, 0);
          if (code != 0 && code != k_peer_already_enabled) cuda.check(code, "cuCtxEnablePeerAccess");
        }
        auto s = gpus[i].stream->get();
        auto ms = time_on_stream(cuda, s, 1, quick ? 3 : 5, [&] {
          cuda.check(copy(dst[j]->ptr(), gpus[j].context, src[i]->ptr(), gpus[i].context, bytes, s), "cuMemcpyPeerAsync");
        });
        p.copy = rate_of(ms, static_cast<double>(bytes), 1e6,
                         fmt::format("{} MiB GPU {} -> GPU {}, cuMemcpyPeerAsync{}", bytes >> 20U, i, j,
                                     p.can_access ? ", peer access on" : ", no peer access: staged through the host"));
      } catch (const StepError& e) {
        p.copy = Fact<Measured>::unknown(e.what());
      }
      out.push_back(p);
    }
  }
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    make_current(cuda, gpus[i].context);
    src[i].reset();
    dst[i].reset();
  }
  return out;
}

void all_reduce(const Cuda& cuda, const NcclFunctions& nccl, const std::vector<GpuHandle>& gpus, ComputeProbe& out) {
  const auto& fn = cuda.fn();
  const int n = static_cast<int>(gpus.size());
  if (nccl.comm_init_all == nullptr || nccl.all_reduce == nullptr || nccl.group_start == nullptr ||
      nccl.group_end == nullptr)
    throw StepError("this NCCL lacks ncclCommInitAll, ncclAllReduce or ncclGroupStart/End");
  std::vector<nccl::Comm> comms(gpus.size(), nullptr);
  std::vector<int> devices;
  for (const auto& g : gpus) devices.push_back(g.device);
  int r = nccl.comm_init_all(comms.data(), n, devices.data());
  if (r != 0) {
    out.nccl_init = Fact<std::string>::unknown(nccl_error(nccl, r, "ncclCommInitAll"));
    throw StepError(nccl_error(nccl, r, "ncclCommInitAll"));
  }
  out.nccl_init = fmt::format("{} communicators, one per GPU, in one process", n);
  Finally destroy([&] {
    for (auto c : comms)
      if (c != nullptr && nccl.comm_destroy != nullptr) nccl.comm_destroy(c);
  });

  const std::vector<std::size_t> sizes = {k_mib, 64 * k_mib, 1024 * k_mib};
  std::vector<std::unique_ptr<DeviceBuffer>> send(gpus.size()), recv(gpus.size());
  // Buffers of exactly each size, so the check at both ends reads what that all-reduce wrote.
  auto allocate = [&](std::size_t bytes) {
    for (std::size_t d = 0; d < gpus.size(); ++d) {
      make_current(cuda, gpus[d].context);
      send[d].reset();
      recv[d].reset();
      send[d] = std::make_unique<DeviceBuffer>(cuda, bytes);
      recv[d] = std::make_unique<DeviceBuffer>(cuda, bytes);
      float value = static_cast<float>(d + 1);
      cuda.check(fn.memset_d32_async(send[d]->ptr(), std::bit_cast<unsigned>(value), bytes / 4, gpus[d].stream->get()),
                 "cuMemsetD32Async");
      cuda.check(fn.memset_d8_async(recv[d]->ptr(), 0xFF, bytes, gpus[d].stream->get()), "cuMemsetD8Async");
    }
    for (std::size_t d = 0; d < gpus.size(); ++d) gpus[d].stream->sync();
  };

  auto once = [&](std::size_t bytes) {
    if (int e = nccl.group_start(); e != 0) throw StepError(nccl_error(nccl, e, "ncclGroupStart"));
    for (std::size_t d = 0; d < gpus.size(); ++d) {
      int e = nccl.all_reduce(reinterpret_cast<const void*>(send[d]->ptr()), reinterpret_cast<void*>(recv[d]->ptr()),
                              bytes / 4, nccl::k_float32, nccl::k_sum, comms[d], gpus[d].stream->get());
      if (e != 0) {
        nccl.group_end();
        throw StepError(nccl_error(nccl, e, "ncclAllReduce"));
      }
    }
    if (int e = nccl.group_end(); e != 0) throw StepError(nccl_error(nccl, e, "ncclGroupEnd"));
  };

  for (std::size_t bytes : sizes) {
    AllReduceProbe a;
    a.bytes = bytes;
    const int iterations = 20;
    try {
      allocate(bytes);
      for (int w = 0; w < 5; ++w) once(bytes);
      for (std::size_t d = 0; d < gpus.size(); ++d) gpus[d].stream->sync();
      std::vector<std::pair<cuda::Event, cuda::Event>> events(gpus.size(), {nullptr, nullptr});
      Finally gone([&] {
        for (auto& [start, end] : events) {
          if (start != nullptr) fn.event_destroy(start);
          if (end != nullptr) fn.event_destroy(end);
        }
      });
      for (std::size_t d = 0; d < gpus.size(); ++d) {
        make_current(cuda, gpus[d].context);
        cuda.check(fn.event_create(&events[d].first, 0), "cuEventCreate");
        cuda.check(fn.event_create(&events[d].second, 0), "cuEventCreate");
        cuda.check(fn.event_record(events[d].first, gpus[d].stream->get()), "cuEventRecord");
      }
      for (int it = 0; it < iterations; ++it) once(bytes);
      double worst_ms = 0;
      for (std::size_t d = 0; d < gpus.size(); ++d) {
        cuda.check(fn.event_record(events[d].second, gpus[d].stream->get()), "cuEventRecord");
      }
      for (std::size_t d = 0; d < gpus.size(); ++d) {
        cuda.check(fn.event_synchronize(events[d].second), "cuEventSynchronize");
        float ms = 0;
        cuda.check(fn.event_elapsed_time(&ms, events[d].first, events[d].second), "cuEventElapsedTime");
        worst_ms = std::max(worst_ms, static_cast<double>(ms));
      }
      Measured m;
      m.median_ms = worst_ms / iterations;  // the mean over the iterations, on the slowest GPU
      m.repeats = iterations;
      double algbw = m.median_ms > 0 ? static_cast<double>(bytes) / m.median_ms / 1e6 : 0;
      m.value = algbw * 2.0 * (n - 1) / n;
      m.what = fmt::format("{} MiB fp32 sum per GPU, {} GPUs, bus bandwidth (algorithm bandwidth {:.1f} GB/s)",
                           bytes >> 20U, n, algbw);
      a.bus_bandwidth = m;
      // Every GPU must hold 1 + 2 + ... + n at both ends of the buffer.
      const float want = static_cast<float>(n * (n + 1) / 2);
      bool right = true;
      for (std::size_t d = 0; d < gpus.size() && right; ++d) {
        std::vector<float> head(256), tail(256);
        cuda.check(fn.memcpy_dtoh_async(head.data(), recv[d]->ptr(), 1024, gpus[d].stream->get()), "cuMemcpyDtoHAsync_v2");
        cuda.check(fn.memcpy_dtoh_async(tail.data(), recv[d]->ptr() + bytes - 1024, 1024, gpus[d].stream->get()),
                   "cuMemcpyDtoHAsync_v2");
        gpus[d].stream->sync();
        for (std::size_t k = 0; k < head.size(); ++k)
          if (head[k] != want || tail[k] != want) right = false;
      }
      a.correct = right;
    } catch (const StepError& e) {
      a.bus_bandwidth = Fact<Measured>::unknown(e.what());
      a.correct = Fact<bool>::unknown(e.what());
    }
    out.all_reduce.push_back(a);
  }
  for (std::size_t d = 0; d < gpus.size(); ++d) {
    make_current(cuda, gpus[d].context);
    send[d].reset();
    recv[d].reset();
  }
}

}  // namespace gpudoctor::probe
