#pragma once
// CUDA_VISIBLE_DEVICES as the CUDA driver reads it (CUDA programming guide, "CUDA Environment
// Variables"; behaviour checked with cuInit on a real H200 host, shared/facts A5.8):
//  - unset: every device; set but empty: none;
//  - comma-separated entries: an index (parsed like strtoul: leading blanks and trailing junk
//    such as "0gpu" are accepted), "GPU-<uuid prefix>" (a unique prefix is enough), or
//    "MIG-<uuid>"; anything else ("-1", "all", a UUID without "GPU-") is invalid;
//  - the first invalid entry ends the list: "0,-1,1" makes only device 0 visible;
//  - a repeated device makes cuInit fail with CUDA_ERROR_INVALID_DEVICE.

#include <optional>
#include <string>
#include <vector>

namespace gpudoctor {

struct VisibleDevicesInput {
  std::string value;                     ///< the variable's value
  std::optional<unsigned> device_count;  ///< GPUs on the host (NVML), when known
  std::vector<std::string> gpu_uuids;    ///< "GPU-..." of each GPU, in NVML order, when known
  std::vector<std::string> mig_uuids;    ///< "MIG-..." of each MIG instance, when known
};

struct VisibleDevicesResult {
  /// Host devices CUDA will see, in CUDA order (indexes into gpu_uuids, or MIG uuids), when known.
  std::vector<std::string> visible;
  bool empty_value = false;                  ///< set to ""
  bool all_hidden = false;                   ///< no device remains visible (certain)
  bool uncertain = false;                    ///< an entry could not be checked (no device list known)
  std::optional<std::string> first_invalid;  ///< the entry that ended the list
  std::vector<std::string> ignored;          ///< entries after it, which CUDA never reads
  std::optional<std::string> duplicate;      ///< an entry naming a device twice
  std::string explanation;                   ///< one sentence for the report
};

VisibleDevicesResult evaluate_visible_devices(const VisibleDevicesInput& input);

}  // namespace gpudoctor
