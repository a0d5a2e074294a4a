// Rules over what `gpudoctor probe` measured (Snapshot::compute), per GPU: each figure against what
// the card and its link should deliver (probe_expected.cpp), with the evidence NVML gave under load
// (link width and generation, clock-event reasons, power limit, other processes). What several
// GPUs showed together: rules_probe_multi_gpu.cpp.
#include <algorithm>
#include <functional>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "diagnose/probe_rules.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {

namespace {

using namespace probe_rules;

ProbeFigure figure(std::string name, std::string unit, const Fact<Measured>& m, std::optional<double> expected,
                   const std::string& basis, double fraction) {
  ProbeFigure f;
  f.name = std::move(name);
  f.unit = std::move(unit);
  if (m.known()) f.measured = m->value;
  else f.measured = Fact<double>::unknown(m.reason);
  if (expected) f.expected = *expected;
  else f.expected = Fact<double>::unknown("no figure for this GPU in the knowledge base");
  f.basis = basis;
  if (!m.known()) f.state = FigureState::not_measured;
  else if (!expected) f.state = FigureState::no_reference;
  else f.state = m->value < fraction * *expected ? FigureState::low : FigureState::ok;
  return f;
}

std::string percent(const ProbeFigure& f) {
  if (!f.measured.known() || !f.expected.known() || *f.expected <= 0) return "";
  return fmt::format("{:.0f}%", 100.0 * *f.measured / *f.expected);
}

Source figure_evidence(const GpuProbe& g, const ProbeFigure& f) {
  return {fmt::format("GPU {} {}", g.ordinal, f.name),
          fmt::format("{:.1f} {} measured, {} of {:.1f} {} ({})", f.measured.value_or(0), f.unit, percent(f),
                      f.expected.value_or(0), f.unit, f.basis)};
}

struct Assessment {
  GpuVerdict verdict;
  std::vector<Finding> findings;
};

Assessment assess_gpu(const GpuProbe& g, const RuleContext& ctx) {
  const auto& th = ctx.kb.probe_thresholds();
  Assessment a;
  auto& v = a.verdict;
  v.ordinal = g.ordinal;
  v.name = g.name;
  Expected e = expected_for(g, ctx.kb);
  const auto& t = g.telemetry;
  std::string who = fmt::format("GPU {} ({})", g.ordinal, g.name);

  if (!g.context.known() && step_outcome(g.kernel) == StepOutcome::not_reached) {  // the probe stopped before it
    v.state = GpuState::not_reached;
    v.summary = "the probe stopped before this GPU";
    return a;
  }
  if (g.context.known() && !g.context->ok()) {
    v.state = GpuState::failed;
    v.summary = "no CUDA context: " + g.context->name;
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error,
                  fmt::format("{}: a CUDA context cannot be created ({})", who, g.context->name));
    // The code's class (kb/data/cuda_errors.toml), not its name's text.
    if (ctx.kb.cuda_error_is(g.context->code, "out_of_memory")) {
      f = make("gpu_memory_exhausted", Layer::program, Severity::error,
               fmt::format("{}: no memory left even for a CUDA context", who));
      f.fix.push_back("See which processes hold the GPU: nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv");
    } else if (ctx.kb.cuda_error_is(g.context->code, "device_unavailable")) {
      f = make("mig_or_compute_mode", Layer::environment, Severity::error,
               fmt::format("{}: busy or unavailable (compute mode exclusive and taken, or prohibited)", who));
      f.fix.push_back("nvidia-smi -q -d COMPUTE shows the compute mode; an exclusive GPU admits one process at a time.");
    } else {
      f.fix.push_back("Look for Xid errors in the kernel log (sudo dmesg | grep -i xid) and reset or reboot if the GPU is stuck.");
    }
    f.evidence.push_back({"cuDevicePrimaryCtxRetain", g.context->name});
    a.findings.push_back(std::move(f));
    return a;
  }

