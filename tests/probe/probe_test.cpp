// `gpudoctor probe` end to end on a fake GPU: the real binary, its real dlopen path, and the fake
// libcuda/NVML/cuBLAS/cuDNN/NCCL of tests/fakes answering from a driver.json recorded on the
// lent 2 x H100 host (tests/data/probe/h100x2.driver.json). Each broken case changes that recording
// the way the named real failure changes what the driver answers.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "cli/run_tool.hpp"

namespace {

using nlohmann::json;

json recorded() {
  std::ifstream in(std::string(GPUDOCTOR_TEST_DATA) + "/probe/h100x2.driver.json");
  return json::parse(in);
}

struct Probe {
  int code = -1;
  json out;
  std::string text;
};

Probe probe(const json& driver, std::vector<std::string> args = {"probe", "--json"}) {
  static int n = 0;
  auto file = temp_file(fmt::format("probe-driver-{}.json", n++), driver.dump());
  Run r = run(args, {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", file.string()}});
  std::filesystem::remove(file);
  Probe p;
  p.code = r.code;
  p.text = r.out + r.err;
  if (std::find(args.begin(), args.end(), "--json") != args.end()) p.out = json::parse(r.out, nullptr, false);
  return p;
}

const json* figure(const json& report, int gpu, const std::string& name) {
  for (const auto& f : report["gpus"][static_cast<std::size_t>(gpu)]["figures"])
    if (f["name"] == name) return &f;
  return nullptr;
}

/// The finding (cause or warning) whose title contains `text`, or nullptr.
const json* finding(const json& report, const std::string& id, const std::string& text) {
  for (const char* list : {"causes", "warnings"})
    for (const auto& f : report[list])
      if (f["id"] == id && f["title"].get<std::string>().find(text) != std::string::npos) return &f;
  return nullptr;
}

TEST(Probe, RecordedTwoH100sAreHealthyWithTheirMeasuredFigures) {
  auto p = probe(recorded());
  ASSERT_FALSE(p.out.is_discarded()) << p.text;
  EXPECT_EQ(p.code, 0) << p.text;
  EXPECT_EQ(p.out["verdict"], "healthy");
  ASSERT_EQ(p.out["gpus"].size(), 2U);
  for (int g = 0; g < 2; ++g) {
    EXPECT_EQ(p.out["gpus"][g]["state"], "healthy");
    const json* copy = figure(p.out, g, "device copy");
    ASSERT_NE(copy, nullptr);
    EXPECT_NEAR((*copy)["measured"].get<double>(), 3007, 1);
    EXPECT_EQ((*copy)["expected"], 3350);  // H100 SXM5 datasheet, found by PCI id 0x2330
    EXPECT_EQ((*copy)["basis"], "H100 SXM5 80GB datasheet");
    const json* bf16 = figure(p.out, g, "bf16 matrix product");
    EXPECT_NEAR((*bf16)["measured"].get<double>(), 821.4, 0.5);
    EXPECT_EQ((*bf16)["state"], "ok");
    const json* h2d = figure(p.out, g, "host to device");
    EXPECT_NEAR((*h2d)["expected"].get<double>(), 63.0, 0.1);  // gen 5 x16: 16 x 3.938 GB/s
    EXPECT_EQ((*figure(p.out, g, "cuDNN convolution"))["state"], "ok");
  }
  const auto& pr = p.out["probe"];
  EXPECT_EQ(pr["child"]["status"], "ok");
  ASSERT_EQ(pr["peers"].size(), 2U);
  EXPECT_TRUE(pr["peers"][0]["can_access"].get<bool>());
  ASSERT_EQ(pr["all_reduce"].size(), 3U);
  for (const auto& a : pr["all_reduce"]) {
    EXPECT_TRUE(a["correct"].get<bool>());
    EXPECT_NEAR(a["bus_bandwidth"]["value"].get<double>(), 328.4, 0.5);
  }
  // The libraries it used are the ones the loader finds first: here the fakes.
  for (const auto& lib : pr["libraries"]) EXPECT_NE(lib["loaded"].get<std::string>().find("fakes"), std::string::npos);
}

TEST(Probe, QuickRunsOnlyTheShortSteps) {
  auto p = probe(recorded(), {"probe", "--quick", "--json"});
  ASSERT_FALSE(p.out.is_discarded()) << p.text;
  EXPECT_EQ(p.code, 0) << p.text;
  const auto& g = p.out["probe"]["gpus"][0];
  EXPECT_EQ(p.out["probe"]["mode"], "quick");
  ASSERT_EQ(g["gemm"].size(), 1U);
  EXPECT_EQ(g["gemm"][0]["precision"], "bf16");
  EXPECT_NE(g["gemm"][0]["rate"]["what"].get<std::string>().find("4096x4096x4096"), std::string::npos);
  EXPECT_EQ(g["device_copy"]["what"].get<std::string>().substr(0, 7), "256 MiB");
  EXPECT_TRUE(p.out["probe"]["peers"].empty());
  EXPECT_TRUE(p.out["probe"]["all_reduce"].empty());
}

// A card on which our kernel with four loads in flight copies faster than the driver's copy: the
// fastest way counts, and its name is in the figure's basis; on the H100 recording the driver's
// copy stays the fastest.
TEST(Probe, TheFastestOfTheCopyShapesCountsAndIsNamed) {
  json d = recorded();
  for (auto& dev : d["cuda"]["devices"])
    dev["timing"].update(json{{"d2d_gbs", 3815.0}, {"copy_kernel_gbs", 3790.0}, {"copy4_kernel_gbs", 4250.0}});
  auto p = probe(d);
  ASSERT_FALSE(p.out.is_discarded()) << p.text;
  const auto& copy = p.out["probe"]["gpus"][0]["device_copy"];
  EXPECT_NEAR(copy["value"].get<double>(), 4250, 5) << copy.dump();
  EXPECT_NE(copy["what"].get<std::string>().find("four 16-byte loads in flight per thread"), std::string::npos) << copy.dump();
  auto h100 = probe(recorded());
  EXPECT_NE(h100.out["probe"]["gpus"][0]["device_copy"]["what"].get<std::string>().find("cuMemcpyDtoDAsync"),
            std::string::npos);
}

TEST(Probe, LinkTrainedDownToX8UnderLoadIsNamed) {
  // A card in a slot (or riser) that carries 8 lanes: NVML reports x8 while copies run, and the
  // host copies move half of what gen 5 x16 allows.
  json d = recorded();
  d["nvml"]["devices"][0]["pcie"]["width_current"] = 8;
  d["cuda"]["devices"][0]["timing"] = {{"h2d_gbs", 27.6}, {"d2h_gbs", 27.5}};
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  const json* f = finding(p.out, "pcie_link_degraded", "PCIe link runs at gen 5 x8 of gen 5 x16");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_EQ((*f)["severity"], "error");
  EXPECT_EQ(p.out["gpus"][0]["state"], "degraded");
  EXPECT_EQ(p.out["gpus"][1]["state"], "healthy");
  EXPECT_EQ((*figure(p.out, 0, "host to device"))["state"], "low");
}

TEST(Probe, ThermalSlowdownUnderLoadExplainsSlowProducts) {
  // A GPU whose cooling fails: NVML reports the hardware thermal slowdown reason at 91 C with the
  // SM clock far down, and its products run at 40% of its neighbour's.
  json d = recorded();
  d["nvml"]["devices"][1]["load"]["reasons"] = 0x40 | 0x20 | 0x4;
  d["nvml"]["devices"][1]["load"]["sm_clock"] = 795;
  d["nvml"]["devices"][1]["load"]["temperature"] = 91;
  d["cublas"]["device_factor"] = {{"1", 0.4}};
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  const json* f = finding(p.out, "gpu_throttled", "is throttled (software thermal slowdown, hardware thermal slowdown)");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_NE((*f)["title"].get<std::string>().find("GPU 1"), std::string::npos);
  EXPECT_EQ((*figure(p.out, 1, "bf16 matrix product"))["state"], "low");
  EXPECT_EQ(p.out["gpus"][0]["state"], "healthy");
}

TEST(Probe, LoweredPowerLimitIsTheCauseWhenNothingElseShows) {
  // nvidia-smi -pl 300 on a 700 W board: only the software power cap reason, clocks at their
  // maximum between bursts, and products at 45% or less.
  json d = recorded();
  d["nvml"]["devices"][0]["load"]["power_limit_mw"] = 300000;
  d["cublas"]["device_factor"] = {{"0", 0.42}};
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  const json* f = finding(p.out, "gpu_throttled", "power limit is 300 W of the default 700 W");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_NE((*f)["fix"][0].get<std::string>().find("nvidia-smi -i 0 -pl 700"), std::string::npos);
}

TEST(Probe, MemoryHeldByAnotherProcessIsAWarningAndShrinksTheAllocation) {
  // Another user's job holds 60 GiB of GPU 0.
  json d = recorded();
  const std::uint64_t held = 60ULL << 30U;
  d["nvml"]["devices"][0]["processes"] = json::array({{{"pid", 4242}, {"used_memory", held}, {"kind", "compute"}}});
  d["cuda"]["devices"][0]["free_mem"] = 84465090560ULL - held;
  auto p = probe(d);
  const json* f = finding(p.out, "gpu_in_use_by_other_process", "hold 60.0 GiB");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_EQ((*f)["severity"], "warning");
  EXPECT_EQ(p.out["gpus"][0]["state"], "degraded");
  EXPECT_LT((*figure(p.out, 0, "allocation of most free memory"))["measured"].get<double>(), 19.0);
}

TEST(Probe, WrongProductsMakeTheGpuFailed) {
  json d = recorded();
  d["cublas"]["wrong"] = true;
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  EXPECT_EQ(p.out["causes"][0]["id"], "gpu_in_bad_state");
  EXPECT_NE(finding(p.out, "gpu_in_bad_state", "computes wrong results"), nullptr);
  EXPECT_EQ(p.out["gpus"][0]["state"], "failed");
  EXPECT_EQ((*figure(p.out, 0, "bf16 matrix product"))["state"], "wrong");
}

TEST(Probe, PtxTheDriverCannotCompileStopsThatGpuWithTheJitLog) {
  // A driver older than CUDA 9 (PTX ISA 6.0) refuses our module; its JIT says why.
  json d = recorded();
  d["cuda"]["module_error"] = 222;  // CUDA_ERROR_UNSUPPORTED_PTX_VERSION
  d["cuda"]["jit_log"] = "ptxas application ptx input, line 2; fatal   : Unsupported .version 6.0; current version is '5.0'";
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  const json* f = finding(p.out, "gpu_in_bad_state", "cannot run a kernel");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_NE((*f)["evidence"].dump().find("Unsupported .version 6.0"), std::string::npos);
  EXPECT_EQ(p.out["gpus"][0]["state"], "failed");
  EXPECT_FALSE(p.out["probe"]["gpus"][0]["device_copy"].contains("what"));  // nothing measured after
}

TEST(Probe, NoMemoryForAContextIsMemoryExhausted) {
  json d = recorded();
  d["cuda"]["devices"][1]["context_error"] = 2;  // CUDA_ERROR_OUT_OF_MEMORY
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  EXPECT_NE(finding(p.out, "gpu_memory_exhausted", "GPU 1"), nullptr) << p.out.dump(1);
  EXPECT_EQ(p.out["gpus"][1]["state"], "failed");
  EXPECT_EQ(p.out["gpus"][0]["state"], "healthy");
}

TEST(Probe, AHungGpuIsAFindingWithinTheLimit) {
  json d = recorded();
  d["cuda"]["hang_in"] = "cuStreamSynchronize";
  auto start = std::chrono::steady_clock::now();
  auto p = probe(d, {"probe", "--json", "--limit", "3"});
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(s, 20.0);
  EXPECT_EQ(p.code, 1) << p.text;
  EXPECT_EQ(p.out["probe"]["child"]["status"], "timeout");
  const json* f = finding(p.out, "gpu_in_bad_state", "hung at \"GPU 0: kernel\"");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  ASSERT_EQ(p.out["probe"]["gpus"].size(), 2U);  // what it learnt before the hang is kept
  EXPECT_EQ(p.out["probe"]["gpus"][0]["name"], "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(p.out["gpus"][1]["state"], "not reached");
}

TEST(Probe, AGpuThatLagsItsTwinIsNamedThoughAboveTheThreshold) {
  // One of two identical GPUs runs its products at 70% of the other (a clogged heatsink that has
  // not reached a throttle reason yet): above the absolute threshold, but it sets the pace of a
  // multi-GPU job.
  json d = recorded();
  d["cublas"]["device_factor"] = {{"1", 0.7}};
  auto p = probe(d, {"probe", "--quick", "--json"});
  const json* f = finding(p.out, "other", "GPU 1 lags the other NVIDIA H100 80GB HBM3");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_EQ((*f)["severity"], "warning");
  EXPECT_EQ((*figure(p.out, 1, "bf16 matrix product"))["state"], "ok");
  EXPECT_EQ(finding(p.out, "other", "GPU 0 lags"), nullptr);
}

TEST(Probe, AGpuWithNvLinksDownIsNamed) {
  // Two of GPU 1's 18 NVLinks are down (nvidia-smi nvlink --status shows them inactive).
  json d = recorded();
  d["nvml"]["devices"][1]["nvlink"][4] = 0;
  d["nvml"]["devices"][1]["nvlink"][9] = 0;
  auto p = probe(d, {"probe", "--quick", "--json"});
  const json* f = finding(p.out, "multi_gpu_path_degraded", "GPU 1 has 16 of its NVLinks active where the other NVIDIA H100 80GB HBM3 have 18 (inactive: 4, 9)");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_EQ(p.out["probe"]["gpus"][0]["telemetry"]["nvlinks_active"], 18);
  EXPECT_EQ(finding(p.out, "multi_gpu_path_degraded", "GPU 0 has"), nullptr);
}

TEST(Probe, APeerPairThatLagsIsNamed) {
  // One direction of a pair over a degraded link (an NVLink down to PCIe speed).
  json d = recorded();
  d["cuda"]["peer_gbs"] = {{"0>1", 397}, {"1>0", 52}};
  auto p = probe(d);
  const json* f = finding(p.out, "multi_gpu_path_degraded", "peer copies GPU 1 -> GPU 0 lag the others");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_EQ((*f)["severity"], "warning");
}

TEST(Probe, NcclThatCannotInitializeIsWhatMultiGpuTrainingWillHit) {
  // Docker's default 64 MB /dev/shm: NCCL's "unhandled system error" (NVIDIA/nccl#473).
  json d = recorded();
  d["nccl"]["init"] = 2;
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  const json* f = finding(p.out, "other", "NCCL cannot set up communicators");
  ASSERT_NE(f, nullptr) << p.out.dump(1);
  EXPECT_NE((*f)["evidence"].dump().find("unhandled system error"), std::string::npos);
  EXPECT_NE((*f)["fix"].dump().find("--shm-size"), std::string::npos);
}

TEST(Probe, AllReduceWithWrongSumsIsABadState) {
  json d = recorded();
  d["nccl"]["wrong_sum"] = true;
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  EXPECT_NE(finding(p.out, "gpu_in_bad_state", "gave wrong sums"), nullptr) << p.out.dump(1);
}

TEST(Probe, MachineWithoutADriverGetsTheLowerLayersVerdict) {
  ::Run r = run({"probe", "--json"}, {{"LD_LIBRARY_PATH", "/nonexistent"}});
  EXPECT_EQ(r.code, 1) << r.err;
  auto j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_FALSE(j["probe"]["attempted"].get<bool>());
  EXPECT_NE(j["probe"]["why_not"].get<std::string>().find("libcuda.so.1 could not be loaded"), std::string::npos);
  EXPECT_NE(j["causes"][0]["id"], "healthy");
}

TEST(Probe, ADriverWhoseCuInitFailsRunsNoWorkAndSaysWhy) {
  json d = recorded();
  d["cuda"]["init"] = 999;  // CUDA_ERROR_UNKNOWN, as after a suspend with nvidia_uvm broken
  auto p = probe(d);
  EXPECT_EQ(p.code, 1) << p.text;
  EXPECT_FALSE(p.out["probe"]["attempted"].get<bool>());
  EXPECT_NE(p.out["probe"]["why_not"].get<std::string>().find("cuInit returned CUDA_ERROR_UNKNOWN"), std::string::npos)
      << p.out["probe"].dump();
}

TEST(Probe, MarkdownAndTerminalShowEachGpusFigures) {
  auto md = probe(recorded(), {"probe", "--quick", "--markdown"});
  EXPECT_NE(md.text.find("**GPU 0 NVIDIA H100 80GB HBM3: healthy**"), std::string::npos) << md.text;
  EXPECT_NE(md.text.find("| device copy | 3007.0 GB/s of 3350.0 (90%) | H100 SXM5 80GB datasheet |"), std::string::npos)
      << md.text;
  auto term = probe(recorded(), {"probe", "--quick", "--no-color"});
  EXPECT_NE(term.text.find("GPU 1 NVIDIA H100 80GB HBM3: healthy"), std::string::npos) << term.text;
  EXPECT_EQ(term.text.find("\x1b["), std::string::npos);  // no colour or progress when not a terminal
}

TEST(Probe, ASnapshotWithAProbeIsJudgedElsewhere) {
  // A support desk gets `gpudoctor snapshot --probe` from a machine with the x8 link, and judges it
  // with `check --from` on another machine: the same figures, the same cause.
  json d = recorded();
  d["nvml"]["devices"][0]["pcie"]["width_current"] = 8;
  d["cuda"]["devices"][0]["timing"] = {{"h2d_gbs", 27.6}, {"d2h_gbs", 27.5}};
  auto taken = probe(d, {"snapshot", "--probe", "--quick"});
  auto snap = json::parse(taken.text.substr(0, taken.text.rfind('}') + 1), nullptr, false);
  ASSERT_FALSE(snap.is_discarded()) << taken.text;
  EXPECT_TRUE(snap["compute"]["attempted"].get<bool>());
  EXPECT_EQ(snap["compute"]["mode"], "quick");
  auto file = temp_file("probe-snapshot.json", snap.dump());
  ::Run r = run({"check", "--from", file.string(), "--json"});
  std::filesystem::remove(file);
  auto report = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << r.out << r.err;
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(finding(report, "pcie_link_degraded", "PCIe link runs at gen 5 x8 of gen 5 x16"), nullptr) << r.out;
  EXPECT_EQ(report["gpus"][0]["state"], "degraded");
}

TEST(Probe, NoDriverProbeMeansNoWork) {
  auto p = probe(recorded(), {"probe", "--json", "--driver", "none"});
  EXPECT_FALSE(p.out["probe"]["attempted"].get<bool>());
  EXPECT_NE(p.out["probe"]["why_not"].get<std::string>().find("--driver none"), std::string::npos);
  EXPECT_TRUE(p.out["probe"]["gpus"].empty());
}

TEST(Probe, AnotherRootIsNeverRunOn) {
  // A real system's tree (the recorded H200 container), not this machine's.
  auto p = probe(recorded(), {"probe", "--json", "--root", std::string(GPUDOCTOR_TEST_DATA) + "/../hosts/h200-container/root"});
  EXPECT_FALSE(p.out["probe"]["attempted"].get<bool>());
  EXPECT_NE(p.out["probe"]["why_not"].get<std::string>().find("--root"), std::string::npos);
}

}  // namespace
