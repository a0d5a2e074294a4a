#include "probe/compute_probe.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/snapshot_json.hpp"
#include "driver/child_process.hpp"
#include "probe/steps.hpp"

namespace gpudoctor {

namespace {

struct RoleNames {
  const char* role;
  const char* label;
  std::array<const char*, 3> sonames;  // what the loader would be asked for, newest first
};
// SONAMEs of the CUDA 13, 12 and 11 releases (kb/data/libraries.toml [[sonames]]), cuDNN 9 and 8, NCCL 2.
constexpr std::array<RoleNames, 3> k_roles = {{
    {"cublas", "cuBLAS", {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}},
    {"cudnn", "cuDNN", {"libcudnn.so.9", "libcudnn.so.8", nullptr}},
    {"nccl", "NCCL", {"libnccl.so.2", nullptr, nullptr}},
}};

template <typename Table>
bool bind_all(SharedLibrary& lib, Table& fn);

#define GPUDOCTOR_BIND(member, sig, ...) lib.bind(fn.member, {__VA_ARGS__});
template <>
bool bind_all(SharedLibrary& lib, probe::BlasFunctions& fn) {
  GPUDOCTOR_CUBLAS_FUNCTIONS(GPUDOCTOR_BIND)
  return fn.create != nullptr;
}
template <>
bool bind_all(SharedLibrary& lib, probe::DnnFunctions& fn) {
  GPUDOCTOR_CUDNN_FUNCTIONS(GPUDOCTOR_BIND)
  return fn.create != nullptr;
}
template <>
bool bind_all(SharedLibrary& lib, probe::NcclFunctions& fn) {
  GPUDOCTOR_NCCL_FUNCTIONS(GPUDOCTOR_BIND)
  return fn.comm_init_all != nullptr;
}
#undef GPUDOCTOR_BIND

/// dlopen of the plan's file, or of each soname in turn; fills `lib.loaded`.
std::unique_ptr<SharedLibrary> open_library(ProbeLibrary& lib) {
  std::vector<std::string> tries;
  if (!lib.requested.empty()) tries.push_back(lib.requested);
  for (const auto& r : k_roles)
    if (lib.role == r.role && lib.requested.empty())
      for (const char* s : r.sonames)
        if (s != nullptr) tries.emplace_back(s);
  std::string errors;
  for (const auto& name : tries) {
    auto handle = std::make_unique<SharedLibrary>(name.c_str());
    if (handle->loaded()) {
      lib.loaded = handle->path().value_or(name);
      if (lib.requested.empty()) lib.requested = name;
      return handle;
    }
    errors += (errors.empty() ? "" : "; ") + handle->error();
  }
  lib.loaded = Fact<std::string>::unknown(errors.empty() ? "nothing to load" : errors);
  return nullptr;
}

std::string version_text(int v, int major_div, int minor_div, int patch_mod) {
  return fmt::format("{}.{}.{}", v / major_div, v % major_div / minor_div, v % patch_mod);
}

}  // namespace

namespace probe {

void ComputeLibraries::load(std::vector<ProbeLibrary>& libraries) {
  for (auto& lib : libraries) {
    if (lib.role == "cublas") {
      cublas_lib = open_library(lib);
      if (cublas_lib && bind_all(*cublas_lib, cublas.emplace())) {
        int major = 0, minor = 0, patch = 0;
        if (cublas->get_property != nullptr && cublas->get_property(blas::k_major_version, &major) == 0 &&
            cublas->get_property(blas::k_minor_version, &minor) == 0 &&
            cublas->get_property(blas::k_patch_level, &patch) == 0)
          lib.version = fmt::format("{}.{}.{}", major, minor, patch);
      } else if (cublas_lib) {
        cublas.reset();
        lib.loaded = Fact<std::string>::unknown(*lib.loaded + " loaded, but it does not export cublasCreate_v2");
      }
    } else if (lib.role == "cudnn") {
      cudnn_lib = open_library(lib);
      if (cudnn_lib && bind_all(*cudnn_lib, cudnn.emplace())) {
        if (cudnn->get_version != nullptr) {
          auto v = static_cast<int>(cudnn->get_version());
          // cuDNN 9: major*10000 + minor*100 + patch; cuDNN 8: major*1000 + minor*100 + patch.
          lib.version = v >= 90000 ? version_text(v, 10000, 100, 100) : version_text(v, 1000, 100, 100);
        }
      } else if (cudnn_lib) {
        cudnn.reset();
        lib.loaded = Fact<std::string>::unknown(*lib.loaded + " loaded, but it does not export cudnnCreate");
      }
    } else if (lib.role == "nccl") {
      nccl_lib = open_library(lib);
      if (nccl_lib && bind_all(*nccl_lib, nccl.emplace())) {
        int v = 0;
        // NCCL >= 2.9: major*10000 + minor*100 + patch (nccl.h NCCL_VERSION); older: *1000.
        if (nccl->get_version != nullptr && nccl->get_version(&v) == 0)
          lib.version = v >= 20900 ? version_text(v, 10000, 100, 100) : version_text(v, 1000, 100, 100);
      } else if (nccl_lib) {
        nccl.reset();
        lib.loaded = Fact<std::string>::unknown(*lib.loaded + " loaded, but it does not export ncclCommInitAll");
      }
    }
  }
}

Fact<std::string> ComputeLibraries::unavailable(const std::vector<ProbeLibrary>& libraries, const char* role) const {
  for (const auto& lib : libraries)
    if (lib.role == role) return Fact<std::string>::unknown(std::string(role) + " not loaded: " + lib.loaded.reason);
  return Fact<std::string>::unknown(std::string(role) + " not part of this probe");
}

}  // namespace probe

std::vector<ProbeLibrary> choose_probe_libraries(const Snapshot& snapshot) {
  std::vector<ProbeLibrary> out;
  for (const auto& r : k_roles) {
    ProbeLibrary lib;
    lib.role = r.role;
    // The framework of the environment in use first, then any other.
    for (int pass = 0; pass < 2 && lib.requested.empty(); ++pass) {
      for (const auto& fw : snapshot.frameworks) {
        const auto& wanted = snapshot.requested_frameworks;
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), fw.framework) == wanted.end()) continue;
        bool in_use = false;
        for (const auto& inst : snapshot.framework_installs)
          if (inst.site_packages == fw.site_packages && inst.environment_in_use) in_use = true;
        if ((pass == 0) != in_use) continue;
        for (const auto& rl : fw.libraries) {
          if (rl.role != r.role || !rl.path.known()) continue;
          lib.requested = *rl.path;
          lib.chosen_because = fmt::format("the {} that {} {} loads (found via {})", r.label, fw.framework,
                                           fw.version.value_or("?"), rl.found_via);
          break;
        }
        if (!lib.requested.empty()) break;
      }
    }
    if (lib.requested.empty())
      lib.chosen_because = fmt::format("no framework found that loads {}: the loader's own search for {}", r.label,
                                       r.sonames[0]);
    out.push_back(std::move(lib));
  }
  return out;
}

