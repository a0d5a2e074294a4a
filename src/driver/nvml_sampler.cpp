#include "driver/nvml_sampler.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "driver/library.hpp"
#include "driver/nvml_api.hpp"

namespace gpudoctor {

namespace {

constexpr std::size_t k_max_gpus = 64;
constexpr std::size_t k_max_processes = 1024;

double monotonic_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::uint64_t realtime_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

void sample_nvml(std::chrono::milliseconds interval, const Emit& emit) {
  using nlohmann::json;
  SharedLibrary lib("libnvidia-ml.so.1");
  if (!lib.loaded()) {
    emit(json{{"error", "libnvidia-ml.so.1 could not be loaded: " + lib.error()}}.dump());
    return;
  }
  nvml::Functions fn;
#define GPUDOCTOR_BIND(member, sig, ...) lib.bind(fn.member, {__VA_ARGS__});
  GPUDOCTOR_NVML_FUNCTIONS(GPUDOCTOR_BIND)
#undef GPUDOCTOR_BIND
  if (fn.init == nullptr || fn.device_count == nullptr || fn.device_handle_by_index == nullptr) {
    emit(json{{"error", "libnvidia-ml.so.1 lacks nvmlInit_v2 or the device calls"}}.dump());
    return;
  }
  if (int code = fn.init(); code != nvml::k_success) {
    const char* why = fn.error_string ? fn.error_string(code) : nullptr;
    emit(json{{"error", fmt::format("nvmlInit_v2 -> {} ({})", code, why ? why : "?")}}.dump());
    return;
  }
  unsigned count = 0;
  if (fn.device_count(&count) != nvml::k_success) count = 0;
  std::vector<nvml::Device> handles;
  json gpus = json::array();
  for (unsigned i = 0; i < count && i < k_max_gpus; ++i) {
    nvml::Device h = nullptr;
    if (fn.device_handle_by_index(i, &h) != nvml::k_success || h == nullptr) continue;
    handles.push_back(h);
    json g{{"index", i}};
    std::array<char, nvml::k_name_buffer> name{};
    if (fn.device_name && fn.device_name(h, name.data(), name.size()) == 0) g["name"] = nvml::buffer_text(name.data(), name.size());
    std::array<char, nvml::k_uuid_buffer> uuid{};
    if (fn.device_uuid && fn.device_uuid(h, uuid.data(), uuid.size()) == 0) g["uuid"] = nvml::buffer_text(uuid.data(), uuid.size());
    if (fn.device_pci_info) {
      std::array<unsigned char, 256> raw{};  // room beyond the struct, should a driver write a larger one
      auto* pci = reinterpret_cast<nvml::PciInfo*>(raw.data());
      if (fn.device_pci_info(h, pci) == 0) g["pci_bus_id"] = nvml::buffer_text(pci->bus_id, sizeof(pci->bus_id));
    }
    nvml::Memory mem{};
    if (fn.device_memory && fn.device_memory(h, &mem) == 0) g["memory_total"] = mem.total;
    gpus.push_back(std::move(g));
  }
  emit(json{{"gpus", gpus}}.dump());

  std::vector<unsigned long long> last_seen(handles.size(), 0);
  std::vector<std::vector<unsigned>> last_pids(handles.size());  // each GPU's compute processes, sorted
  std::vector<nvml::ProcessInfo> infos(k_max_processes);
  std::vector<nvml::ProcessUtilizationSample> samples(k_max_processes);
  // nvmlDeviceGetProcessUtilization cost about 1.7 ms of CPU per call on an H200 (driver 580,
  // 2026-12-02; not yet confirmed: bench/RESULTS.md), a hundred times the other calls, and the
  // driver returns its whole buffer of samples (72 on the H200 for a timestamp of 0, so room for
  // 64 is NVML_ERROR_INSUFFICIENT_SIZE; k_max_processes leaves room): it is asked once every
  // k_process_utilization_period at most, and its samples (NVML keeps them with their timestamps)
  // cover the readings between.
  const long every = std::max<long>(1, static_cast<long>(k_process_utilization_period.count() / std::max<long>(1, static_cast<long>(interval.count()))));
  long tick = 0;
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    const bool periodic = tick++ % every == 0;
    json reading{{"t", monotonic_now()}, {"now_us", realtime_us()}};
    json list = json::array();
    for (std::size_t k = 0; k < handles.size(); ++k) {
      nvml::Device h = handles[k];
      json g{{"index", gpus[k]["index"]}};
      nvml::Utilization u{};
      if (fn.device_utilization && fn.device_utilization(h, &u) == 0) g["util"] = u.gpu;
      bool have_memory = false;
      if (fn.device_memory_v2) {
        nvml::MemoryV2 m{};
        m.version = nvml::k_memory_v2_version;
        if (fn.device_memory_v2(h, &m) == 0) {
          g["mem"] = m.used;  // excluding the driver's reservation, as nvidia-smi shows it
          have_memory = true;
        }
      }
      nvml::Memory m1{};
      if (!have_memory && fn.device_memory && fn.device_memory(h, &m1) == 0) g["mem"] = m1.used;
      // Asked between its periods too when a context came or went: a new process's share is known
      // from its first reading on, not a period later.
      bool ask_process_utilization = periodic;
      if (fn.device_compute_processes) {
        unsigned n = static_cast<unsigned>(infos.size());
        if (fn.device_compute_processes(h, &n, infos.data()) == 0) {
          json procs = json::array();
          std::vector<unsigned> pids;
          for (unsigned i = 0; i < n && i < infos.size(); ++i) {
            json p{{"pid", infos[i].pid}};
            if (infos[i].used_gpu_memory != nvml::k_value_not_available) p["mem"] = infos[i].used_gpu_memory;
            procs.push_back(std::move(p));
            pids.push_back(infos[i].pid);
          }
          g["procs"] = std::move(procs);
          std::sort(pids.begin(), pids.end());
          if (pids != last_pids[k]) {
            ask_process_utilization = true;
            last_pids[k] = std::move(pids);
          }
        }
      }
      if (fn.device_process_utilization && ask_process_utilization) {
        unsigned n = static_cast<unsigned>(samples.size());
        int code = fn.device_process_utilization(h, samples.data(), &n, last_seen[k]);
        if (code == nvml::k_success) {
          json us = json::array();
          for (unsigned i = 0; i < n && i < samples.size(); ++i) {
            const auto& s = samples[i];
            us.push_back(json{{"pid", s.pid}, {"sm", s.sm_util}, {"ts", s.time_stamp}});
            last_seen[k] = std::max(last_seen[k], s.time_stamp);
          }
          g["putil"] = std::move(us);
        } else if (code == nvml::k_error_not_found) {
          g["putil"] = json::array();  // no process ran work since the last reading
        }
      }
      if (fn.device_process_utilization && !ask_process_utilization) g["putil_asked"] = false;
      list.push_back(std::move(g));
    }
    reading["gpus"] = std::move(list);
    emit(json{{"reading", std::move(reading)}}.dump());
    next += interval;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // a slow call: skip the readings missed, do not catch up
    std::this_thread::sleep_until(next);
  }
}

std::optional<SamplerMessage> parse_sampler_message(const std::string& line) {
  using nlohmann::json;
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  SamplerMessage m;
  auto u64 = [](const json& o, const char* key) -> std::optional<std::uint64_t> {
    auto it = o.find(key);
    if (it == o.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
  };
  auto str = [](const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>().substr(0, 256) : std::string{};
  };
  if (auto it = j.find("error"); it != j.end() && it->is_string()) m.error = it->get<std::string>().substr(0, 1000);
  if (auto it = j.find("gpus"); it != j.end() && it->is_array()) {
    std::vector<SampledGpu> gpus;
    for (const auto& g : *it) {
      if (!g.is_object() || gpus.size() >= k_max_gpus) continue;
      SampledGpu s;
      s.index = static_cast<unsigned>(u64(g, "index").value_or(0));
      s.name = str(g, "name");
      s.uuid = str(g, "uuid");
      s.pci_bus_id = str(g, "pci_bus_id");
      s.memory_total_bytes = u64(g, "memory_total");
      gpus.push_back(std::move(s));
    }
    m.gpus = std::move(gpus);
  }
  if (auto it = j.find("reading"); it != j.end() && it->is_object()) {
    NvmlReading r;
    if (auto t = it->find("t"); t != it->end() && t->is_number()) r.monotonic_s = t->get<double>();
    r.realtime_us = u64(*it, "now_us").value_or(0);
    if (auto gs = it->find("gpus"); gs != it->end() && gs->is_array()) {
      for (const auto& g : *gs) {
        if (!g.is_object() || r.gpus.size() >= k_max_gpus) continue;
        GpuReading gr;
        gr.index = static_cast<unsigned>(u64(g, "index").value_or(0));
        if (auto v = u64(g, "util")) gr.utilization_percent = static_cast<unsigned>(std::min<std::uint64_t>(*v, 100));
        gr.memory_used_bytes = u64(g, "mem");
        if (auto p = g.find("procs"); p != g.end() && p->is_array()) {
          std::vector<SampledProcess> procs;
          for (const auto& x : *p) {
            if (!x.is_object() || procs.size() >= k_max_processes) continue;
            procs.push_back({static_cast<std::uint32_t>(u64(x, "pid").value_or(0)), u64(x, "mem")});
          }
          gr.processes = std::move(procs);
        }
        if (auto p = g.find("putil"); p != g.end() && p->is_array()) {
          std::vector<SampledProcessUtilization> us;
          for (const auto& x : *p) {
            if (!x.is_object() || us.size() >= k_max_processes) continue;
            us.push_back({static_cast<std::uint32_t>(u64(x, "pid").value_or(0)),
                          static_cast<unsigned>(std::min<std::uint64_t>(u64(x, "sm").value_or(0), 100)),
                          u64(x, "ts").value_or(0)});
          }
          gr.process_utilization = std::move(us);
        }
        if (auto a = g.find("putil_asked"); a != g.end() && a->is_boolean()) gr.process_utilization_asked = a->get<bool>();
        r.gpus.push_back(std::move(gr));
      }
    }
    m.reading = std::move(r);
  }
  if (!m.error && !m.gpus && !m.reading) return std::nullopt;
  return m;
}

}  // namespace gpudoctor
