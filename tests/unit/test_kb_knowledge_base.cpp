#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include <toml++/toml.h>

#include "core/version.hpp"
#include "diagnose/rule_context.hpp"
#include "kb/embedded.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {
namespace {

TEST(KnowledgeBase, EmbeddedDataParses) {
  const auto& kb = kb::KnowledgeBase::get();
  EXPECT_GE(kb.causes().size(), 40u);
  ASSERT_NE(kb.cuda_error(100), nullptr);
  EXPECT_EQ(kb.cuda_error(100)->name, "CUDA_ERROR_NO_DEVICE");
  EXPECT_EQ(kb.nvml_error(18)->name, "NVML_ERROR_LIB_RM_VERSION_MISMATCH");
  EXPECT_EQ(kb.max_cuda_for_branch(580), "13.0");
  EXPECT_EQ(kb.max_cuda_for_branch(535), "12.2");
  EXPECT_FALSE(kb.max_cuda_for_branch(123));
  EXPECT_EQ(kb.pcie_gen_for_gts(32.0), 5);
  ASSERT_NE(kb.xid(79), nullptr);
  EXPECT_TRUE(kb.xid(79)->hardware);
  EXPECT_FALSE(kb.xid(13)->hardware);
}

TEST(KnowledgeBase, CudaToolkitTargetFolderPerMachine) {
  const auto& kb = kb::KnowledgeBase::get();
  EXPECT_EQ(kb.cuda_target("x86_64"), "x86_64-linux");
  EXPECT_EQ(kb.cuda_target("aarch64"), "sbsa-linux");  // GH200, Graviton: server arm64 (SBSA)
  EXPECT_EQ(kb.cuda_target("ppc64le"), "");            // not in the table
}

TEST(KnowledgeBase, EnvironmentAllowList) {
  const auto& kb = kb::KnowledgeBase::get();
  for (const char* yes : {"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "TF_CPP_MIN_LOG_LEVEL",
                          "XLA_PYTHON_CLIENT_PREALLOCATE", "NCCL_DEBUG", "PATH", "TF_FORCE_GPU_ALLOW_GROWTH",
                          "TF_GPU_ALLOCATOR", "TF_ENABLE_ONEDNN_OPTS", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "CONDA_EXE",
                          "CONDA_CHANNELS", "CONDA_OVERRIDE_CUDA"})
    EXPECT_TRUE(kb.env_allowed(yes)) << yes;
  for (const char* no : {"HOME", "USER", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "NVIDIA_API_KEY", "CUDA_AUTH_TOKEN",
                         "NCCL_IB_KEY_PASSWORD", "SSH_AUTH_SOCK", "LD_LIBRARY_PATHX",
                         // Terraform's input variables and registry tokens ride on TF_; conda has more settings than matter.
                         "TF_VAR_db_pass", "TF_VAR_gh_pat", "TF_TOKEN_app_terraform_io", "TF_CLI_ARGS", "TF_LOG",
                         "CONDA_PROMPT_MODIFIER", "KUBERNETES_SERVICE_HOST", "KUBERNETES_PORT"})
    EXPECT_FALSE(kb.env_allowed(no)) << no;
}

// Every row of the error tables is read, with its class; the rules test classes, never numbers.
TEST(KnowledgeBase, ErrorCodesAndTheirClasses) {
  const auto& kb = kb::KnowledgeBase::get();
  for (const char* file : {"cuda_errors.toml", "nvml_errors.toml"}) {
    toml::table t = toml::parse(kb::embedded_file(file));
    const auto* rows = t["error"].as_array();
    ASSERT_NE(rows, nullptr) << file;
    for (const auto& row : *rows) {
      const auto& r = *row.as_table();
      int code = static_cast<int>(r["code"].value_or(int64_t{-1}));
      const auto* e = std::string_view(file) == "cuda_errors.toml" ? kb.cuda_error(code) : kb.nvml_error(code);
      ASSERT_NE(e, nullptr) << file << " code " << code;
      EXPECT_EQ(e->name, r["name"].value_or(std::string{})) << file << " code " << code;
      EXPECT_EQ(e->klass, r["class"].value_or(std::string{})) << file << " code " << code;
    }
  }
  // nvmlReturn_t: IRQ_ISSUE, GPU_IS_LOST, RESET_REQUIRED mean a GPU that stopped answering;
  // CORRUPTED_INFOROM (14) and NOT_FOUND (6) do not.
  for (int code : {11, 15, 16}) EXPECT_TRUE(kb.nvml_error_is(code, "gpu_lost")) << code;
  for (int code : {6, 14, 999}) EXPECT_FALSE(kb.nvml_error_is(code, "gpu_lost")) << code;
  EXPECT_TRUE(kb.nvml_error_is(8, "gpu_power"));
  EXPECT_TRUE(kb.nvml_error_is(4, "no_permission"));
  EXPECT_TRUE(kb.nvml_error_is(17, "operating_system"));
  EXPECT_TRUE(kb.nvml_error_is(999, "unknown"));
  EXPECT_TRUE(kb.nvml_error_is(18, "driver_library_mismatch"));
  EXPECT_FALSE(kb.nvml_error_is(9, "driver_library_mismatch"));  // DRIVER_NOT_LOADED
  // CUresult.
  for (int code : {100, 101}) EXPECT_TRUE(kb.cuda_error_is(code, "no_device")) << code;
  EXPECT_FALSE(kb.cuda_error_is(3, "no_device"));
  EXPECT_TRUE(kb.cuda_error_is(802, "system_not_ready"));
  EXPECT_TRUE(kb.cuda_error_is(803, "driver_library_mismatch"));
  EXPECT_TRUE(kb.cuda_error_is(804, "compat_not_supported"));
  EXPECT_TRUE(kb.cuda_error_is(34, "stub_library"));
  EXPECT_TRUE(kb.cuda_error_is(999, "unknown"));
  EXPECT_TRUE(kb.cuda_error_is(2, "out_of_memory"));
  EXPECT_TRUE(kb.cuda_error_is(46, "device_unavailable"));
  EXPECT_FALSE(kb.cuda_error_is(46, "out_of_memory"));
  EXPECT_FALSE(kb.cuda_error_is(214, "device_unavailable"));  // ECC: a GPU in a bad state
  EXPECT_FALSE(kb.cuda_error_is(0, "unknown"));
  EXPECT_FALSE(kb.cuda_error_is(123456, "unknown"));  // not in the table
}

// TensorFlow's native-Windows GPU support: each release row's flag, and after the table's last
// series with it, none.
TEST(KnowledgeBase, TensorflowWindowsNativeGpu) {
  const auto& kb = kb::KnowledgeBase::get();
  EXPECT_EQ(kb.tf_last_windows_native_gpu(), "2.10");
  EXPECT_TRUE(kb.tf_windows_native_gpu("2.10"));
  EXPECT_TRUE(kb.tf_windows_native_gpu("2.0"));
  EXPECT_TRUE(kb.tf_windows_native_gpu("1.15"));  // not in the table, before 2.10
  EXPECT_FALSE(kb.tf_windows_native_gpu("2.11"));
  EXPECT_FALSE(kb.tf_windows_native_gpu("2.18"));
  EXPECT_FALSE(kb.tf_windows_native_gpu("2.99"));  // not in the table, after 2.10
  toml::table t = toml::parse(kb::embedded_file("tensorflow.toml"));
  for (const auto& row : *t["release"].as_array()) {
    const auto& r = *row.as_table();
    std::string series = r["series"].value_or(std::string{});
    EXPECT_EQ(kb.tf_windows_native_gpu(series), r["windows_native_gpu"].value_or(false)) << series;
  }
}

// The probe's throttling thresholds come from gpu_performance.toml [verdict].
TEST(KnowledgeBase, ProbeThrottlingThresholds) {
  toml::table t = toml::parse(kb::embedded_file("gpu_performance.toml"));
  const auto& th = kb::KnowledgeBase::get().probe_thresholds();
  EXPECT_EQ(th.power_limit_lowered_fraction, t["verdict"]["power_limit_lowered_fraction"].value_or(-1.0));
  EXPECT_EQ(th.clocks_held_fraction, t["verdict"]["clocks_held_fraction"].value_or(-1.0));
  EXPECT_EQ(th.gpu_lag_fraction, t["verdict"]["gpu_lag_fraction"].value_or(-1.0));
}

// cuda.toml: every toolkit row read; the driver minimum per CUDA major is minor-version
// compatibility's (12.x >= 525, 13.x >= 580, 11.x >= 450; 10.x has none).
TEST(KnowledgeBase, CudaToolkitsAndDriverMinimums) {
  const auto& kb = kb::KnowledgeBase::get();
  toml::table t = toml::parse(kb::embedded_file("cuda.toml"));
  const auto* rows = t["toolkit"].as_array();
  ASSERT_NE(rows, nullptr);
  ASSERT_EQ(kb.cuda_toolkits().size(), rows->size());
  for (size_t i = 0; i < rows->size(); ++i) {
    const auto& r = *(*rows)[i].as_table();
    const auto& k = kb.cuda_toolkits()[i];
    EXPECT_EQ(k.version, r["version"].value_or(std::string{}));
    EXPECT_EQ(k.min_driver_linux, r["min_driver_linux"].value_or(std::string{})) << k.version;
    EXPECT_EQ(k.minor_version_compat, r["minor_version_compat"].value_or(false)) << k.version;
  }
  EXPECT_EQ(kb.min_driver_for_cuda_major(12), "525.60.13");
  EXPECT_EQ(driver_branch(*kb.min_driver_for_cuda_major(13)), 580);
  EXPECT_EQ(driver_branch(*kb.min_driver_for_cuda_major(11)), 450);
  EXPECT_FALSE(kb.min_driver_for_cuda_major(10));
  EXPECT_FALSE(kb.min_driver_for_cuda_major(99));
}

// pytorch.toml [[cuda_variant]] and jax.toml [[cuda_major]]: every row read; the fixes name the
// suggested variant of a CUDA major, and JAX's extra.
TEST(KnowledgeBase, TorchVariantsAndJaxCudaMajors) {
  const auto& kb = kb::KnowledgeBase::get();
  toml::table pt = toml::parse(kb::embedded_file("pytorch.toml"));
  const auto* variants = pt["cuda_variant"].as_array();
  ASSERT_NE(variants, nullptr);
  ASSERT_EQ(kb.torch_variants().size(), variants->size());
  for (size_t i = 0; i < variants->size(); ++i) {
    const auto& r = *(*variants)[i].as_table();
    EXPECT_EQ(kb.torch_variants()[i].tag, r["tag"].value_or(std::string{}));
    EXPECT_EQ(kb.torch_variants()[i].index_url, r["index_url"].value_or(std::string{}));
  }
  ASSERT_NE(kb.torch_suggested_variant(12), nullptr);
  EXPECT_EQ(kb.torch_suggested_variant(12)->index_url, "https://download.pytorch.org/whl/cu126");
  ASSERT_NE(kb.torch_suggested_variant(13), nullptr);
  EXPECT_EQ(kb.torch_suggested_variant(13)->tag, "cu130");
  EXPECT_EQ(kb.torch_suggested_variant(11), nullptr);  // cu111 and cu118 are listed, not suggested

  toml::table jt = toml::parse(kb::embedded_file("jax.toml"));
  const auto* majors = jt["cuda_major"].as_array();
  ASSERT_NE(majors, nullptr);
  ASSERT_EQ(kb.jax_cuda_majors().size(), majors->size());
  for (size_t i = 0; i < majors->size(); ++i) {
    const auto& r = *(*majors)[i].as_table();
    EXPECT_EQ(kb.jax_cuda_majors()[i].extra, r["extra"].value_or(std::string{}));
    EXPECT_EQ(kb.jax_cuda_majors()[i].plugin, r["plugin"].value_or(std::string{}));
  }
  ASSERT_NE(kb.jax_cuda_major(12), nullptr);
  EXPECT_EQ(kb.jax_cuda_major(12)->extra, "cuda12");
  EXPECT_EQ(kb.jax_cuda_major(13)->plugin, "jax-cuda13-plugin");
  EXPECT_EQ(kb.jax_cuda_major(11), nullptr);
  EXPECT_EQ(kb.jax_plugin_check_since(), "0.5.3");
}

// driver.toml: the Ubuntu driver package and the PCI vendors of other display devices.
TEST(KnowledgeBase, DriverPackageAndPciVendors) {
  const auto& kb = kb::KnowledgeBase::get();
  EXPECT_EQ(kb.ubuntu_driver_package(), "nvidia-driver-580-server");
  toml::table t = toml::parse(kb::embedded_file("driver.toml"));
  const auto* rows = t["pci_vendor"].as_array();
  ASSERT_NE(rows, nullptr);
  for (const auto& row : *rows) {
    const auto& r = *row.as_table();
    EXPECT_EQ(kb.pci_vendor_name(static_cast<unsigned>(r["id"].value_or(int64_t{0}))), r["name"].value_or(std::string{}));
  }
  EXPECT_EQ(kb.pci_vendor_name(0x1a03), "ASPEED (server BMC)");
  EXPECT_EQ(kb.pci_vendor_name(0x10df), "vendor 0x10df");  // not listed (and not NVIDIA's 0x10de)
}

// Cause ids are a public contract: the compiled-in list must equal shared/causes.md.
// Every line of the kernel-log catalogue: each example is that line, each near text is not; each
// row names its source.
TEST(KnowledgeBase, KernelLogCatalogueEveryLine) {
  const auto& kb = kb::KnowledgeBase::get();
  ASSERT_GE(kb.kernel_log_lines().size(), 8u);
  EXPECT_EQ(kb.kernel_log_keep(), (std::vector<std::string>{"NVRM:", "nvidia", "nouveau"}));
  for (const auto& line : kb.kernel_log_lines()) {
    SCOPED_TRACE(line.id);
    EXPECT_FALSE(line.source.empty());
    EXPECT_FALSE(line.examples.empty());
    EXPECT_FALSE(line.counter_examples.empty());
    for (const auto& e : line.examples) EXPECT_TRUE(kb.kernel_log_is(line.id, e)) << e;
    for (const auto& e : line.counter_examples) EXPECT_FALSE(kb.kernel_log_is(line.id, e)) << e;
  }
  EXPECT_EQ(kb.kernel_log_line("no_such_line"), nullptr);
  EXPECT_THROW((void)kb.kernel_log_is("no_such_line", "NVRM: Xid (PCI:0000:01:00): 79,"), std::logic_error);
}

TEST(KnowledgeBase, KernelLogCatalogueValues) {
  const auto& kb = kb::KnowledgeBase::get();
  std::map<std::string, std::string> v;
  ASSERT_TRUE(kb.kernel_log_is("xid", "[ 5291.003514] NVRM: Xid (PCI:0000:01:00): 79, pid=<unknown>, name=<unknown>, GPU has fallen off the bus.", &v));
  EXPECT_EQ(v["bus"], "0000:01:00");
  EXPECT_EQ(v["xid"], "79");
  v.clear();
  ASSERT_TRUE(kb.kernel_log_is("module_key_rejected", "modprobe: ERROR: could not insert 'nvidia': Required key not available", &v));
  EXPECT_EQ(v["module"], "nvidia");
  EXPECT_EQ(v["error"], "Required key not available");
  // A group that did not take part is not a value.
  v.clear();
  ASSERT_TRUE(kb.kernel_log_is("api_mismatch", "NVRM: API mismatch: the client 'nvidia-smi' (pid 4242)", &v));
  EXPECT_EQ(v["client"], "nvidia-smi");
  EXPECT_EQ(v.count("client_version"), 0u);
}

TEST(KnowledgeBase, CausesMatchTheProjectsCauseList) {
  // tests/CMakeLists.txt looks for it beside the checkout; once found there, it must be read.
  if (std::string_view(GPUDOCTOR_SHARED_CAUSES).empty())
    GTEST_SKIP() << "shared/causes.md not beside the checkout (CMake: GPUDOCTOR_SHARED_DIR)";
  std::ifstream in(GPUDOCTOR_SHARED_CAUSES);
  ASSERT_TRUE(in) << "cannot read " << GPUDOCTOR_SHARED_CAUSES;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::set<std::string> md;
  static const RE2 row(R"(\n\| `([a-z_]+)` \|)");
  re2::StringPiece input(text);
  std::string id;
  while (RE2::FindAndConsume(&input, row, &id)) md.insert(id);
  std::set<std::string> compiled;
  for (const auto& c : kb::KnowledgeBase::get().causes()) compiled.insert(c.id);
  EXPECT_EQ(compiled, md);
}

// Every cause a rule can report exists in the catalogue.
TEST(KnowledgeBase, EveryRuleCauseIsAKnownId) {
  static const RE2 id(R"(([a-z][a-z_]+[a-z]))");
  for (const auto& r : rules()) {
    re2::StringPiece causes(r.causes);
    std::string word;
    while (RE2::FindAndConsume(&causes, id, &word)) {
      if (word == "warning") continue;
      EXPECT_NE(kb::KnowledgeBase::get().cause(word), nullptr) << r.name << " reports unknown cause " << word;
    }
  }
}

TEST(KnowledgeBase, MalformedDataIsAnError) {
  std::map<std::string, std::string_view> files{{"causes.toml", "[[cause]]\nid = 3\n"}};
  EXPECT_THROW(kb::KnowledgeBase::parse(files), std::runtime_error);
  files = {{"causes.toml", "this is = = not toml"}};
  EXPECT_THROW(kb::KnowledgeBase::parse(files), std::runtime_error);
}

// The preloads as read from each release's source (libraries.toml [[preload]]): torch 2.11 loads
// libcublasLt before libcublas and stops at a missing one; 2.14 goes on; 2.15 dropped curand; jax
// loads libcublas.so.13 before libcublasLt.so.13 and never nvJitLink. A release not read is none.
TEST(KnowledgeBase, FrameworkPreloadPerRelease) {
  const auto& kb = kb::KnowledgeBase::get();
  auto names = [](const kb::FrameworkPreload* p) {
    std::vector<std::string> out;
    for (const auto& [folder, name] : p->libraries) out.push_back(name);
    return out;
  };
  const auto* t211 = kb.framework_preload("torch", "2.11.0+cu130");
  ASSERT_NE(t211, nullptr);
  EXPECT_EQ(t211->after, "torch/lib/libtorch_global_deps.so");
  EXPECT_EQ(t211->when_mapped, "libcudart.so");
  EXPECT_TRUE(t211->stop_on_missing);
  ASSERT_GE(names(t211).size(), 2u);
  EXPECT_EQ(names(t211)[0], "libcublasLt.so.*[0-9]");
  EXPECT_EQ(names(t211)[1], "libcublas.so.*[0-9]");
  auto has = [&](const kb::FrameworkPreload* p, const std::string& n) {
    auto v = names(p);
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  EXPECT_TRUE(has(t211, "libcurand.so.*[0-9]"));
  const auto* t214 = kb.framework_preload("torch", "2.14.1");
  ASSERT_NE(t214, nullptr);
  EXPECT_FALSE(t214->stop_on_missing);
  const auto* t215 = kb.framework_preload("torch", "2.15.0+cu132");
  ASSERT_NE(t215, nullptr);
  EXPECT_FALSE(has(t215, "libcurand.so.*[0-9]"));
  EXPECT_TRUE(has(t215, "libnvJitLink.so.*[0-9]"));
  const auto* t28 = kb.framework_preload("torch", "2.8.0");
  ASSERT_NE(t28, nullptr);
  EXPECT_EQ(t28->when_mapped, "nvidia/cuda_runtime/lib/libcudart.so");
  EXPECT_EQ(names(t28), (std::vector<std::string>{"libnvrtc.so.*[0-9]", "libnvJitLink.so.*[0-9]"}));
  const auto* t251 = kb.framework_preload("torch", "2.5.1");
  ASSERT_NE(t251, nullptr);
  EXPECT_TRUE(t251->libraries.empty());
  EXPECT_EQ(kb.framework_preload("torch", "2.16.0"), nullptr);
  EXPECT_EQ(kb.framework_preload("torch", "1.13.1"), nullptr);
  const auto* jax = kb.framework_preload("jax", "0.11.2");
  ASSERT_NE(jax, nullptr);
  EXPECT_TRUE(jax->after.empty());
  EXPECT_TRUE(jax->first_package_only);
  auto j = names(jax);
  auto at = [&](const std::string& n) { return std::find(j.begin(), j.end(), n) - j.begin(); };
  EXPECT_LT(at("libcublas.so.13"), at("libcublasLt.so.13"));
  EXPECT_LT(at("libcusparse.so.12"), at("libcusolver.so.12"));
  EXPECT_EQ(at("libnvJitLink.so.13"), static_cast<long>(j.size()));
  EXPECT_EQ(kb.framework_preload("jax", "0.4.30"), nullptr);
}

}  // namespace
}  // namespace gpudoctor
