#pragma once
// The program on each GPU, from the NVML sampler's readings: which of the driver's compute
// processes are the program's (by PID, or through NSpid when the driver speaks of another PID
// namespace), their memory and SM utilization over time, and what other processes held.
// Pure: it sees readings and the process tree's PIDs, never the machine.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/snapshot.hpp"
#include "driver/nvml_sampler.hpp"

namespace gpudoctor::program {

/// Which of the driver's PIDs are the program's: a driver PID -> the program's PID in our namespace.
struct PidMatch {
  std::map<std::uint32_t, std::uint32_t> direct;  ///< our PID = the driver's
  std::map<std::uint32_t, std::uint32_t> nspid;   ///< an NSpid entry of ours = the driver's
  /// True when a PID the driver lists exists in our namespace (/proc/PID is there).
  std::function<bool(std::uint32_t)> visible;
};

/// The program's processes as a PidMatch.
PidMatch pid_match(const std::map<pid_t, ProgramProcess>& processes, std::function<bool(std::uint32_t)> visible);

class GpuUsage {
 public:
  /// The GPUs the sampler found.
  void gpus(const std::vector<SampledGpu>& gpus);
  /// One reading at `t_s` seconds after the watch began.
  void reading(const NvmlReading& r, double t_s, const PidMatch& match);
  /// Fills `program.gpus` and `program.per_process`, thinning timelines to at most `max_points`.
  void finish(Program& program, double duration_s, std::size_t max_points = 3000) const;
  /// The latest sample per GPU (for a status line).
  [[nodiscard]] std::vector<std::pair<unsigned, GpuSample>> latest() const;
  [[nodiscard]] bool have_gpus() const { return !m_gpus.empty(); }

 private:
  struct PerGpu {
    ProgramGpu gpu;
    std::vector<GpuSample> samples;
    std::optional<double> first_use_s;
    std::set<std::uint32_t> pids, other_pids;
    std::uint64_t others_peak = 0;
    bool others_known = false;
    bool per_process_util = false, device_util = false;
    /// The program's processes' latest SM sample (NVML timestamp, percent) and the gap between
    /// their last two samples: NVML samples each process every so often, not at every reading.
    std::map<std::uint32_t, std::pair<std::uint64_t, unsigned>> last_sample;
    std::map<std::uint32_t, std::uint64_t> sample_gap_us;
    /// The clock (realtime µs) of the last reading that asked for per-process samples: readings
    /// between two asks judge the held samples as of then.
    std::optional<std::uint64_t> putil_asked_us;
  };
  std::vector<PerGpu> m_gpus;
  bool m_matched_direct = false, m_matched_nspid = false, m_unmatched_invisible = false, m_listed = false;
};

}  // namespace gpudoctor::program
