#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "diagnose/rule_context.hpp"
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
  EXPECT_EQ(kb.cuda_target("ppc64le"), "");             // not in the table
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

// Cause ids are a public contract: the compiled-in list must equal shared/causes.md.
TEST(KnowledgeBase, CausesMatchTheProjectsCauseList) {
  std::ifstream in(GPUDOCTOR_SHARED_CAUSES);
  if (!in) GTEST_SKIP() << "shared/causes.md not beside the checkout";
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
