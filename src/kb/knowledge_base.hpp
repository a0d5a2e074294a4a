#pragma once
// The knowledge base: tables that change with NVIDIA's and the frameworks' releases, kept
// as TOML data files (src/kb/data, each with its sources) and compiled into the binary.
// Rules read versions and names from here, never from their own bodies.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/layer.hpp"

namespace re2 {
class RE2;
}

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
  std::string klass;    ///< `class`: what the rules make of it ("gpu_lost", "no_device"); "" for most codes
};

struct XidInfo {
  int xid = 0;
  bool hardware = false;  ///< true: the GPU or its link is in a bad state; false: a program's fault
  std::string meaning;
};

/// One line of the kernel-log catalogue (kb/data/kernel_log.toml), read by the collector, check's
/// rules and explain alike.
struct KernelLogLine {
  std::string id;       ///< "xid", "api_mismatch", ...
  std::string pattern;  ///< RE2, unanchored; named groups carry the values
  bool fault = false;   ///< a line that reports a fault (the collector keeps it apart)
  std::string source;
  std::vector<std::string> examples, counter_examples;
  std::shared_ptr<const re2::RE2> re;  ///< `pattern`, compiled
};

/// A CUDA library by the stem of its file name (kb/data/libraries.toml).
struct LibraryRole {
  std::string role;     ///< "cudart", "cudnn", ...
  std::string stem;     ///< "libcudart.so"
  std::string missing;  ///< cause id when no copy is found
  std::string label;    ///< "CUDA runtime"
};

/// Libraries an object opens with dlopen rather than NEEDED.
struct DlopenRule {
  std::string by;                  ///< file name of the calling object
  std::vector<std::string> roles;  ///< roles named by the framework's CUDA major (sonames table)
  std::vector<std::string> names;  ///< literal names; may hold {cuda} and {cudnn}
};

/// Where a framework starts loading.
struct FrameworkLoading {
  std::string name;                  ///< "torch", "jax", "tensorflow"
  std::vector<std::string> entries;  ///< relative to site-packages; '*' globs a file name
};

/// What a framework's own Python code dlopens by full path before its extension modules load
/// (kb/data/libraries.toml [[preload]]): torch's _load_global_deps, jax's _load_nvidia_libraries.
struct FrameworkPreload {
  std::string framework;              ///< "torch", "jax"
  std::vector<std::string> versions;  ///< the releases whose source was read ("2.11.0"; local tag ignored)
  std::string by;                     ///< the code that does it: "torch/__init__.py _load_global_deps"
  std::string after;                  ///< the entry (relative to site-packages) after which it runs; empty: first
  std::string when_mapped;            ///< only when a mapped file's path holds this ("libcudart.so"); empty: always
  /// Folders tried in each site-packages folder, in order ("nvidia/{folder}/lib", "nvidia/cu{cuda}/lib");
  /// the first site-packages folder with a match wins, then the first folder of this list.
  std::vector<std::string> folders;
  bool first_package_only = false;                             ///< the first site-packages holding nvidia/{folder} decides (a Python import)
  bool stop_on_missing = false;                                ///< a library not found ends the preload (torch's ValueError, caught)
  std::vector<std::pair<std::string, std::string>> libraries;  ///< (folder, file name or fnmatch pattern), in order
  std::vector<std::pair<std::string, std::string>> optional;   ///< after them, never stopping it
};

/// A secret by its documented shape (kb/data/redaction.toml [[secret]]).
struct SecretShape {
  std::string name;      ///< "github-token": the match becomes <redacted:NAME> when `replace` is empty
  std::string pattern;   ///< RE2
  std::string replace;   ///< an RE2 rewrite for every match; empty: whole token replaced
  bool mixed = false;    ///< the match must hold upper case, lower case and a digit
  int max_slashes = -1;  ///< with `mixed`: at most this many '/' in the match; -1 any
  std::string source;
};

