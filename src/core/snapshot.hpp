#pragma once
// The Snapshot: every fact the collectors gathered about one host, as plain values.
// It serializes to JSON and back (snapshot_json.cpp), so a snapshot taken on one machine
// can be diagnosed on another (`gpudoctor check --from FILE`). Rules see only this.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/code_fact.hpp"
#include "core/enum_text.hpp"
#include "core/fact.hpp"
#include "core/severity.hpp"

namespace gpudoctor {

inline constexpr int k_snapshot_schema = 1;

/// Where a fact came from: a file path, a library call or an environment variable.
/// Shown as the evidence of a finding.
struct Source {
  std::string where;  ///< e.g. "/proc/driver/nvidia/version", "nvmlInit_v2", "env CUDA_VISIBLE_DEVICES"
  std::string said;   ///< what it said, verbatim or summarized
};

struct HostInfo {
  std::string root = "/";            ///< the root folder that was inspected
  Fact<std::string> os_id;           ///< /etc/os-release ID (debian, ubuntu, rhel, ...)
  Fact<std::string> os_id_like;      ///< /etc/os-release ID_LIKE
  Fact<std::string> os_pretty;       ///< /etc/os-release PRETTY_NAME
  Fact<std::string> kernel_release;  ///< /proc/sys/kernel/osrelease
  Fact<std::string> architecture;    ///< machine as uname(2) names it: x86_64, aarch64
  /// Where `architecture` was read: "uname(2)", or under --root the image's dynamic loader
  /// ("/lib/ld-linux-aarch64.so.1 (e_machine AArch64)"). The libraries layer models that machine's loader.
  std::string architecture_from;
  /// "linux", "windows" or "macos": gpudoctor itself runs on Linux; snapshots made from text a user
  /// pasted (gpudoctor explain) or by hand may describe the other two.
  Fact<std::string> os;
};

/// One NVIDIA function on the PCI bus (display or 3D class), from sysfs.
struct PciGpu {
  std::string address;            ///< "0000:00:06.0"
  std::uint32_t vendor_id = 0;    ///< 0x10de
  std::uint32_t device_id = 0;    ///< e.g. 0x2335
  std::uint32_t class_code = 0;   ///< e.g. 0x030200 (3D controller), 0x030000 (VGA)
  Fact<std::string> driver;       ///< bound driver: "nvidia", "nouveau", "vfio-pci"; unknown = unbound
  Fact<double> current_link_gts;  ///< PCIe transfer rate, GT/s
  Fact<double> max_link_gts;
  Fact<int> current_link_width;  ///< lanes
  Fact<int> max_link_width;
  Fact<int> numa_node;
};

/// A kernel module as /proc/modules and /sys/module show it.
struct KernelModule {
  bool loaded = false;
  Fact<std::string> version;  ///< /sys/module/NAME/version (nvidia only)
  Fact<std::string> taint;    ///< /sys/module/NAME/taint, e.g. "OE"
};

struct KernelModules {
  std::map<std::string, KernelModule> modules;  ///< nvidia, nvidia_uvm, nvidia_drm, nvidia_modeset, nouveau
  /// Module files installed for the running kernel (lib/modules/RELEASE/...), relative to root.
  std::vector<std::string> nvidia_module_files;
  /// Kernel releases under lib/modules that have an nvidia module file.
  std::vector<std::string> kernels_with_nvidia_module;
  Fact<bool> nvidia_module_signed;  ///< appended signature on the running kernel's nvidia.ko
  std::vector<Source> blacklists;   ///< modprobe.d lines and kernel cmdline words that block nvidia or nouveau
  std::vector<Source> dkms_status;  ///< var/lib/dkms/nvidia/* builds seen
  bool loaded(const std::string& name) const {
    auto it = modules.find(name);
    return it != modules.end() && it->second.loaded;
  }
};

/// A GPU as the nvidia kernel module reports it in /proc/driver/nvidia/gpus/BDF/information.
struct ProcGpu {
  std::string bus_location;
  Fact<std::string> model;
  Fact<std::string> uuid;
  Fact<int> device_minor;
  Fact<bool> excluded;
  Fact<std::string> firmware;
};

struct NvidiaProc {
  bool version_file_present = false;
  Fact<std::string> module_version;  ///< from /proc/driver/nvidia/version
  Fact<std::string> module_flavour;  ///< "open" or "proprietary"
  std::string version_banner;        ///< first line, verbatim
  std::vector<ProcGpu> gpus;
};

/// A device node under /dev.
struct DeviceNode {
  std::string path;  ///< "/dev/nvidiactl"
  bool exists = false;
  bool is_char_device = false;
  Fact<std::uint32_t> mode;  ///< permission bits
  Fact<std::uint32_t> uid;
  Fact<std::uint32_t> gid;
  Fact<std::string> group_name;
  Fact<bool> accessible;  ///< the invoking user may open it read-write (access(2))
};

/// The invoking user.
struct UserInfo {
  std::uint32_t uid = 0;
  std::vector<std::uint32_t> gids;
  std::vector<std::string> group_names;
};

struct SecureBoot {
  Fact<bool> efi;              ///< booted through EFI
  Fact<bool> enabled;          ///< SecureBoot efivar data byte
  Fact<std::string> lockdown;  ///< /sys/kernel/security/lockdown, the selected mode
};

struct Platform {
  bool container = false;
  std::string container_kind;  ///< docker, podman, kubernetes, containerd, lxc, unknown
  std::vector<Source> container_evidence;
  bool wsl = false;
  std::vector<Source> wsl_evidence;
  bool dxg_present = false;                       ///< /dev/dxg
  std::vector<std::string> wsl_driver_libraries;  ///< files in /usr/lib/wsl/lib (libcuda*, libnvidia-ml*)
};

/// A user-space driver library file found on disk (libcuda.so.*, libnvidia-ml.so.*).
struct DriverLibraryFile {
  std::string name;           ///< "libcuda.so.1"
  std::string path;           ///< where it was found (root-relative, absolute form)
  std::string resolved;       ///< the file it resolves to after symlinks
  Fact<std::string> version;  ///< from the resolved file name, e.g. "580.159.04"
};

struct DriverFiles {
  std::vector<DriverLibraryFile> libraries;  ///< every copy of libcuda.so.1 / libnvidia-ml.so.1 in the library folders
  Fact<std::string> nvidia_smi;              ///< path of nvidia-smi on the usual folders
  Fact<bool> nvidia_modprobe_setuid;         ///< nvidia-modprobe present with the setuid bit
  std::vector<std::string> library_dirs;     ///< folders searched, in order
};

/// Lines of the kernel log that matter (Xid, module signature, API mismatch, ...).
struct KernelLog {
  Fact<std::string> source;  ///< "/dev/kmsg", "var/log/kern.log"
  std::vector<std::string> lines;
};

/// The result of one driver call.
struct CallResult {
  int code = 0;
  std::string name;     ///< "NVML_ERROR_DRIVER_NOT_LOADED", "CUDA_ERROR_NO_DEVICE"
  std::string message;  ///< what the library's own error-string function said
  [[nodiscard]] bool ok() const { return code == 0; }
};

/// Which of NVML's lists a process was in (its JSON word in EnumText below).
enum class ProcessKind {
  none,      ///< "": not said (a snapshot without it)
  compute,   ///< "compute": nvmlDeviceGetComputeRunningProcesses, a CUDA context
  graphics,  ///< "graphics": nvmlDeviceGetGraphicsRunningProcesses (a desktop, a game)
};
template <>
struct EnumText<ProcessKind> {
  static constexpr std::string_view what = "process kind";
  static constexpr std::pair<ProcessKind, std::string_view> names[] = {
      {ProcessKind::none, ""}, {ProcessKind::compute, "compute"}, {ProcessKind::graphics, "graphics"}};
};

struct NvmlProcess {
  std::uint32_t pid = 0;
  Fact<std::uint64_t> used_memory_bytes;
  ProcessKind kind = ProcessKind::none;
};

struct NvmlMigDevice {
  std::string uuid;
  Fact<std::uint64_t> memory_total_bytes;
};

struct NvmlDevice {
  unsigned index = 0;
  Fact<CallResult> handle;  ///< nvmlDeviceGetHandleByIndex_v2; unknown value never: always known once probed
  Fact<std::string> name;
  Fact<std::string> uuid;
  Fact<std::string> pci_bus_id;  ///< "00000000:00:06.0"
  Fact<std::uint64_t> memory_total_bytes;
  Fact<std::uint64_t> memory_used_bytes;
  Fact<std::uint64_t> memory_free_bytes;
  Fact<int> cc_major;
  Fact<int> cc_minor;
  Fact<int> compute_mode;  ///< 0 default, 1 exclusive thread, 2 prohibited, 3 exclusive process
  Fact<int> mig_current;   ///< 0 disabled, 1 enabled
  Fact<int> mig_pending;
  std::vector<NvmlMigDevice> mig_devices;
  Fact<int> pcie_gen_current;
  Fact<int> pcie_gen_max;
  Fact<int> pcie_width_current;
  Fact<int> pcie_width_max;
  Fact<unsigned> remapped_rows_pending;
  Fact<unsigned> remapped_rows_failure;
  /// nvmlDeviceGetUtilizationRates gpu: the share of the last sample period with a kernel running.
  Fact<unsigned> utilization_percent;
  std::vector<NvmlProcess> processes;
};

/// How a probe child's dlopen of a driver library went. JSON keeps the shape it had as a fact:
/// the dlerror() text when it failed, {"value": null, "reason": "loaded"} when it loaded and
/// {"value": null, "reason": "not collected"} before the child got that far.
struct LibraryLoad {
  enum class State { not_reached,
                     loaded,
                     failed };
  State state = State::not_reached;
  std::string error;  ///< dlerror(); empty unless failed

