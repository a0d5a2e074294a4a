#include "elf/elf_file.hpp"

#include "core/path.hpp"

#include "core/unique_fd.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>

namespace gpudoctor::elf {

namespace {

// Limits that no real shared object comes near; they bound what a hostile file can make us read.
constexpr std::size_t kMaxProgramHeaders = k_max_program_headers;
constexpr std::uint64_t kMaxDynamicBytes = 1U << 20;  // 65536 entries of 16 bytes
constexpr std::uint64_t kFirstStringChunk = 256;      // bytes read first for one string

// ELF constants, from the ELF gABI (and /usr/include/elf.h).
constexpr std::uint8_t kClass32 = 1;
constexpr std::uint8_t kClass64 = 2;
constexpr std::uint8_t kDataLsb = 1;
constexpr std::uint8_t kDataMsb = 2;
constexpr std::size_t kIdentSize = 16;
constexpr std::size_t kIdentPad = 9;  // EI_PAD
constexpr std::size_t kHeader32Size = 52;
constexpr std::size_t kHeader64Size = 64;

using Fd = ::gpudoctor::UniqueFd;

class ElfHandle {
 public:
  explicit ElfHandle(Elf* elf) : m_elf(elf) {}
  ~ElfHandle() {
    if (m_elf != nullptr) elf_end(m_elf);
  }
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;
  [[nodiscard]] Elf* get() const { return m_elf; }

 private:
  Elf* m_elf;
};

bool libelf_ready() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = elf_version(EV_CURRENT) != EV_NONE; });
  return ready;
}

std::string libelf_message(const char* what) {
  const char* msg = elf_errmsg(-1);
  return std::string(what) + ": " + (msg != nullptr ? msg : "unknown libelf error");
}

// a + b without wrapping; nullopt on overflow.
std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) return std::nullopt;
  return a + b;
}

// `size` bytes at `offset` lie inside a file of `file_size` bytes.
bool within_file(std::uint64_t offset, std::uint64_t size, std::uint64_t file_size) {
  auto end = checked_add(offset, size);
  return end && *end <= file_size;
}

std::uint64_t read_unsigned(std::string_view bytes, std::size_t offset, std::size_t width, bool big_endian) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    auto byte = static_cast<std::uint8_t>(bytes[offset + (big_endian ? i : width - 1 - i)]);
    value = (value << 8U) | byte;
  }
  return value;
}

struct LoadSegment {
  std::uint64_t vaddr = 0;
  std::uint64_t offset = 0;
  std::uint64_t filesz = 0;
};

// The file offset of virtual address `vaddr`, through the PT_LOAD segment holding it in its
// file-backed part (what ld.so reads once it has mapped the segments).
std::optional<std::uint64_t> file_offset_of(std::uint64_t vaddr, const std::vector<LoadSegment>& loads) {
  for (const auto& load : loads) {
    if (vaddr < load.vaddr) continue;
    std::uint64_t delta = vaddr - load.vaddr;
    if (delta >= load.filesz) continue;
    return checked_add(load.offset, delta);
  }
  return std::nullopt;
}

// Reads a NUL-terminated string of the dynamic string table: `strtab_offset` is the table's
// file offset, `index` the string's offset in it, `strtab_size` DT_STRSZ (or the rest of the file).
ElfResult<std::string> read_dynamic_string(Elf* elf, std::uint64_t file_size, std::uint64_t strtab_offset,
                                           std::uint64_t strtab_size, std::uint64_t index, const char* what,
                                           std::uint64_t max_bytes) {
  if (index >= strtab_size) {
    return ElfError{std::string(what) + ": string offset " + std::to_string(index) + " is past DT_STRSZ " +
                    std::to_string(strtab_size)};
  }
  auto start = checked_add(strtab_offset, index);
  if (!start || *start >= file_size) return ElfError{std::string(what) + ": string lies outside the file"};
  // One byte more than a string may hold, for its NUL.
  std::uint64_t available = std::min({strtab_size - index, file_size - *start, max_bytes + 1});
  std::uint64_t chunk = std::min(kFirstStringChunk, available);
  while (true) {
    Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(*start), static_cast<size_t>(chunk), ELF_T_BYTE);
    if (data == nullptr || data->d_buf == nullptr) return ElfError{libelf_message(what)};
    const auto* text = static_cast<const char*>(data->d_buf);
    const void* nul = std::memchr(text, '\0', static_cast<size_t>(chunk));
    if (nul != nullptr) return std::string(text, static_cast<const char*>(nul));
    if (chunk == available) {
      if (chunk > max_bytes) return ElfError{std::string(what) + ": string longer than " + std::to_string(max_bytes) + " bytes"};
      return ElfError{std::string(what) + ": string not terminated within " + std::to_string(chunk) + " bytes"};
    }
    chunk = std::min(chunk * 4, available);
  }
}