  ProbeFigure kernel;
  kernel.name = "our kernel";
  kernel.state = g.kernel.known() ? FigureState::ok : FigureState::failed;
  kernel.basis = g.kernel.known() ? *g.kernel : g.kernel.reason;
  v.figures.push_back(kernel);
  if (!g.kernel.known()) {
    v.state = GpuState::failed;
    v.summary = "our kernel failed: " + g.kernel.reason;
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error,
                  fmt::format("{} cannot run a kernel: {}", who, g.kernel.reason));
    f.evidence.push_back({fmt::format("GPU {} kernel", g.ordinal), g.kernel.reason});
    f.fix.push_back(
        "Look for Xid errors in the kernel log (sudo dmesg | grep -i xid); a GPU that computes wrong results "
        "or cannot load a module needs a reset (reboot) and, if it persists, service.");
    a.findings.push_back(std::move(f));
    return a;
  }

  std::vector<std::string> low, wrong;
  ProbeFigure alloc;
  alloc.name = "allocation of most free memory";
  alloc.unit = "GiB";
  if (g.allocated_bytes.known()) {
    alloc.measured = static_cast<double>(*g.allocated_bytes) / (1ULL << 30U);
    alloc.state = FigureState::ok;
  } else {
    alloc.measured = Fact<double>::unknown(g.allocated_bytes.reason);
    alloc.state = step_outcome(g.allocated_bytes) == StepOutcome::skipped ? FigureState::not_measured : FigureState::failed;
  }
  if (g.memory_total_bytes.known()) alloc.expected = static_cast<double>(*g.memory_total_bytes) / (1ULL << 30U);
  alloc.basis = g.memory_free_bytes.known() && g.memory_total_bytes.known()
                    ? fmt::format("{:.1f} GiB free of {:.1f} GiB at the start", static_cast<double>(*g.memory_free_bytes) / 1073741824.0,
                                  static_cast<double>(*g.memory_total_bytes) / 1073741824.0)
                    : "";
  v.figures.push_back(alloc);

  auto dcopy = figure("device copy", "GB/s", g.device_copy, e.memory_gbs, e.memory_basis, th.memory_fraction);
  auto h2d = figure("host to device", "GB/s", g.host_to_device, e.pcie_gbs, e.pcie_basis, th.pcie_fraction);
  auto d2h = figure("device to host", "GB/s", g.device_to_host, e.pcie_gbs, e.pcie_basis, th.pcie_fraction);
  v.figures.push_back(dcopy);
  v.figures.push_back(h2d);
  v.figures.push_back(d2h);
  std::vector<ProbeFigure> compute;
  for (const auto& p : g.gemm) {
    std::optional<double> want;
    if (auto it = e.tflops.find(p.precision); it != e.tflops.end()) want = it->second;
    auto f = figure(p.precision + " matrix product", "TFLOP/s", p.rate, want, e.compute_basis,
                    p.precision == "fp32" ? th.fp32_fraction : th.tensor_fraction);
    auto limit = th.gemm_error_limit.find(p.precision);
    if (p.relative_error.known() && limit != th.gemm_error_limit.end() && *p.relative_error > limit->second) {
      f.state = FigureState::wrong;
      wrong.push_back(fmt::format("{} product relative error {:.2g} (limit {:.2g})", p.precision, *p.relative_error,
                                  limit->second));
    }
    compute.push_back(f);
    v.figures.push_back(f);
  }
  ProbeFigure conv;
  conv.name = "cuDNN convolution";
  conv.state = g.cudnn.known()                               ? FigureState::ok
               : step_outcome(g.cudnn) == StepOutcome::wrong ? FigureState::wrong
                                                             : FigureState::not_measured;
  conv.basis = g.cudnn.known() ? *g.cudnn : g.cudnn.reason;
  if (conv.state == FigureState::wrong) wrong.push_back(g.cudnn.reason);
  v.figures.push_back(conv);

  if (!wrong.empty()) {
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error, fmt::format("{} computes wrong results", who));
    for (const auto& w : wrong) f.evidence.push_back({fmt::format("GPU {}", g.ordinal), w});
    f.fix.push_back(
        "Look for Xid errors (sudo dmesg | grep -i xid) and ECC errors (nvidia-smi -q -d ECC); reboot, and "
        "have the card serviced if results stay wrong.");
    a.findings.push_back(std::move(f));
  }

  // Memory other processes hold.
  std::uint64_t held = 0;
  for (const auto& p : g.other_processes) held += p.used_memory_bytes.value_or(0);
  bool busy = !g.other_processes.empty();
  if (alloc.state == FigureState::failed) {
    auto f = busy ? make("gpu_in_use_by_other_process", Layer::program, Severity::error,
                         fmt::format("{}: other processes hold its memory; most of the free memory cannot be allocated", who))
                  : make("gpu_memory_exhausted", Layer::program, Severity::error,
                         fmt::format("{}: most of the free memory cannot be allocated", who));
    f.evidence.push_back({fmt::format("GPU {} allocation", g.ordinal), g.allocated_bytes.reason});
    if (!alloc.basis.empty()) f.evidence.push_back({"cuMemGetInfo_v2", alloc.basis});
    a.findings.push_back(std::move(f));
  } else if (g.memory_total_bytes.known() && busy &&
             static_cast<double>(held) > th.memory_held_fraction * static_cast<double>(*g.memory_total_bytes)) {
    auto f = make("gpu_in_use_by_other_process", Layer::program, Severity::warning,
                  fmt::format("{}: {} other process(es) hold {:.1f} GiB of its memory", who, g.other_processes.size(),
                              static_cast<double>(held) / 1073741824.0));
    for (const auto& p : g.other_processes)
      f.evidence.push_back({"nvmlDeviceGetComputeRunningProcesses_v3",
                            fmt::format("pid {} holds {}", p.pid,
                                        p.used_memory_bytes.known()
                                            ? fmt::format("{:.1f} GiB", static_cast<double>(*p.used_memory_bytes) / 1073741824.0)
                                            : std::string("an unknown amount"))});
    f.fix.push_back(
        "nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv lists them; stop the ones "
        "that should not be there, or pick another GPU with CUDA_VISIBLE_DEVICES.");
    a.findings.push_back(std::move(f));
  }

  // The link: NVML under load against what the GPU supports.
  bool host_low = h2d.state == FigureState::low || d2h.state == FigureState::low;
  bool narrow = t.pcie_width_under_load.known() && t.pcie_width_max.known() && *t.pcie_width_under_load < *t.pcie_width_max;
  bool slow_gen = t.pcie_gen_under_load.known() && t.pcie_gen_max.known() && *t.pcie_gen_under_load < *t.pcie_gen_max;
  if (narrow || slow_gen) {
    auto f = make("pcie_link_degraded", Layer::hardware, host_low ? Severity::error : Severity::warning,
                  fmt::format("{}: its PCIe link runs at gen {} x{} of gen {} x{} under load", who,
                              t.pcie_gen_under_load.value_or(0), t.pcie_width_under_load.value_or(0),
                              t.pcie_gen_max.value_or(0), t.pcie_width_max.value_or(0)));
    f.evidence.push_back({"NVML during host copies", fmt::format("link gen {} x{} (the GPU supports gen {} x{})",
                                                                 t.pcie_gen_under_load.value_or(0),
                                                                 t.pcie_width_under_load.value_or(0),
                                                                 t.pcie_gen_max.value_or(0), t.pcie_width_max.value_or(0))});
    if (h2d.measured.known()) f.evidence.push_back(figure_evidence(g, h2d));
    if (d2h.measured.known()) f.evidence.push_back(figure_evidence(g, d2h));
    if (narrow)
      f.fix.push_back(
          "Seat the card in a full-width (x16) slot; check risers and extension cables, slot sharing "
          "(M.2 drives or other cards on the same lanes) and the slot's lane setting in the firmware setup.");
    if (slow_gen)
      f.fix.push_back(
          "Check the slot's PCIe generation in the firmware setup (a slot forced to an older generation, or "
          "a riser that cannot carry the speed, trains the link down).");
    a.findings.push_back(std::move(f));
  } else if (host_low) {
    auto f = make("other", Layer::hardware, Severity::warning,
                  fmt::format("{}: host<->device copies run far below what its PCIe link allows", who));
    if (h2d.measured.known()) f.evidence.push_back(figure_evidence(g, h2d));
    if (d2h.measured.known()) f.evidence.push_back(figure_evidence(g, d2h));
    f.fix.push_back(
        "The link itself trained at full width and speed: look at the host side (an IOMMU in translation "
        "mode, the GPU on the far CPU socket: nvidia-smi topo -m shows its NUMA affinity; a VM's PCIe passthrough).");
    a.findings.push_back(std::move(f));
  }

  // Compute and memory bandwidth: low figures, and what NVML saw during them.
  std::vector<const ProbeFigure*> slow;
  for (const auto& f : compute)
    if (f.state == FigureState::low) slow.push_back(&f);
  if (dcopy.state == FigureState::low) slow.push_back(&dcopy);
  if (!slow.empty()) {
    std::uint64_t r = t.clock_event_reasons;
    std::uint64_t hardware = r & (k_hw_slowdown | k_hw_thermal | k_hw_power_brake | k_sw_thermal);
    bool power_lowered = t.power_limit_w.known() && t.power_default_limit_w.known() &&
                         *t.power_limit_w < th.power_limit_lowered_fraction * *t.power_default_limit_w;
    bool clocks_low = t.sm_clock_max_seen_mhz.known() && t.sm_clock_max_mhz.known() &&
                      *t.sm_clock_max_seen_mhz < th.clocks_held_fraction * *t.sm_clock_max_mhz;
    Finding f;
    if (hardware != 0) {
      f = make("gpu_throttled", Layer::hardware, Severity::error,
               fmt::format("{} is throttled ({}): it computes at a fraction of its rate", who, reason_names(hardware)));
      f.fix.push_back(
          "Check cooling: fans, airflow, dust, the inlet temperature (nvidia-smi -q -d TEMPERATURE,PERFORMANCE); "
          "hardware slowdown or power brake also comes from an insufficient power supply or cable.");
    } else if (power_lowered) {
      f = make("gpu_throttled", Layer::hardware, Severity::error,
               fmt::format("{}: its power limit is {:.0f} W of the default {:.0f} W", who, *t.power_limit_w,
                           *t.power_default_limit_w));
      f.fix.push_back(fmt::format("sudo nvidia-smi -i {} -pl {:.0f}   (restores the default limit)", g.ordinal,
                                  *t.power_default_limit_w));
    } else if ((r & k_applications_clocks) != 0 || clocks_low) {
      f = make("gpu_throttled", Layer::hardware, Severity::error,
               fmt::format("{}: its clocks are held down ({} MHz at most of {} MHz)", who,
                           t.sm_clock_max_seen_mhz.value_or(0), t.sm_clock_max_mhz.value_or(0)));
      f.fix.push_back(fmt::format(
          "sudo nvidia-smi -i {} -rac && sudo nvidia-smi -i {} -rgc   (reset application and "
          "locked clocks)",
          g.ordinal, g.ordinal));
    } else if (busy) {
      f = make("gpu_in_use_by_other_process", Layer::program, Severity::error,
               fmt::format("{}: other processes compute on it, so the probe got a fraction of it", who));
      f.fix.push_back("nvidia-smi shows the processes; stop them or pick another GPU with CUDA_VISIBLE_DEVICES.");
    } else {
      f = make("other", Layer::hardware, Severity::warning,
               fmt::format("{} runs below what this card should deliver, and NVML shows no reason", who));
      f.fix.push_back("Run the probe again; if it stays low, compare with nvidia-smi -q -d PERFORMANCE,CLOCK during a long job.");
    }
    for (const auto* s : slow) f.evidence.push_back(figure_evidence(g, *s));
    f.evidence.push_back({"NVML during the matrix products",
                          fmt::format("SM clock {}-{} MHz of {} MHz, {} C at most, {:.0f} W at most of {:.0f} W; clock-event "
                                      "reasons: {}",
                                      t.sm_clock_min_seen_mhz.value_or(0), t.sm_clock_max_seen_mhz.value_or(0),
                                      t.sm_clock_max_mhz.value_or(0), t.temperature_max_c.value_or(0),
                                      t.power_max_w.value_or(0), t.power_limit_w.value_or(0), reason_names(r))});
    a.findings.push_back(std::move(f));
  } else if ((t.clock_event_reasons & (k_hw_slowdown | k_hw_thermal | k_hw_power_brake | k_sw_thermal)) != 0) {
    auto f = make("gpu_throttled", Layer::hardware, Severity::warning,
                  fmt::format("{} reported {} under load, though its figures held up", who,
                              reason_names(t.clock_event_reasons & ~k_sw_power_cap)));
    f.evidence.push_back({"nvmlDeviceGetCurrentClocksEventReasons", reason_names(t.clock_event_reasons)});
    f.fix.push_back("Check cooling and power before long jobs: nvidia-smi -q -d TEMPERATURE,PERFORMANCE.");
    a.findings.push_back(std::move(f));
  }

  bool failed = std::any_of(a.findings.begin(), a.findings.end(),
                            [](const Finding& f) { return f.severity == Severity::error; });
  v.state = failed ? GpuState::degraded : (a.findings.empty() ? GpuState::healthy : GpuState::degraded);
  if (!wrong.empty()) v.state = GpuState::failed;
  if (!a.findings.empty()) {
    v.summary = a.findings.front().title;
    for (const char* sep : {": ", " "})
      if (v.summary.rfind(who + sep, 0) == 0) v.summary = v.summary.substr(who.size() + std::strlen(sep));
  } else {
    std::optional<double> lo, hi;
    for (const auto& f : v.figures) {
      if (f.state != FigureState::ok || !f.measured.known() || !f.expected.known() || *f.expected <= 0 || f.unit == "GiB") continue;
      double r = 100.0 * *f.measured / *f.expected;
      lo = std::min(lo.value_or(r), r);
      hi = std::max(hi.value_or(r), r);
    }
    v.summary = lo ? fmt::format("computes right; its figures are {:.0f}-{:.0f}% of what the card and its link allow", *lo, *hi)
                   : "computes right";
  }
  return a;
}

}  // namespace

