#include "core/snapshot_json.hpp"

#include <fmt/format.h>

#include <initializer_list>

#include "core/library_copy_text.hpp"

namespace gpudoctor {
namespace {
// "unknown child status \"exploded\"": the word quoted, escaped and cut (a snapshot is hostile input).
nlohmann::json::other_error unknown_word(std::string_view what, const std::string& word, const nlohmann::json& j) {
  nlohmann::json shown = word.size() > 40 ? word.substr(0, 40) + "..." : word;
  return nlohmann::json::other_error::create(
      501, fmt::format("unknown {} {}", what, shown.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace)), &j);
}
}  // namespace
}  // namespace gpudoctor

namespace nlohmann {
template <typename T>
struct adl_serializer<gpudoctor::Fact<T>> {
  static void to_json(json& j, const gpudoctor::Fact<T>& f) {
    if (f.value) {
      j = *f.value;
    } else {
      j = json{{"value", nullptr}, {"reason", f.reason}};
    }
  }
  static void from_json(const json& j, gpudoctor::Fact<T>& f) {
    if (j.is_null()) {
      f = gpudoctor::Fact<T>::unknown("null in snapshot");
    } else if (j.is_object() && j.contains("reason") && j.contains("value") && j["value"].is_null()) {
      f = gpudoctor::Fact<T>::unknown(j["reason"].is_string() ? j["reason"].get<std::string>() : "unknown");
    } else {
      f = gpudoctor::Fact<T>(j.get<T>());
    }
  }
};

// A typed state is its word (EnumText<E>); a word that is no enumerator's is not a snapshot this
// build reads (SnapshotError, exit 2), never a silent default.
template <gpudoctor::NamedEnum E>
struct adl_serializer<E> {
  static void to_json(json& j, E e) { j = gpudoctor::to_string(e); }
  static void from_json(const json& j, E& e) {
    if (!j.is_string())
      throw json::type_error::create(302, fmt::format("{} must be a string", gpudoctor::EnumText<E>::what), &j);
    const auto& word = j.get_ref<const std::string&>();
    auto v = gpudoctor::enum_from_string<E>(word);
    if (!v) throw gpudoctor::unknown_word(gpudoctor::EnumText<E>::what, word, j);
    e = *v;
  }
};

// dlopen's answer in the shape it had as a Fact<std::string> (snapshot.hpp, LibraryLoad).
template <>
struct adl_serializer<gpudoctor::LibraryLoad> {
  static constexpr const char* k_loaded = "loaded";
  static void to_json(json& j, const gpudoctor::LibraryLoad& l) {
    using State = gpudoctor::LibraryLoad::State;
    if (l.state == State::failed) j = l.error;
    else j = json{{"value", nullptr}, {"reason", l.state == State::loaded ? k_loaded : gpudoctor::k_not_collected}};
  }
  static void from_json(const json& j, gpudoctor::LibraryLoad& l) {
    if (j.is_string()) {
      l = gpudoctor::LibraryLoad::failure(j.get<std::string>());
      return;
    }
    auto reason = j.is_object() ? j.find("reason") : j.end();
    if (reason != j.end() && reason->is_string() && reason->get_ref<const std::string&>() == k_loaded)
      l = gpudoctor::LibraryLoad::success();
    else
      l = gpudoctor::LibraryLoad{};  // null, or the reason it was not reached
  }
};
}  // namespace nlohmann

