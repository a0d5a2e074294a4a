#pragma once
// The ELF facts the dynamic loader acts on: the header fields that glibc's open_verify checks
// (elf/dl-load.c), and the dynamic section's SONAME, NEEDED, RPATH, RUNPATH and flags, read
// the way ld.so reads them: through PT_DYNAMIC and the PT_LOAD segments (section headers may
// be stripped). Built on libelf. Any input is taken, hostile input included: a malformed file
// gives an ElfError with the reason, never a crash or an exception.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sys/root_fs.hpp"

namespace gpudoctor::elf {

/// Why a file could not be read as ELF ("not an ELF file", "DT_STRTAB outside every PT_LOAD").
struct ElfError {
  std::string reason;
};

/// A value, or the reason it could not be read.
template <typename T>
using ElfResult = std::variant<T, ElfError>;

/// The fixed-size ELF header (e_ident and the fields after it), as stored in the file.
struct ElfHeader {
  std::uint8_t elf_class = 0;       ///< EI_CLASS: 1 = ELFCLASS32, 2 = ELFCLASS64
  std::uint8_t data_encoding = 0;   ///< EI_DATA: 1 = little endian, 2 = big endian
  std::uint8_t ident_version = 0;   ///< EI_VERSION (1 = EV_CURRENT)
  std::uint8_t osabi = 0;           ///< EI_OSABI (0 = SYSV, 3 = GNU)
  std::uint8_t abi_version = 0;     ///< EI_ABIVERSION
  bool ident_padding_zero = false;  ///< e_ident[EI_PAD..15] all zero
  std::uint16_t type = 0;           ///< e_type (2 = ET_EXEC, 3 = ET_DYN)
  std::uint16_t machine = 0;        ///< e_machine (62 = EM_X86_64, 3 = EM_386, 183 = EM_AARCH64)
  std::uint32_t version = 0;        ///< e_version
  std::uint64_t phoff = 0;          ///< e_phoff, bytes from the start of the file
  std::uint16_t phentsize = 0;      ///< e_phentsize, bytes
  std::uint16_t phnum = 0;          ///< e_phnum (0xffff = PN_XNUM, real count in section 0)
  std::uint64_t shoff = 0;          ///< e_shoff, bytes from the start of the file (0: no sections)
  std::uint16_t shentsize = 0;      ///< e_shentsize, bytes
  std::uint16_t shnum = 0;          ///< e_shnum (0 with e_shoff set: the count is section 0's sh_size)

  /// 32 or 64; 0 for an unknown class.
  [[nodiscard]] int bits() const { return elf_class == 1 ? 32 : elf_class == 2 ? 64
                                                                               : 0; }
};

/// A path list of DT_RPATH or DT_RUNPATH: the string as stored, and its elements split on ':'
/// (empty elements kept: the loader reads an empty element as the current folder).
struct PathList {
  std::string raw;
  std::vector<std::string> elements;
};

/// Splits `raw` on ':' keeping empty elements ("a::b" -> {"a", "", "b"}; "" -> {}).
PathList split_path_list(std::string_view raw);

/// What an ELF file tells the dynamic loader.
struct ElfFile {
  ElfHeader header;
  std::uint64_t file_size = 0;        ///< bytes
  bool has_dynamic = false;           ///< a PT_DYNAMIC segment exists
  std::optional<std::string> soname;  ///< DT_SONAME
  std::vector<std::string> needed;    ///< DT_NEEDED, in file order
  std::optional<PathList> rpath;      ///< DT_RPATH as stored (ld.so ignores it when runpath is set)
  std::optional<PathList> runpath;    ///< DT_RUNPATH
  std::uint64_t dt_flags = 0;         ///< DT_FLAGS (DF_*)
  std::uint64_t dt_flags_1 = 0;       ///< DT_FLAGS_1 (DF_1_*)

  /// e_type == ET_DYN: a shared object (position-independent executables are ET_DYN too;
  /// they carry DF_1_PIE in dt_flags_1).
  [[nodiscard]] bool is_shared_object() const { return header.type == 3; }
  /// DF_1_NODEFLIB: the object's dependencies skip the default folders and cached system paths.
  [[nodiscard]] bool nodeflib() const { return (dt_flags_1 & 0x800U) != 0; }
  /// The RPATH that the loader uses: none when a RUNPATH is present (elf/get-dynamic-info.h).
  [[nodiscard]] const std::optional<PathList>& effective_rpath() const;
};

/// What a hostile file can make the reader take on: beyond these the file is refused with an
/// ElfError (no real shared object comes near them: libtorch_cuda.so has 10 program headers,
/// 40 sections, 30 DT_NEEDED entries and a DT_RPATH of 12 folders).
inline constexpr std::size_t k_max_program_headers = 4096;
inline constexpr std::uint64_t k_max_sections = 65536;        ///< libelf allocates per section up front
inline constexpr std::size_t k_max_needed = 1024;             ///< DT_NEEDED entries
inline constexpr std::size_t k_max_name_bytes = 4096;         ///< one DT_NEEDED or DT_SONAME (PATH_MAX)
inline constexpr std::size_t k_max_path_list_bytes = 65536;   ///< one DT_RPATH or DT_RUNPATH
inline constexpr std::size_t k_max_path_list_folders = 1024;  ///< folders of one DT_RPATH or DT_RUNPATH

/// Parses the ELF header from the first bytes of a file (64 bytes suffice for both classes).
/// Errors: fewer bytes than the class's header, bad magic, unknown class or data encoding.
ElfResult<ElfHeader> parse_elf_header(std::string_view bytes);

/// Reads an ELF file held in memory.
ElfResult<ElfFile> read_elf(std::string_view bytes);

/// Reads an ELF file inside `fs` (absolute path inside the root, symbolic links resolved in
/// it). Only the parts needed are read (header, program headers, dynamic segment, the strings
/// it names), so a 1 GiB library costs a few pages. Devices, FIFOs and folders are refused.
ElfResult<ElfFile> read_elf_file(const RootFs& fs, std::string_view path);

/// "x86-64", "i386", "AArch64", ... or "machine N".
std::string machine_name(std::uint16_t machine);

}  // namespace gpudoctor::elf
