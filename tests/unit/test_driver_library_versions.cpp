#include <gtest/gtest.h>

#include "driver/library_versions.hpp"

namespace gpudoctor {
namespace {

TEST(LibraryVersions, DecodesTheIntegerVersions) {
  EXPECT_EQ(decode_cudart_version(12020), "12.2");
  EXPECT_EQ(decode_cudart_version(13000), "13.0");
  EXPECT_EQ(decode_cudnn_version(8902), "8.9.2");    // cuDNN 8: major*1000 + minor*100 + patch
  EXPECT_EQ(decode_cudnn_version(91900), "9.19.0");  // cuDNN 9: major*10000 + minor*100 + patch
  EXPECT_EQ(decode_nccl_version(22005), "2.20.5");   // NCCL >= 2.9
  EXPECT_EQ(decode_nccl_version(2804), "2.8.4");     // NCCL < 2.9
}

TEST(LibraryVersions, FilesThatAreNotLibrariesGiveNoAnswer) {
  auto answers = ask_library_versions({{{"cudart", "/nonexistent/libcudart.so.12"}, {"cudnn", "/etc/hostname"}}, {}},
                                      std::chrono::milliseconds(3000));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(answers[0].empty());
  EXPECT_TRUE(answers[1].empty());
}

}  // namespace
}  // namespace gpudoctor
