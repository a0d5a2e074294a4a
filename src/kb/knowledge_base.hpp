#pragma once
// The knowledge base: tables that change with NVIDIA's and the frameworks' releases, kept
// as TOML data files (src/kb/data, each with its sources) and compiled into the binary.
// Rules read versions and names from here, never from their own bodies.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/layer.hpp"

namespace gpudoctor::kb {

struct CauseInfo {
  std::string id;
  std::optional<Layer> layer;  ///< nullopt for healthy/other
  std::string meaning;
};

struct ErrorCode {
  int code = 0;
  std::string name;     ///< "CUDA_ERROR_NO_DEVICE"
  std::string message;  ///< the library's own error string
  std::string meaning;  ///< what it means in practice
};

struct XidInfo {
  int xid = 0;
  bool hardware = false;  ///< true: the GPU or its link is in a bad state; false: a program's fault
  std::string meaning;
};

class KnowledgeBase {
 public:
  /// The compiled-in knowledge base, parsed on first use. Throws std::runtime_error if the
  /// embedded data is malformed (a build defect; the tests parse it).
  static const KnowledgeBase& get();
  /// Parses a knowledge base from TOML texts keyed by file name (for tests).
  static KnowledgeBase parse(const std::map<std::string, std::string_view>& files);

  [[nodiscard]] const std::vector<CauseInfo>& causes() const { return m_causes; }
  [[nodiscard]] const CauseInfo* cause(std::string_view id) const;
  [[nodiscard]] const ErrorCode* cuda_error(int code) const;
  [[nodiscard]] const ErrorCode* nvml_error(int code) const;
  /// Newest CUDA version ("13.0") a driver branch supports; nullopt for unknown branches.
  [[nodiscard]] std::optional<std::string> max_cuda_for_branch(int branch) const;
  /// PCIe generation for a per-lane transfer rate in GT/s (32.0 -> 5).
  [[nodiscard]] std::optional<int> pcie_gen_for_gts(double gts) const;
  [[nodiscard]] const std::vector<std::string>& library_dirs() const { return m_library_dirs; }
  /// What an Xid number means (kb/data/xid.toml); nullptr for Xids not in the table.
  [[nodiscard]] const XidInfo* xid(int number) const;
  /// Whether an environment variable is on the allow-list.
  [[nodiscard]] bool env_allowed(std::string_view name) const;

 private:
  std::vector<CauseInfo> m_causes;
  std::map<int, ErrorCode> m_cuda_errors;
  std::map<int, ErrorCode> m_nvml_errors;
  std::map<int, std::string> m_branch_cuda;
  std::vector<std::pair<double, int>> m_pcie;
  std::vector<std::string> m_library_dirs;
  std::map<int, XidInfo> m_xids;
  std::vector<std::string> m_env_prefixes;
  std::vector<std::string> m_env_names;
  std::vector<std::string> m_env_deny;
};

}  // namespace gpudoctor::kb
