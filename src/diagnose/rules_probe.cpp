// Rules over what `gpudoctor probe` measured (Snapshot::compute): each GPU's figures against what
// the card and its link should deliver (kb/data/gpu_performance.toml), the evidence NVML gave
// under load (link width and generation, clock-event reasons, power limit, other processes), and
// the multi-GPU steps (peer copies, NCCL all-reduce).
#include <algorithm>
#include <functional>
#include <cstring>
#include <fmt/format.h>

#include "diagnose/rule_context.hpp"

namespace gpudoctor {

namespace {

// nvmlClocksEventReasons bits (nvml.h) that mean the hardware or its cooling holds the clocks down.
constexpr std::uint64_t k_sw_power_cap = 0x4, k_hw_slowdown = 0x8, k_sw_thermal = 0x20, k_hw_thermal = 0x40,
                        k_hw_power_brake = 0x80, k_applications_clocks = 0x2;

std::string reason_names(std::uint64_t bits) {
  static const std::pair<std::uint64_t, const char*> k_names[] = {
      {k_applications_clocks, "applications clocks setting"}, {k_sw_power_cap, "software power cap"},
      {k_hw_slowdown, "hardware slowdown"},          {0x10, "sync boost"},
      {k_sw_thermal, "software thermal slowdown"},   {k_hw_thermal, "hardware thermal slowdown"},
      {k_hw_power_brake, "hardware power brake"},    {0x100, "display clocks setting"},
  };
  std::string out;
  for (const auto& [bit, name] : k_names)
    if ((bits & bit) != 0) out += (out.empty() ? "" : ", ") + std::string(name);
  return out.empty() ? "none" : out;
}

struct Expected {
  std::optional<double> memory_gbs, pcie_gbs;
  std::map<std::string, double> tflops;  // by precision
  std::string compute_basis, memory_basis, pcie_basis;
};

Expected expected_for(const GpuProbe& g, const kb::KnowledgeBase& kb) {
  Expected e;
  std::optional<unsigned> id;
  if (g.pci_device_id.known()) id = *g.pci_device_id;
  if (const auto* m = kb.gpu_model(id, g.name)) {
    e.memory_gbs = m->memory_bandwidth_gbs;
    if (m->bf16_tflops) e.tflops["bf16"] = *m->bf16_tflops;
    if (m->fp16_tflops) e.tflops["fp16"] = *m->fp16_tflops;
    if (m->tf32_tflops) e.tflops["tf32"] = *m->tf32_tflops;
    if (m->fp32_tflops) e.tflops["fp32"] = *m->fp32_tflops;
    e.compute_basis = e.memory_basis = m->name + " datasheet";
  } else if (const auto* a = kb.arch_rates(g.cc_major, g.cc_minor);
             a != nullptr && g.multiprocessors.known() && g.sm_clock_peak_khz.known()) {
    double ghz = *g.sm_clock_peak_khz / 1e6;
    double sms = *g.multiprocessors;
    bool geforce = g.name.find("GeForce") != std::string::npos;
    double tensor = geforce ? a->geforce_tensor_factor : 1.0;
    auto rate = [&](std::optional<double> per_sm, double factor) { return sms * ghz * *per_sm * factor / 1e3; };
    if (a->bf16) e.tflops["bf16"] = rate(a->bf16, tensor);
    if (a->fp16) e.tflops["fp16"] = rate(a->fp16, tensor);
    if (a->tf32) e.tflops["tf32"] = rate(a->tf32, tensor);
    if (a->fp32) e.tflops["fp32"] = rate(a->fp32, 1.0);
    e.compute_basis = fmt::format("{} SMs x {:.0f} MHz, {} rates{}", *g.multiprocessors, ghz * 1e3, a->name,
                                  geforce && tensor != 1.0 ? " (GeForce tensor rate)" : "");
  }
  if (!e.memory_gbs && g.memory_clock_peak_khz.known() && g.memory_bus_width_bits.known() &&
      *g.memory_clock_peak_khz > 0 && *g.memory_bus_width_bits > 0) {
    // Double data rate: two transfers per reported memory clock (what NVIDIA's bandwidthTest assumes).
    e.memory_gbs = 2.0 * *g.memory_clock_peak_khz * 1e3 * (*g.memory_bus_width_bits / 8.0) / 1e9;
    e.memory_basis = fmt::format("{} MHz memory clock x {}-bit bus", *g.memory_clock_peak_khz / 1000,
                                 *g.memory_bus_width_bits);
  }
  const auto& t = g.telemetry;
  if (t.pcie_gen_max.known() && t.pcie_width_max.known()) {
    if (auto lane = kb.pcie_lane_gbs(*t.pcie_gen_max)) {
      e.pcie_gbs = *lane * *t.pcie_width_max;
      e.pcie_basis = fmt::format("PCIe gen {} x{} (what the GPU supports)", *t.pcie_gen_max, *t.pcie_width_max);
    }
  }
  return e;
}

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
  if (!m.known()) f.state = "not measured";
  else if (!expected) f.state = "no reference";
  else f.state = m->value < fraction * *expected ? "low" : "ok";
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

Finding make(const std::string& cause, Layer layer, Severity sev, std::string title) {
  Finding f;
  f.cause = cause;
  f.layer = layer;
  f.severity = sev;
  f.title = std::move(title);
  return f;
}

Assessment assess_gpu(const GpuProbe& g, const RuleContext& ctx) {
  const auto& th = ctx.kb.probe_thresholds();
  Assessment a;
  auto& v = a.verdict;
  v.ordinal = g.ordinal;
  v.name = g.name;
  Expected e = expected_for(g, ctx.kb);
  const auto& t = g.telemetry;
  std::string who = fmt::format("GPU {} ({})", g.ordinal, g.name);

  if (!g.context.known() && g.kernel.reason == "not collected") {  // the probe stopped before it
    v.state = "not reached";
    v.summary = "the probe stopped before this GPU";
    return a;
  }
  if (g.context.known() && !g.context->ok()) {
    v.state = "failed";
    v.summary = "no CUDA context: " + g.context->name;
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error,
                  fmt::format("{}: a CUDA context cannot be created ({})", who, g.context->name));
    if (g.context->name.find("OUT_OF_MEMORY") != std::string::npos) {
      f = make("gpu_memory_exhausted", Layer::program, Severity::error,
               fmt::format("{}: no memory left even for a CUDA context", who));
      f.fix.push_back("See which processes hold the GPU: nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv");
    } else if (g.context->name.find("DEVICE_UNAVAILABLE") != std::string::npos) {
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
  kernel.state = g.kernel.known() ? "ok" : "failed";
  kernel.basis = g.kernel.known() ? *g.kernel : g.kernel.reason;
  v.figures.push_back(kernel);
  if (!g.kernel.known()) {
    v.state = "failed";
    v.summary = "our kernel failed: " + g.kernel.reason;
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error,
                  fmt::format("{} cannot run a kernel: {}", who, g.kernel.reason));
    f.evidence.push_back({fmt::format("GPU {} kernel", g.ordinal), g.kernel.reason});
    f.fix.push_back("Look for Xid errors in the kernel log (sudo dmesg | grep -i xid); a GPU that computes wrong results "
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
    alloc.state = "ok";
  } else {
    alloc.measured = Fact<double>::unknown(g.allocated_bytes.reason);
    alloc.state = g.allocated_bytes.reason.find("quick") != std::string::npos ? "not measured" : "failed";
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
      f.state = "wrong";
      wrong.push_back(fmt::format("{} product relative error {:.2g} (limit {:.2g})", p.precision, *p.relative_error,
                                  limit->second));
    }
    compute.push_back(f);
    v.figures.push_back(f);
  }
  ProbeFigure conv;
  conv.name = "cuDNN convolution";
  conv.state = g.cudnn.known() ? "ok" : (g.cudnn.reason.find("wrong") != std::string::npos ? "wrong" : "not measured");
  conv.basis = g.cudnn.known() ? *g.cudnn : g.cudnn.reason;
  if (conv.state == "wrong") wrong.push_back(g.cudnn.reason);
  v.figures.push_back(conv);

  if (!wrong.empty()) {
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error, fmt::format("{} computes wrong results", who));
    for (const auto& w : wrong) f.evidence.push_back({fmt::format("GPU {}", g.ordinal), w});
    f.fix.push_back("Look for Xid errors (sudo dmesg | grep -i xid) and ECC errors (nvidia-smi -q -d ECC); reboot, and "
                    "have the card serviced if results stay wrong.");
    a.findings.push_back(std::move(f));
  }