namespace gpudoctor {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Source, where, said)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HostInfo, root, os_id, os_id_like, os_pretty, kernel_release,
                                                architecture, architecture_from, os)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PciGpu, address, vendor_id, device_id, class_code, driver,
                                                current_link_gts, max_link_gts, current_link_width,
                                                max_link_width, numa_node)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(KernelModule, loaded, version, taint)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(KernelModules, modules, nvidia_module_files,
                                                kernels_with_nvidia_module, nvidia_module_signed, blacklists,
                                                dkms_status)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProcGpu, bus_location, model, uuid, device_minor, excluded,
                                                firmware)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NvidiaProc, version_file_present, module_version,
                                                module_flavour, version_banner, gpus)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DeviceNode, path, exists, is_char_device, mode, uid, gid,
                                                group_name, accessible)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(UserInfo, uid, gids, group_names)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SecureBoot, efi, enabled, lockdown)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Platform, container, container_kind, container_evidence, wsl,
                                                wsl_evidence, dxg_present, wsl_driver_libraries)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DriverLibraryFile, name, path, resolved, version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DriverFiles, libraries, nvidia_smi, nvidia_modprobe_setuid,
                                                library_dirs)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(KernelLog, source, lines)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CallResult, code, name, message)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NvmlProcess, pid, used_memory_bytes, kind)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NvmlMigDevice, uuid, memory_total_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NvmlDevice, index, handle, name, uuid, pci_bus_id,
                                                memory_total_bytes, memory_used_bytes, memory_free_bytes,
                                                cc_major, cc_minor, compute_mode, mig_current, mig_pending,
                                                mig_devices, pcie_gen_current, pcie_gen_max, pcie_width_current,
                                                pcie_width_max, remapped_rows_pending, remapped_rows_failure,
                                                utilization_percent, processes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NvmlProbe, attempted, library, load_error, init, driver_version,
                                                nvml_version, cuda_driver_version, device_count_call,
                                                device_count, devices, in_call)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CudaDevice, ordinal, name, uuid, pci_bus_id, cc_major, cc_minor,
                                                memory_total_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CudaProbe, attempted, library, load_error, driver_version, init,
                                                device_count, devices, in_call)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ChildOutcome, status, detail, elapsed_ms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DriverProbe, mode, why_not, nvml_child, cuda_child, nvml, cuda)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Measured, value, median_ms, repeats, what)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GemmProbe, precision, rate, relative_error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LoadTelemetry, samples, sm_clock_max_mhz, sm_clock_min_seen_mhz,
                                                sm_clock_max_seen_mhz, temperature_max_c, power_max_w, power_limit_w,
                                                power_default_limit_w, clock_event_reasons, utilization_max_percent,
                                                pcie_gen_under_load, pcie_width_under_load, pcie_gen_max,
                                                pcie_width_max, nvlinks_active, nvlinks_inactive)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GpuProbe, ordinal, name, uuid, pci_bus_id, pci_device_id, cc_major,
                                                cc_minor, multiprocessors, sm_clock_peak_khz, memory_clock_peak_khz,
                                                memory_bus_width_bits, context, kernel, memory_free_bytes,
                                                memory_total_bytes, allocated_bytes, device_copy, host_to_device,
                                                device_to_host, gemm, cudnn, telemetry, other_processes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PeerProbe, from, to, can_access, copy)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AllReduceProbe, bytes, bus_bandwidth, correct)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProbeLibrary, role, requested, chosen_because, loaded, version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ComputeProbe, attempted, mode, why_not, child, last_step, libraries,
                                                gpus, peers, nccl_init, all_reduce, errors)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CodeFact, kind, framework, file, line, code, value)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MappedLibrary, role, path, first_seen_s)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProgramProcess, pid, ppid, nspids, command, first_seen_s, last_seen_s,
                                                cpu_seconds, libraries, device_files, env, pid_namespace, mount_namespace)

namespace {
// A timeline holds thousands of readings: an unknown figure is a bare null there (the reason is
// the GPU's utilization_basis or the program's notes), not an object per point.
template <typename T>
void put_sample_figure(nlohmann::json& j, const char* key, const Fact<T>& f) {
  j[key] = f.known() ? nlohmann::json(*f) : nlohmann::json(nullptr);
}
template <typename T>
void get_sample_figure(const nlohmann::json& j, const char* key, Fact<T>& f) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) f = Fact<T>::unknown("not read");
  else f = Fact<T>(it->template get<T>());
}
}  // namespace

