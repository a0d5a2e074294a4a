#pragma once
// Dynamic string tokens ($ORIGIN, $LIB, $PLATFORM and their ${...} forms) in RPATH, RUNPATH,
// LD_LIBRARY_PATH and NEEDED names, replaced the way glibc's ld.so replaces them
// (elf/dl-load.c: is_dst, _dl_dst_substitute, fillin_rpath). The values are those of the
// inspected system's loader, not of this process.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpudoctor::elf {

/// What each token becomes.
struct DstValues {
  /// $ORIGIN: the folder of the object whose RPATH/RUNPATH/NEEDED is expanded, as the loader
  /// named it (the directory part of the path it opened, symbolic links not resolved; for the
  /// main program, the folder of /proc/self/exe). nullopt: unknown, and a path using it is dropped.
  std::optional<std::string> origin;
  /// $LIB: glibc's DL_DST_LIB, notdir(slibdir) upstream ("lib64" on x86_64); Debian and Ubuntu
  /// patch it to "lib/x86_64-linux-gnu" (seen with LD_DEBUG=libs on Debian 12, glibc 2.36).
  std::string lib = "lib64";
  /// $PLATFORM: GLRO(dl_platform). AT_PLATFORM ("x86_64"), but sysdeps/x86/cpu-features.c
  /// replaces it with "haswell" (AVX2, FMA, BMI1/2, LZCNT, MOVBE, POPCNT) or "xeon_phi" on Intel.
  std::string platform = "x86_64";
};

/// Replaces the tokens of one path (no ':' splitting), as _dl_dst_substitute does: a token is
/// "$NAME" not followed by [A-Za-z0-9_], or "${NAME}"; an unknown "$..." stays as it is.
/// nullopt when a known token has no value (an unknown $ORIGIN): the loader drops such a path.
std::optional<std::string> expand_dynamic_string_tokens(std::string_view path, const DstValues& values);

/// True when `path` holds a token the loader knows ($ORIGIN, $LIB, $PLATFORM).
bool has_dynamic_string_token(std::string_view path);

/// Splits a path list on any of `separators` (":" for RPATH and RUNPATH, ":;" for
/// LD_LIBRARY_PATH) and expands each element. As fillin_rpath does: an empty element stays ""
/// (the loader tries it as the current folder); an element whose expansion fails or is empty
/// is dropped. Trailing slashes are kept as written. An empty list gives no element.
std::vector<std::string> expand_path_list(std::string_view list, const DstValues& values,
                                          std::string_view separators = ":");

}  // namespace gpudoctor::elf
