#include "sys/root_fs.hpp"

#include "core/unique_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>

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

using Fd = ::gpudoctor::UniqueFd;

}  // namespace

RootFs::RootFs(std::string root) : m_root(std::move(root)) {
  while (m_root.size() > 1 && m_root.back() == '/') m_root.pop_back();
  m_host = m_root == "/" || m_root.empty();
  if (m_host) m_root.clear();
}

std::optional<std::string> RootFs::resolve(std::string_view path) const {
  if (m_host) {
    char* real = ::realpath(std::string(path).c_str(), nullptr);
    if (real == nullptr) return std::nullopt;
    std::string out(real);
    ::free(real);  // NOLINT: realpath allocates with malloc
    return out;
  }
  // Walk component by component; on a link, splice its target in (absolute targets restart
  // at the root of the image). 40 links at most, as the kernel allows.
  std::vector<std::string> done;
  std::vector<std::string> todo;
  for (auto c : split_components(path)) todo.emplace_back(c);
  std::reverse(todo.begin(), todo.end());
  int links = 0;
  while (!todo.empty()) {
    std::string comp = std::move(todo.back());
    todo.pop_back();
    if (comp == ".") continue;
    if (comp == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    std::string current;
    for (const auto& d : done) current += "/" + d;
    current += "/" + comp;
    struct stat st {};
    if (::lstat((m_root + current).c_str(), &st) != 0) return std::nullopt;
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) return std::nullopt;
      std::array<char, 4096> buf{};
      ssize_t n = ::readlink((m_root + current).c_str(), buf.data(), buf.size() - 1);
      if (n <= 0) return std::nullopt;
      std::string_view target(buf.data(), static_cast<size_t>(n));
      if (!target.empty() && target.front() == '/') done.clear();
      auto parts = split_components(target);
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.emplace_back(*it);
      continue;
    }
    done.push_back(std::move(comp));
  }
  std::string out;
  for (const auto& d : done) out += "/" + d;
  return out.empty() ? std::string("/") : out;
}

std::optional<std::string> RootFs::host_path(std::string_view path) const {
  if (m_host) return std::string(path);  // the kernel follows the links itself
  auto resolved = resolve(path);
  if (!resolved) return std::nullopt;
  return m_root + *resolved;
}

std::optional<std::string> RootFs::read_text(std::string_view path, std::size_t max_bytes) const {
  auto hp = host_path(path);
  if (!hp) return std::nullopt;
  // O_NONBLOCK: never hang on a FIFO an image may hold in place of a file.
  Fd fd(::open(hp->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || S_ISDIR(st.st_mode)) return std::nullopt;
  if (!S_ISREG(st.st_mode) && !m_host) return std::nullopt;  // no devices or FIFOs from an image
  std::string out;
  std::array<char, 65536> buf{};
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd.get(), buf.data(), std::min(buf.size(), max_bytes - out.size()));
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

std::optional<std::string> RootFs::read_tail(std::string_view path, std::size_t max_bytes) const {
  auto hp = host_path(path);
  if (!hp) return std::nullopt;
  Fd fd(::open(hp->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  auto size = static_cast<std::size_t>(st.st_size);
  off_t start = size > max_bytes ? static_cast<off_t>(size - max_bytes) : 0;
  if (::lseek(fd.get(), start, SEEK_SET) < 0) return std::nullopt;
  std::string out;
  std::array<char, 65536> buf{};
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd.get(), buf.data(), std::min(buf.size(), max_bytes - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

std::vector<std::string> RootFs::list_dir(std::string_view path) const {
  std::vector<std::string> names;
  auto hp = host_path(path);
  if (!hp) return names;
  DIR* dir = ::opendir(hp->c_str());
  if (dir == nullptr) return names;
  while (dirent* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<std::string> RootFs::read_link(std::string_view path) const {
  // Resolve the folder, not the link itself.
  auto dir = resolve(path_dirname(path));
  if (!dir) return std::nullopt;
  std::string hp = m_root + path_join(*dir, path_basename(path));
  std::array<char, 4096> buf{};
  ssize_t n = ::readlink(hp.c_str(), buf.data(), buf.size() - 1);
  if (n <= 0) return std::nullopt;
  return std::string(buf.data(), static_cast<size_t>(n));
}

std::optional<struct stat> RootFs::stat(std::string_view path) const {
  auto hp = host_path(path);
  if (!hp) return std::nullopt;
  struct stat st {};
  if (::stat(hp->c_str(), &st) != 0) return std::nullopt;
  return st;
}

std::optional<struct stat> RootFs::lstat(std::string_view path) const {
  auto dir = resolve(path_dirname(path));
  if (!dir) return std::nullopt;
  std::string hp = m_root + path_join(*dir, path_basename(path));
  struct stat st {};
  if (::lstat(hp.c_str(), &st) != 0) return std::nullopt;
  return st;
}

bool RootFs::is_dir(std::string_view path) const {
  auto st = stat(path);
  return st && S_ISDIR(st->st_mode);
}

}  // namespace gpudoctor
