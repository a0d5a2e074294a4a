// Rules over what several GPUs showed together in `gpudoctor probe`: a GPU that lags its
// identical neighbours, peer copies and NVLinks, NCCL's all-reduce.
#include <algorithm>
#include <functional>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "diagnose/probe_rules.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {

using probe_rules::make;
using probe_rules::reason_names;

void rule_probe_multi_gpu(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& c = ctx.s.compute;
  const auto& th = ctx.kb.probe_thresholds();
  if (!c.attempted || c.gpus.size() < 2) return;
  // A GPU that lags its identical neighbours (same model), though above the absolute thresholds:
  // in a multi-GPU job the slowest GPU sets the pace of every step.
  auto lagging = [&](const char* what, const std::function<const Fact<Measured>*(const GpuProbe&)>& pick) {
    for (const auto& g : c.gpus) {
      const auto* mine = pick(g);
      if (mine == nullptr || !mine->known()) continue;
      std::vector<double> same;
      for (const auto& o : c.gpus)
        if (o.name == g.name && pick(o) != nullptr && pick(o)->known()) same.push_back((*pick(o))->value);
      if (same.size() < 2) continue;
      std::sort(same.begin(), same.end());
      double median = same[same.size() / 2];
      if ((*mine)->value >= th.gpu_lag_fraction * median) continue;
      const auto& t = g.telemetry;
      bool shared = !g.other_processes.empty();
      auto f = make(shared ? "gpu_in_use_by_other_process" : "other", shared ? Layer::program : Layer::hardware,
                    Severity::warning,
                    fmt::format("GPU {} lags the other {}: {} {:.1f}, {:.0f}% of their median {:.1f}{}", g.ordinal,
                                g.name, what, (*mine)->value, 100.0 * (*mine)->value / median, median,
                                shared ? "; other processes share it" : ""));
      for (const auto& p : g.other_processes)
        f.evidence.push_back({"nvmlDeviceGetComputeRunningProcesses_v3", fmt::format("pid {} runs on GPU {}", p.pid, g.ordinal)});
      f.evidence.push_back({fmt::format("GPU {} {}", g.ordinal, what), (*mine)->what});
      f.evidence.push_back({"NVML during the matrix products",
                            fmt::format("SM clock up to {} MHz of {} MHz, {} C at most; clock-event reasons: {}",
                                        t.sm_clock_max_seen_mhz.value_or(0), t.sm_clock_max_mhz.value_or(0),
                                        t.temperature_max_c.value_or(0), reason_names(t.clock_event_reasons))});
      if (shared)
        f.fix.push_back(
            "nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv lists them; in a "
            "multi-GPU job the slowest GPU sets the pace, so stop them or leave this GPU out (CUDA_VISIBLE_DEVICES).");
      else
        f.fix.push_back(
            "In a multi-GPU job the slowest GPU sets the pace: compare its cooling, power cables and slot with "
            "the others (nvidia-smi -q -d TEMPERATURE,POWER,CLOCK,PERFORMANCE -i " +
            std::to_string(g.ordinal) + ").");
      out.push_back(std::move(f));
    }
  };
  // NVLinks down: a GPU with fewer active links than another of its model in the same machine.
  for (const auto& g : c.gpus) {
    const auto& t = g.telemetry;
    if (!t.nvlinks_active.known()) continue;
    int most = 0;
    for (const auto& o : c.gpus)
      if (o.name == g.name && o.telemetry.nvlinks_active.known()) most = std::max(most, *o.telemetry.nvlinks_active);
    if (*t.nvlinks_active >= most) continue;
    std::string down = fmt::format("{}", fmt::join(t.nvlinks_inactive, ", "));
    auto f = make("multi_gpu_path_degraded", Layer::hardware, Severity::warning,
                  fmt::format("GPU {} has {} of its NVLinks active where the other {} have {}{}", g.ordinal,
                              *t.nvlinks_active, g.name, most, down.empty() ? "" : " (inactive: " + down + ")"));
    f.evidence.push_back({"nvmlDeviceGetNvLinkState",
                          fmt::format("GPU {}: {} active, inactive links [{}]", g.ordinal, *t.nvlinks_active, down)});
    f.fix.push_back(fmt::format(
        "nvidia-smi nvlink --status -i {} shows each link; a link that stays down after a "
        "reboot needs service (on NVSwitch systems check nvidia-fabricmanager too).",
        g.ordinal));
    out.push_back(std::move(f));
  }
  lagging("bf16 matrix product (TFLOP/s)", [](const GpuProbe& g) -> const Fact<Measured>* {
    for (const auto& p : g.gemm)
      if (p.precision == "bf16") return &p.rate;
    return nullptr;
  });
  lagging("device copy (GB/s)", [](const GpuProbe& g) { return &g.device_copy; });
  lagging("host to device (GB/s)", [](const GpuProbe& g) { return &g.host_to_device; });
  if (c.mode != ProbeMode::full) return;
  // Peer copies: a pair far below the median of the pairs.
  std::vector<double> rates;
  for (const auto& p : c.peers)
    if (p.copy.known()) rates.push_back(p.copy->value);
  if (rates.size() >= 2) {
    std::vector<double> sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    double median = sorted[sorted.size() / 2];
    for (const auto& p : c.peers) {
      if (!p.copy.known() || p.copy->value >= th.peer_lag_fraction * median) continue;
      auto f = make("multi_gpu_path_degraded", Layer::hardware, Severity::warning,
                    fmt::format("peer copies GPU {} -> GPU {} lag the others: {:.0f} GB/s, {:.0f}% of the median pair", p.from,
                                p.to, p.copy->value, 100.0 * p.copy->value / median));
      f.evidence.push_back({fmt::format("cuMemcpyPeerAsync GPU {} -> {}", p.from, p.to), p.copy->what});
      f.fix.push_back(
          "nvidia-smi topo -m shows how each pair is connected; nvidia-smi nvlink --status shows NVLink "
          "lanes that are down.");
      out.push_back(std::move(f));
    }
  }
  for (const auto& p : c.peers)
    if (!p.copy.known()) {
      auto f = make("multi_gpu_path_degraded", Layer::hardware, Severity::error,
                    fmt::format("copies from GPU {} to GPU {} fail", p.from, p.to));
      f.evidence.push_back({"cuMemcpyPeerAsync", p.copy.reason});
      out.push_back(std::move(f));
    }
  // NCCL: what multi-GPU strategies need.
  const ProbeLibrary* nccl = nullptr;
  for (const auto& l : c.libraries)
    if (l.role == "nccl") nccl = &l;
  if (nccl != nullptr && !nccl->loaded.known()) {
    auto f = make("nccl_missing", Layer::libraries, Severity::warning,
                  fmt::format("{} GPUs but no NCCL loads: multi-GPU strategies (MirroredStrategy, DistributedDataParallel) "
                              "cannot run their collectives",
                              c.gpus.size()));
    f.evidence.push_back({"dlopen(" + (nccl->requested.empty() ? std::string("libnccl.so.2") : nccl->requested) + ")",
                          nccl->loaded.reason});
    f.fix.push_back(
        "pip install nvidia-nccl-cu12   (or nvidia-nccl-cu13, matching the framework's CUDA), or the "
        "distribution's libnccl2 package");
    out.push_back(std::move(f));
  } else if (nccl != nullptr && step_outcome(c.nccl_init) == StepOutcome::failed) {
    // NCCL loaded and ncclCommInitAll returned an error (a child that stopped before it left
    // nccl_init not collected: not reached, no finding).
    auto f = make("other", Layer::libraries, Severity::error,
                  "NCCL cannot set up communicators across the GPUs: multi-GPU training will fail the same way");
    f.evidence.push_back({"ncclCommInitAll", c.nccl_init.reason});
    f.fix.push_back(
        "Run again with NCCL_DEBUG=INFO to see the step that fails; in containers give /dev/shm room "
        "(docker run --shm-size=1g or --ipc=host).");
    out.push_back(std::move(f));
  }
  for (const auto& a : c.all_reduce) {
    if (a.correct.known() && !*a.correct) {
      auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error,
                    fmt::format("an all-reduce of {} MiB across the GPUs gave wrong sums", a.bytes >> 20U));
      f.evidence.push_back({"ncclAllReduce", "the sum 1 + 2 + ... + n was not on every GPU"});
      out.push_back(std::move(f));
    } else if (!a.bus_bandwidth.known()) {
      auto f = make("other", Layer::libraries, Severity::error,
                    fmt::format("an all-reduce of {} MiB across the GPUs failed", a.bytes >> 20U));
      f.evidence.push_back({"ncclAllReduce", a.bus_bandwidth.reason});
      out.push_back(std::move(f));
    }
  }
}

}  // namespace gpudoctor
