#pragma once
// RootFs: the one way collectors read files. Every path is absolute as seen inside the
// inspected system ("/proc/modules"); RootFs maps it under the root folder given with
// --root. Symbolic links are resolved inside the root, as a chroot would, so a link in an
// untrusted image can never lead outside it, even one swapped in while gpudoctor reads:
// every path is resolved by the kernel relative to a descriptor of the root
// (openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), Linux 5.6+), or, where openat2 is
// missing, by a walk of one openat(O_NOFOLLOW) per component whose links are read and
// resolved inside the root. Nothing but a regular file or a folder of the image is ever
// opened for reading: the object is opened with O_PATH (which runs no driver code) and its
// type checked before it is reopened, so a device node, FIFO or socket is never opened.
// Every read has a size limit. A missing file is an absent fact, not an error.

#include <sys/stat.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/path.hpp"
#include "core/unique_fd.hpp"

namespace gpudoctor {

class RootFs {
 public:
  /// How paths under a root are resolved: `automatic` uses openat2 where the kernel has it and
  /// the per-component walk otherwise; `walk` forces the walk (tests).
  enum class Resolution { automatic,
                          walk };

  /// `root` is "/" for this machine, or a folder holding a mounted system or image.
  explicit RootFs(std::string root, Resolution how = Resolution::automatic);

  [[nodiscard]] bool is_host() const { return m_host; }
  [[nodiscard]] const std::string& root() const { return m_root; }

  /// Why this root cannot be inspected, in one line ("cannot read /x: Permission denied",
  /// "/x is empty", "/x does not look like a system: ..."); nullopt when it can.
  [[nodiscard]] std::optional<std::string> unusable() const;

  /// Resolves `path` (absolute inside the root) through every symbolic link, confined to the
  /// root, and returns the resolved absolute path inside the root. nullopt when a component is
  /// missing or the links loop.
  [[nodiscard]] std::optional<std::string> resolve(std::string_view path) const;
  /// The host path of `path` (under the root, links resolved inside it), for messages. Opening
  /// it is not confined (a link swapped in afterwards would be followed): open with
  /// open_regular() instead. On this machine's own root the path itself.
  [[nodiscard]] std::optional<std::string> host_path(std::string_view path) const;

  /// Opens a regular file for reading (O_RDONLY | O_NONBLOCK | O_CLOEXEC), confined to the
  /// root. A device node, FIFO, socket or folder is never opened: the result is then -1 with
  /// errno ENXIO (EISDIR for a folder); a missing or unreadable file leaves open(2)'s errno.
  [[nodiscard]] UniqueFd open_regular(std::string_view path) const;

  /// Reads at most `max_bytes` of a regular file (proc and sysfs files report size 0, so this
  /// reads until EOF). nullopt when absent, unreadable or not a regular file.
  [[nodiscard]] std::optional<std::string> read_text(std::string_view path,
                                                     std::size_t max_bytes = std::size_t{1} << 20) const;
  /// The last `max_bytes` of a regular file (for logs).
  [[nodiscard]] std::optional<std::string> read_tail(std::string_view path, std::size_t max_bytes) const;
  /// Names in a folder, sorted; empty when absent. At most k_max_listing names.
  [[nodiscard]] std::vector<std::string> list_dir(std::string_view path) const;
  static constexpr std::size_t k_max_listing = std::size_t{1} << 17;
  /// The target of a symbolic link, verbatim.
  [[nodiscard]] std::optional<std::string> read_link(std::string_view path) const;
  [[nodiscard]] std::optional<struct stat> stat(std::string_view path) const;
  [[nodiscard]] std::optional<struct stat> lstat(std::string_view path) const;
  [[nodiscard]] bool exists(std::string_view path) const { return stat(path).has_value(); }
  [[nodiscard]] bool is_dir(std::string_view path) const;

 private:
  struct Walked;
  /// An O_PATH descriptor of `path`, resolved inside the root; the last link is followed
  /// when `follow_last`. -1 (errno set) when it cannot be resolved.
  [[nodiscard]] UniqueFd open_path(std::string_view path, bool follow_last) const;
  [[nodiscard]] std::optional<Walked> walk(std::string_view path, bool follow_last) const;
  [[nodiscard]] int root_fd() const { return m_dir ? m_dir->get() : -1; }

  std::string m_root;  ///< without trailing slash; "" for "/"
  bool m_host;
  bool m_walk_only;
  std::shared_ptr<const UniqueFd> m_dir;  ///< O_PATH descriptor of the root (not on the host)
  int m_dir_errno = 0;                    ///< why the root could not be opened
};

}  // namespace gpudoctor
