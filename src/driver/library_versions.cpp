#include "driver/library_versions.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/utf8.hpp"
#include "driver/child_process.hpp"

namespace gpudoctor {

namespace {

// libraryPropertyType of library_types.h: MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL.
using GetProperty = int (*)(int type, int* value);

std::string property_version(void* handle, const char* symbol) {
  auto fn = reinterpret_cast<GetProperty>(::dlsym(handle, symbol));  // NOLINT: dlsym
  if (fn == nullptr) return "";
  int major = 0, minor = 0, patch = 0;
  if (fn(0, &major) != 0 || fn(1, &minor) != 0 || fn(2, &patch) != 0) return "";
  return fmt::format("{}.{}.{}", major, minor, patch);
}

std::string ask(const LibraryToAsk& lib) {
  void* h = ::dlopen(lib.path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (h == nullptr) return "";
  const std::string& r = lib.role;
  if (r == "cudart") {
    auto fn = reinterpret_cast<int (*)(int*)>(::dlsym(h, "cudaRuntimeGetVersion"));  // NOLINT
    int v = 0;
    if (fn != nullptr && fn(&v) == 0) return decode_cudart_version(v);
  } else if (r == "cudnn") {
    auto fn = reinterpret_cast<size_t (*)()>(::dlsym(h, "cudnnGetVersion"));  // NOLINT
    if (fn != nullptr) return decode_cudnn_version(static_cast<long>(fn()));
  } else if (r == "nccl") {
    auto fn = reinterpret_cast<int (*)(int*)>(::dlsym(h, "ncclGetVersion"));  // NOLINT
    int v = 0;
    if (fn != nullptr && fn(&v) == 0) return decode_nccl_version(v);
  } else if (r == "nvrtc") {
    auto fn = reinterpret_cast<int (*)(int*, int*)>(::dlsym(h, "nvrtcVersion"));  // NOLINT
    int major = 0, minor = 0;
    if (fn != nullptr && fn(&major, &minor) == 0) return fmt::format("{}.{}", major, minor);
  } else {
    static const std::map<std::string, const char*> k_property = {
        {"cublas", "cublasGetProperty"}, {"cublasLt", "cublasLtGetProperty"}, {"cufft", "cufftGetProperty"}, {"curand", "curandGetProperty"}, {"cusolver", "cusolverGetProperty"}, {"cusparse", "cusparseGetProperty"}};
    auto it = k_property.find(r);
    if (it != k_property.end()) return property_version(h, it->second);
  }
  return "";
}

}  // namespace

std::string decode_cudart_version(int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }

std::string decode_cudnn_version(long v) {
  // CUDNN_VERSION: major*1000 + minor*100 + patch up to cuDNN 8; major*10000 + minor*100 + patch
  // from cuDNN 9 (cudnn_version.h).
  if (v >= 90000) return fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100);
  return fmt::format("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100);
}

std::string decode_nccl_version(int v) {
  // NCCL_VERSION_CODE: major*10000 + minor*100 + patch since 2.9, major*1000 + minor*100 + patch before (nccl.h).
  if (v >= 20900) return fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100);
  return fmt::format("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100);
}

std::vector<std::map<std::string, std::string>> ask_library_versions(
    const std::vector<std::vector<LibraryToAsk>>& groups, std::chrono::milliseconds limit) {
  std::vector<std::map<std::string, std::string>> out(groups.size());
  std::vector<ChildWork> jobs;
  for (const auto& libraries : groups) {
    // Each answer is emitted as it comes: a library that hangs or crashes loses only itself and
    // those after it.
    jobs.emplace_back([&libraries](const Emit& emit) {
      nlohmann::json answers = nlohmann::json::object();
      for (const auto& lib : libraries) {
        std::string v = ask(lib);
        if (!v.empty()) answers[lib.path] = v;
        emit(json_text(answers));
      }
    });
  }
  if (jobs.empty()) return out;
  auto reports = run_children(jobs, limit);
  for (size_t i = 0; i < reports.size() && i < out.size(); ++i) {
    if (reports[i].last_state.empty()) continue;
    auto j = nlohmann::json::parse(reports[i].last_state, nullptr, false);
    if (!j.is_object()) continue;
    for (const auto& [path, v] : j.items())
      if (v.is_string()) out[i][path] = v.get<std::string>();
  }
  return out;
}

}  // namespace gpudoctor
