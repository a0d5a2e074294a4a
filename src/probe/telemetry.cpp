#include "probe/telemetry.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>

namespace gpudoctor::probe {

namespace {

template <typename T>
void keep_max(Fact<T>& f, T v) {
  if (!f.known() || v > *f) f = v;
}
template <typename T>
void keep_min(Fact<T>& f, T v) {
  if (!f.known() || v < *f) f = v;
}

}  // namespace

Telemetry::Telemetry() : m_lib("libnvidia-ml.so.1") {
  if (!m_lib.loaded()) {
    m_why_not = "libnvidia-ml.so.1 could not be loaded: " + m_lib.error();
    return;
  }
#define GPUDOCTOR_BIND(member, sig, ...) m_lib.bind(m_fn.member, {__VA_ARGS__});
  GPUDOCTOR_NVML_FUNCTIONS(GPUDOCTOR_BIND)
#undef GPUDOCTOR_BIND
  if (m_fn.init == nullptr || m_fn.init() != nvml::k_success) {
    m_why_not = "nvmlInit failed";
    return;
  }
  m_ready = true;
  m_thread = std::thread([this] { run(); });
}

Telemetry::~Telemetry() {
  m_stop = true;
  if (m_thread.joinable()) m_thread.join();
}

int Telemetry::track(const std::string& uuid) {
  if (!m_ready) return -1;
  if (m_fn.device_handle_by_uuid == nullptr) {
    m_why_not = "nvmlDeviceGetHandleByUUID is not exported";
    return -1;
  }
  nvml::Device dev = nullptr;
  if (m_fn.device_handle_by_uuid(uuid.c_str(), &dev) != nvml::k_success) {
    m_why_not = "NVML does not know " + uuid;
    return -1;
  }
  LoadTelemetry t;
  unsigned v = 0;
  if (m_fn.device_max_clock && m_fn.device_max_clock(dev, nvml::k_clock_sm, &v) == 0) t.sm_clock_max_mhz = v;
  if (m_fn.device_power_limit && m_fn.device_power_limit(dev, &v) == 0) t.power_limit_w = v / 1000.0;
  if (m_fn.device_power_default_limit && m_fn.device_power_default_limit(dev, &v) == 0)
    t.power_default_limit_w = v / 1000.0;
  if (m_fn.device_pcie_gen_max && m_fn.device_pcie_gen_max(dev, &v) == 0) t.pcie_gen_max = static_cast<int>(v);
  if (m_fn.device_pcie_width_max && m_fn.device_pcie_width_max(dev, &v) == 0) t.pcie_width_max = static_cast<int>(v);
  // NVLinks: every link index the GPU answers for (a PCIe-only GPU answers none).
  if (m_fn.device_nvlink_state != nullptr) {
    int active = 0, answered = 0;
    for (unsigned link = 0; link < nvml::k_nvlink_max_links; ++link) {
      int on = 0;
      if (m_fn.device_nvlink_state(dev, link, &on) != nvml::k_success) continue;
      ++answered;
      if (on != 0) ++active;
      else t.nvlinks_inactive.push_back(static_cast<int>(link));
    }
    if (answered > 0) t.nvlinks_active = active;
    else t.nvlinks_active = Fact<int>::unknown("no NVLink (nvmlDeviceGetNvLinkState answers no link)");
  }
  std::lock_guard lock(m_mutex);
  m_devices.push_back(dev);
  m_results.push_back(t);
  m_loads.push_back(Load::none);
  return static_cast<int>(m_devices.size()) - 1;
}

void Telemetry::set_load(int slot, Load load) {
  std::lock_guard lock(m_mutex);
  if (slot >= 0 && static_cast<std::size_t>(slot) < m_loads.size()) m_loads[static_cast<std::size_t>(slot)] = load;
}

void Telemetry::read_link_now(int slot) {
  nvml::Device dev = nullptr;
  {
    std::lock_guard lock(m_mutex);
    if (slot < 0 || static_cast<std::size_t>(slot) >= m_devices.size()) return;
    dev = m_devices[static_cast<std::size_t>(slot)];
  }
  unsigned gen = 0, width = 0;
  if (!m_fn.device_pcie_gen_current || !m_fn.device_pcie_width_current || m_fn.device_pcie_gen_current(dev, &gen) != 0 ||
      m_fn.device_pcie_width_current(dev, &width) != 0)
    return;
  std::lock_guard lock(m_mutex);
  auto& t = m_results[static_cast<std::size_t>(slot)];
  keep_max(t.pcie_gen_under_load, static_cast<int>(gen));
  keep_max(t.pcie_width_under_load, static_cast<int>(width));
}

LoadTelemetry Telemetry::result(int slot) const {
  std::lock_guard lock(m_mutex);
  if (slot < 0 || static_cast<std::size_t>(slot) >= m_results.size()) return {};
  return m_results[static_cast<std::size_t>(slot)];
}

Fact<unsigned> Telemetry::pci_device_id(int slot) const {
  std::lock_guard lock(m_mutex);
  if (slot < 0 || m_fn.device_pci_info == nullptr) return Fact<unsigned>::unknown("NVML not available: " + m_why_not);
  nvml::PciInfo info{};
  if (m_fn.device_pci_info(m_devices[static_cast<std::size_t>(slot)], &info) != 0)
    return Fact<unsigned>::unknown("nvmlDeviceGetPciInfo_v3 failed");
  return info.pci_device_id >> 16U;
}

std::vector<NvmlProcess> Telemetry::other_processes(int slot) const {
  std::lock_guard lock(m_mutex);
  std::vector<NvmlProcess> out;
  if (slot < 0 || m_fn.device_compute_processes == nullptr) return out;
  std::array<nvml::ProcessInfo, 64> infos{};
  unsigned count = infos.size();
  if (m_fn.device_compute_processes(m_devices[static_cast<std::size_t>(slot)], &count, infos.data()) != 0) return out;
  auto self = static_cast<unsigned>(::getpid());
  for (unsigned i = 0; i < count && i < infos.size(); ++i) {
    if (infos[i].pid == self) continue;
    NvmlProcess p;
    p.pid = infos[i].pid;
    p.kind = ProcessKind::compute;
    if (infos[i].used_gpu_memory != nvml::k_value_not_available) p.used_memory_bytes = infos[i].used_gpu_memory;
    else p.used_memory_bytes = Fact<std::uint64_t>::unknown("not available (container or MIG)");
    out.push_back(p);
  }
  return out;
}

void Telemetry::run() {
  while (!m_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::vector<Load> loads;
    std::vector<nvml::Device> devices;
    {
      std::lock_guard lock(m_mutex);
      loads = m_loads;
      devices = m_devices;
    }
    for (std::size_t slot = 0; slot < loads.size(); ++slot)
      if (loads[slot] != Load::none) sample(slot, devices[slot], loads[slot]);
  }
}

void Telemetry::sample(std::size_t slot, nvml::Device dev, Load load) {
  const auto& fn = m_fn;
  unsigned sm = 0, temp = 0, power = 0, gen = 0, width = 0;
  unsigned long long reasons = 0;
  nvml::Utilization util{};
  bool have_sm = fn.device_clock && fn.device_clock(dev, nvml::k_clock_sm, &sm) == 0;
  bool have_temp = fn.device_temperature && fn.device_temperature(dev, nvml::k_temperature_gpu, &temp) == 0;
  bool have_power = fn.device_power_usage && fn.device_power_usage(dev, &power) == 0;
  bool have_reasons = fn.device_clock_event_reasons && fn.device_clock_event_reasons(dev, &reasons) == 0;
  bool have_util = fn.device_utilization && fn.device_utilization(dev, &util) == 0;
  bool have_link = load == Load::host_copy && fn.device_pcie_gen_current && fn.device_pcie_width_current &&
                   fn.device_pcie_gen_current(dev, &gen) == 0 && fn.device_pcie_width_current(dev, &width) == 0;

  std::lock_guard lock(m_mutex);
  auto& t = m_results[slot];
  ++t.samples;
  if (have_temp) keep_max(t.temperature_max_c, temp);
  if (have_power) keep_max(t.power_max_w, power / 1000.0);
  if (have_link) {
    keep_max(t.pcie_gen_under_load, static_cast<int>(gen));
    keep_max(t.pcie_width_under_load, static_cast<int>(width));
  }
  if (load != Load::compute) return;
  if (have_sm) {
    keep_min(t.sm_clock_min_seen_mhz, sm);
    keep_max(t.sm_clock_max_seen_mhz, sm);
  }
  if (have_reasons) t.clock_event_reasons |= reasons & ~nvml::k_reason_gpu_idle;
  if (have_util) keep_max(t.utilization_max_percent, util.gpu);
}

}  // namespace gpudoctor::probe
