// The probe's rules on what real GPUs measured: the expected figures (model table and the
// architecture fallback), the verdict thresholds, and the per-GPU verdicts. The recording is
// `gpudoctor probe --json` on the lent 2 x H100 host (tests/data/probe/h100x2-full.json).

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/snapshot_json.hpp"
#include "diagnose/diagnose.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {
namespace {

ComputeProbe recorded(const char* file = "h100x2-full.json") {
  std::ifstream in(std::string(GPUDOCTOR_TEST_DATA) + "/probe/" + file);
  return compute_probe_from_json(nlohmann::json::parse(in));
}

Snapshot with(const ComputeProbe& probe) {
  Snapshot s;
  s.compute = probe;
  return s;
}

const ProbeFigure& fig(const GpuVerdict& v, const std::string& name) {
  for (const auto& f : v.figures)
    if (f.name == name) return f;
  throw std::runtime_error("no figure " + name);
}

const Finding* find(const Diagnosis& d, const std::string& id) {
  for (const auto* list : {&d.causes, &d.warnings})
    for (const auto& f : *list)
      if (f.cause == id) return &f;
  return nullptr;
}

TEST(ProbeRules, RecordedH100sMeetTheirDatasheetWithinThresholds) {
  auto d = diagnose(with(recorded()), kb::KnowledgeBase::get());
  ASSERT_EQ(d.gpus.size(), 2U);
  for (const auto& g : d.gpus) {
    EXPECT_EQ(to_string(g.state), "healthy") << g.summary;
    EXPECT_EQ(fig(g, "bf16 matrix product").expected.value_or(0), 989.4);
    EXPECT_EQ(fig(g, "tf32 matrix product").expected.value_or(0), 494.7);
    EXPECT_EQ(fig(g, "fp32 matrix product").expected.value_or(0), 66.9);
    EXPECT_EQ(fig(g, "device copy").expected.value_or(0), 3350);
    for (const auto& f : g.figures) EXPECT_TRUE(f.state == FigureState::ok) << f.name << ": " << to_string(f.state);
  }
  // The measured fractions the thresholds were set against (gpu_performance.toml [verdict]).
  double bf16 = *fig(d.gpus[0], "bf16 matrix product").measured / 989.4;
  EXPECT_GT(bf16, 0.8);
  EXPECT_EQ(find(d, "gpu_in_bad_state"), nullptr);
  EXPECT_EQ(find(d, "other"), nullptr);
}

TEST(ProbeRules, RecordedFourH100sHaveNoLaggardNorSlowPair) {
  // 4 x H100 (tests/data/probe/h100x4-full.json): bf16 817-838 TFLOP/s, copies within 0.1%, 12 peer
  // pairs at 397 GB/s, all-reduce right at three sizes. Nothing may be flagged.
  auto d = diagnose(with(recorded("h100x4-full.json")), kb::KnowledgeBase::get());
  EXPECT_TRUE(d.healthy);
  EXPECT_TRUE(d.warnings.empty()) << (d.warnings.empty() ? "" : d.warnings.front().title);
  ASSERT_EQ(d.gpus.size(), 4U);
  for (const auto& g : d.gpus) EXPECT_EQ(to_string(g.state), "healthy") << g.summary;
}

TEST(ProbeRules, RecordedBusyGpuIsNamedForTheOtherProcess) {
  // Staged on the 2 x H100 host: a PyTorch process held 41 GiB of GPU 0 and ran bf16 products
  // while the full probe ran (tests/data/probe/h100x2-busy-full.json; bench/RESULTS.md).
  auto d = diagnose(with(recorded("h100x2-busy-full.json")), kb::KnowledgeBase::get());
  ASSERT_FALSE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "gpu_in_use_by_other_process");
  EXPECT_NE(d.causes.front().title.find("GPU 0"), std::string::npos);
  EXPECT_NE(d.causes.front().title.find("other processes compute on it"), std::string::npos);
  EXPECT_EQ(to_string(d.gpus[0].state), "degraded");
  EXPECT_EQ(to_string(fig(d.gpus[0], "bf16 matrix product").state), "low");
  EXPECT_EQ(to_string(d.gpus[1].state), "healthy");
}

TEST(ProbeRules, TensorThresholdSeparatesSlowFromDegraded) {
  const auto& th = kb::KnowledgeBase::get().probe_thresholds();
  auto probe = recorded();
  auto& bf16 = probe.gpus[0].gemm[0];
  ASSERT_EQ(bf16.precision, "bf16");
  bf16.rate.value->value = (th.tensor_fraction + 0.01) * 989.4;
  EXPECT_EQ(to_string(fig(diagnose(with(probe), kb::KnowledgeBase::get()).gpus[0], "bf16 matrix product").state), "ok");
  bf16.rate.value->value = (th.tensor_fraction - 0.01) * 989.4;
  auto d = diagnose(with(probe), kb::KnowledgeBase::get());
  EXPECT_EQ(to_string(fig(d.gpus[0], "bf16 matrix product").state), "low");
  // Low with no reason NVML can see: a warning that says so, never a made-up cause.
  const Finding* f = find(d, "other");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::warning);
  EXPECT_NE(f->title.find("NVML shows no reason"), std::string::npos);
}

