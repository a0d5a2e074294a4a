#pragma once
// `gpudoctor probe`: real work on every visible GPU through the CUDA driver API (dlopen, our
// own declarations), the cuBLAS / cuDNN / NCCL the frameworks would load, and NVML readings
// taken under that load. All of it runs in one child process with a time limit; the parent
// keeps the last state the child reported, so a hang or crash half-way still leaves evidence.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor {

/// The SONAMEs the loader is asked for when no framework resolves one of the probe's libraries,
/// newest first, by role ("cublas" -> {"libcublas.so.13", ...}). They come from kb/data/libraries.toml
/// (`KnowledgeBase::sonames_newest_first`), handed in by the caller: gd_probe does not link the
/// knowledge base.
using ProbeSonames = std::map<std::string, std::vector<std::string>, std::less<>>;

/// The roles of the libraries the probe loads: "cublas", "cudnn", "nccl".
std::vector<std::string> probe_library_roles();

/// The plan's sonames: `sonames_of(role)` for each of `probe_library_roles()`.
ProbeSonames probe_sonames(const std::function<std::vector<std::string>(std::string_view role)>& sonames_of);

struct ProbePlan {
  bool quick = false;                   ///< context, kernel, a short copy and a short product
  std::vector<ProbeLibrary> libraries;  ///< cublas, cudnn, nccl: what to dlopen (path or soname) and why
  ProbeSonames sonames;                 ///< what to dlopen for a library no framework resolves
  std::chrono::milliseconds limit{120000};
};

/// Picks the cuBLAS, cuDNN and NCCL the frameworks in `snapshot` would load (the libraries
/// layer's resolution); for a role no framework resolves, the soname the loader would find.
std::vector<ProbeLibrary> choose_probe_libraries(const Snapshot& snapshot, const ProbeSonames& sonames);

/// Why no work can run on a GPU of this host, from what the driver probe found (nullopt: it can):
/// `inspects_other_root` (--root) loads and runs nothing; a driver probe that did not run, a
/// libcuda that cannot be loaded, a failed cuInit or no device leave nothing to run work on.
std::optional<std::string> why_no_compute_probe(const Snapshot& snapshot, bool inspects_other_root);

/// The probe started in its child process; the caller goes on meanwhile (the driver probe of
/// `check` runs beside it). Destroying it unfinished kills the child.
class ComputeProbeInFlight {
 public:
  explicit ComputeProbeInFlight(const ProbePlan& plan);
  ~ComputeProbeInFlight();
  ComputeProbeInFlight(const ComputeProbeInFlight&) = delete;
  ComputeProbeInFlight& operator=(const ComputeProbeInFlight&) = delete;
  /// Waits for the child, at most the plan's limit from the start. `progress` (may be empty)
  /// gets each step's name as the child reaches it ("GPU 0: matrix product bf16").
  ComputeProbe finish(const std::function<void(const std::string&)>& progress);

 private:
  struct State;
  std::unique_ptr<State> m_state;
};

/// Starts the probe and waits for it.
ComputeProbe run_compute_probe(const ProbePlan& plan, const std::function<void(const std::string&)>& progress);

/// The probe itself, inside the child: emits the whole state after every step.
void compute_probe_child(const ProbePlan& plan, const std::function<void(const ComputeProbe&)>& emit);

}  // namespace gpudoctor