void compute_probe_child(const ProbePlan& plan, const std::function<void(const ComputeProbe&)>& emit) {
  using namespace probe;  // NOLINT
  ComputeProbe out;
  out.attempted = true;
  out.mode = plan.quick ? "quick" : "full";
  out.libraries = plan.libraries;
  auto step = [&](std::string name) {
    out.last_step = std::move(name);
    emit(out);
  };
  step("loading libcuda.so.1");
  Cuda cuda;
  if (!cuda.loaded()) {
    out.errors.push_back("libcuda.so.1 could not be loaded: " + cuda.load_error());
    step("stopped");
    return;
  }
  const auto& fn = cuda.fn();
  int count = 0;
  try {
    cuda.check(cuda.need(fn.init, "cuInit")(0), "cuInit");
    cuda.check(cuda.need(fn.device_get_count, "cuDeviceGetCount")(&count), "cuDeviceGetCount");
  } catch (const StepError& e) {
    out.errors.emplace_back(e.what());
    step("stopped");
    return;
  }
  step("loading cuBLAS, cuDNN, NCCL");
  ComputeLibraries libs;
  libs.load(out.libraries);
  Telemetry telemetry;

  struct Held {
    cuda::Device device = 0;
    cuda::Context context = nullptr;
    std::unique_ptr<Stream> stream;
    std::unique_ptr<Kernels> kernels;
  };
  std::vector<Held> held;
  for (int ordinal = 0; ordinal < count && ordinal < 64; ++ordinal) {
    out.gpus.emplace_back();
    GpuProbe& g = out.gpus.back();
    g.ordinal = ordinal;
    auto fail = [&](const std::string& what) { out.errors.push_back(fmt::format("GPU {}: {}", ordinal, what)); };
    Held h;
    try {
      cuda.check(fn.device_get(&h.device, ordinal), "cuDeviceGet");
      std::array<char, 256> name{};
      if (fn.device_get_name(name.data(), static_cast<int>(name.size()), h.device) == 0)
        g.name = std::string(name.data(), strnlen(name.data(), name.size()));
      std::array<char, 64> bus{};
      if (fn.device_get_pci_bus_id != nullptr &&
          fn.device_get_pci_bus_id(bus.data(), static_cast<int>(bus.size()), h.device) == 0)
        g.pci_bus_id = std::string(bus.data(), strnlen(bus.data(), bus.size()));
      cuda::Uuid u{};
      if (fn.device_get_uuid != nullptr && fn.device_get_uuid(&u, h.device) == 0) {
        const unsigned char* b = u.bytes;
        g.uuid = fmt::format("GPU-{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                             b[14], b[15]);
      }
      auto attr = [&](int a) -> Fact<int> {
        int v = 0;
        if (fn.device_get_attribute(&v, a, h.device) == 0) return v;
        return Fact<int>::unknown(fmt::format("cuDeviceGetAttribute({}) failed", a));
      };
      g.cc_major = attr(cuda::k_attr_cc_major).value_or(0);
      g.cc_minor = attr(cuda::k_attr_cc_minor).value_or(0);
      g.multiprocessors = attr(cuda::k_attr_multiprocessor_count);
      g.sm_clock_peak_khz = attr(cuda::k_attr_clock_rate_khz);
      g.memory_clock_peak_khz = attr(cuda::k_attr_memory_clock_rate_khz);
      g.memory_bus_width_bits = attr(cuda::k_attr_memory_bus_width);
    } catch (const StepError& e) {
      fail(e.what());
      continue;
    }
    int slot = g.uuid.empty() ? -1 : telemetry.track(g.uuid);
    g.pci_device_id = telemetry.pci_device_id(slot);

    step(fmt::format("GPU {}: context", ordinal));
    int code = cuda.need(fn.primary_ctx_retain, "cuDevicePrimaryCtxRetain")(&h.context, h.device);
    CallResult ctx_result{code, code == 0 ? "CUDA_SUCCESS" : cuda.describe(code), ""};
    g.context = ctx_result;
    if (code != 0) {
      fail("cuDevicePrimaryCtxRetain -> " + cuda.describe(code));
      continue;
    }
    try {
      cuda.check(fn.ctx_set_current(h.context), "cuCtxSetCurrent");
      std::size_t free = 0, total = 0;
      cuda.check(cuda.need(fn.mem_get_info, "cuMemGetInfo_v2")(&free, &total), "cuMemGetInfo_v2");
      g.memory_free_bytes = static_cast<std::uint64_t>(free);
      g.memory_total_bytes = static_cast<std::uint64_t>(total);
      g.other_processes = telemetry.other_processes(slot);
      h.stream = std::make_unique<Stream>(cuda);
      step(fmt::format("GPU {}: loading our PTX", ordinal));
      h.kernels = std::make_unique<Kernels>(cuda);
      h.kernels->set_grid(static_cast<unsigned>(g.multiprocessors.value_or(16)));
    } catch (const StepError& e) {
      g.kernel = Fact<std::string>::unknown(e.what());
      fail(e.what());
      held.push_back(std::move(h));
      continue;
    }
    Gpu gpu{cuda, h.device, h.context, *h.stream, *h.kernels, telemetry, slot, plan.quick};
    auto attempt = [&](const std::string& name, const std::function<void()>& work,
                       const std::function<void(const std::string&)>& on_error) {
      step(fmt::format("GPU {}: {}", ordinal, name));
      try {
        work();
      } catch (const StepError& e) {
        on_error(e.what());
        fail(e.what());
      } catch (const std::exception& e) {
        on_error(e.what());
        fail(e.what());
      }
    };
    attempt("kernel", [&] { check_kernel(gpu, g); }, [&](const std::string& why) { g.kernel = Fact<std::string>::unknown(why); });
    if (!g.kernel.known()) {  // a GPU that computes wrong or not at all: measuring it says nothing more
      held.push_back(std::move(h));
      continue;
    }
    if (!plan.quick)
      attempt("allocating most of the free memory", [&] { allocate_most(gpu, g); },
              [&](const std::string& why) { g.allocated_bytes = Fact<std::uint64_t>::unknown(why); });
    else
      g.allocated_bytes = Fact<std::uint64_t>::unknown("not in --quick");
    attempt("device copy", [&] { device_copy(gpu, g); },
            [&](const std::string& why) { g.device_copy = Fact<Measured>::unknown(why); });
    attempt("host copies", [&] { host_copies(gpu, g); }, [&](const std::string& why) {
      if (!g.host_to_device.known()) g.host_to_device = Fact<Measured>::unknown(why);
      if (!g.device_to_host.known()) g.device_to_host = Fact<Measured>::unknown(why);
    });
    std::vector<std::string> precisions = plan.quick ? std::vector<std::string>{g.cc_major >= 8 ? "bf16" : "fp16"}
                                                     : std::vector<std::string>{"bf16", "fp16", "tf32", "fp32"};
    for (const auto& p : precisions) {
      if (!libs.cublas) {
        GemmProbe gp;
        gp.precision = p;
        gp.rate = Fact<Measured>::unknown(libs.unavailable(out.libraries, "cublas").reason);
        g.gemm.push_back(gp);
        continue;
      }
      g.gemm.emplace_back();
      g.gemm.back().precision = p;
      attempt("matrix product " + p, [&] { g.gemm.back() = matrix_product(gpu, *libs.cublas, p); },
              [&](const std::string& why) { g.gemm.back().rate = Fact<Measured>::unknown(why); });
    }
    if (plan.quick) g.cudnn = Fact<std::string>::unknown("not in --quick");
    else if (!libs.cudnn) g.cudnn = libs.unavailable(out.libraries, "cudnn");
    else
      attempt("cuDNN convolution", [&] { g.cudnn = convolution(gpu, *libs.cudnn); },
              [&](const std::string& why) { g.cudnn = Fact<std::string>::unknown(why); });
    g.telemetry = telemetry.result(slot);
    held.push_back(std::move(h));
    emit(out);
  }

  std::vector<GpuHandle> usable;
  for (std::size_t i = 0; i < held.size(); ++i)
    if (held[i].stream && held[i].kernels) usable.push_back({held[i].device, held[i].context, held[i].stream.get()});
  if (usable.size() >= 2 && !plan.quick) {
    step("peer access and peer copies");
    try {
      out.peers = peer_copies(cuda, usable, plan.quick);
    } catch (const StepError& e) {
      out.errors.push_back(std::string("peer copies: ") + e.what());
    }
    if (libs.nccl) {
      step("all-reduce through NCCL");
      try {
        all_reduce(cuda, *libs.nccl, usable, out);
      } catch (const StepError& e) {
        out.errors.push_back(std::string("all-reduce: ") + e.what());
      }
    } else {
      out.nccl_init = libs.unavailable(out.libraries, "nccl");
    }
  }
  for (auto& h : held) {
    h.kernels.reset();
    h.stream.reset();
    if (h.context != nullptr && fn.primary_ctx_release != nullptr) fn.primary_ctx_release(h.device);
  }
  step("done");
}

ComputeProbe run_compute_probe(const ProbePlan& plan, const std::function<void(const std::string&)>& progress) {
  std::vector<ChildWork> jobs;
  jobs.emplace_back([plan](const Emit& emit) {
    compute_probe_child(plan, [&](const ComputeProbe& p) { emit(to_json(p).dump()); });
  });
  ChildGroup group(jobs);
  auto reports = group.wait(plan.limit, [&](std::size_t, const std::string& state) {
    if (!progress) return;
    try {
      auto j = nlohmann::json::parse(state);
      if (j.contains("last_step") && j["last_step"].is_string()) progress(j["last_step"].get<std::string>());
    } catch (const std::exception&) {
    }
  });
  ComputeProbe out;
  try {
    if (!reports[0].last_state.empty()) out = compute_probe_from_json(nlohmann::json::parse(reports[0].last_state));
  } catch (const std::exception& e) {
    out.errors.push_back(std::string("the probe's report could not be read: ") + e.what());
  }
  out.attempted = true;
  out.mode = plan.quick ? "quick" : "full";
  out.child = reports[0].outcome;
  if (out.libraries.empty()) out.libraries = plan.libraries;
  if (out.child.status != "ok")
    out.errors.push_back(fmt::format("the probe's child process {}: {} (last step: {})", out.child.status,
                                     out.child.detail, out.last_step.empty() ? "none" : out.last_step));
  return out;
}

}  // namespace gpudoctor
