// The probe's library SONAMEs come from the knowledge base (kb/data/libraries.toml), handed in with
// the plan: a SONAME added to the table is what the probe asks the loader for.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "kb/embedded.hpp"
#include "kb/knowledge_base.hpp"
#include "probe/compute_probe.hpp"
#include "probe/steps.hpp"

namespace gpudoctor {
namespace {

ProbeSonames sonames_of(const kb::KnowledgeBase& kb) {
  return probe_sonames([&](std::string_view role) { return kb.sonames_newest_first(role); });
}

TEST(ProbeSonames, FromTheLibrariesTableNewestFirst) {
  auto sonames = sonames_of(kb::KnowledgeBase::get());
  EXPECT_EQ(sonames["cublas"], (std::vector<std::string>{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}));
  EXPECT_EQ(sonames["cudnn"], (std::vector<std::string>{"libcudnn.so.9", "libcudnn.so.8"}));
  EXPECT_EQ(sonames["nccl"], (std::vector<std::string>{"libnccl.so.2"}));
  EXPECT_EQ(sonames.size(), probe_library_roles().size());
}

TEST(ProbeSonames, ASonameAddedToTheTableReachesTheProbe) {
  std::map<std::string, std::string_view> files;
  for (const auto& f : kb::embedded_files()) files[std::string(f.name)] = f.content;
  // A CUDA 14 cuBLAS and a cuDNN 10, as a release would add them.
  std::string libraries = std::string(files["libraries.toml"]);
  auto own = libraries.find("cudnn = [\"libcudnn.so.9\"");
  ASSERT_NE(own, std::string::npos);
  libraries.insert(own + std::string("cudnn = [").size(), "\"libcudnn.so.10\", ");
  libraries += "\n[sonames.14]\ncublas = \"libcublas.so.14\"\n";
  files["libraries.toml"] = libraries;
  auto kb = kb::KnowledgeBase::parse(files);
  auto sonames = sonames_of(kb);
  EXPECT_EQ(sonames["cublas"].front(), "libcublas.so.14");
  EXPECT_EQ(sonames["cudnn"].front(), "libcudnn.so.10");

  // No framework resolves any library: the plan names the table's newest SONAME, and the probe's
  // loading asks the loader for each in turn (none of these exists here, so dlopen names them all).
  auto libs = choose_probe_libraries(Snapshot{}, sonames);
  ASSERT_EQ(libs.size(), 3u);
  EXPECT_EQ(libs[0].role, "cublas");
  EXPECT_NE(libs[0].chosen_because.find("libcublas.so.14"), std::string::npos) << libs[0].chosen_because;
  EXPECT_TRUE(libs[0].requested.empty());
  probe::ComputeLibraries loaded;
  std::vector<ProbeLibrary> only_cublas = {libs[0]};
  loaded.load(only_cublas, sonames);
  if (!only_cublas[0].loaded.known()) {  // a host with a real cuBLAS loads one of them instead
    EXPECT_NE(only_cublas[0].loaded.reason.find("libcublas.so.14"), std::string::npos) << only_cublas[0].loaded.reason;
    EXPECT_NE(only_cublas[0].loaded.reason.find("libcublas.so.11"), std::string::npos) << only_cublas[0].loaded.reason;
  } else {
    const auto& names = sonames["cublas"];
    EXPECT_NE(std::find(names.begin(), names.end(), only_cublas[0].requested), names.end()) << only_cublas[0].requested;
  }
}

}  // namespace
}  // namespace gpudoctor
