#pragma once
// JSON form of the Snapshot (the `gpudoctor snapshot` output and `check --from` input).

#include <nlohmann/json.hpp>
#include <string>

#include "core/snapshot.hpp"

namespace gpudoctor {

nlohmann::json to_json(const Snapshot& snapshot);

/// Reads a snapshot back. Throws SnapshotError with a readable message on JSON that is
/// not a gpudoctor snapshot, or one of a newer schema than this build knows.
Snapshot snapshot_from_json(const nlohmann::json& j);

struct SnapshotError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace gpudoctor

namespace gpudoctor {
// Parts of the snapshot on their own (the driver probe's children send these to the parent).
nlohmann::json to_json(const NvmlProbe& probe);
nlohmann::json to_json(const CudaProbe& probe);
NvmlProbe nvml_probe_from_json(const nlohmann::json& j);
CudaProbe cuda_probe_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ComputeProbe& probe);
ComputeProbe compute_probe_from_json(const nlohmann::json& j);
nlohmann::json to_json(const Program& program);  ///< the `program` part of run/inspect reports
}  // namespace gpudoctor
