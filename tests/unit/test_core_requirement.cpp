// Requires-Dist pins as real METADATA writes them (torchvision 0.18.1, tensorflow 2.15.0, jax 0.4.30).
#include <gtest/gtest.h>

#include "core/requirement.hpp"

namespace gpudoctor {
namespace {

TEST(Requirement, VersionOrder) {
  EXPECT_EQ(compare_versions("2.3.1+cu121", "2.3.1"), 0);
  EXPECT_LT(compare_versions("2.16.0rc1", "2.16.0"), 0);
  EXPECT_LT(compare_versions("0.4.9", "0.4.30"), 0);
  EXPECT_GT(compare_versions("2.10", "2.9.3"), 0);
  EXPECT_EQ(compare_versions("1.0", "1.0.0"), 0);
}

TEST(Requirement, PinsOfRealMetadata) {
  auto tv = parse_requirement("torch (==2.3.1)");  // torchvision 0.18.1, old-style parentheses
  ASSERT_TRUE(tv);
  EXPECT_EQ(tv->name, "torch");
  EXPECT_TRUE(satisfies("2.3.1+cu121", *tv));
  EXPECT_FALSE(satisfies("2.4.0", *tv));
  auto keras = parse_requirement("keras<2.16,>=2.15.0");  // tensorflow 2.15.0
  ASSERT_TRUE(keras);
  EXPECT_TRUE(satisfies("2.15.0", *keras));
  EXPECT_FALSE(satisfies("3.3.3", *keras));
  auto jaxlib = parse_requirement("jaxlib<=0.4.30,>=0.4.27");
  EXPECT_TRUE(satisfies("0.4.30", *jaxlib));
  EXPECT_FALSE(satisfies("0.4.26", *jaxlib));
}

TEST(Requirement, ExtrasAndOtherPlatformsAreSkipped) {
  EXPECT_FALSE(parse_requirement("nvidia-cudnn-cu12==8.9.4.25; extra == \"and-cuda\""));
  EXPECT_FALSE(parse_requirement("tensorflow-intel==2.15.0; platform_system == \"Windows\""));
  auto linux_only = parse_requirement("nvidia-nccl-cu12==2.20.5; platform_system == \"Linux\" and platform_machine == \"x86_64\"");
  ASSERT_TRUE(linux_only);
  EXPECT_EQ(linux_only->name, "nvidia-nccl-cu12");
}

TEST(Requirement, WildcardsAndCompatibleRelease) {
  auto r = parse_requirement("torch==2.3.*");
  EXPECT_TRUE(satisfies("2.3.1", *r));
  EXPECT_FALSE(satisfies("2.4.0", *r));
  auto c = parse_requirement("numpy~=1.26.0");
  EXPECT_TRUE(satisfies("1.26.4", *c));
  EXPECT_FALSE(satisfies("1.27.0", *c));
}

TEST(Requirement, GarbageIsNotARequirement) {
  EXPECT_FALSE(parse_requirement(""));
  EXPECT_FALSE(parse_requirement(">=1.0"));
  EXPECT_FALSE(parse_requirement("torch ?? 2"));
}

// Specifier vectors from the packaging project's own tests (pypa/packaging, tests/test_specifiers.py,
// TestSpecifier::test_specifiers and the pre/post-release guards), checked with pre-releases allowed as
// `pip check` checks an installed distribution's pins.
struct Vector {
  const char* version;
  const char* spec;
  bool expected;
};
const Vector k_packaging_vectors[] = {
    {"2.0", "==2", true},
    {"2.0", "==2.0.0", true},
    {"2.0+deadbeef", "==2", true},
    {"2.0+deadbeef", "==2.0+deadbeef", true},
    {"2.0+deadbeef.0", "==2.0.0+deadbeef.00", true},
    {"2.dev1", "==2.*", true},
    {"2a1.post1", "==2.*", true},
    {"2c1.post1.dev1", "==2.0.*", true},
    {"2rc1", "==2.0.*", true},
    {"2", "==2.0.0.*", true},
    {"2", "==0!2.*", true},
    {"2.0.0.0", "==2.0.*", true},
    {"2.1+local.version", "==2.1.*", true},
    {"2.1", "!=2", true},
    {"2.0", "!=2.0+deadbeef", true},
    {"2.1.0.0", "!=2.0.*", true},
    {"2.0.post1", ">=2", true},
    {"2.0.post1.dev1", ">=2", true},
    {"3.0.0a8", ">=3.0.0a7", true},
    {"2.0.dev1", "<=2", true},
    {"2.0c1.post1.dev1", "<=2", true},
    {"3.0.0a7", "<=3.0.0a8", true},
    {"2.0.1", ">2", true},
    {"2.1.post1", ">2", true},
    {"2.1+local.version", ">2", true},
    {"2.0.dev0", "<2.1", true},
    {"3.0.0a7", "<3.0.0a8", true},
    {"1", "~=1.0", true},
    {"1.9999999", "~=1.0", true},
    {"1.1", "~=1.0a1", true},
    {"2022.01.01", "~=2022.01.01", true},
    {"2!1.0", "~=2!1.0", true},
    {"2!1.0.0", "==2!1.0.0.0.*", true},
    {"1.0", "<=2!0.1", true},
    {"2!1.0", ">2.0", true},
    {"2.0.5", ">2.0dev", true},
    {"1.0+local", ">1.0.dev1", true},
    {"4.1.0a2.dev1235+local", ">4.1.0a2.dev1234", true},
    {"1.0.post2+local", ">1.0.post1", true},
    {"1.0.post0", ">1.0.dev1", true},
    {"1.0.post0", ">1.0rc1", true},
    {"1.0a2.post0", ">1.0a1", true},
    {"1.0.dev0", "<1.0.post1", true},
    {"1.0.post0.dev0", "<1.0.post1", true},
    {"2.0a1", "<2.0a2", true},
    {"2.1", "==2.0", false},
    {"2.0", "==2.0+deadbeef", false},
    {"2.1.0.0", "==2.0.*", false},
    {"2.0+deadbeef", "!=2.0.0", false},
    {"2.0+deadbeef.0", "!=2.0.0+deadbeef.00", false},
    {"2c1.post1.dev1", "!=2.0.*", false},
    {"2.0.dev1", ">=2", false},
    {"2.0rc1", ">=2", false},
    {"2.0.post1", "<=2", false},
    {"2.0.post1.dev1", "<=2", false},
    {"2.0a1.post1", ">2", false},
    {"2.0", ">2", false},
    {"2.0.post1", ">2", false},
    {"2.0+local.version", ">2", false},
    {"4.1.0a2.dev1234+local", ">4.1.0a2.dev1234", false},
    {"1.0a1+local", ">1.0a1", false},
    {"1.0.post1.dev1+local", ">1.0.post1.dev1", false},
    {"2.0.dev1", "<2", false},
    {"2.0b2.dev1", "<2", false},
    {"2.0c1.post1.dev1", "<2", false},
    {"2.post1", "<2", false},
    {"2.0", "~=1.0", false},
    {"1.1.0", "~=1.0.0", false},
    {"1.1.post1", "~=1.0.0", false},
    {"2!1.0", "~=1.0", false},
    {"2!1.0", "==1.0.0.*", false},
    {"1.0", "==2!1.*", false},
    {"1.0rc1.post0", ">1.0rc1", false},
    {"1.0.post0", ">1.0", false},
    {"1.0.post1.dev0", "<1.0.post1", false},
    {"not a valid version", ">=1.0", false},
    {"not a valid version", "!=1.0", false},
    {"1.0a1", "===1.0A1", true},
    {"1.0+downstream1", "===1.0", false},
};

TEST(Requirement, PackagingProjectVectors) {
  for (const auto& v : k_packaging_vectors) {
    auto r = parse_requirement(std::string("x") + v.spec);
    ASSERT_TRUE(r) << v.spec;
    EXPECT_EQ(satisfies(v.version, *r), v.expected) << v.version << " in " << v.spec;
  }
}

// What review found wrong with the earlier prefix and letter handling.
TEST(Requirement, CompatibleReleaseAndPreReleasesAreExact) {
  auto tf = parse_requirement("tensorflow~=2.15.0");
  EXPECT_FALSE(satisfies("2.150.0", *tf));  // a string prefix is not a release prefix
  EXPECT_TRUE(satisfies("2.15.1", *tf));
  EXPECT_FALSE(satisfies("2.16.0", *tf));
  EXPECT_LT(compare_versions("2.16.0rc1", "2.16.0rc2"), 0);  // rc1 is not rc2
  EXPECT_LT(compare_versions("2.16.0b1", "2.16.0rc1"), 0);
  EXPECT_LT(compare_versions("2.16.0.dev20240101", "2.16.0a1"), 0);
  EXPECT_GT(compare_versions("2.16.0.post1", "2.16.0"), 0);
  EXPECT_FALSE(satisfies("0.5.0rc1", *parse_requirement("jaxlib<0.5")));  // a pre-release of 0.5 is not below it
  EXPECT_TRUE(satisfies("0.4.38", *parse_requirement("jaxlib<0.5")));
  EXPECT_EQ(compare_versions("535.104.05", "535.104.5"), 0);  // driver versions compare by number
  EXPECT_GT(compare_versions("580.65.06", "535.104.05"), 0);
}

TEST(Requirement, NamesAreNormalizedAsPep503Says) {
  EXPECT_EQ(parse_requirement("NVIDIA_cudnn..CU12==9.1.0.70")->name, "nvidia-cudnn-cu12");
  EXPECT_FALSE(parse_requirement("torch =>2.0"));  // not an operator
  EXPECT_FALSE(parse_requirement("torch=="));      // no version
}

}  // namespace
}  // namespace gpudoctor
