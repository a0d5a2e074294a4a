#pragma once
// JSON form of the Snapshot (the `gpudoctor snapshot` output and `check --from` input).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor {

nlohmann::json to_json(const Snapshot& snapshot);

/// Reads a snapshot back. Throws SnapshotError with a readable message on JSON that is
/// not a gpudoctor snapshot, or one of a newer schema than this build knows.
Snapshot snapshot_from_json(const nlohmann::json& j);

struct SnapshotError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The snapshot's own fixed texts: every word of its typed states (EnumText), the copy status's
/// place, the probe's reason words. Redaction never takes a word of these for a user or host
/// name: a host named "search" would otherwise turn "wrong machine: x86-64, not on the search
/// path" into a text no reader knows, and the shared snapshot would be refused (exit 2).
std::vector<std::string_view> snapshot_state_texts();

/// Parses JSON text from outside, refusing arrays and objects nested deeper than `max_depth`
/// (a snapshot is 8 deep; 10 MB of "[" would otherwise cost seconds and hundreds of MB) and
/// more than `max_values` values in all (an hour of `gpudoctor run` on 8 GPUs has 1.5 M; each
/// costs 16 bytes and more as parsed JSON). Throws SnapshotError saying why ("not valid JSON",
/// "nested deeper than 64 levels", "more than 4000000 values").
nlohmann::json parse_json_text(std::string_view text, std::size_t max_depth = 64, std::size_t max_values = 4'000'000);

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
