#include "sys/root_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>

namespace gpudoctor {

namespace {

std::vector<std::string_view> split_components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

constexpr int k_max_links = 40;      // as the kernel allows (MAXSYMLINKS)
constexpr size_t k_max_depth = 256;  // folders held open at once during a walk
constexpr int k_path_flags = O_PATH | O_CLOEXEC;
constexpr int k_read_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

// openat2 is there unless the kernel (older than 5.6) or a seccomp filter says ENOSYS; the
// first such answer switches every RootFs to the walk.
std::atomic<bool> g_openat2_missing{false};

int sys_openat2(int dirfd, const char* path, int flags, bool follow_last) {
  open_how how{};
  how.flags = static_cast<__u64>(static_cast<unsigned>(flags | (follow_last ? 0 : O_NOFOLLOW)));
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0; attempt < 16; ++attempt) {
    long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    // EAGAIN: a rename raced the resolution of ".."; the kernel asks us to try again.
    if (errno != EAGAIN && errno != EINTR) return -1;
  }
  return -1;
}

std::optional<std::string> read_link_fd(int fd) {
  std::array<char, 4096> buf{};
  ssize_t n = ::readlinkat(fd, "", buf.data(), buf.size());
  if (n <= 0 || static_cast<size_t>(n) >= buf.size()) return std::nullopt;
  return std::string(buf.data(), static_cast<size_t>(n));
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// Reads from `fd` until EOF, an error, or `max_bytes`.
std::optional<std::string> read_up_to(int fd, std::size_t max_bytes) {
  std::string out;
  std::array<char, 65536> buf{};
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd, buf.data(), std::min(buf.size(), max_bytes - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (out.empty()) return std::nullopt;
      break;
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

struct RootFs::Walked {
  UniqueFd fd;       ///< O_PATH descriptor of what the path names
  std::string path;  ///< its absolute path inside the root, links resolved
};

RootFs::RootFs(std::string root, Resolution how) : m_root(std::move(root)), m_walk_only(how == Resolution::walk) {
  while (m_root.size() > 1 && m_root.back() == '/') m_root.pop_back();
  m_host = m_root == "/" || m_root.empty();
  if (m_host) {
    m_root.clear();
    return;
  }
  int fd = ::open(m_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) m_dir_errno = errno;
  else m_dir = std::make_shared<const UniqueFd>(fd);
}

std::optional<std::string> RootFs::unusable() const {
  if (m_host) return std::nullopt;
  if (!m_dir) return fmt::format("cannot read --root {}: {}", m_root, std::strerror(m_dir_errno));
  UniqueFd dir(::openat(root_fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return fmt::format("cannot read --root {}: {}", m_root, std::strerror(errno));
  DIR* d = ::fdopendir(dir.get());
  if (d == nullptr) return fmt::format("cannot read --root {}: {}", m_root, std::strerror(errno));
  (void)dir.release();
  bool any = false;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") {
      any = true;
      break;
    }
  }
  int err = errno;
  ::closedir(d);
  if (!any && err != 0) return fmt::format("cannot read --root {}: {}", m_root, std::strerror(err));
  if (!any) return fmt::format("--root {} is empty: give the folder where the system or image is mounted", m_root);
  for (const char* top : {"/etc", "/usr", "/proc", "/sys", "/lib", "/opt"})
    if (is_dir(top)) return std::nullopt;
  return fmt::format("--root {} does not look like a system: it has none of /etc, /usr, /proc, /sys, /lib, /opt", m_root);
}

std::optional<RootFs::Walked> RootFs::walk(std::string_view path, bool follow_last) const {
  if (!m_dir) {
    errno = m_dir_errno;
    return std::nullopt;
  }
  // Each step opens one component with O_NOFOLLOW relative to the folder reached so far, so
  // the kernel never follows a link on our behalf: a link is read and its target spliced in
  // (an absolute one restarts at the root), and ".." pops a folder we hold open (never above
  // the root), so nothing renamed or swapped meanwhile can lead outside.
  std::vector<UniqueFd> fds;       // fds[i]: the folder names[0..i]
  std::vector<std::string> names;  // resolved components
  std::vector<std::string> todo;
  for (auto c : split_components(path)) todo.emplace_back(c);
  std::reverse(todo.begin(), todo.end());
  int links = 0;
  while (!todo.empty()) {
    std::string comp = std::move(todo.back());
    todo.pop_back();
    if (comp == ".") continue;
    if (comp == "..") {
      if (!fds.empty()) {
        fds.pop_back();
        names.pop_back();
      }
      continue;
    }
    bool last = todo.empty();
    int base = fds.empty() ? root_fd() : fds.back().get();
    UniqueFd fd(::openat(base, comp.c_str(), k_path_flags | O_NOFOLLOW));
    if (!fd.valid()) return std::nullopt;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return std::nullopt;
    if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
      if (++links > k_max_links) {
        errno = ELOOP;
        return std::nullopt;
      }
      auto target = read_link_fd(fd.get());
      if (!target) {
        errno = ENOENT;
        return std::nullopt;
      }
      if (target->front() == '/') {
        fds.clear();
        names.clear();
      }
      auto parts = split_components(*target);
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.emplace_back(*it);
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      return std::nullopt;
    }
    if (fds.size() >= k_max_depth) {
      errno = ENAMETOOLONG;
      return std::nullopt;
    }
    fds.push_back(std::move(fd));
    names.push_back(std::move(comp));
  }
  Walked out;
  for (const auto& n : names) {
    out.path += '/';
    out.path += n;
  }
  if (out.path.empty()) out.path.push_back('/');
  if (fds.empty()) {
    out.fd = UniqueFd(::fcntl(root_fd(), F_DUPFD_CLOEXEC, 0));
    if (!out.fd.valid()) return std::nullopt;
  } else {
    out.fd = std::move(fds.back());
  }
  return out;
}

UniqueFd RootFs::open_path(std::string_view path, bool follow_last) const {
  std::string p(path);
  if (m_host) return UniqueFd(::open(p.c_str(), k_path_flags | (follow_last ? 0 : O_NOFOLLOW)));
  if (!m_dir) {
    errno = m_dir_errno;
    return UniqueFd();
  }
  if (!m_walk_only && !g_openat2_missing.load(std::memory_order_relaxed)) {
    // Relative to the root's descriptor: "/etc/x" is "etc/x"; "/" is ".".
    size_t start = p.find_first_not_of('/');
    std::string rel = start == std::string::npos ? "." : p.substr(start);
    int fd = sys_openat2(root_fd(), rel.c_str(), k_path_flags, follow_last);
    if (fd >= 0 || errno != ENOSYS) return UniqueFd(fd);
    g_openat2_missing.store(true, std::memory_order_relaxed);
  }
  auto w = walk(path, follow_last);
  if (!w) return UniqueFd();
  return std::move(w->fd);
}

UniqueFd RootFs::open_regular(std::string_view path) const {
  UniqueFd where = open_path(path, true);
  if (!where.valid()) return UniqueFd();
  struct stat st {};
  if (::fstat(where.get(), &st) != 0) return UniqueFd();
  if (!S_ISREG(st.st_mode)) {
    errno = S_ISDIR(st.st_mode) ? EISDIR : ENXIO;
    return UniqueFd();
  }
  // Reopen the very file the O_PATH descriptor holds, through this process's own /proc (not
  // the image's): no path is resolved again, so nothing can be swapped in between.
  UniqueFd fd(::open(fmt::format("/proc/self/fd/{}", where.get()).c_str(), k_read_flags));
  if (!fd.valid()) {
    if (errno != ENOENT && errno != ENOTDIR) return UniqueFd();
    // No /proc mounted: resolve once more and keep the result only if it is the same file.
    if (m_host) {
      fd = UniqueFd(::open(std::string(path).c_str(), k_read_flags));
    } else if (!m_walk_only && !g_openat2_missing.load(std::memory_order_relaxed)) {
      size_t start = path.find_first_not_of('/');
      std::string rel = start == std::string_view::npos ? "." : std::string(path.substr(start));
      fd = UniqueFd(sys_openat2(root_fd(), rel.c_str(), k_read_flags, true));
    } else if (auto w = walk(path_dirname(path), true)) {
      fd = UniqueFd(::openat(w->fd.get(), std::string(path_basename(path)).c_str(), k_read_flags | O_NOFOLLOW));
    }
    if (!fd.valid()) return UniqueFd();
  }
  struct stat again {};
  if (::fstat(fd.get(), &again) != 0 || !S_ISREG(again.st_mode) || !same_file(st, again)) {
    errno = ENXIO;
    return UniqueFd();
  }
  return fd;
}

std::optional<std::string> RootFs::resolve(std::string_view path) const {
  if (m_host) {
    char* real = ::realpath(std::string(path).c_str(), nullptr);
    if (real == nullptr) return std::nullopt;
    std::string out(real);
    ::free(real);  // NOLINT: realpath allocates with malloc
    return out;
  }
  auto w = walk(path, true);
  if (!w) return std::nullopt;
  return std::move(w->path);
}

std::optional<std::string> RootFs::host_path(std::string_view path) const {
  if (m_host) return std::string(path);  // the kernel follows the links itself
  auto resolved = resolve(path);
  if (!resolved) return std::nullopt;
  return m_root + *resolved;
}

std::optional<std::string> RootFs::read_text(std::string_view path, std::size_t max_bytes) const {
  UniqueFd fd = open_regular(path);
  if (!fd.valid()) return std::nullopt;
  return read_up_to(fd.get(), max_bytes);
}

std::optional<std::string> RootFs::read_tail(std::string_view path, std::size_t max_bytes) const {
  UniqueFd fd = open_regular(path);
  if (!fd.valid()) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  auto size = static_cast<std::size_t>(st.st_size);
  off_t start = size > max_bytes ? static_cast<off_t>(size - max_bytes) : 0;
  if (::lseek(fd.get(), start, SEEK_SET) < 0) return std::nullopt;
  auto out = read_up_to(fd.get(), max_bytes);
  return out ? out : std::string();
}

std::vector<std::string> RootFs::list_dir(std::string_view path) const {
  std::vector<std::string> names;
  UniqueFd where = open_path(path, true);
  if (!where.valid()) return names;
  // O_DIRECTORY: only a folder is opened (its type is checked before anything else).
  UniqueFd fd(::openat(where.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return names;
  DIR* dir = ::fdopendir(fd.get());
  if (dir == nullptr) return names;
  (void)fd.release();  // the DIR owns it now
  while (dirent* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (names.size() >= k_max_listing) break;
    names.emplace_back(n);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<std::string> RootFs::read_link(std::string_view path) const {
  UniqueFd fd = open_path(path, false);
  if (!fd.valid()) return std::nullopt;
  return read_link_fd(fd.get());
}

std::optional<struct stat> RootFs::stat(std::string_view path) const {
  UniqueFd fd = open_path(path, true);
  if (!fd.valid()) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  return st;
}

std::optional<struct stat> RootFs::lstat(std::string_view path) const {
  UniqueFd fd = open_path(path, false);
  if (!fd.valid()) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  return st;
}

bool RootFs::is_dir(std::string_view path) const {
  auto st = stat(path);
  return st && S_ISDIR(st->st_mode);
}

}  // namespace gpudoctor
