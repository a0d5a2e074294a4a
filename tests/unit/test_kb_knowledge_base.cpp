#include <gtest/gtest.h>
#include <re2/re2.h>

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

TEST(KnowledgeBase, EnvironmentAllowList) {
  const auto& kb = kb::KnowledgeBase::get();
  for (const char* yes : {"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "TF_CPP_MIN_LOG_LEVEL",
                          "XLA_PYTHON_CLIENT_PREALLOCATE", "NCCL_DEBUG", "PATH"})
    EXPECT_TRUE(kb.env_allowed(yes)) << yes;
  for (const char* no : {"HOME", "USER", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "NVIDIA_API_KEY", "CUDA_AUTH_TOKEN",
                         "NCCL_IB_KEY_PASSWORD", "SSH_AUTH_SOCK", "LD_LIBRARY_PATHX"})
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

}  // namespace
}  // namespace gpudoctor