// Everything after the header: program headers, the dynamic segment and its strings.
ElfResult<ElfFile> read_dynamic(Elf* elf, ElfFile file) {
  if (elf_kind(elf) != ELF_K_ELF) return ElfError{"not an ELF file"};
  if (file.header.version != 1) return ElfError{"unsupported ELF version " + std::to_string(file.header.version)};

  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return ElfError{libelf_message("program headers")};
  if (phnum > kMaxProgramHeaders) return ElfError{"too many program headers (" + std::to_string(phnum) + ")"};
  std::size_t phentsize = file.header.bits() == 64 ? 56 : 32;
  if (phnum > 0 && file.header.phentsize != phentsize) {
    return ElfError{"program header entry size " + std::to_string(file.header.phentsize) + ", expected " +
                    std::to_string(phentsize)};
  }

  // libelf quietly shortens a table that runs past the end of the file; a cut file is an error.
  std::size_t declared = file.header.phnum == 0xffff ? phnum : file.header.phnum;
  if (declared > 0 && !within_file(file.header.phoff, std::uint64_t{declared} * phentsize, file.file_size)) {
    return ElfError{"program headers lie outside the file (" + std::to_string(declared) + " at offset " +
                    std::to_string(file.header.phoff) + ", file of " + std::to_string(file.file_size) + " bytes)"};
  }
  if (declared != phnum) return ElfError{"program header count unreadable"};

  std::vector<LoadSegment> loads;
  std::optional<GElf_Phdr> dynamic;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr{};
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) return ElfError{libelf_message("program header")};
    if (phdr.p_type == PT_LOAD) loads.push_back({phdr.p_vaddr, phdr.p_offset, phdr.p_filesz});
    // ld.so keeps the last PT_DYNAMIC (elf/dl-load.c, _dl_map_object_from_fd).
    if (phdr.p_type == PT_DYNAMIC) dynamic = phdr;
  }
  if (!dynamic) return file;  // a static executable or an object file: no loader data
  file.has_dynamic = true;

  // The loader reads the dynamic array at p_vaddr once mapped; map it back to the file.
  std::uint64_t dyn_offset = file_offset_of(dynamic->p_vaddr, loads).value_or(dynamic->p_offset);
  std::uint64_t entry_size = file.header.bits() == 64 ? 16 : 8;
  std::uint64_t dyn_size = std::min(dynamic->p_filesz, kMaxDynamicBytes);
  if (dyn_offset < file.file_size) dyn_size = std::min(dyn_size, file.file_size - dyn_offset);
  dyn_size -= dyn_size % entry_size;
  if (dyn_size == 0 || !within_file(dyn_offset, dyn_size, file.file_size)) {
    return ElfError{"PT_DYNAMIC lies outside the file"};
  }
  Elf_Data* dyn_data =
      elf_getdata_rawchunk(elf, static_cast<int64_t>(dyn_offset), static_cast<size_t>(dyn_size), ELF_T_DYN);
  if (dyn_data == nullptr) return ElfError{libelf_message("dynamic segment")};

  std::vector<std::uint64_t> needed_offsets;
  std::optional<std::uint64_t> soname_offset;
  std::optional<std::uint64_t> rpath_offset;
  std::optional<std::uint64_t> runpath_offset;
  std::optional<std::uint64_t> strtab_vaddr;
  std::optional<std::uint64_t> strtab_size;
  std::uint64_t count = dyn_size / entry_size;
  for (std::uint64_t i = 0; i < count; ++i) {
    GElf_Dyn dyn{};
    if (gelf_getdyn(dyn_data, static_cast<int>(i), &dyn) == nullptr) return ElfError{libelf_message("dynamic entry")};
    if (dyn.d_tag == DT_NULL) break;
    // For single-valued tags the last entry wins, as in elf/get-dynamic-info.h.
    switch (dyn.d_tag) {
      case DT_NEEDED:
        if (needed_offsets.size() == k_max_needed)
          return ElfError{"more than " + std::to_string(k_max_needed) + " DT_NEEDED entries"};
        needed_offsets.push_back(dyn.d_un.d_val);
        break;
      case DT_SONAME: soname_offset = dyn.d_un.d_val; break;
      case DT_RPATH: rpath_offset = dyn.d_un.d_val; break;
      case DT_RUNPATH: runpath_offset = dyn.d_un.d_val; break;
      case DT_STRTAB: strtab_vaddr = dyn.d_un.d_ptr; break;
      case DT_STRSZ: strtab_size = dyn.d_un.d_val; break;
      case DT_FLAGS: file.dt_flags = dyn.d_un.d_val; break;
      case DT_FLAGS_1: file.dt_flags_1 = dyn.d_un.d_val; break;
      default: break;
    }
  }

  bool wants_strings = !needed_offsets.empty() || soname_offset || rpath_offset || runpath_offset;
  if (!wants_strings) return file;
  if (!strtab_vaddr) return ElfError{"dynamic section names strings but has no DT_STRTAB"};
  auto strtab_offset = file_offset_of(*strtab_vaddr, loads);
  if (!strtab_offset || *strtab_offset >= file.file_size)
    return ElfError{"DT_STRTAB lies outside every PT_LOAD segment"};
  std::uint64_t table_size = std::min(strtab_size.value_or(file.file_size), file.file_size - *strtab_offset);

  // Entries naming the same string are read once (a hostile file names one long string
  // thousands of times).
  std::vector<std::pair<std::uint64_t, std::string>> names_read;
  auto read = [&](std::uint64_t index, const char* what, std::uint64_t max_bytes) -> ElfResult<std::string> {
    for (const auto& [at, text] : names_read)
      if (at == index && text.size() <= max_bytes) return text;
    auto text = read_dynamic_string(elf, file.file_size, *strtab_offset, table_size, index, what, max_bytes);
    if (auto* s = std::get_if<std::string>(&text)) names_read.emplace_back(index, *s);
    return text;
  };
  for (auto index : needed_offsets) {
    auto name = read(index, "DT_NEEDED", k_max_name_bytes);
    if (auto* err = std::get_if<ElfError>(&name)) return *err;
    file.needed.push_back(std::move(std::get<std::string>(name)));
  }
  if (soname_offset) {
    auto name = read(*soname_offset, "DT_SONAME", k_max_name_bytes);
    if (auto* err = std::get_if<ElfError>(&name)) return *err;
    file.soname = std::move(std::get<std::string>(name));
  }
  auto path_list = [&](std::uint64_t index, const char* what) -> ElfResult<PathList> {
    auto text = read(index, what, k_max_path_list_bytes);
    if (auto* err = std::get_if<ElfError>(&text)) return *err;
    PathList list = split_path_list(std::get<std::string>(text));
    if (list.elements.size() > k_max_path_list_folders)
      return ElfError{std::string(what) + ": more than " + std::to_string(k_max_path_list_folders) + " folders"};
    return list;
  };
  if (rpath_offset) {
    auto list = path_list(*rpath_offset, "DT_RPATH");
    if (auto* err = std::get_if<ElfError>(&list)) return *err;
    file.rpath = std::move(std::get<PathList>(list));
  }
  if (runpath_offset) {
    auto list = path_list(*runpath_offset, "DT_RUNPATH");
    if (auto* err = std::get_if<ElfError>(&list)) return *err;
    file.runpath = std::move(std::get<PathList>(list));
  }
  return file;
}