  // Memory other processes hold.
  std::uint64_t held = 0;
  for (const auto& p : g.other_processes) held += p.used_memory_bytes.value_or(0);
  bool busy = !g.other_processes.empty();
  if (alloc.state == "failed") {
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
    f.fix.push_back("nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv lists them; stop the ones "
                    "that should not be there, or pick another GPU with CUDA_VISIBLE_DEVICES.");
    a.findings.push_back(std::move(f));
  }

  // The link: NVML under load against what the GPU supports.
  bool host_low = h2d.state == "low" || d2h.state == "low";
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
      f.fix.push_back("Seat the card in a full-width (x16) slot; check risers and extension cables, slot sharing "
                      "(M.2 drives or other cards on the same lanes) and the slot's lane setting in the firmware setup.");
    if (slow_gen)
      f.fix.push_back("Check the slot's PCIe generation in the firmware setup (a slot forced to an older generation, or "
                      "a riser that cannot carry the speed, trains the link down).");
    a.findings.push_back(std::move(f));
  } else if (host_low) {
    auto f = make("other", Layer::hardware, Severity::warning,
                  fmt::format("{}: host<->device copies run far below what its PCIe link allows", who));
    if (h2d.measured.known()) f.evidence.push_back(figure_evidence(g, h2d));
    if (d2h.measured.known()) f.evidence.push_back(figure_evidence(g, d2h));
    f.fix.push_back("The link itself trained at full width and speed: look at the host side (an IOMMU in translation "
                    "mode, the GPU on the far CPU socket: nvidia-smi topo -m shows its NUMA affinity; a VM's PCIe passthrough).");
    a.findings.push_back(std::move(f));
  }