/// What redaction removes besides secrets (kb/data/redaction.toml).
struct RedactionRules {
  std::vector<SecretShape> secrets;
  std::vector<std::string> home_parents;  ///< "/home/": the next path component is a user's name
  std::vector<std::string> not_users;     ///< names under those that are no user ("linuxbrew")
  unsigned first_user_id = 1000;          ///< ids from here up are renumbered
};

/// A CUDA toolkit release and the driver it needs (cuda.toml [[toolkit]]).
struct CudaToolkit {
  std::string version;                  ///< "12.6"
  std::string min_driver_linux;         ///< the toolkit driver (Table 3): no compatibility mode needed; "" when not published
  bool minor_version_compat = false;    ///< runs on an older driver of its major
  std::string compat_min_driver_linux;  ///< the oldest driver minor-version compatibility allows ("525.60.13")
};

/// A PyTorch CUDA variant of download.pytorch.org (pytorch.toml [[cuda_variant]]).
struct TorchVariant {
  std::string tag;        ///< "cu126"
  std::string cuda;       ///< "12.6"; "" for cpu
  std::string index_url;  ///< "https://download.pytorch.org/whl/cu126"
  std::string compat_min_driver_linux;
  bool suggested = false;  ///< the variant a fix names for a driver of its CUDA major
};

/// One CUDA major of JAX's install scheme (jax.toml [[cuda_major]]).
struct JaxCudaMajor {
  std::string cuda;    ///< "12"
  std::string extra;   ///< "cuda12": pip install "jax[cuda12]"
  std::string plugin;  ///< "jax-cuda12-plugin"
  std::string pjrt;    ///< "jax-cuda12-pjrt"
};

/// A PCI vendor id of a display device that is not NVIDIA's (driver.toml [[pci_vendor]]).
struct PciVendor {
  unsigned id = 0;
  std::string name;  ///< "AMD", "ASPEED (server BMC)"
};

/// The libraries TensorFlow's dso loader opens in one release series (tensorflow.toml [[dso]]).
struct TfDso {
  std::vector<std::string> libs;      ///< opened at GPU registration
  std::vector<std::string> optional;  ///< opened on use (profiler, collectives)
  std::vector<std::string> gate;      ///< a failure of one of these skips GPU registration
};

/// One TensorFlow release series' tested build configuration (tensorflow.toml [[release]]).
struct TfRelease {
  std::string series;  ///< "2.15"
  std::string cuda;    ///< "12.2"
  std::string cudnn;   ///< "8.9"
  std::string python;  ///< "3.9-3.11"
  bool windows_native_gpu = false;
  std::string linux_gpu_package;  ///< the PyPI package of the Linux GPU build: "tensorflow", "tensorflow-gpu" (2.0)
};

/// What one GPU model should deliver (gpu_performance.toml [[model]]); datasheet figures.
struct GpuModelFigures {
  std::string name;                      ///< "H100 SXM5 80GB"
  std::vector<std::string> match_names;  ///< as cuDeviceGetName reports them
  std::vector<unsigned> pci_device_ids;
  std::optional<double> memory_bandwidth_gbs, fp32_tflops, tf32_tflops, fp16_tflops, bf16_tflops;
  std::optional<int> pcie_gen, pcie_width;
  std::string source;
};

/// Dense rates per clock per SM of an architecture (gpu_performance.toml [[arch]]), for GPUs
/// without a model row.
struct ArchRates {
  std::string compute_capability;                ///< "8.6"
  std::string name;                              ///< "Ampere (GA10x)"
  std::optional<double> fp32, tf32, fp16, bf16;  ///< FLOP per clock per SM
  double geforce_tensor_factor = 1.0;            ///< GeForce boards' tensor rate relative to the row's
  std::string source;
};

/// When a probe figure makes a GPU degraded (gpu_performance.toml [verdict]).
struct ProbeThresholds {
  double memory_fraction = 0.6, tensor_fraction = 0.45, fp32_fraction = 0.45, pcie_fraction = 0.5;
  double peer_lag_fraction = 0.6, memory_held_fraction = 0.1, gpu_lag_fraction = 0.8;
  double power_limit_lowered_fraction = 0.95;  ///< enforced power limit below this share of the default: lowered
  double clocks_held_fraction = 0.8;           ///< highest SM clock seen under load below this share of the maximum
  double min_free_to_start_gib = 2.0;
  double busy_by_others_percent = 50.0;            ///< check: another process keeps the GPU at least this busy
  std::map<std::string, double> gemm_error_limit;  ///< by precision
};

