#include "program/gpu_usage.hpp"

#include <algorithm>

namespace gpudoctor::program {

PidMatch pid_match(const std::map<pid_t, ProgramProcess>& processes, std::function<bool(std::uint32_t)> visible) {
  PidMatch m;
  m.visible = std::move(visible);
  for (const auto& [pid, p] : processes) {
    m.direct[static_cast<std::uint32_t>(pid)] = static_cast<std::uint32_t>(pid);
    // NSpid's first entry is our namespace's PID; the others are the same process in the
    // namespaces nested inside ours (a container's PID 1 ...).
    for (std::size_t i = 1; i < p.nspids.size(); ++i) m.nspid.emplace(p.nspids[i], static_cast<std::uint32_t>(pid));
  }
  return m;
}

void GpuUsage::gpus(const std::vector<SampledGpu>& gpus) {
  m_gpus.clear();
  for (const auto& g : gpus) {
    PerGpu p;
    p.gpu.index = g.index;
    p.gpu.name = g.name;
    p.gpu.uuid = g.uuid;
    p.gpu.pci_bus_id = g.pci_bus_id;
    if (g.memory_total_bytes) p.gpu.memory_total_bytes = *g.memory_total_bytes;
    else p.gpu.memory_total_bytes = Fact<std::uint64_t>::unknown("nvmlDeviceGetMemoryInfo failed");
    m_gpus.push_back(std::move(p));
  }
}

void GpuUsage::reading(const NvmlReading& r, double t_s, const PidMatch& match) {
  for (const auto& gr : r.gpus) {
    auto it = std::find_if(m_gpus.begin(), m_gpus.end(), [&](const PerGpu& p) { return p.gpu.index == gr.index; });
    if (it == m_gpus.end()) continue;
    PerGpu& g = *it;
    GpuSample s;
    s.t_s = t_s;
    if (gr.utilization_percent) s.device_utilization_percent = *gr.utilization_percent;
    else s.device_utilization_percent = Fact<unsigned>::unknown("nvmlDeviceGetUtilizationRates failed");
    if (gr.memory_used_bytes) s.device_memory_used_bytes = *gr.memory_used_bytes;
    else s.device_memory_used_bytes = Fact<std::uint64_t>::unknown("nvmlDeviceGetMemoryInfo failed");
    s.utilization_percent = Fact<unsigned>::unknown("not attributable");
    s.memory_bytes = Fact<std::uint64_t>::unknown("no process list");
    if (gr.processes) {
      std::set<std::uint32_t> ours;
      std::uint64_t our_memory = 0, other_memory = 0;
      bool our_memory_known = true;
      std::size_t others = 0;
      for (const auto& p : *gr.processes) {
        m_listed = true;
        std::uint32_t mine = 0;
        if (auto d = match.direct.find(p.pid); d != match.direct.end()) {
          mine = d->second;
          m_matched_direct = true;
        } else if (auto n = match.nspid.find(p.pid); n != match.nspid.end()) {
          mine = n->second;
          m_matched_nspid = true;
        }
        if (mine != 0) {
          ours.insert(mine);
          g.pids.insert(mine);
          if (p.memory_bytes) our_memory += *p.memory_bytes;
          else our_memory_known = false;
        } else {
          ++others;
          if (g.other_pids.size() < 64) g.other_pids.insert(p.pid);
          if (p.memory_bytes) other_memory += *p.memory_bytes;
          if (match.visible && !match.visible(p.pid)) m_unmatched_invisible = true;
        }
      }
      g.others_known = true;
      g.others_peak = std::max(g.others_peak, other_memory);
      if (our_memory_known) s.memory_bytes = our_memory;
      else s.memory_bytes = Fact<std::uint64_t>::unknown("NVML_VALUE_NOT_AVAILABLE");
      if (!ours.empty() && !g.first_use_s) g.first_use_s = t_s;
      const bool held = !gr.process_utilization_asked && g.per_process_util && g.putil_asked_us.has_value();
      if (gr.process_utilization || held) {
        // NVML keeps one sample per process and period (its timestamps tell the period); a reading
        // between two samples holds the last one while it is younger than the period. The
        // program's share is the sum over its processes.
        if (gr.process_utilization) g.putil_asked_us = r.realtime_us;
        const std::uint64_t as_of = held ? *g.putil_asked_us : r.realtime_us;
        for (const auto& u : gr.process_utilization ? *gr.process_utilization : std::vector<SampledProcessUtilization>{}) {
          std::uint32_t mine = 0;
          if (auto d = match.direct.find(u.pid); d != match.direct.end()) mine = d->second;
          else if (auto n = match.nspid.find(u.pid); n != match.nspid.end()) mine = n->second;
          if (mine == 0) continue;
          auto last = g.last_sample.find(mine);
          if (last != g.last_sample.end() && u.time_stamp_us < last->second.first) continue;
          if (last != g.last_sample.end() && u.time_stamp_us > last->second.first)
            g.sample_gap_us[mine] = u.time_stamp_us - last->second.first;
          g.last_sample[mine] = {u.time_stamp_us, u.sm_percent};
        }
        unsigned sum = 0;
        for (const auto& [pid, ts_value] : g.last_sample) {
          auto gap = g.sample_gap_us.find(pid);
          std::uint64_t hold = std::clamp<std::uint64_t>(gap == g.sample_gap_us.end() ? 1000000 : gap->second * 3 / 2,
                                                         100000, 2000000);
          if (as_of == 0 || as_of <= ts_value.first + hold) sum += ts_value.second;
        }
        s.utilization_percent = std::min(sum, 100u);
        g.per_process_util = true;
      } else if (ours.empty()) {
        s.utilization_percent = 0u;  // none of the program's processes holds a context here
      } else if (others == 0 && gr.utilization_percent) {
        s.utilization_percent = *gr.utilization_percent;  // the program is the GPU's only user
        g.device_util = true;
      }
    }
    g.samples.push_back(std::move(s));
  }
}

void GpuUsage::finish(Program& program, double duration_s, std::size_t max_points) const {
  (void)duration_s;
  program.gpus.clear();
  for (const auto& g : m_gpus) {
    ProgramGpu out = g.gpu;
    out.samples = static_cast<int>(g.samples.size());
    out.pids.assign(g.pids.begin(), g.pids.end());
    out.other_pids.assign(g.other_pids.begin(), g.other_pids.end());
    out.used = !g.pids.empty();
    if (g.others_known) out.others_peak_memory_bytes = g.others_peak;
    else out.others_peak_memory_bytes = Fact<std::uint64_t>::unknown("no process list");
    out.utilization_basis = g.per_process_util ? "per process (nvmlDeviceGetProcessUtilization)"
                            : g.device_util    ? "device, the program its only user (nvmlDeviceGetUtilizationRates)"
                                               : "";
    std::optional<std::uint64_t> peak_memory;
    std::optional<unsigned> peak_util;
    double util_sum = 0;
    std::size_t util_n = 0, known = 0;
    double busy = 0;
    for (const auto& s : g.samples) {
      if (s.memory_bytes.known()) peak_memory = std::max(peak_memory.value_or(0), *s.memory_bytes);
      if (!s.utilization_percent.known()) continue;
      ++known;
      busy += *s.utilization_percent / 100.0;  // NVML: the share of the period with a kernel running
      peak_util = std::max(peak_util.value_or(0), *s.utilization_percent);
      if (g.first_use_s && s.t_s >= *g.first_use_s) {
        util_sum += *s.utilization_percent;
        ++util_n;
      }
    }
    const char* why = g.samples.empty() ? "no NVML reading" : "no reading attributable to the program";
    if (peak_memory) out.peak_memory_bytes = *peak_memory;
    else out.peak_memory_bytes = Fact<std::uint64_t>::unknown(why);
    if (peak_util) out.peak_utilization_percent = *peak_util;
    else out.peak_utilization_percent = Fact<unsigned>::unknown(why);
    if (util_n > 0) out.mean_utilization_percent = util_sum / static_cast<double>(util_n);
    else out.mean_utilization_percent = Fact<double>::unknown(out.used ? why : "the program never used this GPU");
    if (known > 0) out.busy_share = busy / static_cast<double>(known);
    else out.busy_share = Fact<double>::unknown(why);
    // Evenly thinned timeline.
    if (g.samples.size() <= max_points) {
      out.timeline = g.samples;
    } else {
      double step = static_cast<double>(g.samples.size()) / static_cast<double>(max_points);
      for (std::size_t k = 0; k < max_points; ++k) out.timeline.push_back(g.samples[static_cast<std::size_t>(static_cast<double>(k) * step)]);
    }
    program.gpus.push_back(std::move(out));
  }
  program.per_process = m_gpus.empty()          ? PerProcess::no_nvml
                        : m_matched_direct      ? PerProcess::pid
                        : m_matched_nspid       ? PerProcess::nspid
                        : m_unmatched_invisible ? PerProcess::not_visible
                        : m_listed              ? PerProcess::pid
                                                : PerProcess::no_processes_listed;
}

std::vector<std::pair<unsigned, GpuSample>> GpuUsage::latest() const {
  std::vector<std::pair<unsigned, GpuSample>> out;
  for (const auto& g : m_gpus)
    if (!g.samples.empty()) out.emplace_back(g.gpu.index, g.samples.back());
  return out;
}

}  // namespace gpudoctor::program
