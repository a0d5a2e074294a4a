#pragma once
// What diagnosis produces: findings that name a cause id from causes.md, and the verdict.

#include <string>
#include <vector>

#include "core/layer.hpp"
#include "core/severity.hpp"
#include "core/snapshot.hpp"

namespace gpudoctor {

struct Finding {
  std::string cause;  ///< id from causes.md (kb/data/causes.toml)
  Layer layer = Layer::hardware;
  Severity severity = Severity::error;
  std::string title;             ///< one specific line: what is wrong here
  std::vector<Source> evidence;  ///< which file or call said what
  std::vector<std::string> fix;  ///< steps, each a command or an instruction, in order
  /// Causes this finding explains, so they are not reported as separate root causes
  /// (a container without GPU access explains the missing device nodes).
  std::vector<std::string> explains;
};

enum class LayerState { passed,
                        failed,
                        warning,
                        not_reached,
                        not_checked };
std::string_view to_string(LayerState s);

struct LayerStatus {
  Layer layer = Layer::hardware;
  LayerState state = LayerState::not_checked;
  std::string summary;  ///< one line: what was seen ("1 NVIDIA GPU: NVIDIA H200 at 0000:00:06.0")
  /// passed its own checks while a layer below fails (shown "passed (above a failure)"): once the
  /// failure below is fixed, this layer holds.
  bool above_failure = false;
};

/// A line of pasted text and what it means (gpudoctor explain).
struct Annotation {
  std::size_t line = 0;
  std::string text;
  std::string message;  ///< catalogue id
  std::string cause;    ///< empty for lines that only state a fact
  Severity severity = Severity::info;
  std::string meaning;
};

/// The judgement of one figure of the probe (its word in reports and JSON in EnumText below).
enum class FigureState {
  ok,            ///< "ok": as the card should deliver
  low,           ///< "low": below the knowledge base's fraction of what it should deliver
  wrong,         ///< "wrong": the results were wrong
  failed,        ///< "failed": the step failed
  not_measured,  ///< "not measured": not run (--quick, no library)
  no_reference,  ///< "no reference": measured, with nothing in the knowledge base to judge it by
};
template <>
struct EnumText<FigureState> {
  static constexpr std::string_view what = "figure state";
  static constexpr std::pair<FigureState, std::string_view> names[] = {
      {FigureState::ok, "ok"}, {FigureState::low, "low"}, {FigureState::wrong, "wrong"}, {FigureState::failed, "failed"}, {FigureState::not_measured, "not measured"}, {FigureState::no_reference, "no reference"}};
};

/// The probe's verdict on one GPU (its word in EnumText below).
enum class GpuState {
  healthy,      ///< "healthy"
  degraded,     ///< "degraded": works, with findings (slow, memory held, a link down)
  failed,       ///< "failed": no context, no kernel, or wrong results
  not_reached,  ///< "not reached": the probe stopped before this GPU
};
template <>
struct EnumText<GpuState> {
  static constexpr std::string_view what = "GPU state";
  static constexpr std::pair<GpuState, std::string_view> names[] = {{GpuState::healthy, "healthy"},
                                                                    {GpuState::degraded, "degraded"},
                                                                    {GpuState::failed, "failed"},
                                                                    {GpuState::not_reached, "not reached"}};
};

/// One figure `gpudoctor probe` measured on a GPU, beside what the card should deliver.
struct ProbeFigure {
  std::string name;  ///< "device copy", "bf16 matrix product", "host to device"
  std::string unit;  ///< "GB/s", "TFLOP/s"
  Fact<double> measured;
  Fact<double> expected;  ///< the datasheet or link peak
  std::string basis;      ///< "H100 SXM5 80GB datasheet", "PCIe gen 5 x16", "132 SMs x 1980 MHz (Hopper)"
  FigureState state = FigureState::not_measured;
};

/// The probe's verdict on one GPU.
struct GpuVerdict {
  int ordinal = 0;
  std::string name;
  GpuState state = GpuState::healthy;
  std::string summary;  ///< one line: why degraded or failed
  std::vector<ProbeFigure> figures;
};

/// A library the watched program loaded against the one `check` predicted.
enum class LibraryMatch { as_predicted,
                          another_file,
                          not_predicted,
                          not_loaded };
template <>
struct EnumText<LibraryMatch> {
  static constexpr std::string_view what = "library match";
  static constexpr std::pair<LibraryMatch, std::string_view> names[] = {{LibraryMatch::as_predicted, "as predicted"},
                                                                        {LibraryMatch::another_file, "another file"},
                                                                        {LibraryMatch::not_predicted, "not predicted"},
                                                                        {LibraryMatch::not_loaded, "not loaded"}};
};

/// How the watched program used the GPU (run/inspect; its word in EnumText below).
enum class ProgramVerdict { none,
                            used_gpu,
                            starved,
                            one_of_many,
                            not_used,
                            not_visible,
                            unknown };
template <>
struct EnumText<ProgramVerdict> {
  static constexpr std::string_view what = "program verdict";
  static constexpr std::pair<ProgramVerdict, std::string_view> names[] = {
      {ProgramVerdict::none, ""}, {ProgramVerdict::used_gpu, "used_gpu"}, {ProgramVerdict::starved, "starved"}, {ProgramVerdict::one_of_many, "one_of_many"}, {ProgramVerdict::not_used, "not_used"}, {ProgramVerdict::not_visible, "not_visible"}, {ProgramVerdict::unknown, "unknown"}};
};

/// A CUDA library a watched program loaded, beside the file `check` predicted for its framework.
struct LibraryComparison {
  std::string framework;  ///< "torch", "tensorflow", "jax"; "" when the process loaded none of them
  std::string role;       ///< "cudnn", "cublas", ... (kb libraries roles)
  std::string predicted;  ///< the file check's loader model resolved; "" when it predicted none
  std::string loaded;     ///< the file in /proc/PID/maps; "" when no process mapped one
  std::vector<std::uint32_t> pids;
  LibraryMatch state = LibraryMatch::not_predicted;
};

struct Diagnosis {
  bool healthy = false;
  std::vector<Finding> causes;    ///< ranked, root cause first; {healthy} when nothing blocks the GPU
  std::vector<Finding> warnings;  ///< things that degrade but do not block
  std::vector<LayerStatus> layers;
  std::vector<FrameworkLibraries> frameworks;             ///< the libraries layer's table, per framework
  std::vector<PythonEnvironment> environments;            ///< the Python environments found, the one in use marked
  std::vector<FrameworkInstall> installs;                 ///< the frameworks in them
  std::vector<Annotation> annotations;                    ///< explain: the significant lines of the text
  std::size_t annotated_total = 0;                        ///< explain: significant lines, kept or not
  std::vector<GpuVerdict> gpus;                           ///< probe: per GPU, measured against expected
  std::vector<std::string> probe_notes;                   ///< probe: peers, all-reduce, libraries used
  ProgramVerdict program_verdict = ProgramVerdict::none;  ///< run/inspect: how the program used the GPU
  std::string program_summary;                            ///< run/inspect: one line, e.g. "used GPU 0 (NVIDIA H200): peak 10.2 GiB, ..."
  std::vector<LibraryComparison> program_libraries;       ///< run/inspect: loaded against predicted
};

}  // namespace gpudoctor