void to_json(nlohmann::json& j, const GpuSample& s) {
  j = nlohmann::json{{"t_s", s.t_s}};
  put_sample_figure(j, "utilization_percent", s.utilization_percent);
  put_sample_figure(j, "memory_bytes", s.memory_bytes);
  put_sample_figure(j, "device_utilization_percent", s.device_utilization_percent);
  put_sample_figure(j, "device_memory_used_bytes", s.device_memory_used_bytes);
}
void from_json(const nlohmann::json& j, GpuSample& s) {
  if (!j.is_object()) throw nlohmann::json::type_error::create(302, "a GPU sample must be an object", &j);
  s.t_s = j.value("t_s", 0.0);
  get_sample_figure(j, "utilization_percent", s.utilization_percent);
  get_sample_figure(j, "memory_bytes", s.memory_bytes);
  get_sample_figure(j, "device_utilization_percent", s.device_utilization_percent);
  get_sample_figure(j, "device_memory_used_bytes", s.device_memory_used_bytes);
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProgramGpu, index, name, uuid, pci_bus_id, memory_total_bytes, used, pids,
                                                peak_memory_bytes, mean_utilization_percent, peak_utilization_percent,
                                                busy_share, utilization_basis, others_peak_memory_bytes, other_pids,
                                                samples, timeline)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CpuSample, t_s, percent)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LogEvent, t_s, stream, line, text, message, cause, severity)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Program, watched, mode, command, cwd, pid, exit_status, ended, started_at,
                                                duration_s, interval_ms, per_process, processes, gpus, cpu,
                                                cpu_mean_percent, log_lines, log, env, code, notes, watcher_pid_namespace,
                                                watcher_mount_namespace)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Environment, vars)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PythonEnvironment, prefix, found_by, python, version, kind,
                                                site_packages, in_use)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(InstalledPackage, name, version, site_packages, requires_python,
                                                wheel_tags, requires_dist)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FrameworkInstall, framework, distribution, site_packages,
                                                environment, environment_in_use, version, build, cuda_build,
                                                cuda_version, cudnn_version, compute_capabilities, evidence)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JupyterKernel, name, spec_path, python)
// "status" is one text, the CopyStatus word with the copy's detail and place (copy_status_text).
void to_json(nlohmann::json& j, const LibraryCopy& c) {
  j = nlohmann::json::object();
  j["path"] = c.path;
  j["resolved"] = c.resolved;
  j["found_via"] = c.found_via;
  j["status"] = copy_status_text(c);
  j["reached"] = c.reached;
  j["version"] = c.version;
  j["origin"] = c.origin;
}
void from_json(const nlohmann::json& j, LibraryCopy& c) {
  const LibraryCopy d{};
  c.path = j.value("path", d.path);
  c.resolved = j.value("resolved", d.resolved);
  c.found_via = j.value("found_via", d.found_via);
  auto status = j.value("status", copy_status_text(d));
  if (!read_copy_status(status, c)) throw unknown_word(EnumText<CopyStatus>::what, status, j);
  c.reached = j.value("reached", d.reached);
  c.version = j.value("version", d.version);
  c.origin = j.value("origin", d.origin);
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ResolvedLibrary, role, name, requested_by, how, optional, path, found_via,
                                                version, reported_version, origin, others, also_mapped, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FrameworkLibraries, framework, site_packages, version, cuda_build,
                                                entries, libraries, load_order, notes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Snapshot, schema, tool_version, collected_at, label, host, pci_scanned, pci_gpus,
                                                pci_other_display, modules, nvidia_proc, device_nodes, user,
                                                secure_boot, platform, driver_files, kernel_log, suspend_count, env, driver, compute, program,
                                                python_envs, python_env_notes, packages, framework_installs, jupyter_kernels,
                                                frameworks, requested_frameworks, collector_errors, redacted)

nlohmann::json to_json(const Snapshot& snapshot) {
  nlohmann::json j = snapshot;
  j["kind"] = "gpudoctor-snapshot";
  return j;
}

namespace {

// nlohmann-json's own DOM builder, stopped at a depth: the parse ends at the first array or
// object too deep, before the rest of the text is read.
class DepthBoundedBuilder : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
  using Base = nlohmann::detail::json_sax_dom_parser<nlohmann::json>;

 public:
  DepthBoundedBuilder(nlohmann::json& result, std::size_t max_depth, std::size_t max_values)
      : Base(result, false), m_max(max_depth), m_values_left(max_values) {}
  bool null() { return value() && Base::null(); }
  bool boolean(bool v) { return value() && Base::boolean(v); }
  bool number_integer(nlohmann::json::number_integer_t v) { return value() && Base::number_integer(v); }
  bool number_unsigned(nlohmann::json::number_unsigned_t v) { return value() && Base::number_unsigned(v); }
  bool number_float(nlohmann::json::number_float_t v, const std::string& s) { return value() && Base::number_float(v, s); }
  bool string(std::string& v) { return value() && Base::string(v); }
  bool binary(nlohmann::json::binary_t& v) { return value() && Base::binary(v); }
  bool start_object(std::size_t n) { return value() && ++m_depth <= m_max && Base::start_object(n); }
  bool end_object() {
    --m_depth;
    return Base::end_object();
  }
  bool start_array(std::size_t n) { return value() && ++m_depth <= m_max && Base::start_array(n); }
  bool end_array() {
    --m_depth;
    return Base::end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    m_invalid = true;
    return false;
  }
  [[nodiscard]] bool too_deep() const { return m_depth > m_max; }
  [[nodiscard]] bool too_many() const { return m_too_many; }
  [[nodiscard]] bool invalid() const { return m_invalid; }

