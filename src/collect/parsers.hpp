#pragma once
// Pure parsers for the text the collectors read. Each takes the file's text and returns typed
// values; none does I/O, so tests feed them text copied from real machines.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor::parse {

/// KEY=value lines of /etc/os-release; quotes removed.
std::map<std::string, std::string> os_release(std::string_view text);

/// Names of the modules in /proc/modules ("nvidia_uvm 1830912 - - Live 0x... (O)").
std::set<std::string> proc_modules(std::string_view text);

struct NvidiaVersion {
  std::optional<std::string> version;  ///< "580.159.04"
  std::optional<std::string> flavour;  ///< "open" or "proprietary"
  std::string banner;                  ///< the NVRM version line
};
/// /proc/driver/nvidia/version, both banners ("NVIDIA UNIX x86_64 Kernel Module  550.54.14 ..."
/// and "NVIDIA UNIX Open Kernel Module for x86_64  580.159.04 ...").
NvidiaVersion nvidia_version(std::string_view text);

/// /proc/driver/nvidia/gpus/BDF/information.
ProcGpu gpu_information(std::string_view text, std::string bus_location);

/// "32.0 GT/s PCIe", "8 GT/s", "2.5 GT/s" -> GT/s; nullopt for "Unknown" and garbage.
std::optional<double> link_speed_gts(std::string_view text);
/// "0x10de\n" -> 0x10de.
std::optional<std::uint32_t> hex_number(std::string_view text);
/// A decimal integer with surrounding whitespace.
std::optional<int> decimal(std::string_view text);

/// An EFI variable file as efivarfs shows it: 4 bytes of attributes, then the data; for
/// SecureBoot the first data byte is 1 when enabled.
std::optional<bool> efivar_flag(std::string_view bytes);
/// "none [integrity] confidentiality" -> "integrity".
std::optional<std::string> lockdown_mode(std::string_view text);

/// Lines of a modprobe.d file that keep nvidia or nouveau from loading or configure them:
/// "blacklist nouveau", "install nvidia /bin/false", "options nouveau modeset=0". Comments dropped.
std::vector<std::string> modprobe_directives(std::string_view text);
/// Words of /proc/cmdline that block or configure nvidia/nouveau (modprobe.blacklist=...,
/// rd.driver.blacklist=..., nouveau.modeset=0, module_blacklist=...).
std::vector<std::string> cmdline_directives(std::string_view text);

/// The container runtime a /proc/1/cgroup text points to ("docker", "kubernetes",
/// "containerd", "podman", "lxc"), or nullopt.
std::optional<std::string> cgroup_container(std::string_view text);

/// Folders listed in an ld.so.conf text, and the patterns of its `include` lines.
struct LdSoConf {
  std::vector<std::string> dirs;
  std::vector<std::string> includes;
};
LdSoConf ld_so_conf(std::string_view text);

/// /etc/group lines -> gid to name.
std::map<std::uint32_t, std::string> group_names(std::string_view text);

/// The longest value kept from a file under --root (a version, a header of METADATA, an item of
/// build_info.py): a longer one is cut to this many bytes.
constexpr std::size_t k_max_value = 256;
/// `s` cut to k_max_value bytes.
std::string cut_value(std::string_view s);

/// A dist-info folder's name split at its first dash: "nvidia_cudnn_cu12-9.1.0.70.dist-info" ->
/// {"nvidia_cudnn_cu12", "9.1.0.70"} (the name as written, not normalized); nullopt for other names.
struct DistInfoName {
  std::string name;
  std::string version;
};
std::optional<DistInfoName> dist_info_name(std::string_view folder);

/// The headers of a dist-info METADATA file (Core Metadata: "Key: value" lines up to the first
/// empty line, the description after it is not read); values trimmed and cut to k_max_value.
struct DistMetadata {
  std::optional<std::string> version;          ///< Version
  std::optional<std::string> requires_python;  ///< Requires-Python
  std::vector<std::string> requires_dist;      ///< every Requires-Dist, in order
};
DistMetadata dist_metadata(std::string_view text);

/// The Tag lines of a dist-info WHEEL file ("Tag: cp311-cp311-manylinux_2_17_x86_64"), cut to
/// k_max_value, at most `max` of them.
std::vector<std::string> wheel_tags(std::string_view text, std::size_t max);

/// The files a dist-info RECORD lists (the first column of each line: "nvidia/cudnn/lib/libcudnn.so.9,sha256=...,123").
std::vector<std::string> record_files(std::string_view text);

/// torch/version.py, as the wheels write it:
///   __version__ = '2.3.1+cu121'
///   cuda: Optional[str] = '12.1'        (or `cuda = '12.1'`, or `= None` for CPU-only builds)
struct TorchVersionPy {
  std::optional<std::string> version;  ///< __version__, cut to k_max_value
  bool has_cuda_line = false;          ///< a `cuda = '...'` or `cuda = None` line
  std::optional<std::string> cuda;     ///< "12.1"; nullopt with has_cuda_line: None
};
TorchVersionPy torch_version_py(std::string_view text);

/// One key of TensorFlow's build_info.py, in both forms the releases use: a dict
/// ('cuda_version': '11.2') and an OrderedDict of pairs (('cuda_version', '12.2')). The quoted
/// string's content, "True"/"False", or a [...] list as written; cut to k_max_value; nullopt
/// when the key is absent.
std::optional<std::string> tf_build_info_value(std::string_view text, std::string_view key);
/// The quoted items of a build_info.py list ("['sm_35', 'compute_80']" -> sm_35, compute_80),
/// at most 256 of them.
std::vector<std::string> quoted_items(std::string_view list);

/// "jax-cuda12-plugin" -> 12; nullopt for any other distribution name.
std::optional<int> jax_cuda_plugin_major(std::string_view dist);
/// The CUDA major of an old jaxlib wheel's local version ("0.4.25+cuda12.cudnn89" -> "12");
/// nullopt without "+cuda<digits>".
std::optional<std::string> jaxlib_local_cuda(std::string_view version);

/// Trims ASCII whitespace on both ends.
std::string_view trim(std::string_view s);

}  // namespace gpudoctor::parse