// libelf sizes its table of sections from e_shnum (or, when that is 0, section 0's sh_size)
// and allocates it in elf_begin: the count is checked first, against a limit and against the
// file's size. `read_at(offset, width)` reads a little-endian or big-endian field of the file.
template <typename ReadAt>
std::optional<ElfError> check_section_table(const ElfHeader& h, std::uint64_t file_size, ReadAt&& read_at) {
  if (h.shoff == 0) return std::nullopt;  // no section headers: libelf sees none
  bool is64 = h.bits() == 64;
  std::uint64_t entsize = is64 ? 64 : 40;
  std::uint64_t count = h.shnum;
  if (count == 0) {
    // The extended count: sh_size of section 0 (at +32 in Elf64_Shdr, +20 in Elf32_Shdr).
    if (!within_file(h.shoff, entsize, file_size))
      return ElfError{"section header 0 lies outside the file (offset " + std::to_string(h.shoff) + ")"};
    auto size = read_at(h.shoff + (is64 ? 32 : 20), is64 ? 8 : 4);
    if (!size) return ElfError{"section header 0 cannot be read"};
    count = *size;
    if (count == 0) return std::nullopt;
  }
  if (count > k_max_sections)
    return ElfError{"too many sections (" + std::to_string(count) + ", at most " + std::to_string(k_max_sections) + ")"};
  if (h.shentsize != entsize)
    return ElfError{"section header entry size " + std::to_string(h.shentsize) + ", expected " + std::to_string(entsize)};
  if (!within_file(h.shoff, count * entsize, file_size)) {
    return ElfError{"section headers lie outside the file (" + std::to_string(count) + " at offset " +
                    std::to_string(h.shoff) + ", file of " + std::to_string(file_size) + " bytes)"};
  }
  return std::nullopt;
}

}  // namespace