 private:
  bool value() {
    if (m_values_left == 0) m_too_many = true;
    return m_values_left-- > 0;
  }
  std::size_t m_max;
  std::size_t m_values_left;
  std::size_t m_depth = 0;
  bool m_too_many = false;
  bool m_invalid = false;
};

}  // namespace

nlohmann::json parse_json_text(std::string_view text, std::size_t max_depth, std::size_t max_values) {
  nlohmann::json j;
  DepthBoundedBuilder builder(j, max_depth, max_values);
  bool ok = nlohmann::json::sax_parse(text, &builder);
  if (builder.too_deep()) throw SnapshotError(fmt::format("JSON nested deeper than {} levels", max_depth));
  if (builder.too_many()) throw SnapshotError(fmt::format("JSON of more than {} values", max_values));
  if (!ok || builder.invalid()) throw SnapshotError("not valid JSON");
  return j;
}

Snapshot snapshot_from_json(const nlohmann::json& j) {
  auto kind = j.is_object() ? j.find("kind") : j.end();
  if (!j.is_object() || kind == j.end() || !kind->is_string() || kind->get_ref<const std::string&>() != "gpudoctor-snapshot") {
    throw SnapshotError("not a gpudoctor snapshot (no \"kind\": \"gpudoctor-snapshot\" at the top)");
  }
  auto schema = j.find("schema");
  if (schema == j.end() || !schema->is_number_integer()) {
    throw SnapshotError(fmt::format("snapshot \"schema\" must be a whole number from 1 to {}", k_snapshot_schema));
  }
  if (schema->get<std::int64_t>() < 1 || schema->get<std::int64_t>() > k_snapshot_schema) {
    throw SnapshotError(fmt::format("snapshot schema {} is not one this gpudoctor reads (it reads 1 to {})",
                                    schema->get<std::int64_t>(), k_snapshot_schema));
  }
  try {
    return j.get<Snapshot>();
  } catch (const nlohmann::json::exception& e) {
    throw SnapshotError(fmt::format("snapshot does not match the expected shape: {}", e.what()));
  }
}

}  // namespace gpudoctor

namespace gpudoctor {
nlohmann::json to_json(const NvmlProbe& probe) { return nlohmann::json(probe); }
nlohmann::json to_json(const CudaProbe& probe) { return nlohmann::json(probe); }
NvmlProbe nvml_probe_from_json(const nlohmann::json& j) { return j.get<NvmlProbe>(); }
CudaProbe cuda_probe_from_json(const nlohmann::json& j) { return j.get<CudaProbe>(); }
nlohmann::json to_json(const ComputeProbe& probe) { return nlohmann::json(probe); }
ComputeProbe compute_probe_from_json(const nlohmann::json& j) { return j.get<ComputeProbe>(); }
}  // namespace gpudoctor

namespace gpudoctor {
nlohmann::json to_json(const Program& program) { return nlohmann::json(program); }
std::vector<std::string_view> snapshot_state_texts() {
  std::vector<std::string_view> out;
  auto words_of = [&]<NamedEnum E>(E) {
    for (const auto& [value, word] : EnumText<E>::names) out.push_back(word);
  };
  (words_of(ProcessKind{}), words_of(ChildStatus{}), words_of(DriverProbeOrigin{}), words_of(ProbeMode{}),
   words_of(EnvironmentKind{}), words_of(CopyStatus{}), words_of(LibraryRequest{}), words_of(PerProcess{}),
   words_of(Severity{}));
  out.insert(out.end(), {copy_status_place_text(), probe_reason::not_in_quick, probe_reason::needs_compute_capability,
                         probe_reason::wrong_results, k_not_collected, nlohmann::adl_serializer<LibraryLoad>::k_loaded});
  return out;
}

}  // namespace gpudoctor
