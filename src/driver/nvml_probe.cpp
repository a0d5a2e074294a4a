#include <array>
#include <cstring>
#include <fmt/format.h>

#include "driver/driver_probe.hpp"
#include "driver/library.hpp"
#include "driver/nvml_api.hpp"

namespace gpudoctor {

namespace {

std::string nvml_error_name(int code) {
  switch (code) {
    case 0: return "NVML_SUCCESS";
    case 1: return "NVML_ERROR_UNINITIALIZED";
    case 2: return "NVML_ERROR_INVALID_ARGUMENT";
    case 3: return "NVML_ERROR_NOT_SUPPORTED";
    case 4: return "NVML_ERROR_NO_PERMISSION";
    case 5: return "NVML_ERROR_ALREADY_INITIALIZED";
    case 6: return "NVML_ERROR_NOT_FOUND";
    case 7: return "NVML_ERROR_INSUFFICIENT_SIZE";
    case 8: return "NVML_ERROR_INSUFFICIENT_POWER";
    case 9: return "NVML_ERROR_DRIVER_NOT_LOADED";
    case 10: return "NVML_ERROR_TIMEOUT";
    case 11: return "NVML_ERROR_IRQ_ISSUE";
    case 12: return "NVML_ERROR_LIBRARY_NOT_FOUND";
    case 13: return "NVML_ERROR_FUNCTION_NOT_FOUND";
    case 14: return "NVML_ERROR_CORRUPTED_INFOROM";
    case 15: return "NVML_ERROR_GPU_IS_LOST";
    case 16: return "NVML_ERROR_RESET_REQUIRED";
    case 17: return "NVML_ERROR_OPERATING_SYSTEM";
    case 18: return "NVML_ERROR_LIB_RM_VERSION_MISMATCH";
    case 19: return "NVML_ERROR_IN_USE";
    case 20: return "NVML_ERROR_MEMORY";
    case 21: return "NVML_ERROR_NO_DATA";
    case 22: return "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED";
    case 23: return "NVML_ERROR_INSUFFICIENT_RESOURCES";
    case 24: return "NVML_ERROR_FREQ_NOT_SUPPORTED";
    case 25: return "NVML_ERROR_ARGUMENT_VERSION_MISMATCH";
    case 26: return "NVML_ERROR_DEPRECATED";
    case 27: return "NVML_ERROR_NOT_READY";
    case 28: return "NVML_ERROR_GPU_NOT_FOUND";
    case 29: return "NVML_ERROR_INVALID_STATE";
    case 999: return "NVML_ERROR_UNKNOWN";
    default: return "NVML_ERROR_" + std::to_string(code);
  }
}

class Prober {
 public:
  explicit Prober(const nvml::Functions& fn) : m_fn(fn) {}

  CallResult result(int code) const {
    CallResult r;
    r.code = code;
    r.name = nvml_error_name(code);
    if (m_fn.error_string != nullptr) {
      const char* s = m_fn.error_string(code);
      if (s != nullptr) r.message = s;
    }
    return r;
  }