PathList split_path_list(std::string_view raw) {
  PathList list;
  list.raw = std::string(raw);
  if (raw.empty()) return list;
  for (auto element : gpudoctor::split_path_list(raw)) list.elements.emplace_back(element);
  return list;
}

const std::optional<PathList>& ElfFile::effective_rpath() const {
  static const std::optional<PathList> none;
  return runpath ? none : rpath;
}

ElfResult<ElfHeader> parse_elf_header(std::string_view bytes) {
  if (bytes.size() < kIdentSize) {
    return ElfError{"file too short for an ELF header (" + std::to_string(bytes.size()) + " bytes)"};
  }
  if (bytes.substr(0, 4) != std::string_view("\x7f"
                                             "ELF",
                                             4))
    return ElfError{"not an ELF file (bad magic)"};
  ElfHeader header;
  header.elf_class = static_cast<std::uint8_t>(bytes[4]);
  header.data_encoding = static_cast<std::uint8_t>(bytes[5]);
  header.ident_version = static_cast<std::uint8_t>(bytes[6]);
  header.osabi = static_cast<std::uint8_t>(bytes[7]);
  header.abi_version = static_cast<std::uint8_t>(bytes[8]);
  header.ident_padding_zero = true;
  for (std::size_t i = kIdentPad; i < kIdentSize; ++i) header.ident_padding_zero &= bytes[i] == '\0';
  if (header.elf_class != kClass32 && header.elf_class != kClass64) {
    return ElfError{"unknown ELF class " + std::to_string(header.elf_class)};
  }
  if (header.data_encoding != kDataLsb && header.data_encoding != kDataMsb) {
    return ElfError{"unknown ELF data encoding " + std::to_string(header.data_encoding)};
  }
  bool is64 = header.elf_class == kClass64;
  std::size_t need = is64 ? kHeader64Size : kHeader32Size;
  if (bytes.size() < need) {
    return ElfError{"file too short for an ELF header (" + std::to_string(bytes.size()) + " of " +
                    std::to_string(need) + " bytes)"};
  }
  bool big = header.data_encoding == kDataMsb;
  // Field offsets from the gABI: e_type 16, e_machine 18, e_version 20, e_phoff 28 (32-bit) or
  // 32 (64-bit); e_phentsize and e_phnum at 42/44 (32-bit) or 54/56 (64-bit).
  header.type = static_cast<std::uint16_t>(read_unsigned(bytes, 16, 2, big));
  header.machine = static_cast<std::uint16_t>(read_unsigned(bytes, 18, 2, big));
  header.version = static_cast<std::uint32_t>(read_unsigned(bytes, 20, 4, big));
  header.phoff = read_unsigned(bytes, is64 ? 32 : 28, is64 ? 8 : 4, big);
  header.phentsize = static_cast<std::uint16_t>(read_unsigned(bytes, is64 ? 54 : 42, 2, big));
  header.phnum = static_cast<std::uint16_t>(read_unsigned(bytes, is64 ? 56 : 44, 2, big));
  // e_shoff 32 (32-bit) or 40 (64-bit); e_shentsize and e_shnum at 46/48 or 58/60.
  header.shoff = read_unsigned(bytes, is64 ? 40 : 32, is64 ? 8 : 4, big);
  header.shentsize = static_cast<std::uint16_t>(read_unsigned(bytes, is64 ? 58 : 46, 2, big));
  header.shnum = static_cast<std::uint16_t>(read_unsigned(bytes, is64 ? 60 : 48, 2, big));
  return header;
}

