#include "diagnose/visible_devices.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace gpudoctor {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t comma = s.find(',', pos);
    out.push_back(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// strtoul-like: leading blanks, then digits; what follows the digits is ignored.
std::optional<unsigned long> leading_index(const std::string& entry) {
  size_t i = 0;
  while (i < entry.size() && (entry[i] == ' ' || entry[i] == '\t')) ++i;
  size_t start = i;
  unsigned long v = 0;
  while (i < entry.size() && entry[i] >= '0' && entry[i] <= '9' && i - start < 9) {
    v = v * 10 + static_cast<unsigned long>(entry[i] - '0');
    ++i;
  }
  if (i == start) return std::nullopt;
  return v;
}

// The unique device whose UUID starts with `prefix` (case-insensitive hex); nullopt if none
// or ambiguous.
std::optional<std::string> match_uuid(const std::string& prefix, const std::vector<std::string>& uuids) {
  std::optional<std::string> found;
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  std::string p = lower(prefix);
  for (const auto& u : uuids) {
    if (lower(u).rfind(p, 0) == 0) {
      if (found) return std::nullopt;
      found = u;
    }
  }
  return found;
}

}  // namespace

VisibleDevicesResult evaluate_visible_devices(const VisibleDevicesInput& in) {
  VisibleDevicesResult r;
  if (in.value.empty()) {
    r.empty_value = true;
    r.all_hidden = true;
    r.explanation = "CUDA_VISIBLE_DEVICES is set to the empty string, which hides every GPU";
    return r;
  }
  auto entries = split_commas(in.value);
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& e = entries[i];
    std::string trimmed = e;
    trimmed.erase(0, trimmed.find_first_not_of(" \t"));
    std::optional<std::string> device;
    bool checkable = true;
    if (trimmed.rfind("GPU-", 0) == 0 && trimmed.size() > 4) {
      if (in.gpu_uuids.empty()) checkable = false;
      else device = match_uuid(trimmed, in.gpu_uuids);
    } else if (trimmed.rfind("MIG-", 0) == 0 && trimmed.size() > 4) {
      if (in.mig_uuids.empty() && !in.device_count) checkable = false;
      else device = match_uuid(trimmed, in.mig_uuids);
    } else if (auto idx = leading_index(e)) {
      if (!in.device_count) {
        checkable = false;
      } else if (*idx < *in.device_count) {
        device = in.gpu_uuids.size() > *idx ? in.gpu_uuids[*idx] : fmt::format("index {}", *idx);
      }
    }
    if (!checkable) {
      r.uncertain = true;
      r.visible.push_back(trimmed);
      continue;
    }
    if (!device) {
      r.first_invalid = e;
      for (size_t k = i + 1; k < entries.size(); ++k) r.ignored.push_back(entries[k]);
      break;
    }
    if (std::find(r.visible.begin(), r.visible.end(), *device) != r.visible.end()) {
      r.duplicate = e;
    }
    r.visible.push_back(*device);
  }
  if (r.duplicate) {
    r.all_hidden = true;
    r.explanation = fmt::format(
        "CUDA_VISIBLE_DEVICES=\"{}\" names the same GPU twice (\"{}\"); cuInit then fails with "
        "CUDA_ERROR_INVALID_DEVICE and no GPU can be used",
        in.value, *r.duplicate);
  } else if (r.visible.empty() && !r.uncertain) {
    r.all_hidden = true;
    r.explanation = fmt::format(
        "CUDA_VISIBLE_DEVICES=\"{}\": its first entry \"{}\" names no GPU of this host{}, so "
        "CUDA sees no device",
        in.value, r.first_invalid.value_or(""),
        in.device_count ? fmt::format(" (it has {})", *in.device_count) : "");
  } else if (r.first_invalid) {
    r.explanation = fmt::format(
        "CUDA_VISIBLE_DEVICES=\"{}\": the entry \"{}\" names no GPU of this host, so CUDA stops reading there and "
        "sees only {} of the listed devices",
        in.value, *r.first_invalid, r.visible.size());
  } else {
    r.explanation = fmt::format("CUDA_VISIBLE_DEVICES=\"{}\" makes {} GPU(s) visible", in.value, r.visible.size());
  }
  return r;
}

}  // namespace gpudoctor
