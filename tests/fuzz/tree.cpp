#include "tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace gpudoctor::fuzz {
namespace {

std::string_view first_line(std::string_view s) { return s.substr(0, s.find('\n')); }

// "a/./b//../c" -> "/a/b/c"; nullopt for too many components, a NUL, or nothing left.
std::optional<std::string> clean_path(std::string_view raw) {
  std::string out;
  std::size_t count = 0;
  while (!raw.empty()) {
    std::size_t slash = raw.find('/');
    std::string_view c = raw.substr(0, slash);
    raw = slash == std::string_view::npos ? std::string_view{} : raw.substr(slash + 1);
    if (c.empty() || c == "." || c == "..") continue;
    if (c.find('\0') != std::string_view::npos || c.size() > 255 || ++count > k_max_path_components) return std::nullopt;
    out += '/';
    out += c;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::uint64_t number(std::string_view v) {
  std::uint64_t n = 0;
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    v.remove_prefix(2);
    base = 16;
  }
  std::from_chars(v.data(), v.data() + v.size(), n, base);
  return n;
}

template <typename F>
void for_each_line(std::string_view body, F&& f) {
  while (!body.empty()) {
    std::size_t nl = body.find('\n');
    f(body.substr(0, nl));
    if (nl == std::string_view::npos) break;
    body.remove_prefix(nl + 1);
  }
}

void put(std::string& b, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b += static_cast<char>((v >> (8 * i)) & 0xffU);
}

// Writes one entry below the folder `root_fd`: each folder on the way made or entered without
// following links (O_NOFOLLOW), the entry itself made only where nothing is (O_EXCL).
void write_entry(int root_fd, const TreeEntry& e, std::size_t& budget) {
  std::vector<std::string> parts;
  for (std::size_t i = 1; i <= e.path.size();) {
    std::size_t slash = e.path.find('/', i);
    if (slash == std::string::npos) slash = e.path.size();
    parts.push_back(e.path.substr(i, slash - i));
    i = slash + 1;
  }
  if (parts.empty()) return;
  int dir = ::dup(root_fd);
  if (dir < 0) return;
  std::size_t folders = e.kind == "dir" ? parts.size() : parts.size() - 1;
  for (std::size_t i = 0; i < folders; ++i) {
    ::mkdirat(dir, parts[i].c_str(), 0755);
    int next = ::openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(dir);
    if (next < 0) return;
    dir = next;
  }
  const std::string& name = parts.back();
  if (e.kind == "link") {
    std::string target(first_line(e.body));
    if (target.find('\0') == std::string::npos && !target.empty()) ::symlinkat(target.c_str(), dir, name.c_str());
  } else if (e.kind != "dir") {
    std::string bytes = e.kind == "elf" ? build_elf(e.body) : e.kind == "cache" ? build_ld_so_cache(e.body)
                                                                                : e.body;
    if (bytes.size() > budget) bytes.resize(budget);
    budget -= bytes.size();
    int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      std::size_t done = 0;
      while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      ::close(fd);
    }
  }
  ::close(dir);
}

}  // namespace

Tree decode_tree(std::string_view input) {
  Tree tree;
  // Record starts: offset 0 when it is '@', and every '@' after a newline.
  std::vector<std::size_t> starts;
  if (!input.empty() && input[0] == '@') starts.push_back(0);
  for (std::size_t p = input.find("\n@"); p != std::string_view::npos; p = input.find("\n@", p + 1)) {
    starts.push_back(p + 1);
    if (starts.size() > 4 * k_max_tree_entries) break;
  }
  for (std::size_t i = 0; i < starts.size() && tree.entries.size() < k_max_tree_entries; ++i) {
    std::size_t end = i + 1 < starts.size() ? starts[i + 1] - 1 : input.size();
    std::string_view record = input.substr(starts[i] + 1, end - starts[i] - 1);
    std::string_view header = first_line(record);
    std::string_view body = header.size() < record.size() ? record.substr(header.size() + 1) : std::string_view{};
    std::size_t space = header.find(' ');
    std::string_view kind = header.substr(0, space);
    std::string_view arg = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
    if (kind == "ldpath") {
      tree.ld_library_path = std::string(arg);
      continue;
    }
    auto path = clean_path(arg);
    if (!path) continue;
    if (kind == "load") {
      if (tree.loads.size() < 8) tree.loads.push_back(*path);
    } else if (kind == "exe") {
      tree.executable = *path;
    } else if (kind == "cwd") {
      tree.working_directory = *path;
    } else if (kind == "file" || kind == "link" || kind == "dir" || kind == "elf" || kind == "cache") {
      tree.entries.push_back({std::string(kind), *path, std::string(body)});
    }
  }
  return tree;
}