ElfResult<ElfFile> read_elf(std::string_view bytes) {
  auto header = parse_elf_header(bytes);
  if (auto* err = std::get_if<ElfError>(&header)) return *err;
  const auto& h = std::get<ElfHeader>(header);
  bool big = h.data_encoding == kDataMsb;
  auto field = [&](std::uint64_t offset, std::size_t width) -> std::optional<std::uint64_t> {
    if (!within_file(offset, width, bytes.size())) return std::nullopt;
    return read_unsigned(bytes, static_cast<std::size_t>(offset), width, big);
  };
  if (auto err = check_section_table(h, bytes.size(), field)) return *err;
  if (!libelf_ready()) return ElfError{"libelf could not be initialised"};
  // elf_memory may convert data in place: give it a private copy.
  std::vector<char> image(bytes.begin(), bytes.end());
  ElfHandle elf(elf_memory(image.data(), image.size()));
  if (elf.get() == nullptr) return ElfError{libelf_message("elf_memory")};
  ElfFile file;
  file.header = std::get<ElfHeader>(header);
  file.file_size = bytes.size();
  return read_dynamic(elf.get(), std::move(file));
}

ElfResult<ElfFile> read_elf_file(const RootFs& fs, std::string_view path) {
  auto host = fs.host_path(path);
  if (!host) return ElfError{"file not present: " + std::string(path)};
  // Under a root the path is resolved already: O_NOFOLLOW keeps a link swapped in afterwards
  // from leading outside the root. O_NONBLOCK keeps a FIFO from hanging us.
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (fs.is_host() ? 0 : O_NOFOLLOW);
  Fd fd(::open(host->c_str(), flags));
  if (fd.get() < 0) return ElfError{"cannot open " + std::string(path) + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ElfError{"cannot stat " + std::string(path)};
  if (!S_ISREG(st.st_mode)) return ElfError{"not a regular file: " + std::string(path)};

  std::array<char, kHeader64Size> head{};
  std::size_t got = 0;
  while (got < head.size()) {
    ssize_t n = ::pread(fd.get(), head.data() + got, head.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  auto header = parse_elf_header(std::string_view(head.data(), got));
  if (auto* err = std::get_if<ElfError>(&header)) return *err;
  const auto& h = std::get<ElfHeader>(header);
  bool big = h.data_encoding == kDataMsb;
  auto field = [&](std::uint64_t offset, std::size_t width) -> std::optional<std::uint64_t> {
    std::array<char, 8> b{};
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) return std::nullopt;
    ssize_t n = 0;
    do n = ::pread(fd.get(), b.data(), width, static_cast<off_t>(offset));
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(width)) return std::nullopt;
    return read_unsigned(std::string_view(b.data(), width), 0, width, big);
  };
  if (auto err = check_section_table(h, static_cast<std::uint64_t>(st.st_size), field)) return *err;
  if (!libelf_ready()) return ElfError{"libelf could not be initialised"};
  // ELF_C_READ reads lazily with pread: only the parts asked for are read, and no mapping can
  // fault if the file shrinks underneath us.
  ElfHandle elf(elf_begin(fd.get(), ELF_C_READ, nullptr));
  if (elf.get() == nullptr) return ElfError{libelf_message("elf_begin")};
  ElfFile file;
  file.header = std::get<ElfHeader>(header);
  file.file_size = static_cast<std::uint64_t>(st.st_size);
  return read_dynamic(elf.get(), std::move(file));
}

std::string machine_name(std::uint16_t machine) {
  switch (machine) {
    case 3: return "i386";
    case 8: return "MIPS";
    case 20: return "PowerPC";
    case 21: return "PowerPC64";
    case 22: return "S/390";
    case 40: return "ARM";
    case 62: return "x86-64";
    case 183: return "AArch64";
    case 243: return "RISC-V";
    case 258: return "LoongArch";
    default: return "machine " + std::to_string(machine);
  }
}

}  // namespace gpudoctor::elf