std::vector<GpuVerdict> probe_verdicts(const RuleContext& ctx) {
  std::vector<GpuVerdict> out;
  for (const auto& g : ctx.s.compute.gpus) out.push_back(assess_gpu(g, ctx).verdict);
  return out;
}

std::vector<std::string> probe_notes(const RuleContext& ctx) {
  const auto& c = ctx.s.compute;
  std::vector<std::string> out;
  if (!c.attempted) {
    if (!c.why_not.empty()) out.push_back("no work was run: " + c.why_not);
    return out;
  }
  for (const auto& l : c.libraries) {
    if (l.loaded.known())
      out.push_back(fmt::format("{} {}: {} ({})", l.role, l.version.value_or("?"), *l.loaded, l.chosen_because));
    else
      out.push_back(fmt::format("{}: not loaded ({}); {}", l.role, l.loaded.reason, l.chosen_because));
  }
  if (!c.peers.empty()) {
    std::string line = "peer copies (GB/s, * = peer access):";
    for (const auto& p : c.peers)
      line += fmt::format(" {}->{} {}{}", p.from, p.to, p.copy.known() ? fmt::format("{:.0f}", p.copy->value) : "failed",
                          p.can_access ? "*" : "");
    out.push_back(line);
  }
  if (c.nccl_init.known()) out.push_back("NCCL: " + *c.nccl_init);
  for (const auto& a : c.all_reduce)
    out.push_back(a.bus_bandwidth.known()
                      ? fmt::format("all-reduce {} MiB: {:.1f} GB/s bus bandwidth, {:.3f} ms{}", a.bytes >> 20U,
                                    a.bus_bandwidth->value, a.bus_bandwidth->median_ms,
                                    a.correct.is(true) ? ", sums right" : "")
                      : fmt::format("all-reduce {} MiB: failed ({})", a.bytes >> 20U, a.bus_bandwidth.reason));
  out.push_back(fmt::format("probe child: {} in {:.1f} s", to_string(c.child.status), c.child.elapsed_ms / 1000));
  return out;
}