  // Compute and memory bandwidth: low figures, and what NVML saw during them.
  std::vector<const ProbeFigure*> slow;
  for (const auto& f : compute)
    if (f.state == "low") slow.push_back(&f);
  if (dcopy.state == "low") slow.push_back(&dcopy);
  if (!slow.empty()) {
    std::uint64_t r = t.clock_event_reasons;
    std::uint64_t hardware = r & (k_hw_slowdown | k_hw_thermal | k_hw_power_brake | k_sw_thermal);
    bool power_lowered = t.power_limit_w.known() && t.power_default_limit_w.known() &&
                         *t.power_limit_w < 0.95 * *t.power_default_limit_w;
    bool clocks_low = t.sm_clock_max_seen_mhz.known() && t.sm_clock_max_mhz.known() &&
                      *t.sm_clock_max_seen_mhz < 0.8 * *t.sm_clock_max_mhz;
    Finding f;
    if (hardware != 0) {
      f = make("gpu_throttled", Layer::hardware, Severity::error,
               fmt::format("{} is throttled ({}): it computes at a fraction of its rate", who, reason_names(hardware)));
      f.fix.push_back("Check cooling: fans, airflow, dust, the inlet temperature (nvidia-smi -q -d TEMPERATURE,PERFORMANCE); "
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
      f.fix.push_back(fmt::format("sudo nvidia-smi -i {} -rac && sudo nvidia-smi -i {} -rgc   (reset application and "
                                  "locked clocks)", g.ordinal, g.ordinal));
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
  v.state = failed ? "degraded" : (a.findings.empty() ? "healthy" : "degraded");
  if (!wrong.empty()) v.state = "failed";
  if (!a.findings.empty()) {
    v.summary = a.findings.front().title;
    for (const char* sep : {": ", " "})
      if (v.summary.rfind(who + sep, 0) == 0) v.summary = v.summary.substr(who.size() + std::strlen(sep));
  }
  else {
    std::optional<double> lo, hi;
    for (const auto& f : v.figures) {
      if (f.state != "ok" || !f.measured.known() || !f.expected.known() || *f.expected <= 0 || f.unit == "GiB") continue;
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
  out.push_back(fmt::format("probe child: {} in {:.1f} s", c.child.status, c.child.elapsed_ms / 1000));
  return out;
}

void rule_probe_gpus(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& c = ctx.s.compute;
  if (!c.attempted) return;
  for (const auto& g : c.gpus)
    for (auto& f : assess_gpu(g, ctx).findings) out.push_back(std::move(f));
  if (c.child.status == "timeout" || c.child.status == "crashed" || c.child.status == "stuck") {
    const char* how = c.child.status == "timeout" ? "hung" : c.child.status == "stuck" ? "is stuck in the kernel" : "crashed";
    auto f = make("gpu_in_bad_state", Layer::hardware, Severity::error,
                  fmt::format("the probe's child process {} at \"{}\"", how, c.last_step));
    f.evidence.push_back({"probe child", fmt::format("{}: {}", c.child.status, c.child.detail)});
    f.fix.push_back("Look for Xid errors in the kernel log (sudo dmesg | grep -i xid); a GPU that hangs on simple work "
                    "needs a reset (reboot).");
    out.push_back(std::move(f));
  } else if (c.child.status == "failed") {
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
          if (!p.rate.known() && p.rate.reason.find("compute capability") == std::string::npos && why.empty())
            why = p.rate.reason;
    } else if (lib.role == "cudnn" && c.mode == "full") {
      for (const auto& g : c.gpus)
        if (!g.cudnn.known() && g.cudnn.reason.find("wrong") == std::string::npos && why.empty()) why = g.cudnn.reason;
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
        f.fix.push_back("nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv lists them; in a "
                        "multi-GPU job the slowest GPU sets the pace, so stop them or leave this GPU out (CUDA_VISIBLE_DEVICES).");
      else
        f.fix.push_back("In a multi-GPU job the slowest GPU sets the pace: compare its cooling, power cables and slot with "
                        "the others (nvidia-smi -q -d TEMPERATURE,POWER,CLOCK,PERFORMANCE -i " + std::to_string(g.ordinal) + ").");
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
    std::string down;
    for (int l : t.nvlinks_inactive) down += (down.empty() ? "" : ", ") + std::to_string(l);
    auto f = make("multi_gpu_path_degraded", Layer::hardware, Severity::warning,
                  fmt::format("GPU {} has {} of its NVLinks active where the other {} have {}{}", g.ordinal,
                              *t.nvlinks_active, g.name, most, down.empty() ? "" : " (inactive: " + down + ")"));
    f.evidence.push_back({"nvmlDeviceGetNvLinkState",
                          fmt::format("GPU {}: {} active, inactive links [{}]", g.ordinal, *t.nvlinks_active, down)});
    f.fix.push_back(fmt::format("nvidia-smi nvlink --status -i {} shows each link; a link that stays down after a "
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
  if (c.mode != "full") return;
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
      f.fix.push_back("nvidia-smi topo -m shows how each pair is connected; nvidia-smi nvlink --status shows NVLink "
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
                              "cannot run their collectives", c.gpus.size()));
    f.evidence.push_back({"dlopen(" + (nccl->requested.empty() ? std::string("libnccl.so.2") : nccl->requested) + ")",
                          nccl->loaded.reason});
    f.fix.push_back("pip install nvidia-nccl-cu12   (or nvidia-nccl-cu13, matching the framework's CUDA), or the "
                    "distribution's libnccl2 package");
    out.push_back(std::move(f));
  } else if (nccl != nullptr && !c.nccl_init.known() && c.nccl_init.reason.find("ncclCommInitAll") != std::string::npos) {
    auto f = make("other", Layer::libraries, Severity::error,
                  "NCCL cannot set up communicators across the GPUs: multi-GPU training will fail the same way");
    f.evidence.push_back({"ncclCommInitAll", c.nccl_init.reason});
    f.fix.push_back("Run again with NCCL_DEBUG=INFO to see the step that fails; in containers give /dev/shm room "
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
