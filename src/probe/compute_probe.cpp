#include "probe/compute_probe.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/environment_in_use.hpp"
#include "core/snapshot_json.hpp"
#include "core/utf8.hpp"
#include "driver/child_process.hpp"
#include "driver/driver_probe.hpp"
#include "probe/steps.hpp"

namespace gpudoctor {

namespace {

constexpr const char* k_done_step = "done";

struct RoleNames {
  const char* role;
  const char* label;
};
// The libraries the probe has steps for; their SONAMEs come with the plan (kb/data/libraries.toml).
constexpr std::array<RoleNames, 3> k_roles = {{{"cublas", "cuBLAS"}, {"cudnn", "cuDNN"}, {"nccl", "NCCL"}}};

const std::vector<std::string>& sonames_of(const ProbeSonames& sonames, std::string_view role) {
  static const std::vector<std::string> none;
  auto it = sonames.find(role);
  return it == sonames.end() ? none : it->second;
}

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
std::unique_ptr<SharedLibrary> open_library(ProbeLibrary& lib, const ProbeSonames& sonames) {
  std::vector<std::string> tries;
  if (!lib.requested.empty()) tries.push_back(lib.requested);
  else tries = sonames_of(sonames, lib.role);
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

void ComputeLibraries::load(std::vector<ProbeLibrary>& libraries, const ProbeSonames& sonames) {
  for (auto& lib : libraries) {
    if (lib.role == "cublas") {
      cublas_lib = open_library(lib, sonames);
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
      cudnn_lib = open_library(lib, sonames);
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
      nccl_lib = open_library(lib, sonames);
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

std::vector<std::string> probe_library_roles() {
  std::vector<std::string> out;
  for (const auto& r : k_roles) out.emplace_back(r.role);
  return out;
}

ProbeSonames probe_sonames(const std::function<std::vector<std::string>(std::string_view role)>& sonames_of) {
  ProbeSonames out;
  for (const auto& r : k_roles) out[r.role] = sonames_of(r.role);
  return out;
}

std::vector<ProbeLibrary> choose_probe_libraries(const Snapshot& snapshot, const ProbeSonames& sonames) {
  std::vector<ProbeLibrary> out;
  for (const auto& r : k_roles) {
    ProbeLibrary lib;
    lib.role = r.role;
    // The framework of the environment in use first, then any other.
    for (int pass = 0; pass < 2 && lib.requested.empty(); ++pass) {
      for (const auto& fw : snapshot.frameworks) {
        const auto& wanted = snapshot.requested_frameworks;
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), fw.framework) == wanted.end()) continue;
        if ((pass == 0) != site_packages_in_use(snapshot, fw.site_packages)) continue;
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
    const auto& names = sonames_of(sonames, r.role);
    if (lib.requested.empty())
      lib.chosen_because = fmt::format("no framework found that loads {}: the loader's own search for {}", r.label,
                                       names.empty() ? std::string("its SONAME") : names.front());
    out.push_back(std::move(lib));
  }
  return out;
}

namespace {

using namespace probe;  // NOLINT: the steps' types

/// One run of the probe inside the child. The full probe takes the GPUs one after another, so
/// that no figure shares the host, the link or the chassis' power with another GPU's work; the
/// quick one takes them all at once (its host copies one at a time), to stay within seconds on
/// eight GPUs. Each GPU's result is built apart and published whole, under the lock.
class ChildRun {
 public:
  ChildRun(const ProbePlan& plan, const std::function<void(const ComputeProbe&)>& emit) : m_plan(plan), m_emit(emit) {
    m_out.attempted = true;
    m_out.mode = plan.quick ? ProbeMode::quick : ProbeMode::full;
    m_out.libraries = plan.libraries;
  }

  void run() {
    step("loading libcuda.so.1");
    if (!m_cuda.loaded()) {
      error("libcuda.so.1 could not be loaded: " + m_cuda.load_error());
      step("stopped");
      return;
    }
    const auto& fn = m_cuda.fn();
    int count = 0;
    try {
      m_cuda.check(m_cuda.need(fn.init, "cuInit")(0), "cuInit");
      m_cuda.check(m_cuda.need(fn.device_get_count, "cuDeviceGetCount")(&count), "cuDeviceGetCount");
    } catch (const StepError& e) {
      error(e.what());
      step("stopped");
      return;
    }
    if (m_plan.quick) {  // a short product needs cuBLAS only
      std::erase_if(m_out.libraries, [](const ProbeLibrary& l) { return l.role != "cublas"; });
      step("loading cuBLAS");
    } else {
      step("loading cuBLAS, cuDNN, NCCL");
    }
    m_libs.load(m_out.libraries, m_plan.sonames);
    count = std::min(count, 64);
    m_out.gpus.resize(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) m_out.gpus[static_cast<std::size_t>(i)].ordinal = i;
    m_held.resize(static_cast<std::size_t>(count));
    if (m_plan.quick) {
      std::vector<std::thread> threads;
      for (int ordinal = 0; ordinal < count; ++ordinal) threads.emplace_back([this, ordinal] { probe_gpu(ordinal); });
      for (auto& t : threads) t.join();
    } else {
      for (int ordinal = 0; ordinal < count; ++ordinal) probe_gpu(ordinal);
      across_gpus();
    }
    // Every figure is in: say so first (the parent need not wait for the teardown), then clean up.
    step(k_done_step);
    for (auto& h : m_held) {
      h.kernels.reset();
      h.stream.reset();
      if (h.context != nullptr && fn.primary_ctx_release != nullptr) fn.primary_ctx_release(h.device);
    }
  }

 private:
  struct Held {
    cuda::Device device = 0;
    cuda::Context context = nullptr;
    std::unique_ptr<Stream> stream;
    std::unique_ptr<Kernels> kernels;
  };

  void step(std::string name) {
    std::lock_guard lock(m_mutex);
    m_out.last_step = std::move(name);
    m_emit(m_out);
  }
  void error(std::string what) {
    std::lock_guard lock(m_mutex);
    m_out.errors.push_back(std::move(what));
  }
  /// Publishes a GPU's result so far, with the step it starts now.
  void publish(const GpuProbe& g, std::string next) {
    std::lock_guard lock(m_mutex);
    m_out.gpus[static_cast<std::size_t>(g.ordinal)] = g;
    m_out.last_step = std::move(next);
    m_emit(m_out);
  }

  void identify(GpuProbe& g, Held& h) {
    const auto& fn = m_cuda.fn();
    m_cuda.check(m_cuda.need(fn.device_get, "cuDeviceGet")(&h.device, g.ordinal), "cuDeviceGet");
    std::array<char, 256> name{};
    if (fn.device_get_name != nullptr && fn.device_get_name(name.data(), static_cast<int>(name.size()), h.device) == 0)
      g.name = std::string(name.data(), strnlen(name.data(), name.size()));
    std::array<char, 64> bus{};
    if (fn.device_get_pci_bus_id != nullptr &&
        fn.device_get_pci_bus_id(bus.data(), static_cast<int>(bus.size()), h.device) == 0)
      g.pci_bus_id = std::string(bus.data(), strnlen(bus.data(), bus.size()));
    cuda::Uuid u{};
    if (fn.device_get_uuid != nullptr && fn.device_get_uuid(&u, h.device) == 0) g.uuid = format_cuda_uuid(u);
    auto attr = [&](int a) -> Fact<int> {
      int v = 0;
      if (fn.device_get_attribute != nullptr && fn.device_get_attribute(&v, a, h.device) == 0) return v;
      return Fact<int>::unknown(fmt::format("cuDeviceGetAttribute({}) failed", a));
    };
    g.cc_major = attr(cuda::k_attr_cc_major).value_or(0);
    g.cc_minor = attr(cuda::k_attr_cc_minor).value_or(0);
    g.multiprocessors = attr(cuda::k_attr_multiprocessor_count);
    g.sm_clock_peak_khz = attr(cuda::k_attr_clock_rate_khz);
    g.memory_clock_peak_khz = attr(cuda::k_attr_memory_clock_rate_khz);
    g.memory_bus_width_bits = attr(cuda::k_attr_memory_bus_width);
  }

  void probe_gpu(int ordinal) {
    const auto& fn = m_cuda.fn();
    GpuProbe g;
    g.ordinal = ordinal;
    Held& h = m_held[static_cast<std::size_t>(ordinal)];
    auto fail = [&](const std::string& what) { error(fmt::format("GPU {}: {}", ordinal, what)); };
    try {
      identify(g, h);
    } catch (const StepError& e) {
      fail(e.what());
      publish(g, fmt::format("GPU {}: not usable", ordinal));
      return;
    }
    int slot = g.uuid.empty() ? -1 : m_telemetry.track(g.uuid);
    g.pci_device_id = m_telemetry.pci_device_id(slot);

    publish(g, fmt::format("GPU {}: context", ordinal));
    int code = m_cuda.need(fn.primary_ctx_retain, "cuDevicePrimaryCtxRetain")(&h.context, h.device);
    g.context = CallResult{code, code == 0 ? "CUDA_SUCCESS" : m_cuda.describe(code), ""};
    if (code != 0) {
      h.context = nullptr;
      fail("cuDevicePrimaryCtxRetain -> " + m_cuda.describe(code));
      publish(g, fmt::format("GPU {}: no context", ordinal));
      return;
    }
    try {
      m_cuda.check(m_cuda.need(fn.ctx_set_current, "cuCtxSetCurrent")(h.context), "cuCtxSetCurrent");
      std::size_t free = 0, total = 0;
      m_cuda.check(m_cuda.need(fn.mem_get_info, "cuMemGetInfo_v2")(&free, &total), "cuMemGetInfo_v2");
      g.memory_free_bytes = static_cast<std::uint64_t>(free);
      g.memory_total_bytes = static_cast<std::uint64_t>(total);
      g.other_processes = m_telemetry.other_processes(slot);
      h.stream = std::make_unique<Stream>(m_cuda);
      publish(g, fmt::format("GPU {}: loading our PTX", ordinal));
      h.kernels = std::make_unique<Kernels>(m_cuda);
      h.kernels->set_grid(static_cast<unsigned>(g.multiprocessors.value_or(16)));
    } catch (const StepError& e) {
      g.kernel = Fact<std::string>::unknown(e.what());
      fail(e.what());
      publish(g, fmt::format("GPU {}: stopped", ordinal));
      return;
    }
    Gpu gpu{m_cuda, h.device, h.context, *h.stream, *h.kernels, m_telemetry, slot, m_plan.quick, m_host_link};
    auto attempt = [&](const std::string& name, const std::function<void()>& work,
                       const std::function<void(const std::string&)>& on_error) {
      publish(g, fmt::format("GPU {}: {}", ordinal, name));
      try {
        work();
      } catch (const std::exception& e) {  // StepError, or a library's own exception
        on_error(e.what());
        fail(e.what());
      }
    };
    attempt(
        "kernel", [&] { check_kernel(gpu, g); }, [&](const std::string& why) { g.kernel = Fact<std::string>::unknown(why); });
    if (!g.kernel.known()) {  // a GPU that computes wrong or not at all: measuring it says nothing more
      publish(g, fmt::format("GPU {}: stopped", ordinal));
      return;
    }
    attempt(
        "device copy", [&] { device_copy(gpu, g); },
        [&](const std::string& why) { g.device_copy = Fact<Measured>::unknown(why); });
    attempt(
        "host copies", [&] { host_copies(gpu, g); }, [&](const std::string& why) {
      if (!g.host_to_device.known()) g.host_to_device = Fact<Measured>::unknown(why);
      if (!g.device_to_host.known()) g.device_to_host = Fact<Measured>::unknown(why); });
    std::vector<std::string> precisions = m_plan.quick ? std::vector<std::string>{g.cc_major >= 8 ? "bf16" : "fp16"}
                                                       : std::vector<std::string>{"bf16", "fp16", "tf32", "fp32"};
    for (const auto& p : precisions) {
      g.gemm.emplace_back();
      g.gemm.back().precision = p;
      if (!m_libs.cublas) {
        g.gemm.back().rate = Fact<Measured>::unknown(m_libs.unavailable(m_out.libraries, "cublas").reason);
        continue;
      }
      attempt(
          "matrix product " + p, [&] { g.gemm.back() = matrix_product(gpu, *m_libs.cublas, p); },
          [&](const std::string& why) { g.gemm.back().rate = Fact<Measured>::unknown(why); });
    }
    if (m_plan.quick) g.cudnn = Fact<std::string>::unknown(std::string(probe_reason::not_in_quick));
    else if (!m_libs.cudnn) g.cudnn = m_libs.unavailable(m_out.libraries, "cudnn");
    else
      attempt(
          "cuDNN convolution", [&] { g.cudnn = convolution(gpu, *m_libs.cudnn); },
          [&](const std::string& why) { g.cudnn = Fact<std::string>::unknown(why); });
    // Last: once most of an H200's memory has been allocated and freed, every later copy in the
    // process ran 10% slower (4215 -> 3788 GB/s, bench/RESULTS.md 2026-12-03), so nothing is
    // measured after it.
    if (m_plan.quick)
      g.allocated_bytes = Fact<std::uint64_t>::unknown(std::string(probe_reason::not_in_quick));
    else
      attempt(
          "allocating most of the free memory", [&] { allocate_most(gpu, g); },
          [&](const std::string& why) { g.allocated_bytes = Fact<std::uint64_t>::unknown(why); });
    g.telemetry = m_telemetry.result(slot);
    publish(g, fmt::format("GPU {}: done", ordinal));
  }

  void across_gpus() {
    std::vector<GpuHandle> usable;
    for (const auto& h : m_held)
      if (h.stream && h.kernels) usable.push_back({h.device, h.context, h.stream.get()});
    if (usable.size() < 2) return;
    step("peer access and peer copies");
    try {
      auto peers = peer_copies(m_cuda, usable, m_plan.quick);
      std::lock_guard lock(m_mutex);
      m_out.peers = std::move(peers);
    } catch (const StepError& e) {
      error(std::string("peer copies: ") + e.what());
    }
    if (!m_libs.nccl) {
      std::lock_guard lock(m_mutex);
      m_out.nccl_init = m_libs.unavailable(m_out.libraries, "nccl");
      return;
    }
    step("all-reduce through NCCL");
    ComputeProbe collective;
    try {
      all_reduce(m_cuda, *m_libs.nccl, usable, collective);
    } catch (const StepError& e) {
      error(std::string("all-reduce: ") + e.what());
    }
    std::lock_guard lock(m_mutex);
    m_out.nccl_init = collective.nccl_init;
    m_out.all_reduce = collective.all_reduce;
  }

  const ProbePlan& m_plan;
  const std::function<void(const ComputeProbe&)>& m_emit;
  ComputeProbe m_out;
  std::mutex m_mutex;
  std::mutex m_host_link;  // host copies one GPU at a time, also in the quick probe
  Cuda m_cuda;
  ComputeLibraries m_libs;
  Telemetry m_telemetry;
  std::vector<Held> m_held;
};

}  // namespace

void compute_probe_child(const ProbePlan& plan, const std::function<void(const ComputeProbe&)>& emit) {
  ChildRun run(plan, emit);
  run.run();
}

struct ComputeProbeInFlight::State {
  ProbePlan plan;
  ChildGroup group;
  explicit State(const ProbePlan& p)
      : plan(p), group({[p](const Emit& emit) {
          compute_probe_child(p, [&](const ComputeProbe& state) { emit(json_text(to_json(state))); });
        }}) {}
};

ComputeProbeInFlight::ComputeProbeInFlight(const ProbePlan& plan) : m_state(std::make_unique<State>(plan)) {}
ComputeProbeInFlight::~ComputeProbeInFlight() = default;

ComputeProbe ComputeProbeInFlight::finish(const std::function<void(const std::string&)>& progress) {
  const ProbePlan& plan = m_state->plan;
  // The last state says "done" once every figure is in: the parent stops there and the child is
  // killed rather than waited for while the driver tears its contexts down.
  auto reports = m_state->group.wait(plan.limit, [&](std::size_t, const std::string& state) {
    try {
      auto j = nlohmann::json::parse(state);
      std::string step = j.contains("last_step") && j["last_step"].is_string() ? j["last_step"].get<std::string>() : "";
      if (progress) progress(step);
      return step == k_done_step;
    } catch (const std::exception&) {
      return false;
    }
  });
  ComputeProbe out;
  try {
    if (!reports[0].last_state.empty()) out = compute_probe_from_json(nlohmann::json::parse(reports[0].last_state));
  } catch (const std::exception& e) {
    out.errors.push_back(std::string("the probe's report could not be read: ") + e.what());
  }
  out.attempted = true;
  out.mode = plan.quick ? ProbeMode::quick : ProbeMode::full;
  out.child = reports[0].outcome;
  if (out.libraries.empty()) out.libraries = plan.libraries;
  if (out.child.status != ChildStatus::ok)
    out.errors.push_back(fmt::format("the probe's child process {}: {} (last step: {})", to_string(out.child.status),
                                     out.child.detail, out.last_step.empty() ? "none" : out.last_step));
  return out;
}

ComputeProbe run_compute_probe(const ProbePlan& plan, const std::function<void(const std::string&)>& progress) {
  ComputeProbeInFlight probe(plan);
  return probe.finish(progress);
}

std::optional<std::string> why_no_compute_probe(const Snapshot& snap, bool inspects_other_root) {
  const auto& cuda = snap.driver.cuda;
  if (inspects_other_root) return "--root inspects another system: nothing is loaded from it or run on it";
  if (snap.driver.mode != DriverProbeOrigin::host) return "the driver probe did not run (" + snap.driver.why_not + "), so no work is run either";
  if (!cuda.library.known())
    return "libcuda.so.1 could not be loaded (" + (cuda.load_error.failed() ? cuda.load_error.error : cuda.library.reason) + "), so no work can run on a GPU";
  if (!cuda.init.known() || !cuda.init->ok())
    return "cuInit " + (cuda.init.known() ? "returned " + cuda.init->name : cuda.init.reason) + ", so no work can run on a GPU";
  if (cuda.device_count.value_or(0) == 0) return "the driver reports no CUDA device";
  return std::nullopt;
}

}  // namespace gpudoctor