void rule_probe_gpus(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& c = ctx.s.compute;
  if (!c.attempted) return;
  for (const auto& g : c.gpus)
    for (auto& f : assess_gpu(g, ctx).findings) out.push_back(std::move(f));
  if (c.child.status == ChildStatus::timeout || c.child.status == ChildStatus::crashed || c.child.status == ChildStatus::stuck) {
    const char* how = c.child.status == ChildStatus::timeout ? "hung"
                      : c.child.status == ChildStatus::stuck ? "is stuck in the kernel"
                                                             : "crashed";
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error,
                  fmt::format("the probe's child process {} at \"{}\"", how, c.last_step));
    f.evidence.push_back({"probe child", fmt::format("{}: {}", to_string(c.child.status), c.child.detail)});
    f.fix.push_back(
        "Look for Xid errors in the kernel log (sudo dmesg | grep -i xid); a GPU that hangs on simple work "
        "needs a reset (reboot).");
    out.push_back(std::move(f));
  } else if (c.child.status == ChildStatus::failed) {
    auto f = make("other", Layer::hardware, Severity::error, "the probe's child process failed: " + c.child.detail);
    for (const auto& e : c.errors) f.evidence.push_back({"probe", e});
    out.push_back(std::move(f));
  }
  // A library the frameworks load that could not do its work on any GPU.
  for (const auto& lib : c.libraries) {
    std::string why;
    if (lib.role == "cublas") {
      for (const auto& g : c.gpus)
        for (const auto& p : g.gemm)
          if (!p.rate.known() && step_outcome(p.rate) != StepOutcome::unsupported && why.empty())
            why = p.rate.reason;
    } else if (lib.role == "cudnn" && c.mode == ProbeMode::full) {
      for (const auto& g : c.gpus)
        if (!g.cudnn.known() && step_outcome(g.cudnn) != StepOutcome::wrong && why.empty()) why = g.cudnn.reason;
    }
    if (why.empty() || c.gpus.empty()) continue;
    bool missing = !lib.loaded.known();
    if (missing && lib.role == "cudnn") continue;  // cuDNN is optional ("where found")
    auto f = make(missing ? "cuda_math_library_missing" : "other", Layer::libraries, Severity::warning,
                  missing ? fmt::format("no {} loads, so no matrix product could run", lib.role)
                          : fmt::format("{} {} loads but cannot do its work: {}", lib.role, lib.version.value_or(""), why));
    f.evidence.push_back({lib.requested.empty() ? lib.role : lib.requested, missing ? lib.loaded.reason : why});
    f.evidence.push_back({"chosen", lib.chosen_because});
    f.fix.push_back("Run gpudoctor check: its libraries layer shows which copy each framework loads and why.");
    out.push_back(std::move(f));
  }
  if (c.gpus.empty() && !c.errors.empty()) {
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error, "no work could run on any GPU");
    for (const auto& e : c.errors) f.evidence.push_back({"probe", e});
    out.push_back(std::move(f));
  }
}

}  // namespace gpudoctor