  void device(nvml::Device handle, NvmlDevice& d) {
    const auto& fn = m_fn;
    {
      std::array<char, nvml::k_name_buffer> buf{};
      int code = fn.device_name ? fn.device_name(handle, buf.data(), buf.size()) : -1;
      if (code == 0) d.name = nvml::buffer_text(buf.data(), buf.size());
      else d.name = Fact<std::string>::unknown(fn.device_name ? "nvmlDeviceGetName -> " + nvml_error_name(code) : "nvmlDeviceGetName missing");
    }
    {
      std::array<char, nvml::k_uuid_buffer> buf{};
      int code = fn.device_uuid ? fn.device_uuid(handle, buf.data(), buf.size()) : -1;
      if (code == 0) d.uuid = nvml::buffer_text(buf.data(), buf.size());
      else d.uuid = Fact<std::string>::unknown("nvmlDeviceGetUUID -> " + nvml_error_name(code));
    }
    if (fn.device_pci_info) {
      // Room beyond the struct in case a driver writes a larger one.
      std::array<unsigned char, 256> raw{};
      auto* pci = reinterpret_cast<nvml::PciInfo*>(raw.data());
      int code = fn.device_pci_info(handle, pci);
      if (code == 0) d.pci_bus_id = nvml::buffer_text(pci->bus_id, sizeof(pci->bus_id));
      else d.pci_bus_id = Fact<std::string>::unknown("nvmlDeviceGetPciInfo_v3 -> " + nvml_error_name(code));
    }
    bool have_memory = false;
    if (fn.device_memory_v2) {
      nvml::MemoryV2 mem{};
      mem.version = nvml::k_memory_v2_version;
      if (fn.device_memory_v2(handle, &mem) == 0) {
        d.memory_total_bytes = mem.total;
        d.memory_used_bytes = mem.used;
        d.memory_free_bytes = mem.free;
        have_memory = true;
      }
    }
    if (!have_memory && fn.device_memory) {
      nvml::Memory mem{};
      int code = fn.device_memory(handle, &mem);
      if (code == 0) {
        d.memory_total_bytes = mem.total;
        d.memory_used_bytes = mem.used;
        d.memory_free_bytes = mem.free;
      } else {
        d.memory_total_bytes = Fact<std::uint64_t>::unknown("nvmlDeviceGetMemoryInfo -> " + nvml_error_name(code));
      }
    }
    if (fn.device_compute_capability) {
      int major = 0, minor = 0;
      int code = fn.device_compute_capability(handle, &major, &minor);
      if (code == 0) {
        d.cc_major = major;
        d.cc_minor = minor;
      } else {
        d.cc_major = Fact<int>::unknown("nvmlDeviceGetCudaComputeCapability -> " + nvml_error_name(code));
      }
    }
    if (fn.device_compute_mode) {
      int mode = 0;
      int code = fn.device_compute_mode(handle, &mode);
      if (code == 0) d.compute_mode = mode;
      else d.compute_mode = Fact<int>::unknown("nvmlDeviceGetComputeMode -> " + nvml_error_name(code));
    }
    if (fn.device_mig_mode) {
      unsigned cur = 0, pend = 0;
      int code = fn.device_mig_mode(handle, &cur, &pend);
      if (code == 0) {
        d.mig_current = static_cast<int>(cur);
        d.mig_pending = static_cast<int>(pend);
      } else {
        d.mig_current = Fact<int>::unknown("nvmlDeviceGetMigMode -> " + nvml_error_name(code));
      }
      if (code == 0 && cur == 1 && fn.device_max_mig_count && fn.device_mig_handle && fn.device_uuid) {
        unsigned max = 0;
        if (fn.device_max_mig_count(handle, &max) == 0) {
          for (unsigned i = 0; i < max && i < 64; ++i) {
            nvml::Device mig = nullptr;
            if (fn.device_mig_handle(handle, i, &mig) != 0 || mig == nullptr) continue;
            std::array<char, nvml::k_uuid_buffer> buf{};
            NvmlMigDevice md;
            if (fn.device_uuid(mig, buf.data(), buf.size()) == 0) md.uuid = nvml::buffer_text(buf.data(), buf.size());
            if (fn.device_memory) {
              nvml::Memory mem{};
              if (fn.device_memory(mig, &mem) == 0) md.memory_total_bytes = mem.total;
            }
            d.mig_devices.push_back(std::move(md));
          }
        }
      }
    }
    auto uint_fact = [&](Fact<int>& out, auto* f, const char* name) {
      if (f == nullptr) {
        out = Fact<int>::unknown(std::string(name) + " missing");
        return;
      }
      unsigned v = 0;
      int code = f(handle, &v);
      if (code == 0) out = static_cast<int>(v);
      else out = Fact<int>::unknown(std::string(name) + " -> " + nvml_error_name(code));
    };
    uint_fact(d.pcie_gen_current, fn.device_pcie_gen_current, "nvmlDeviceGetCurrPcieLinkGeneration");
    uint_fact(d.pcie_gen_max, fn.device_pcie_gen_max, "nvmlDeviceGetGpuMaxPcieLinkGeneration");
    uint_fact(d.pcie_width_current, fn.device_pcie_width_current, "nvmlDeviceGetCurrPcieLinkWidth");
    uint_fact(d.pcie_width_max, fn.device_pcie_width_max, "nvmlDeviceGetMaxPcieLinkWidth");
    if (fn.device_remapped_rows) {
      unsigned corr = 0, unc = 0, pending = 0, failure = 0;
      int code = fn.device_remapped_rows(handle, &corr, &unc, &pending, &failure);
      if (code == 0) {
        d.remapped_rows_pending = pending;
        d.remapped_rows_failure = failure;
      } else {
        d.remapped_rows_pending = Fact<unsigned>::unknown("nvmlDeviceGetRemappedRows -> " + nvml_error_name(code));
        d.remapped_rows_failure = d.remapped_rows_pending;
      }
    }
    if (fn.device_utilization) {
      nvml::Utilization u{};
      int code = fn.device_utilization(handle, &u);
      if (code == 0) d.utilization_percent = std::min(u.gpu, 100u);
      else d.utilization_percent = Fact<unsigned>::unknown("nvmlDeviceGetUtilizationRates -> " + nvml_error_name(code));
    }
    processes(handle, fn.device_compute_processes, ProcessKind::compute, d);
    processes(handle, fn.device_graphics_processes, ProcessKind::graphics, d);
  }

