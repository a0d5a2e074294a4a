#pragma once
// RootFs: the one way collectors read files. Every path is absolute as seen inside the
// inspected system ("/proc/modules"); RootFs maps it under the root folder given with
// --root. Symbolic links are resolved inside the root, as a chroot would, so a link in an
// untrusted image can never lead outside it. A missing file is an absent fact, not an error.

#include <sys/stat.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/path.hpp"

namespace gpudoctor {

class RootFs {
 public:
  /// `root` is "/" for this machine, or a folder holding a mounted system or image.
  explicit RootFs(std::string root);

  [[nodiscard]] bool is_host() const { return m_host; }
  [[nodiscard]] const std::string& root() const { return m_root; }

  /// Resolves `path` (absolute inside the root) through every symbolic link, confined to the
  /// root, and returns the resolved absolute path inside the root. nullopt when a component is
  /// missing or the links loop.
  [[nodiscard]] std::optional<std::string> resolve(std::string_view path) const;
  /// The host path of `path` (under the root, links resolved inside it), for calls such as
  /// stat(2) and access(2). On this machine's own root the path itself.
  [[nodiscard]] std::optional<std::string> host_path(std::string_view path) const;

  /// Reads at most `max_bytes` of a file (proc and sysfs files report size 0, so this reads
  /// until EOF). nullopt when absent or unreadable.
  [[nodiscard]] std::optional<std::string> read_text(std::string_view path,
                                                     std::size_t max_bytes = std::size_t{1} << 20) const;
  /// The last `max_bytes` of a file (for logs).
  [[nodiscard]] std::optional<std::string> read_tail(std::string_view path, std::size_t max_bytes) const;
  /// Names in a folder, sorted; empty when absent.
  [[nodiscard]] std::vector<std::string> list_dir(std::string_view path) const;
  /// The target of a symbolic link, verbatim.
  [[nodiscard]] std::optional<std::string> read_link(std::string_view path) const;
  [[nodiscard]] std::optional<struct stat> stat(std::string_view path) const;
  [[nodiscard]] std::optional<struct stat> lstat(std::string_view path) const;
  [[nodiscard]] bool exists(std::string_view path) const { return stat(path).has_value(); }
  [[nodiscard]] bool is_dir(std::string_view path) const;

 private:
  std::string m_root;  ///< without trailing slash; "" for "/"
  bool m_host;
};


}  // namespace gpudoctor