  static LibraryLoad success() { return {State::loaded, ""}; }
  static LibraryLoad failure(std::string dlerror) { return {State::failed, std::move(dlerror)}; }
  [[nodiscard]] bool failed() const { return state == State::failed; }
};

struct NvmlProbe {
  bool attempted = false;
  Fact<std::string> library;  ///< the file dlopen loaded (from dlinfo/dladdr)
  LibraryLoad load_error;     ///< how dlopen went: dlerror() when the library did not load
  Fact<CallResult> init;      ///< nvmlInit_v2
  Fact<std::string> driver_version;
  Fact<std::string> nvml_version;
  Fact<int> cuda_driver_version;  ///< 13000 = CUDA 13.0
  Fact<CallResult> device_count_call;
  Fact<unsigned> device_count;
  std::vector<NvmlDevice> devices;
  std::string in_call;  ///< the driver call in progress when the child last reported; "" once done
};

struct CudaDevice {
  int ordinal = 0;
  Fact<std::string> name;
  Fact<std::string> uuid;
  Fact<std::string> pci_bus_id;
  Fact<int> cc_major;
  Fact<int> cc_minor;
  Fact<std::uint64_t> memory_total_bytes;
};

struct CudaProbe {
  bool attempted = false;
  Fact<std::string> library;
  LibraryLoad load_error;    ///< how dlopen went: dlerror() when the library did not load
  Fact<int> driver_version;  ///< cuDriverGetVersion, 13000 = 13.0
  Fact<CallResult> init;     ///< cuInit(0)
  Fact<int> device_count;
  std::vector<CudaDevice> devices;
  std::string in_call;  ///< the driver call in progress when the child last reported; "" once done
};

/// How one probe child process ended (its JSON word in EnumText below).
enum class ChildStatus {
  ok,          ///< "ok": it finished and reported
  timeout,     ///< "timeout": killed at its time limit
  stuck,       ///< "stuck": did not die of SIGKILL (in the kernel), left behind
  crashed,     ///< "crashed": killed by a signal
  failed,      ///< "failed": exited with a status, threw, or could not be started
  not_run,     ///< "not run"
  unanswered,  ///< "unanswered": a timeout `gpudoctor health` marks as a query not answered, not a fault
};
template <>
struct EnumText<ChildStatus> {
  static constexpr std::string_view what = "child status";
  static constexpr std::pair<ChildStatus, std::string_view> names[] = {
      {ChildStatus::ok, "ok"}, {ChildStatus::timeout, "timeout"}, {ChildStatus::stuck, "stuck"}, {ChildStatus::crashed, "crashed"}, {ChildStatus::failed, "failed"}, {ChildStatus::not_run, "not run"}, {ChildStatus::unanswered, "unanswered"}};
};

struct ChildOutcome {
  ChildStatus status = ChildStatus::not_run;
  std::string detail;  ///< signal name, time limit, ...
  double elapsed_ms = 0;
};

/// Where the driver facts came from.
enum class DriverProbeOrigin {
  none,  ///< "none": no driver library was loaded (why in DriverProbe::why_not)
  host,  ///< "host": this machine's driver was probed
  text,  ///< "text": `gpudoctor explain` read them from pasted text
};
template <>
struct EnumText<DriverProbeOrigin> {
  static constexpr std::string_view what = "driver probe mode";
  static constexpr std::pair<DriverProbeOrigin, std::string_view> names[] = {
      {DriverProbeOrigin::none, "none"}, {DriverProbeOrigin::host, "host"}, {DriverProbeOrigin::text, "text"}};
};

struct DriverProbe {
  DriverProbeOrigin mode = DriverProbeOrigin::none;
  std::string why_not;
  ChildOutcome nvml_child;
  ChildOutcome cuda_child;
  NvmlProbe nvml;
  CudaProbe cuda;
};

/// A figure `gpudoctor probe` measured: the median of `repeats` timed runs.
struct Measured {
  double value = 0;  ///< GB/s (10^9 bytes) or TFLOP/s
  double median_ms = 0;
  int repeats = 0;
  std::string what;  ///< "1 GiB, bytes read + written", "8192^3, bf16 in and out, fp32 accumulate"
};

/// A matrix product through cuBLAS (cublasGemmEx) at one precision.
struct GemmProbe {
  std::string precision;        ///< "bf16", "fp16", "tf32", "fp32"
  Fact<Measured> rate;          ///< TFLOP/s
  Fact<double> relative_error;  ///< ||C - ref|| / ||ref|| over sampled entries, ref in double on the host
};

/// NVML readings taken while the probe loaded the GPU (a sampler thread, every 20 ms).
struct LoadTelemetry {
  int samples = 0;
  Fact<unsigned> sm_clock_max_mhz;       ///< nvmlDeviceGetMaxClockInfo(SM)
  Fact<unsigned> sm_clock_min_seen_mhz;  ///< lowest SM clock while the matrix products ran
  Fact<unsigned> sm_clock_max_seen_mhz;
  Fact<unsigned> temperature_max_c;
  Fact<double> power_max_w;
  Fact<double> power_limit_w;             ///< enforced limit
  Fact<double> power_default_limit_w;     ///< the board's default limit
  std::uint64_t clock_event_reasons = 0;  ///< OR of nvmlDeviceGetCurrentClocksEventReasons under load
  Fact<unsigned> utilization_max_percent;
  Fact<int> pcie_gen_under_load;  ///< read while host<->device copies ran (links idle at gen 1)
  Fact<int> pcie_width_under_load;
  Fact<int> pcie_gen_max;  ///< what the GPU and its slot can do
  Fact<int> pcie_width_max;
  Fact<int> nvlinks_active;           ///< nvmlDeviceGetNvLinkState over every link; unknown without NVLink
  std::vector<int> nvlinks_inactive;  ///< the links the GPU has that are not active
};

/// One GPU as `gpudoctor probe` found it under real work.
struct GpuProbe {
  int ordinal = 0;  ///< CUDA ordinal (after CUDA_VISIBLE_DEVICES)
  std::string name;
  std::string uuid;
  std::string pci_bus_id;
  Fact<unsigned> pci_device_id;  ///< 0x2335 for an H200 (from NVML)
  int cc_major = 0, cc_minor = 0;
  Fact<int> multiprocessors;
  Fact<int> sm_clock_peak_khz;  ///< CU_DEVICE_ATTRIBUTE_CLOCK_RATE
  Fact<int> memory_clock_peak_khz;
  Fact<int> memory_bus_width_bits;
  Fact<CallResult> context;               ///< cuDevicePrimaryCtxRetain
  Fact<std::string> kernel;               ///< our PTX kernel: "1048576 elements, all right", or unknown with why
  Fact<std::uint64_t> memory_free_bytes;  ///< cuMemGetInfo before the probe allocated anything
  Fact<std::uint64_t> memory_total_bytes;
  Fact<std::uint64_t> allocated_bytes;  ///< the one allocation of most of the free memory, written whole
  Fact<Measured> device_copy;           ///< device-to-device, GB/s counting bytes read + written
  Fact<Measured> host_to_device;        ///< pinned memory
  Fact<Measured> device_to_host;
  std::vector<GemmProbe> gemm;
  Fact<std::string> cudnn;  ///< "3x3 convolution 1x32x64x64 -> 64 channels, right"
  LoadTelemetry telemetry;
  std::vector<NvmlProcess> other_processes;  ///< compute processes on this GPU other than the probe
};

/// What became of one step of the probe on a GPU (GpuProbe::kernel, cudnn, allocated_bytes, a
/// product's rate). The probe states it in the step's fact: a value when done, else a reason that
/// starts or contains one of the `probe_reason` words for the outcomes below; rules ask
/// `step_outcome`, never the reason's text.
enum class StepOutcome {
  done,         ///< the fact has its value
  not_reached,  ///< never set: the probe stopped before this step (the reason k_not_collected)
  skipped,      ///< not part of this run (probe_reason::not_in_quick)
  unsupported,  ///< the GPU cannot do it (probe_reason::needs_compute_capability)
  wrong,        ///< it ran and the results were wrong (probe_reason::wrong_results)
  failed,       ///< any other reason: a call failed, a library is missing
};
namespace probe_reason {
inline constexpr std::string_view not_in_quick = "not in --quick";
inline constexpr std::string_view needs_compute_capability = "needs compute capability";
inline constexpr std::string_view wrong_results = "returned wrong results";
}  // namespace probe_reason

template <typename T>
StepOutcome step_outcome(const Fact<T>& f) {
  if (f.known()) return StepOutcome::done;
  if (f.reason == k_not_collected) return StepOutcome::not_reached;
  if (f.reason == probe_reason::not_in_quick) return StepOutcome::skipped;
  if (f.reason.find(probe_reason::needs_compute_capability) != std::string::npos) return StepOutcome::unsupported;
  if (f.reason.find(probe_reason::wrong_results) != std::string::npos) return StepOutcome::wrong;
  return StepOutcome::failed;
}

/// Peer access and copy bandwidth from one GPU to another.
struct PeerProbe {
  int from = 0, to = 0;
  bool can_access = false;  ///< cuDeviceCanAccessPeer
  Fact<Measured> copy;      ///< cuMemcpyPeerAsync, GB/s (bytes moved once)
};

struct AllReduceProbe {
  std::uint64_t bytes = 0;       ///< per GPU
  Fact<Measured> bus_bandwidth;  ///< GB/s, nccl-tests' busbw = algbw * 2(n-1)/n
  Fact<bool> correct;            ///< every GPU holds the sum
};

/// A library the probe loaded, and why that file.
struct ProbeLibrary {
  std::string role;            ///< "cublas", "cudnn", "nccl"
  std::string requested;       ///< the path or soname handed to dlopen
  std::string chosen_because;  ///< "the cuBLAS torch 2.11.0+cu130 loads (RUNPATH of ...)"
  Fact<std::string> loaded;    ///< the file dlopen loaded, or unknown with dlerror()
  Fact<std::string> version;   ///< the library's own version call
};

/// How much work `gpudoctor probe` ran.
enum class ProbeMode {
  none,   ///< "": no probe (the JSON of every snapshot not made by `probe`)
  quick,  ///< "quick": `probe --quick` (and `health`): short runs, no cuDNN, no allocation of most memory
  full,   ///< "full"
};
template <>
struct EnumText<ProbeMode> {
  static constexpr std::string_view what = "probe mode";
  static constexpr std::pair<ProbeMode, std::string_view> names[] = {
      {ProbeMode::none, ""}, {ProbeMode::quick, "quick"}, {ProbeMode::full, "full"}};
};

/// `gpudoctor probe`: real work on every visible GPU, in a child process with a time limit.
struct ComputeProbe {
  bool attempted = false;
  ProbeMode mode = ProbeMode::none;
  std::string why_not;  ///< when not attempted
  ChildOutcome child;
  std::string last_step;  ///< the step in progress when the child stopped
  std::vector<ProbeLibrary> libraries;
  std::vector<GpuProbe> gpus;
  std::vector<PeerProbe> peers;
  Fact<std::string> nccl_init;  ///< ncclCommInitAll over every GPU
  std::vector<AllReduceProbe> all_reduce;
  std::vector<std::string> errors;  ///< "GPU 1: cuMemAlloc_v2 -> CUDA_ERROR_OUT_OF_MEMORY (...)"
};

/// A Python environment: where frameworks are installed.
/// What a Python environment is (its JSON word in EnumText below).
enum class EnvironmentKind {
  none,    ///< "": not said (the environment `explain` makes of pasted text)
  venv,    ///< "venv": a pyvenv.cfg at its prefix (venv, virtualenv, uv)
  conda,   ///< "conda": a conda-meta folder at its prefix
  system,  ///< "system": an interpreter's own prefix (/usr, /opt/python3.12)
};
template <>
struct EnumText<EnvironmentKind> {
  static constexpr std::string_view what = "environment kind";
  static constexpr std::pair<EnvironmentKind, std::string_view> names[] = {{EnvironmentKind::none, ""},
                                                                           {EnvironmentKind::venv, "venv"},
                                                                           {EnvironmentKind::conda, "conda"},
                                                                           {EnvironmentKind::system, "system"}};
};

struct PythonEnvironment {
  std::string prefix;         ///< sys.prefix: "/opt/torch/.venv"
  std::string found_by;       ///< "python3 on PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "--python"
  Fact<std::string> python;   ///< the interpreter, links resolved
  Fact<std::string> version;  ///< "3.12"
  EnvironmentKind kind = EnvironmentKind::none;
  std::vector<std::string> site_packages;  ///< in sys.path order
  bool in_use = false;                     ///< the environment `python3` on PATH (or --python) runs
};

/// A distribution installed in a site-packages folder (its *.dist-info).
struct InstalledPackage {
  std::string name;     ///< normalized: lower case, '-' ("tensorflow-cpu", "jax-cuda12-plugin")
  std::string version;  ///< from the dist-info folder name / METADATA Version
  std::string site_packages;
  Fact<std::string> requires_python;       ///< METADATA Requires-Python
  std::vector<std::string> wheel_tags;     ///< WHEEL Tag lines: "cp311-cp311-manylinux_2_17_x86_64"
  std::vector<std::string> requires_dist;  ///< METADATA Requires-Dist lines of interest (frameworks, nvidia-*)
};

/// A framework found in an environment, read from its files (never imported).
struct FrameworkInstall {
  std::string framework;     ///< "tensorflow", "torch", "jax"
  std::string distribution;  ///< the package that provides it: "tensorflow-cpu", "torch", "jax"
  std::string site_packages;
  std::string environment;  ///< the prefix of its Python environment
  bool environment_in_use = false;
  Fact<std::string> version;                      ///< the distribution's version
  Fact<std::string> build;                        ///< torch/version.py __version__ ("2.3.1+cu121"); jaxlib's version
  Fact<bool> cuda_build;                          ///< built with CUDA (false: a CPU-only build)
  Fact<std::string> cuda_version;                 ///< the CUDA it was built for, "12.1"
  Fact<std::string> cudnn_version;                ///< TensorFlow's build_info cudnn_version
  std::vector<std::string> compute_capabilities;  ///< TensorFlow's build_info list ("sm_70", "compute_80")
  std::vector<std::string> evidence;              ///< the files these facts were read from
};

/// A Jupyter kernel and the interpreter it runs (kernel.json argv[0]).
struct JupyterKernel {
  std::string name;
  std::string spec_path;     ///< kernel.json
  Fact<std::string> python;  ///< argv[0]
};

/// What a copy of a library other than the one loaded is to the loader (its JSON word in EnumText
/// below). The snapshot's "status" is the word with the copy's detail and place
/// (`copy_status_text`, core/library_copy_text.hpp): "wrong machine: x86-64, not on the search path".
enum class CopyStatus {
  accepted,         ///< "accepted": on the search path and loadable, behind the one loaded
  wrong_class,      ///< "wrong ELF class": the other ELF class (detail "ELFCLASS32"): the loader skips it
  wrong_machine,    ///< "wrong machine": built for another CPU (detail "x86-64"): the loader skips it
  same_name,        ///< "same name, in a folder the loader does not search"
  another_version,  ///< "another version": another SONAME of the library, in a folder not searched
  also_mapped,      ///< "also mapped: a second copy in the same process" (ResolvedLibrary::also_mapped)
};
template <>
struct EnumText<CopyStatus> {
  static constexpr std::string_view what = "library copy status";
  static constexpr std::pair<CopyStatus, std::string_view> names[] = {
      {CopyStatus::accepted, "accepted"},
      {CopyStatus::wrong_class, "wrong ELF class"},
      {CopyStatus::wrong_machine, "wrong machine"},
      {CopyStatus::same_name, "same name, in a folder the loader does not search"},
      {CopyStatus::another_version, "another version"},
      {CopyStatus::also_mapped, "also mapped: a second copy in the same process"}};
};

/// A file met while resolving a library: another copy, or one the loader skips.
struct LibraryCopy {
  std::string path;       ///< as the loader builds it
  std::string resolved;   ///< links resolved
  std::string found_via;  ///< "RPATH of ...", "LD_LIBRARY_PATH", "ld.so.cache", ...
  CopyStatus status = CopyStatus::accepted;
  std::string detail;  ///< what a wrong_class / wrong_machine copy was built for: "ELFCLASS32", "x86-64"
  /// Found by listing a folder the loader does not search (same_name and another_version always
  /// are; a wrong_class / wrong_machine copy either way).
  bool off_path = false;
  bool reached = false;       ///< the loader's search gets this far
  Fact<std::string> version;  ///< from the file name ("libcudnn.so.9.14.0" -> "9.14.0")
  std::string origin;         ///< "pip wheel", "conda", "CUDA toolkit", "system", "driver"
};

/// How an object asks for a library (its JSON word in EnumText below).
enum class LibraryRequest {
  none,    ///< "": not said (a snapshot without it)
  needed,  ///< "NEEDED": a DT_NEEDED entry, loaded with the object
  dlopen,  ///< "dlopen": opened by the object's code when it runs
};
template <>
struct EnumText<LibraryRequest> {
  static constexpr std::string_view what = "library request";
  static constexpr std::pair<LibraryRequest, std::string_view> names[] = {
      {LibraryRequest::none, ""}, {LibraryRequest::needed, "NEEDED"}, {LibraryRequest::dlopen, "dlopen"}};
};

/// One CUDA library a framework needs, resolved as the dynamic loader will resolve it.
struct ResolvedLibrary {
  std::string role;          ///< "cudart", "cublas", "cublasLt", "cudnn", "nccl", "cufft", ...
  std::string name;          ///< the name asked for: "libcudnn.so.9"
  std::string requested_by;  ///< the object whose NEEDED or dlopen asks for it
  LibraryRequest how = LibraryRequest::none;
  bool optional = false;      ///< opened on use only (a profiler, collectives): missing is a warning
  Fact<std::string> path;     ///< the file that will load (as /proc/PID/maps shows it)
  std::string found_via;      ///< "RPATH of /x/libtorch_cuda.so", "ld.so.cache", ...
  Fact<std::string> version;  ///< from the resolved file name or the wheel's metadata
  /// What the library itself answers (cudaRuntimeGetVersion, cudnnGetVersion, ...), asked in a
  /// child process on this machine only.
  Fact<std::string> reported_version;
  std::string origin;               ///< "pip wheel nvidia-cudnn-cu13 9.19.0.56", "system", ...
  std::vector<LibraryCopy> others;  ///< every other copy of the library seen on the search path
  /// Further files of this SONAME mapped into the same process: the framework loads one by path
  /// after a NEEDED brought `path` in from another folder (two cuBLASLt in one process).
  std::vector<LibraryCopy> also_mapped;
  std::string error;  ///< what dlopen would say when nothing is found
};

/// A framework installation and the CUDA libraries it will load.
struct FrameworkLibraries {
  std::string framework;             ///< "torch", "jax", "tensorflow"
  std::string site_packages;         ///< where it is installed
  Fact<std::string> version;         ///< "2.11.0+cu130"
  Fact<std::string> cuda_build;      ///< the CUDA it was built for: "13.0"
  std::vector<std::string> entries;  ///< the objects resolution starts from
  std::vector<ResolvedLibrary> libraries;
  std::vector<std::string> load_order;  ///< every object the model loads, in order
  std::vector<std::string> notes;       ///< what the model could not decide
};

struct Environment {
  std::map<std::string, std::string> vars;  ///< allow-listed variables only
};

/// A CUDA library one process of the watched program had mapped (/proc/PID/maps).
struct MappedLibrary {
  std::string role;         ///< "cuda" (libcuda), "nvml", "cudart", "cublas", "cudnn", ... (kb libraries roles)
  std::string path;         ///< the file as /proc/PID/maps names it
  double first_seen_s = 0;  ///< seconds after the watch began
};

/// One process of the watched program's tree, found through /proc (children of children included).
struct ProgramProcess {
  std::uint32_t pid = 0;  ///< in gpudoctor's PID namespace
  std::uint32_t ppid = 0;
  std::vector<std::uint32_t> nspids;  ///< /proc/PID/status NSpid: this namespace first, innermost last
  std::string command;                ///< /proc/PID/cmdline, arguments joined by spaces, cut at 512 bytes
  double first_seen_s = 0;            ///< seconds after the watch began
  double last_seen_s = 0;
  Fact<double> cpu_seconds;                ///< user + system time (/proc/PID/stat), last reading
  std::vector<MappedLibrary> libraries;    ///< CUDA and NVIDIA libraries mapped, first sighting each
  std::vector<std::string> device_files;   ///< /dev/nvidia* it held open (/proc/PID/fd)
  std::map<std::string, std::string> env;  ///< allow-listed variables (/proc/PID/environ)
  /// Its PID and mount namespaces (readlink of /proc/PID/ns/pid and ns/mnt: "pid:[4026531836]");
  /// empty when they cannot be read.
  std::string pid_namespace, mount_namespace;
};

/// One NVML reading of one GPU while the program ran. Every figure may be unknown (null in JSON).
struct GpuSample {
  double t_s = 0;                                ///< seconds after the watch began
  Fact<unsigned> utilization_percent;            ///< the program's SM share (per process, or the device's when it was the only user)
  Fact<std::uint64_t> memory_bytes;              ///< GPU memory the program's processes held
  Fact<unsigned> device_utilization_percent;     ///< nvmlDeviceGetUtilizationRates, every process
  Fact<std::uint64_t> device_memory_used_bytes;  ///< nvmlDeviceGetMemoryInfo used, every process
};

/// The program on one GPU, over the whole watch.
struct ProgramGpu {
  unsigned index = 0;  ///< NVML index
  std::string name;
  std::string uuid;
  std::string pci_bus_id;
  Fact<std::uint64_t> memory_total_bytes;
  bool used = false;                ///< a process of the program was in this GPU's compute list
  std::vector<std::uint32_t> pids;  ///< the program's processes seen on it (gpudoctor's namespace)
  Fact<std::uint64_t> peak_memory_bytes;
  Fact<double> mean_utilization_percent;  ///< over the samples from the first use to the end
  Fact<unsigned> peak_utilization_percent;
  /// Share (0..1) of the whole watched time with the program's kernels running on the GPU: the mean
  /// of its utilization (NVML's share of each sample period with a kernel running) over every reading.
  Fact<double> busy_share;
  /// How utilization was attributed: "per process" (nvmlDeviceGetProcessUtilization),
  /// "device, the program its only user", or "" when it could not be.
  std::string utilization_basis;
  Fact<std::uint64_t> others_peak_memory_bytes;  ///< memory held by processes outside the program
  std::vector<std::uint32_t> other_pids;
  int samples = 0;                  ///< readings taken (the timeline below may be thinned)
  std::vector<GpuSample> timeline;  ///< at most a few thousand points, evenly thinned
};

/// The program's CPU use at one moment (the whole tree).
struct CpuSample {
  double t_s = 0;
  double percent = 0;  ///< of one core (200 = two cores busy)
};

/// A significant line of the program's output, read through explain's catalogue as it ran.
struct LogEvent {
  double t_s = 0;
  std::string stream;                  ///< "stdout", "stderr", or the file it was read from
  std::size_t line = 0;                ///< 1-based, in that stream
  std::string text;                    ///< cleaned, cut at 300 bytes
  std::string message;                 ///< catalogue id
  std::string cause;                   ///< cause id, empty for a line that only states a fact
  Severity severity = Severity::info;  ///< the catalogue message's ("error", "warning", "info" in JSON)
};

/// Whether the driver's per-process lists could be matched to the watched program's PIDs.
enum class PerProcess {
  none,                 ///< "": not watched
  pid,                  ///< "pid": same PID namespace
  nspid,                ///< "nspid": matched through /proc/PID/status NSpid
  not_visible,          ///< "not visible": processes listed, none of ours (a container whose driver shows host PIDs)
  no_processes_listed,  ///< "no processes listed"
  no_nvml,              ///< "no nvml": the GPUs were not watched
};
template <>
struct EnumText<PerProcess> {
  static constexpr std::string_view what = "per-process match";
  static constexpr std::pair<PerProcess, std::string_view> names[] = {
      {PerProcess::none, ""},
      {PerProcess::pid, "pid"},
      {PerProcess::nspid, "nspid"},
      {PerProcess::not_visible, "not visible"},
      {PerProcess::no_processes_listed, "no processes listed"},
      {PerProcess::no_nvml, "no nvml"}};
};

/// What `gpudoctor run` or `gpudoctor inspect` saw of one program.
struct Program {
  bool watched = false;
  std::string mode;                  ///< "run" or "inspect"
  std::vector<std::string> command;  ///< argv (run) or /proc/PID/cmdline (inspect)
  std::string cwd;                   ///< its working folder
  std::uint32_t pid = 0;             ///< the main process
  Fact<int> exit_status;             ///< run: the status returned (128+N after signal N); unknown for inspect
  std::string ended;                 ///< "exited with 0", "killed by SIGSEGV", "still running" (inspect)
  std::string started_at;            ///< ISO 8601 UTC
  double duration_s = 0;
  double interval_ms = 100;                   ///< time between NVML readings
  PerProcess per_process = PerProcess::none;  ///< whether the driver's per-process lists matched the program's PIDs
  std::vector<ProgramProcess> processes;
  std::vector<ProgramGpu> gpus;
  std::vector<CpuSample> cpu;              ///< timeline, thinned like the GPUs'
  Fact<double> cpu_mean_percent;           ///< over the watch, of one core
  std::size_t log_lines = 0;               ///< lines of output read
  std::vector<LogEvent> log;               ///< significant lines, at most 200 kept
  std::map<std::string, std::string> env;  ///< the main process's allow-listed environment
  std::vector<CodeFact> code;              ///< what its Python source says (collect/python_code)
  std::vector<std::string> notes;          ///< what the watcher could not see, and why
  /// gpudoctor's own PID and mount namespaces (/proc/self/ns), beside each process's.
  std::string watcher_pid_namespace, watcher_mount_namespace;
};

struct Snapshot {
  int schema = k_snapshot_schema;
  std::string tool_version;
  std::string collected_at;  ///< ISO 8601 UTC
  /// The node's name in fleet reports (`snapshot --label`; by default the short host name).
  std::string label;
  HostInfo host;
  bool pci_scanned = false;  ///< /sys/bus/pci/devices was readable (false for most images)
  std::vector<PciGpu> pci_gpus;
  std::vector<PciGpu> pci_other_display;  ///< non-NVIDIA display/3D devices (WSL's Microsoft adapter, iGPUs)
  KernelModules modules;
  NvidiaProc nvidia_proc;
  std::vector<DeviceNode> device_nodes;
  UserInfo user;
  SecureBoot secure_boot;
  Platform platform;
  DriverFiles driver_files;
  KernelLog kernel_log;
  Fact<int> suspend_count;  ///< /sys/power/suspend_stats/success: suspends since boot
  Environment env;
  DriverProbe driver;
  ComputeProbe compute;  ///< filled by `gpudoctor probe` only
  Program program;       ///< filled by `gpudoctor run` and `gpudoctor inspect` only
  std::vector<PythonEnvironment> python_envs;
  /// Where the environment search stopped at a bound ("64 environments judged; more in ... not read").
  std::vector<std::string> python_env_notes;
  std::vector<InstalledPackage> packages;  ///< frameworks and their companions, every environment
  std::vector<FrameworkInstall> framework_installs;
  std::vector<JupyterKernel> jupyter_kernels;
  std::vector<FrameworkLibraries> frameworks;
  std::vector<std::string> requested_frameworks;  ///< --framework: the frameworks the user asked about
  std::vector<std::string> collector_errors;      ///< collectors that failed, and why
  /// Written with secrets, user and host names taken out (report/redact.hpp); false with --no-redact.
  bool redacted = false;

  [[nodiscard]] const std::string* env_var(const std::string& name) const {
    auto it = env.vars.find(name);
    return it == env.vars.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const DeviceNode* node(const std::string& path) const {
    for (const auto& n : device_nodes)
      if (n.path == path) return &n;
    return nullptr;
  }
};

}  // namespace gpudoctor