  template <typename Fn>
  void processes(nvml::Device handle, Fn* fn, ProcessKind kind, NvmlDevice& d) {
    if (fn == nullptr) return;
    std::array<nvml::ProcessInfo, 256> infos{};
    unsigned count = static_cast<unsigned>(infos.size());
    if (fn(handle, &count, infos.data()) != 0) return;
    for (unsigned i = 0; i < count && i < infos.size(); ++i) {
      NvmlProcess p;
      p.pid = infos[i].pid;
      p.kind = kind;
      if (infos[i].used_gpu_memory != nvml::k_value_not_available) p.used_memory_bytes = infos[i].used_gpu_memory;
      else p.used_memory_bytes = Fact<std::uint64_t>::unknown("not available (NVML_VALUE_NOT_AVAILABLE)");
      d.processes.push_back(std::move(p));
    }
  }

 private:
  const nvml::Functions& m_fn;
};

}  // namespace

void probe_nvml(const std::function<void(const NvmlProbe&)>& emit) {
  NvmlProbe out;
  out.attempted = true;
  // Before each call that may hang or crash, the parent learns its name.
  auto calling = [&](std::string call) {
    out.in_call = std::move(call);
    emit(out);
  };
  calling("dlopen(libnvidia-ml.so.1)");
  SharedLibrary lib("libnvidia-ml.so.1");
  if (!lib.loaded()) {
    out.load_error = LibraryLoad::failure(lib.error());
    out.library = Fact<std::string>::unknown("libnvidia-ml.so.1 could not be loaded");
    out.init = Fact<CallResult>::unknown("library not loaded");
    out.in_call.clear();
    emit(out);
    return;
  }
  if (auto p = lib.path()) out.library = *p;
  out.load_error = LibraryLoad::success();
  nvml::Functions fn;
#define GPUDOCTOR_BIND(member, sig, ...) lib.bind(fn.member, {__VA_ARGS__});
  GPUDOCTOR_NVML_FUNCTIONS(GPUDOCTOR_BIND)
#undef GPUDOCTOR_BIND
  Prober prober(fn);
  if (fn.init == nullptr) {
    out.init = Fact<CallResult>::unknown("nvmlInit_v2 is not exported: not a real NVML");
    out.in_call.clear();
    emit(out);
    return;
  }
  out.init = Fact<CallResult>::unknown("nvmlInit_v2 did not return");
  calling("nvmlInit_v2");
  out.init = prober.result(fn.init());
  if (!out.init->ok()) {
    out.in_call.clear();
    emit(out);
    return;
  }

  calling("nvmlSystemGetDriverVersion");
  if (fn.system_driver_version) {
    std::array<char, nvml::k_version_buffer> buf{};
    int code = fn.system_driver_version(buf.data(), buf.size());
    if (code == 0) out.driver_version = nvml::buffer_text(buf.data(), buf.size());
    else out.driver_version = Fact<std::string>::unknown("nvmlSystemGetDriverVersion -> " + nvml_error_name(code));
  }
  if (fn.system_nvml_version) {
    std::array<char, nvml::k_version_buffer> buf{};
    if (fn.system_nvml_version(buf.data(), buf.size()) == 0) out.nvml_version = nvml::buffer_text(buf.data(), buf.size());
  }
  if (fn.system_cuda_driver_version) {
    calling("nvmlSystemGetCudaDriverVersion_v2");
    int v = 0;
    int code = fn.system_cuda_driver_version(&v);
    if (code == 0) out.cuda_driver_version = v;
    else out.cuda_driver_version = Fact<int>::unknown("nvmlSystemGetCudaDriverVersion_v2 -> " + nvml_error_name(code));
  }
  if (fn.device_count) {
    out.device_count = Fact<unsigned>::unknown("nvmlDeviceGetCount_v2 did not return");
    calling("nvmlDeviceGetCount_v2");
    unsigned count = 0;
    auto r = prober.result(fn.device_count(&count));
    out.device_count_call = r;
    if (r.ok()) out.device_count = count;
    else out.device_count = Fact<unsigned>::unknown("nvmlDeviceGetCount_v2 -> " + r.name);
  }
  if (out.device_count.known() && fn.device_handle_by_index) {
    for (unsigned i = 0; i < *out.device_count && i < 64; ++i) {
      calling(fmt::format("nvmlDeviceGetHandleByIndex_v2({}) and the queries of GPU {}", i, i));
      NvmlDevice d;
      d.index = i;
      nvml::Device handle = nullptr;
      auto r = prober.result(fn.device_handle_by_index(i, &handle));
      d.handle = r;
      if (r.ok() && handle != nullptr) prober.device(handle, d);
      out.devices.push_back(std::move(d));
    }
  }
  calling("nvmlShutdown");
  if (fn.shutdown) fn.shutdown();
  out.in_call.clear();
  emit(out);
}

}  // namespace gpudoctor