TEST(ProbeRules, ErrorLimitsPerPrecision) {
  auto probe = recorded();
  // Measured on the H100: bf16 1.8e-3, fp16 2.0e-4, tf32 1.5e-5, fp32 1.5e-6; all under their limits.
  EXPECT_EQ(to_string(diagnose(with(probe), kb::KnowledgeBase::get()).gpus[0].state), "healthy");
  probe.gpus[1].gemm[2].relative_error = 5e-3;  // tf32 wrong beyond rounding
  auto d = diagnose(with(probe), kb::KnowledgeBase::get());
  EXPECT_EQ(to_string(d.gpus[1].state), "failed");
  EXPECT_EQ(to_string(fig(d.gpus[1], "tf32 matrix product").state), "wrong");
  ASSERT_FALSE(d.healthy);
  EXPECT_EQ(d.causes.front().cause, "gpu_in_bad_state");
}

// A cuDNN convolution whose results were wrong fails the GPU; a cuDNN that did not load because
// dlopen met a wrong ELF class computed nothing (the rule once matched "wrong" anywhere in the reason).
TEST(ProbeRules, WrongConvolutionResultsFailTheGpuAWrongElfClassDoesNot) {
  auto probe = recorded();
  probe.gpus[0].cudnn = Fact<std::string>::unknown("cudnnConvolutionForward returned wrong results (relative error 0.31)");
  auto d = diagnose(with(probe), kb::KnowledgeBase::get());
  EXPECT_EQ(to_string(d.gpus[0].state), "failed");
  EXPECT_EQ(to_string(fig(d.gpus[0], "cuDNN convolution").state), "wrong");
  ASSERT_NE(find(d, "gpu_in_bad_state"), nullptr);

  probe.gpus[0].cudnn = Fact<std::string>::unknown("cudnn not loaded: libcudnn.so.9: wrong ELF class: ELFCLASS32");
  d = diagnose(with(probe), kb::KnowledgeBase::get());
  EXPECT_EQ(to_string(d.gpus[0].state), "healthy") << d.gpus[0].summary;
  EXPECT_EQ(to_string(fig(d.gpus[0], "cuDNN convolution").state), "not measured");
  EXPECT_EQ(find(d, "gpu_in_bad_state"), nullptr);
}

TEST(ProbeRules, ArchitectureFallbackForAGpuWithoutAModelRow) {
  // An RTX 3060 (GA106, PCI 0x2503, no model row) as cuDeviceGetAttribute reports it: 28 SMs,
  // 1777 MHz, 7501 MHz memory clock on a 192-bit bus (deviceQuery's figures for the card).
  auto probe = recorded();
  auto& g = probe.gpus[0];
  g.name = "NVIDIA GeForce RTX 3060";
  g.pci_device_id = 0x2503U;
  g.cc_major = 8;
  g.cc_minor = 6;
  g.multiprocessors = 28;
  g.sm_clock_peak_khz = 1777000;
  g.memory_clock_peak_khz = 7501000;
  g.memory_bus_width_bits = 192;
  auto d = diagnose(with(probe), kb::KnowledgeBase::get());
  const auto& v = d.gpus[0];
  // NVIDIA's figures for the card: 12.7 TFLOP/s fp32, 360 GB/s; GeForce tensor rate with fp32
  // accumulate is half the GA10x per-SM rate.
  EXPECT_NEAR(fig(v, "fp32 matrix product").expected.value_or(0), 12.74, 0.01);
  EXPECT_NEAR(fig(v, "bf16 matrix product").expected.value_or(0), 25.47, 0.01);
  EXPECT_NEAR(fig(v, "device copy").expected.value_or(0), 360.0, 0.1);
  EXPECT_NE(fig(v, "bf16 matrix product").basis.find("28 SMs x 1777 MHz"), std::string::npos);
}

