#include <gtest/gtest.h>

#include "core/version.hpp"

namespace gpudoctor {
namespace {

TEST(Version, DottedVersions) {
  EXPECT_EQ(parse_dotted_version("580.159.04"), (std::vector<int>{580, 159, 4}));
  EXPECT_EQ(parse_dotted_version("13"), (std::vector<int>{13}));
  EXPECT_FALSE(parse_dotted_version(""));
  EXPECT_FALSE(parse_dotted_version("580..04"));
  EXPECT_FALSE(parse_dotted_version("580.159.04a"));
  EXPECT_FALSE(parse_dotted_version("1.9999999999"));
}

TEST(Version, CudaEncoding) {
  EXPECT_EQ(cuda_version_string(13000), "13.0");
  EXPECT_EQ(cuda_version_string(12040), "12.4");
  EXPECT_EQ(cuda_version_string(11080), "11.8");
}

TEST(Version, DriverBranchAndLibraryNames) {
  EXPECT_EQ(driver_branch("535.129.03"), 535);
  EXPECT_FALSE(driver_branch("unknown"));
  EXPECT_EQ(version_from_library_name("libcuda.so.580.159.04", "libcuda.so."), "580.159.04");
  EXPECT_EQ(version_from_library_name("libcuda.so.1.1", "libcuda.so."), "1.1");  // WSL's file
  EXPECT_FALSE(version_from_library_name("libcuda.so.1", "libcuda.so."));
  EXPECT_FALSE(version_from_library_name("libcudart.so.12", "libcuda.so."));
}

}  // namespace
}  // namespace gpudoctor