/// The program layer's verdict thresholds (kb/data/program.toml [verdict]).
struct ProgramThresholds {
  double min_judge_s = 10.0;        ///< shorter runs are too short to judge utilization
  double busy_share_starved = 0.2;  ///< input_pipeline_bound below this busy share...
  double cpu_busy_percent = 80.0;   ///< ...while the program's CPU use is at least this (of one core)
  double one_of_many_min_s = 60.0;  ///< program_uses_one_of_many_gpus for runs this long
  /// The fix for a process in a PID namespace of its own that sees gpudoctor's /proc.
  std::vector<std::string> pid_namespace_without_proc_fix;
};

/// What the program-code scanner looks for in Python source (python_code.toml).
struct PythonCodeNames {
  struct Env {
    std::string name;       ///< "CUDA_VISIBLE_DEVICES"
    std::string kind;       ///< the CodeFact kind when the program sets it
    std::string framework;  ///< "jax", or "" for every framework
  };
  struct Launcher {
    std::string name;                       ///< "torchrun"
    std::vector<std::string> argv0;         ///< program names, or modules run with python -m
    std::string subcommand;                 ///< "launch" for accelerate; "" for none
    std::vector<std::string> flags;         ///< options that take no value
    std::vector<std::string> module_flags;  ///< options that make the script a module name
  };
  std::vector<std::pair<std::string, std::string>> module_aliases;  ///< module path, what it stands for
  std::vector<Env> env;
  std::map<std::string, std::vector<std::string>> apis;     ///< role -> qualified names ("x." a prefix)
  std::map<std::string, std::vector<std::string>> methods;  ///< role -> method names
  std::vector<std::string> jax_platform_options;            ///< "jax_platforms", "jax_platform_name"
  std::vector<std::string> placing_modules;                 ///< libraries that place the model themselves
  std::vector<std::string> training_function_prefixes;
  std::vector<std::string> notebook_python_cell_magics;
  std::vector<std::string> interpreters;          ///< "python", "ipython"
  std::vector<std::string> python_value_options;  ///< "-W", "-X"
  std::vector<Launcher> launchers;

  /// Whether `qualified` ("tensorflow.config.set_visible_devices") has `role`.
  [[nodiscard]] bool api_is(std::string_view role, std::string_view qualified) const;
  /// Whether the method name `name` ("fit") has `role`.
  [[nodiscard]] bool method_is(std::string_view role, std::string_view name) const;
  /// The row for an environment variable; nullptr when it is none of the table's.
  [[nodiscard]] const Env* env_row(std::string_view name) const;
};

/// An environment variable whose value can keep a framework off the GPU.
struct EnvForcesCpu {
  std::string variable;                 ///< "JAX_PLATFORMS"
  std::string framework;                ///< "jax"
  std::vector<std::string> gpu_values;  ///< list entries that keep the GPU: "cuda", "gpu"
  std::string effect;                   ///< what the framework does with another value
  std::string fix;
};