std::string build_elf(std::string_view spec) {
  unsigned bits = 64;
  std::uint64_t machine = 62;
  std::uint64_t type = 3;
  std::uint64_t flags_1 = 0;
  std::vector<std::pair<std::uint64_t, std::string>> strings;  // tag, value
  for_each_line(spec, [&](std::string_view line) {
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return;
    std::string_view key = line.substr(0, eq);
    std::string_view value = line.substr(eq + 1);
    if (key == "class") bits = number(value) == 32 ? 32 : 64;
    else if (key == "machine") machine = number(value);
    else if (key == "type") type = number(value);
    else if (key == "flags_1") flags_1 = number(value);
    else if (key == "needed") strings.emplace_back(1, std::string(value));
    else if (key == "soname") strings.emplace_back(14, std::string(value));
    else if (key == "rpath") strings.emplace_back(15, std::string(value));
    else if (key == "runpath") strings.emplace_back(29, std::string(value));
  });
  const int w = bits == 64 ? 8 : 4;
  const std::size_t ehsize = bits == 64 ? 64 : 52;
  const std::size_t phentsize = bits == 64 ? 56 : 32;
  std::string strtab(1, '\0');
  std::vector<std::pair<std::uint64_t, std::uint64_t>> dyn;
  for (const auto& [tag, value] : strings) {
    dyn.emplace_back(tag, strtab.size());
    strtab += value;
    strtab += '\0';
  }
  const std::size_t strtab_off = ehsize + 2 * phentsize;
  std::size_t dyn_off = strtab_off + strtab.size();
  dyn_off = (dyn_off + 7) / 8 * 8;
  dyn.emplace_back(5, strtab_off);      // DT_STRTAB (an address: the PT_LOAD maps the file at 0)
  dyn.emplace_back(10, strtab.size());  // DT_STRSZ
  if (flags_1 != 0) dyn.emplace_back(0x6ffffffb, flags_1);
  dyn.emplace_back(0, 0);  // DT_NULL
  const std::size_t dyn_size = dyn.size() * 2 * static_cast<std::size_t>(w);
  const std::size_t total = dyn_off + dyn_size;

  std::string b =
      "\x7f"
      "ELF";
  b += static_cast<char>(bits == 64 ? 2 : 1);  // EI_CLASS
  b += '\x01';                                 // little endian
  b += '\x01';                                 // EV_CURRENT
  b += std::string(9, '\0');
  put(b, type, 2);
  put(b, machine, 2);
  put(b, 1, 4);       // e_version
  put(b, 0, w);       // e_entry
  put(b, ehsize, w);  // e_phoff
  put(b, 0, w);       // e_shoff: no section headers (stripped, as ld.so reads it)
  put(b, 0, 4);       // e_flags
  put(b, ehsize, 2);
  put(b, phentsize, 2);
  put(b, 2, 2);  // e_phnum
  put(b, bits == 64 ? 64 : 40, 2);
  put(b, 0, 2);
  put(b, 0, 2);
  // Program headers: PT_LOAD of the whole file, PT_DYNAMIC.
  auto phdr = [&](std::uint64_t p_type, std::uint64_t flags, std::uint64_t off, std::uint64_t size, std::uint64_t align) {
    if (bits == 64) {
      put(b, p_type, 4);
      put(b, flags, 4);
      put(b, off, 8);
      put(b, off, 8);
      put(b, off, 8);
      put(b, size, 8);
      put(b, size, 8);
      put(b, align, 8);
    } else {
      put(b, p_type, 4);
      put(b, off, 4);
      put(b, off, 4);
      put(b, off, 4);
      put(b, size, 4);
      put(b, size, 4);
      put(b, flags, 4);
      put(b, align, 4);
    }
  };
  phdr(1, 5, 0, total, 0x1000);
  phdr(2, 6, dyn_off, dyn_size, 8);
  b += strtab;
  b.resize(dyn_off, '\0');
  for (const auto& [tag, value] : dyn) {
    put(b, tag, w);
    put(b, value, w);
  }
  return b;
}

std::string build_ld_so_cache(std::string_view spec) {
  std::vector<std::pair<std::string, std::string>> entries;
  for_each_line(spec, [&](std::string_view line) {
    std::size_t eq = line.find('=');
    if (eq != std::string_view::npos && entries.size() < 4096)
      entries.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  });
  const std::size_t header = 48;
  const std::size_t table_bytes = entries.size() * 24;
  std::string strings;
  std::string table;
  for (const auto& [soname, path] : entries) {
    put(table, 0x0303, 4);  // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64
    put(table, header + table_bytes + strings.size(), 4);
    strings += soname + '\0';
    put(table, header + table_bytes + strings.size(), 4);
    strings += path + '\0';
    put(table, 0, 4);  // osversion
    put(table, 0, 8);  // hwcap
  }
  std::string b = "glibc-ld.so.cache1.1";
  put(b, entries.size(), 4);
  put(b, strings.size(), 4);
  b += '\x02';  // little endian
  b += std::string(3 + 4 + 12, '\0');
  return b + table + strings;
}

ScratchRoot::ScratchRoot() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") + "/gpudoctor-fuzz-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp " + templ + " failed");
  m_path = templ;
}

ScratchRoot::~ScratchRoot() {
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
}

ScratchRoot& process_scratch_root() {
  static ScratchRoot root;
  return root;
}

bool ScratchRoot::lay_out(const Tree& tree) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& child : fs::directory_iterator(m_path, ec)) fs::remove_all(child.path(), ec);
  int root_fd = ::open(m_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return false;
  std::size_t budget = k_max_tree_bytes;
  for (const auto& e : tree.entries) write_entry(root_fd, e, budget);
  ::close(root_fd);
  return true;
}

}  // namespace gpudoctor::fuzz
