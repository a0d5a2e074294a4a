// The program on each GPU from the NVML sampler's readings: PIDs matched directly or through
// NSpid, per-process utilization held between NVML's samples, other processes kept apart, and
// the container case where no PID the driver lists exists here.
#include <gtest/gtest.h>

#include "driver/nvml_sampler.hpp"
#include "program/gpu_usage.hpp"

namespace gpudoctor::program {
namespace {

std::map<pid_t, ProgramProcess> tree(std::vector<std::pair<std::uint32_t, std::vector<std::uint32_t>>> procs) {
  std::map<pid_t, ProgramProcess> out;
  for (auto& [pid, nspids] : procs) {
    ProgramProcess p;
    p.pid = pid;
    p.nspids = nspids;
    out[static_cast<pid_t>(pid)] = p;
  }
  return out;
}

NvmlReading reading(double t, std::uint64_t now_us, std::vector<SampledProcess> procs,
                    std::optional<std::vector<SampledProcessUtilization>> util, unsigned device_util = 50) {
  NvmlReading r;
  r.monotonic_s = t;
  r.realtime_us = now_us;
  GpuReading g;
  g.index = 0;
  g.utilization_percent = device_util;
  g.memory_used_bytes = 4ull << 30;
  g.processes = std::move(procs);
  g.process_utilization = std::move(util);
  r.gpus.push_back(std::move(g));
  return r;
}

GpuUsage one_gpu() {
  GpuUsage u;
  u.gpus({{0, "NVIDIA H200", "GPU-1", "00000000:00:06.0", 150754820096ull}});
  return u;
}

TEST(GpuUsage, ProgramsProcessMatchedByPidWithItsSamplesHeldBetweenNvmlPeriods) {
  auto u = one_gpu();
  auto match = pid_match(tree({{100, {100}}, {101, {101}}}), [](std::uint32_t) { return true; });
  const std::uint64_t t0 = 1'800'000'000'000'000ull;
  // NVML samples the process every 500 ms; the readings come every 100 ms.
  for (int i = 0; i < 20; ++i) {
    std::uint64_t now = t0 + static_cast<std::uint64_t>(i) * 100'000;
    std::vector<SampledProcessUtilization> util;
    if (i % 5 == 0) util.push_back({101, 90, now});
    u.reading(reading(i * 0.1, now, {{101, 8ull << 30}, {555, 1ull << 30}}, util), i * 0.1, match);
  }
  Program p;
  u.finish(p, 2.0);
  ASSERT_EQ(p.gpus.size(), 1U);
  const auto& g = p.gpus[0];
  EXPECT_TRUE(g.used);
  EXPECT_EQ(g.pids, (std::vector<std::uint32_t>{101}));
  EXPECT_EQ(g.other_pids, (std::vector<std::uint32_t>{555}));
  EXPECT_EQ(*g.peak_memory_bytes, 8ull << 30);
  EXPECT_EQ(*g.others_peak_memory_bytes, 1ull << 30);
  EXPECT_EQ(*g.peak_utilization_percent, 90U);
  EXPECT_DOUBLE_EQ(*g.busy_share, 0.9);  // every reading within a sample's period, each 90% busy
  EXPECT_EQ(to_string(p.per_process), "pid");
  EXPECT_EQ(g.samples, 20);
}

// The sampler asks nvmlDeviceGetProcessUtilization every fifth reading (every 500 ms at 100 ms):
// the readings between hold what the last ask returned, judged as of that ask; NVML itself keeps a
// sample per process every ~166 ms, so an ask returns the three taken since the one before.
TEST(GpuUsage, SamplesAskedForEveryFifthReadingHoldAcrossTheReadingsBetween) {
  auto u = one_gpu();
  auto match = pid_match(tree({{101, {101}}}), [](std::uint32_t) { return true; });
  const std::uint64_t t0 = 1'800'000'000'000'000ull;
  for (int i = 0; i < 40; ++i) {
    std::uint64_t now = t0 + static_cast<std::uint64_t>(i) * 100'000;
    bool ask = i % 5 == 0;
    std::optional<std::vector<SampledProcessUtilization>> util;
    if (ask) {
      util.emplace();
      if (i > 0 && i < 20)  // the program computes for the first two seconds, then idles
        for (std::uint64_t back : {333'000ull, 166'000ull, 0ull}) util->push_back({101, 80, now - back});
    }
    auto r = reading(i * 0.1, now, {{101, 2ull << 30}}, util, 5);
    r.gpus[0].process_utilization_asked = ask;
    u.reading(r, i * 0.1, match);
  }
  Program p;
  u.finish(p, 4.0);
  const auto& g = p.gpus[0];
  EXPECT_EQ(g.utilization_basis, "per process (nvmlDeviceGetProcessUtilization)");
  EXPECT_EQ(*g.peak_utilization_percent, 80U);
  // Readings 5..19 (15 of 40) are within a sample of the computing second and a half, judged as of
  // their ask; the idle readings after 20 are not held from the last busy ask.
  EXPECT_NEAR(*g.busy_share, 15.0 / 40.0 * 0.8, 1e-9);
  EXPECT_EQ(g.samples, 40);
}

// Near case: a reading without samples that was asked for (the call failed) holds nothing: with
// another process on the GPU, its utilization is not attributable to the program.
TEST(GpuUsage, AFailedAskIsNotAHeldReading) {
  auto u = one_gpu();
  auto match = pid_match(tree({{101, {101}}}), [](std::uint32_t) { return true; });
  const std::uint64_t t0 = 1'800'000'000'000'000ull;
  u.reading(reading(0, t0, {{101, 1}, {555, 1}}, std::vector<SampledProcessUtilization>{{101, 60, t0}}), 0, match);
  u.reading(reading(0.1, t0 + 100'000, {{101, 1}, {555, 1}}, std::nullopt), 0.1, match);
  Program p;
  u.finish(p, 0.2);
  EXPECT_NEAR(*p.gpus[0].busy_share, 0.6, 1e-9);  // one known reading, 60%; the failed one unknown
}

TEST(GpuUsage, IdleAfterTheLastSampleAged) {
  auto u = one_gpu();
  auto match = pid_match(tree({{101, {101}}}), [](std::uint32_t) { return true; });
  const std::uint64_t t0 = 1'800'000'000'000'000ull;
  u.reading(reading(0, t0, {{101, 1}}, std::vector<SampledProcessUtilization>{{101, 70, t0}}), 0, match);
  u.reading(reading(0.5, t0 + 500'000, {{101, 1}}, std::vector<SampledProcessUtilization>{{101, 70, t0 + 500'000}}), 0.5, match);
  for (int i = 1; i <= 8; ++i)  // NOT_FOUND: nothing ran since
    u.reading(reading(0.5 + i, t0 + 500'000 + i * 1'000'000ull, {{101, 1}}, std::vector<SampledProcessUtilization>{}), 0.5 + i, match);
  Program p;
  u.finish(p, 8.5);
  EXPECT_NEAR(*p.gpus[0].busy_share, 0.2 * 0.7, 1e-9);  // the two readings with a fresh sample only
}

TEST(GpuUsage, ContainerPidsMatchThroughNspid) {
  // gpudoctor outside the container sees PID 91234; a driver speaking the container's namespace says 1.
  auto u = one_gpu();
  auto match = pid_match(tree({{91234, {91234, 1}}}), [](std::uint32_t) { return true; });
  u.reading(reading(0, 0, {{1, 2ull << 30}}, std::nullopt, 60), 0, match);
  Program p;
  u.finish(p, 0.1);
  EXPECT_TRUE(p.gpus[0].used);
  EXPECT_EQ(p.gpus[0].pids, (std::vector<std::uint32_t>{91234}));
  EXPECT_EQ(to_string(p.per_process), "nspid");
  // Without per-process samples, the device's figure is the program's only while it is the only user.
  EXPECT_EQ(*p.gpus[0].peak_utilization_percent, 60U);
  EXPECT_EQ(p.gpus[0].utilization_basis, "device, the program its only user (nvmlDeviceGetUtilizationRates)");
}

TEST(GpuUsage, HostPidsInvisibleFromTheContainerAreNotJudgedIdle) {
  auto u = one_gpu();
  auto match = pid_match(tree({{7, {7}}}), [](std::uint32_t pid) { return pid == 7; });
  u.reading(reading(0, 0, {{3099123, 20ull << 30}}, std::nullopt, 97), 0, match);
  Program p;
  u.finish(p, 0.1);
  EXPECT_FALSE(p.gpus[0].used);
  EXPECT_EQ(to_string(p.per_process), "not visible");
  EXPECT_EQ(*p.gpus[0].timeline[0].device_utilization_percent, 97U);
  // Near case: the other process exists in our namespace: it is just someone else's.
  GpuUsage v = one_gpu();
  auto visible = pid_match(tree({{7, {7}}}), [](std::uint32_t) { return true; });
  v.reading(reading(0, 0, {{3099123, 20ull << 30}}, std::nullopt, 97), 0, visible);
  Program q;
  v.finish(q, 0.1);
  EXPECT_EQ(to_string(q.per_process), "pid");
  EXPECT_EQ(*q.gpus[0].peak_utilization_percent, 0U);  // the program holds no context there
}

TEST(GpuUsage, SamplerMessagesAreBoundedAndHostileLinesRejected) {
  auto m = parse_sampler_message(R"({"reading":{"t":12.5,"now_us":5,"gpus":[{"index":0,"util":250,"mem":7,)"
                                 R"("procs":[{"pid":9,"mem":3},{"pid":10}],"putil":[{"pid":9,"sm":40,"ts":4}]}]}})");
  ASSERT_TRUE(m && m->reading);
  const auto& g = m->reading->gpus.at(0);
  EXPECT_EQ(*g.utilization_percent, 100U);  // clamped
  EXPECT_EQ(g.processes->size(), 2U);
  EXPECT_FALSE((*g.processes)[1].memory_bytes);
  EXPECT_EQ((*g.process_utilization)[0].sm_percent, 40U);
  EXPECT_TRUE(g.process_utilization_asked);
  auto held = parse_sampler_message(R"({"reading":{"t":1,"now_us":5,"gpus":[{"index":0,"util":3,"putil_asked":false}]}})");
  ASSERT_TRUE(held && held->reading);
  EXPECT_FALSE(held->reading->gpus.at(0).process_utilization_asked);
  EXPECT_FALSE(held->reading->gpus.at(0).process_utilization);
  EXPECT_FALSE(parse_sampler_message("not json"));
  EXPECT_FALSE(parse_sampler_message("[1,2]"));
  EXPECT_FALSE(parse_sampler_message(R"({"other":1})"));
  auto e = parse_sampler_message(R"j({"error":"nvmlInit_v2 -> 9 (Driver Not Loaded)"})j");
  ASSERT_TRUE(e && e->error);
}

}  // namespace
}  // namespace gpudoctor::program
