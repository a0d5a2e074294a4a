// CUDA_VISIBLE_DEVICES evaluated as the CUDA driver does; the expectations in the first test are
// what the real driver answered on the H200 host (bench/RESULTS.md, 2026-11-26).
#include <gtest/gtest.h>

#include "diagnose/visible_devices.hpp"

namespace gpudoctor {
namespace {

VisibleDevicesInput one_gpu(std::string value) {
  VisibleDevicesInput in;
  in.value = std::move(value);
  in.device_count = 1;
  in.gpu_uuids = {"GPU-318981d5-15b4-e773-97eb-19192efdc3ea"};
  return in;
}

TEST(VisibleDevices, MatchesTheRealDriverOnOneGpu) {
  struct Case {
    const char* value;
    bool hidden;
  };
  for (const Case& c : {Case{"", true}, Case{"-1", true}, Case{"0", false}, Case{"1", true}, Case{"0,0", true},
                        Case{"0,-1", false}, Case{"-1,0", true}, Case{"0,1", false}, Case{"GPU-318981d5", false},
                        Case{"GPU-bad", true}, Case{"GPU-", true}, Case{"MIG-xyz", true}, Case{"all", true},
                        Case{"0gpu", false}, Case{" 0", false}}) {
    auto r = evaluate_visible_devices(one_gpu(c.value));
    EXPECT_EQ(r.all_hidden, c.hidden) << "CUDA_VISIBLE_DEVICES=\"" << c.value << "\": " << r.explanation;
    EXPECT_FALSE(r.uncertain) << c.value;
  }
}

TEST(VisibleDevices, FirstInvalidEntryEndsTheList) {
  VisibleDevicesInput in;
  in.value = "1,2,0";
  in.device_count = 2;
  in.gpu_uuids = {"GPU-aaaa", "GPU-bbbb"};
  auto r = evaluate_visible_devices(in);
  EXPECT_FALSE(r.all_hidden);
  EXPECT_EQ(r.visible, (std::vector<std::string>{"GPU-bbbb"}));
  EXPECT_EQ(r.first_invalid, "2");
  EXPECT_EQ(r.ignored, (std::vector<std::string>{"0"}));
}

TEST(VisibleDevices, AmbiguousUuidPrefixIsInvalid) {
  VisibleDevicesInput in;
  in.value = "GPU-ab";
  in.device_count = 2;
  in.gpu_uuids = {"GPU-ab12", "GPU-ab34"};
  EXPECT_TRUE(evaluate_visible_devices(in).all_hidden);
  EXPECT_TRUE(evaluate_visible_devices(in).all_hidden);
}

TEST(VisibleDevices, MigUuidSelectsAnInstance) {
  VisibleDevicesInput in;
  in.value = "MIG-4f2a";
  in.device_count = 1;
  in.gpu_uuids = {"GPU-aaaa"};
  in.mig_uuids = {"MIG-4f2a91c0-8a77-5a0e-9c5b-0d6f3c2e1b4a"};
  auto r = evaluate_visible_devices(in);
  EXPECT_FALSE(r.all_hidden);
  EXPECT_EQ(r.visible.size(), 1u);
}

TEST(VisibleDevices, WithoutADeviceListIndexesAreUncertainButMinusOneIsNot) {
  VisibleDevicesInput in;
  in.value = "3";
  auto r = evaluate_visible_devices(in);
  EXPECT_TRUE(r.uncertain);
  EXPECT_FALSE(r.all_hidden);
  in.value = "-1";
  r = evaluate_visible_devices(in);
  EXPECT_TRUE(r.all_hidden);
}

TEST(VisibleDevices, HostileValuesDoNotCrash) {
  for (std::string v : {std::string(100000, ','), std::string(5000, '9'), std::string("\xff\xfe,GPU-\x00", 10),
                        std::string("GPU-") + std::string(4096, 'a'), std::string(" \t,\t ")}) {
    auto r = evaluate_visible_devices(one_gpu(v));
    EXPECT_FALSE(r.explanation.empty());
  }
}

}  // namespace
}  // namespace gpudoctor