TEST(ProbeRules, ModelRowsAreFoundByPciIdBeforeName) {
  const auto& kb = kb::KnowledgeBase::get();
  const auto* h200 = kb.gpu_model(0x2335U, "anything");
  ASSERT_NE(h200, nullptr);
  EXPECT_EQ(h200->memory_bandwidth_gbs.value_or(0), 4800);
  const auto* by_name = kb.gpu_model(std::nullopt, "NVIDIA H100 80GB HBM3");
  ASSERT_NE(by_name, nullptr);
  EXPECT_EQ(by_name->name, "H100 SXM5 80GB");
  // The 12 GB RTX 3080 reports the 10 GB card's name; its own id has no row, so no wrong figures.
  EXPECT_EQ(kb.gpu_model(0x220aU, "NVIDIA GeForce RTX 3080"), nullptr);
  EXPECT_EQ(kb.pcie_lane_gbs(5).value_or(0), 3.938);
  EXPECT_FALSE(kb.pcie_lane_gbs(9).has_value());
}

TEST(ProbeRules, NothingMeasuredIsNeverHealthyByDefault) {
  Snapshot s;
  s.compute.attempted = true;
  s.compute.mode = ProbeMode::full;
  s.compute.child = {ChildStatus::crashed, "killed by signal 11 (SIGSEGV)", 812};
  s.compute.last_step = "GPU 0: matrix product bf16";
  auto d = diagnose(s, kb::KnowledgeBase::get());
  ASSERT_FALSE(d.healthy);
  const Finding* f = find(d, "gpu_in_bad_state");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->title.find("crashed at \"GPU 0: matrix product bf16\""), std::string::npos);
}

const Finding* titled(const Diagnosis& d, const std::string& id, const std::string& words) {
  for (const auto* list : {&d.causes, &d.warnings})
    for (const auto& f : *list)
      if (f.cause == id && f.title.find(words) != std::string::npos) return &f;
  return nullptr;
}

// A GPU without a context is judged by the class of cuDevicePrimaryCtxRetain's code
// (kb/data/cuda_errors.toml), not by the text of its name.
TEST(ProbeRules, AGpuWithoutAContextIsJudgedByTheClassOfItsCode) {
  auto judged = [](CallResult context) {
    ComputeProbe c = recorded();
    c.gpus[0].context = std::move(context);
    return diagnose(with(c), kb::KnowledgeBase::get());
  };
  auto full = judged({2, "CUDA_ERROR_OUT_OF_MEMORY", ""});
  const Finding* f = titled(full, "gpu_memory_exhausted", "GPU 0");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->title.find("no memory left even for a CUDA context"), std::string::npos);
  EXPECT_EQ(to_string(full.gpus[0].state), "failed");
  auto taken = judged({46, "CUDA_ERROR_DEVICE_UNAVAILABLE", ""});
  EXPECT_NE(titled(taken, "mig_or_compute_mode", "busy or unavailable"), nullptr);
  EXPECT_EQ(find(taken, "gpu_memory_exhausted"), nullptr);
  // Near: an uncorrectable ECC error is a GPU in a bad state, neither of the two.
  auto ecc = judged({214, "CUDA_ERROR_ECC_UNCORRECTABLE", ""});
  EXPECT_NE(titled(ecc, "gpu_in_bad_state", "a CUDA context cannot be created (CUDA_ERROR_ECC_UNCORRECTABLE)"), nullptr);
  EXPECT_EQ(find(ecc, "gpu_memory_exhausted"), nullptr);
  EXPECT_EQ(find(ecc, "mig_or_compute_mode"), nullptr);
  // The code decides, not the words of its name: "OUT_OF_MEMORY" in the name of another code is
  // not an exhausted GPU.
  auto named = judged({999, "CUDA_ERROR_UNKNOWN (after CUDA_ERROR_OUT_OF_MEMORY)", ""});
  EXPECT_EQ(find(named, "gpu_memory_exhausted"), nullptr);
  EXPECT_NE(find(named, "gpu_in_bad_state"), nullptr);
}

// ncclCommInitAll failing is a finding; a probe that never got there (the child stopped, or
// --quick) says nothing about NCCL.
TEST(ProbeRules, NcclInitIsJudgedByTheStepsOutcome) {
  auto judged = [](Fact<std::string> nccl_init) {
    ComputeProbe c = recorded();
    c.nccl_init = std::move(nccl_init);
    return diagnose(with(c), kb::KnowledgeBase::get());
  };
  const std::string words = "NCCL cannot set up communicators";
  auto failed = judged(Fact<std::string>::unknown("ncclCommInitAll -> unhandled system error"));
  const Finding* f = titled(failed, "other", words);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence.at(0).said, "ncclCommInitAll -> unhandled system error");
  EXPECT_EQ(titled(judged(Fact<std::string>{}), "other", words), nullptr);  // not reached
  EXPECT_EQ(titled(judged(Fact<std::string>::unknown(std::string(probe_reason::not_in_quick))), "other", words), nullptr);
  EXPECT_EQ(titled(judged(Fact<std::string>("2 communicators, one per GPU, in one process")), "other", words), nullptr);
}

}  // namespace
}  // namespace gpudoctor