/// Where the environment search looks beyond the interpreter in use (kb/data/python_envs.toml).
struct PythonEnvSearch {
  struct Tool {
    std::string name;                   ///< "Poetry"
    std::vector<std::string> patterns;  ///< "~/.cache/pypoetry/virtualenvs/*": ~ each home, * one name; "$WORKON_HOME/*": below a variable's folder (this machine)
  };
  std::vector<std::string> project_dirs;      ///< ".venv", "venv", "env": in the working folder and above
  std::vector<std::string> outside_home;      ///< "/workspace", "/data": searched two levels down
  std::vector<std::string> skip_names;        ///< folder names never looked into
  std::vector<std::string> not_environments;  ///< path parts that are no framework environment ("/pipx/venvs/")
  std::vector<Tool> tools;
  std::size_t max_environments = 64;
  std::size_t max_folders_listed = 512;
  std::size_t max_entries = 8000;
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
  /// Whether a CUresult / nvmlReturn_t code is of a class (`class` in cuda_errors.toml,
  /// nvml_errors.toml): rules test classes, never numbers.
  [[nodiscard]] bool cuda_error_is(int code, std::string_view klass) const;
  [[nodiscard]] bool nvml_error_is(int code, std::string_view klass) const;
  /// Newest CUDA version ("13.0") a driver branch supports; nullopt for unknown branches.
  [[nodiscard]] std::optional<std::string> max_cuda_for_branch(int branch) const;
  /// PCIe generation for a per-lane transfer rate in GT/s (32.0 -> 5).
  [[nodiscard]] std::optional<int> pcie_gen_for_gts(double gts) const;
  [[nodiscard]] const std::vector<std::string>& library_dirs() const { return m_library_dirs; }
  /// The kernel-log catalogue (kernel_log.toml): its lines, and what the collector keeps besides.
  [[nodiscard]] const std::vector<KernelLogLine>& kernel_log_lines() const { return m_kernel_log_lines; }
  [[nodiscard]] const std::vector<std::string>& kernel_log_keep() const { return m_kernel_log_keep; }
  /// The catalogue line `id`; nullptr for an id it does not have.
  [[nodiscard]] const KernelLogLine* kernel_log_line(std::string_view id) const;
  /// Whether `line` is the catalogue's line `id` (throws for an id it does not have); the values of
  /// its named groups into `values` when given.
  [[nodiscard]] bool kernel_log_is(std::string_view id, std::string_view line,
                                   std::map<std::string, std::string>* values = nullptr) const;
  /// What an Xid number means (kb/data/xid.toml); nullptr for Xids not in the table.
  [[nodiscard]] const XidInfo* xid(int number) const;
  [[nodiscard]] const std::vector<LibraryRole>& library_roles() const { return m_roles; }
  /// The role of a library file name: "libcudnn.so.9.14.0" -> cudnn; nullptr for other files.
  [[nodiscard]] const LibraryRole* role_for_file(std::string_view file_name) const;
  /// Every SONAME of `role`, newest first: its own majors ([own_sonames]: "libcudnn.so.9",
  /// "libcudnn.so.8"), else one per CUDA major ([sonames.N]: "libcublas.so.13", ".12", ".11").
  [[nodiscard]] std::vector<std::string> sonames_newest_first(std::string_view role) const;
  /// The SONAME of `role` in CUDA major release `cuda_major` ("libcufft.so.12" for 13).
  [[nodiscard]] std::optional<std::string> soname_for(int cuda_major, std::string_view role) const;
  [[nodiscard]] const std::vector<DlopenRule>& dlopen_rules() const { return m_dlopen; }
  /// The library roles an nvidia-* wheel carries ("nvidia-nccl-cu13" -> nccl; libraries.toml
  /// [wheel_roles], the -cuNN suffix ignored); empty for other distributions.
  [[nodiscard]] std::vector<std::string> wheel_roles(std::string_view dist) const;
  /// How many leading release segments make a library older than its pin an error (libraries.toml
  /// [pin_check]; 2: major.minor; older only in the patch is a warning).
  [[nodiscard]] int pin_error_segments() const { return m_pin_error_segments; }
  /// The CUDA toolkit's folder under targets/ for a CPU (uname(2) name: "x86_64" ->
  /// "x86_64-linux", "aarch64" -> "sbsa-linux"; libraries.toml [cuda_targets]); empty when unknown.
  [[nodiscard]] std::string cuda_target(std::string_view machine) const;
  [[nodiscard]] const std::vector<FrameworkLoading>& framework_loading() const { return m_frameworks; }
  /// The preload of a framework release ("2.11.0+cu130": the local tag is ignored); nullptr when
  /// that release's source was not read (libraries.toml [[preload]]).
  [[nodiscard]] const FrameworkPreload* framework_preload(std::string_view framework, std::string_view version) const;
  /// The GPU architectures ("5.0", "9.0+PTX") of torch's official wheels for a CUDA tag ("cu121")
  /// and release series ("2.3") (pytorch.toml [[arch_list]]); empty when not in the table.
  [[nodiscard]] std::vector<std::string> torch_arch_list(std::string_view tag, std::string_view series) const;
  /// The release of a torch companion ("torchvision", "torchaudio") whose METADATA pins torch
  /// `torch_version` ("2.9.0", local tag ignored) (pytorch.toml companions); empty when unknown.
  [[nodiscard]] std::string torch_companion(std::string_view companion, std::string_view torch_version) const;
  /// TensorFlow's dso names for a release series ("2.15"); nullptr when not in the table.
  [[nodiscard]] const TfDso* tf_dso(std::string_view series) const;
  /// TensorFlow's tested build configuration for a release series; nullptr when not in the table.
  [[nodiscard]] const TfRelease* tf_release(std::string_view series) const;
  /// cuda.toml's toolkits, oldest first.
  [[nodiscard]] const std::vector<CudaToolkit>& cuda_toolkits() const { return m_toolkits; }
  /// The oldest driver that runs every toolkit of a CUDA major through minor-version compatibility
  /// ("525.60.13" for 12, "580" for 13); nullopt for a major without it (10) or not in the table.
  [[nodiscard]] std::optional<std::string> min_driver_for_cuda_major(int major) const;
  /// pytorch.toml's CUDA variants, as listed.
  [[nodiscard]] const std::vector<TorchVariant>& torch_variants() const { return m_torch_variants; }
  /// The variant a fix names for a driver of CUDA `major` (`suggested = true`); nullptr when none.
  [[nodiscard]] const TorchVariant* torch_suggested_variant(int major) const;
  /// jax.toml's CUDA majors, oldest first; the one of a major, nullptr when none.
  [[nodiscard]] const std::vector<JaxCudaMajor>& jax_cuda_majors() const { return m_jax_cuda; }
  [[nodiscard]] const JaxCudaMajor* jax_cuda_major(int major) const;
  /// The first jaxlib that ignores a CUDA plugin of another version (jax.toml plugin_check_since_jaxlib).
  [[nodiscard]] const std::string& jax_plugin_check_since() const { return m_jax_plugin_check_since; }
  /// The driver package Ubuntu's fix names beside ubuntu-drivers (driver.toml ubuntu_driver_package).
  [[nodiscard]] const std::string& ubuntu_driver_package() const { return m_ubuntu_driver_package; }
  /// The name of a PCI vendor (driver.toml [[pci_vendor]]); "vendor 0xNNNN" when not listed.
  [[nodiscard]] std::string pci_vendor_name(unsigned vendor_id) const;
  /// Whether TensorFlow of a series ("2.10") has GPU support on native Windows: its [[release]]
  /// row's windows_native_gpu; a series the table lacks: up to last_windows_native_gpu.
  [[nodiscard]] bool tf_windows_native_gpu(std::string_view series) const;
  /// The last series with GPU support on native Windows ("2.10", tensorflow.toml).
  [[nodiscard]] const std::string& tf_last_windows_native_gpu() const { return m_tf_last_windows_native_gpu; }
  /// The first TensorFlow release with the `and-cuda` extra ("2.14.0", tensorflow.toml and_cuda_first).
  [[nodiscard]] const std::string& tf_and_cuda_first() const { return m_tf_and_cuda_first; }
  /// The page of TensorFlow's tested build configurations (tensorflow.toml tested_builds_url).
  [[nodiscard]] const std::string& tf_tested_builds_url() const { return m_tf_tested_builds_url; }
  /// The model row for a GPU: by PCI device id; by exact name when the id is unknown (or the row
  /// lists none); nullptr when none.
  [[nodiscard]] const GpuModelFigures* gpu_model(std::optional<unsigned> pci_device_id, std::string_view name) const;
  /// The architecture row for a compute capability; nullptr when none.
  [[nodiscard]] const ArchRates* arch_rates(int major, int minor) const;
  [[nodiscard]] const ProbeThresholds& probe_thresholds() const { return m_thresholds; }
  /// Data rate per lane and direction in GB/s for a PCIe generation (driver.toml [pcie]).
  [[nodiscard]] std::optional<double> pcie_lane_gbs(int gen) const;
  [[nodiscard]] const RedactionRules& redaction() const { return m_redaction; }
  [[nodiscard]] const ProgramThresholds& program_thresholds() const { return m_program; }
  /// The steps for a cause when gpudoctor knows only a text about it (kb/data/fixes.toml); empty when none.
  [[nodiscard]] std::vector<std::string> text_fix(std::string_view cause) const;
  /// The role of a file mapped by a watched process: a CUDA library's (libraries.toml), or
  /// program.toml's ("nvml", "torch", "torch_cuda", "tensorflow", "jax", "jax_cuda"); nullopt for other files.
  [[nodiscard]] std::optional<std::string> mapped_role(std::string_view file_name) const;
  /// Whether an environment variable is on the allow-list.
  [[nodiscard]] bool env_allowed(std::string_view name) const;
  /// What the program-code scanner looks for (python_code.toml).
  [[nodiscard]] const PythonCodeNames& python_code() const { return m_python_code; }
  /// Variables that make a framework skip the GPU (environment.toml [[forces_cpu]]).
  [[nodiscard]] const std::vector<EnvForcesCpu>& env_forces_cpu() const { return m_env_forces_cpu; }
  /// Where Python environments are looked for (python_envs.toml).
  [[nodiscard]] const PythonEnvSearch& python_env_search() const { return m_python_env_search; }

