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

}  // namespace
}  // namespace gpudoctor