 private:
  PythonEnvSearch m_python_env_search;
  std::vector<EnvForcesCpu> m_env_forces_cpu;
  std::vector<CauseInfo> m_causes;
  std::map<int, ErrorCode> m_cuda_errors;
  std::map<int, ErrorCode> m_nvml_errors;
  std::map<int, std::string> m_branch_cuda;
  std::vector<std::pair<double, int>> m_pcie;
  std::map<int, double> m_pcie_lane_gbs;
  std::vector<GpuModelFigures> m_gpu_models;
  std::vector<ArchRates> m_arch_rates;
  ProbeThresholds m_thresholds;
  std::vector<std::string> m_library_dirs;
  std::map<int, XidInfo> m_xids;
  std::vector<KernelLogLine> m_kernel_log_lines;
  std::vector<std::string> m_kernel_log_keep;
  std::vector<LibraryRole> m_roles;
  std::map<int, std::map<std::string, std::string>> m_sonames;
  std::map<std::string, std::vector<std::string>, std::less<>> m_own_sonames;
  std::vector<DlopenRule> m_dlopen;
  std::map<std::string, std::vector<std::string>> m_wheel_roles;
  int m_pin_error_segments = 2;
  std::map<std::string, std::string, std::less<>> m_cuda_targets;
  std::map<std::string, TfRelease> m_tf_releases;
  std::string m_tf_and_cuda_first, m_tf_tested_builds_url, m_tf_last_windows_native_gpu;
  std::vector<CudaToolkit> m_toolkits;
  std::vector<TorchVariant> m_torch_variants;
  std::vector<JaxCudaMajor> m_jax_cuda;
  std::string m_jax_plugin_check_since, m_ubuntu_driver_package;
  std::map<unsigned, std::string> m_pci_vendors;
  std::vector<FrameworkLoading> m_frameworks;
  std::vector<FrameworkPreload> m_preloads;
  std::map<std::string, TfDso> m_tf_dso;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> m_torch_arch;
  std::map<std::pair<std::string, std::string>, std::string> m_torch_companions;  ///< (companion, torch) -> release
  std::vector<std::string> m_env_prefixes;
  std::vector<std::string> m_env_names;
  std::vector<std::string> m_env_deny;
  RedactionRules m_redaction;
  ProgramThresholds m_program;
  std::map<std::string, std::vector<std::string>, std::less<>> m_text_fixes;
  std::vector<std::pair<std::string, std::string>> m_mapped;  ///< stem, role
  PythonCodeNames m_python_code;
};

}  // namespace gpudoctor::kb
