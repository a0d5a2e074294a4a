// The Prometheus text exposition format (version 0.0.4) of a diagnosis: what node_exporter's
// textfile collector reads and `promtool check metrics` validates. Names follow Prometheus'
// naming rules: the gpudoctor_ prefix, base units (bytes, seconds, bytes_per_second), `_info`
// for metrics whose labels carry the value, `_ratio` for fractions.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "core/utf8.hpp"
#include "core/escape.hpp"
#include "report/report.hpp"

namespace gpudoctor {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// One metric family: HELP and TYPE once, then its samples in the order they were first added;
/// a label set added twice adds to the one sample (a scrape rejects duplicate series).
struct Family {
  std::string name, help;
  std::vector<std::string> order;
  std::map<std::string, double> samples;
};

class Exposition {
 public:
  void add(const std::string& name, const std::string& help, const Labels& labels, double value) {
    auto [it, fresh] = m_index.try_emplace(name, m_families.size());
    if (fresh) m_families.push_back(Family{name, help, {}, {}});
    Family& f = m_families[it->second];
    std::string key = label_text(labels);
    auto [s, added] = f.samples.try_emplace(key, 0.0);
    if (added) f.order.push_back(key);
    s->second += value;
  }

  void write(std::ostream& out) const {
    for (const auto& f : m_families) {
      out << "# HELP " << f.name << ' ' << help_text(f.help) << "\n# TYPE " << f.name << " gauge\n";
      for (const auto& key : f.order) out << f.name << key << ' ' << number(f.samples.at(key)) << '\n';
    }
  }

 private:
  /// A label value as the exposition format wants it: valid UTF-8, backslash, double quote and
  /// line feed escaped. The format escapes only those three and passes every
  /// other character through; a control character from outside (a DEL in a folder name, found by
  /// fuzz_report) would reach whoever reads the scrape, so it becomes U+FFFD. escape::has_control,
  /// asked per character, is the one definition of a control character.
  static std::string label_value(const std::string& v) {
    std::string clean = valid_utf8(v);
    std::string out;
    out.reserve(clean.size());
    for (std::size_t i = 0; i < clean.size();) {
      const std::string_view ch = std::string_view(clean).substr(i, std::max<std::size_t>(1, utf8_sequence_length(clean, i)));
      i += ch.size();
      if (ch == "\\") out += "\\\\";
      else if (ch == "\"") out += "\\\"";
      else if (ch == "\n") out += "\\n";
      else if (escape::has_control(ch)) out += "\uFFFD";
      else out += ch;
    }
    return out;
  }

  static std::string label_text(const Labels& labels) {
    if (labels.empty()) return "";
    std::vector<std::string> pairs;
    for (const auto& [name, value] : labels) pairs.push_back(name + "=\"" + label_value(value) + '"');
    return fmt::format("{{{}}}", fmt::join(pairs, ","));
  }

  static std::string help_text(const std::string& h) {
    std::string out;
    for (char c : h) {
      if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    return out;
  }

  static std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);  // shortest text that reads back as the same double
  }

  std::vector<Family> m_families;
  std::map<std::string, std::size_t> m_index;
};

/// A figure's unit, in the base unit the metric name carries: the name's stem and the factor.
struct Unit {
  const char* stem;
  double factor;
};

std::optional<Unit> base_unit(const std::string& unit) {
  if (unit == "GB/s") return Unit{"bytes_per_second", 1e9};
  if (unit == "TFLOP/s") return Unit{"flops_per_second", 1e12};
  if (unit == "GiB") return Unit{"bytes", 1073741824.0};
  return std::nullopt;
}

std::string cuda_text(int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }

constexpr LayerState k_layer_states[] = {LayerState::passed, LayerState::failed, LayerState::warning,
                                         LayerState::not_reached, LayerState::not_checked};

}  // namespace

void prometheus_report(std::ostream& out, const Diagnosis& d, const Snapshot& s, const ReportHeader& h) {
  Exposition e;
  const std::string root = d.causes.empty() ? std::string("healthy") : d.causes.front().cause;
  e.add("gpudoctor_info", "gpudoctor itself: its version and the command that wrote these metrics",
        {{"version", h.version}, {"command", h.command}}, 1);
  e.add("gpudoctor_healthy", "1 when nothing blocks the GPU path (verdict healthy), 0 when a cause was found", {},
        d.healthy ? 1 : 0);
  e.add("gpudoctor_verdict_info", "The verdict and its root cause (a cause id of causes.md)",
        {{"verdict", d.healthy ? "healthy" : "problem"}, {"root_cause", root}}, 1);
  for (const auto& l : d.layers)
    for (LayerState st : k_layer_states)
      e.add("gpudoctor_layer_state", "Each layer's state: 1 for the state it is in, 0 for the others",
            {{"layer", std::string(to_string(l.layer))}, {"state", std::string(to_string(st))}}, l.state == st ? 1 : 0);
  auto cause = [&](const Finding& f) {
    e.add("gpudoctor_cause", "Findings of each cause id (causes, warnings and benign explanations) on this host",
          {{"id", f.cause}, {"layer", std::string(to_string(f.layer))}, {"severity", std::string(to_string(f.severity))}}, 1);
  };
  for (const auto& c : d.causes) cause(c);
  for (const auto& w : d.warnings) cause(w);

  // Versions: the kernel module, the user-space driver and the CUDA it supports, the frameworks.
  const auto& nvml = s.driver.nvml;
  if (s.nvidia_proc.module_version.known() || nvml.driver_version.known()) {
    e.add("gpudoctor_driver_info", "The NVIDIA driver: the kernel module's version and the user-space library's (NVML)",
          {{"kernel_module", s.nvidia_proc.module_version.value_or("")}, {"user_space", nvml.driver_version.value_or("")}}, 1);
  }
  Fact<int> cuda = nvml.cuda_driver_version.known() ? nvml.cuda_driver_version : s.driver.cuda.driver_version;
  if (cuda.known())
    e.add("gpudoctor_cuda_driver_info", "The newest CUDA version the driver supports", {{"version", cuda_text(*cuda)}}, 1);
  for (const auto& f : d.installs) {
    e.add("gpudoctor_framework_info", "A framework installed in a Python environment, and the CUDA it was built for",
          {{"framework", f.framework},
           {"distribution", f.distribution},
           {"version", f.version.value_or("")},
           {"build", f.build.value_or("")},
           {"cuda_version", f.cuda_build.known() && !*f.cuda_build ? std::string("cpu") : f.cuda_version.value_or("")},
           {"environment", f.environment},
           {"in_use", f.environment_in_use ? "true" : "false"}},
          1);
  }

  // The probe: each GPU's state and every figure beside what the card should deliver.
  if (s.compute.attempted)
    e.add("gpudoctor_probe_gpus", "GPUs the probe ran real work on", {{"mode", std::string(to_string(s.compute.mode))}},
          static_cast<double>(s.compute.gpus.size()));
  for (const auto& g : d.gpus) {
    std::string uuid;
    for (const auto& p : s.compute.gpus)
      if (p.ordinal == g.ordinal) uuid = p.uuid;
    Labels gpu{{"gpu", std::to_string(g.ordinal)}, {"uuid", uuid}, {"model", g.name}};
    for (GpuState st : {GpuState::healthy, GpuState::degraded, GpuState::failed}) {
      Labels l = gpu;
      l.emplace_back("state", to_string(st));
      e.add("gpudoctor_probe_gpu_state", "The probe's verdict on each GPU: 1 for its state, 0 for the others", l,
            g.state == st ? 1 : 0);
    }
    for (const auto& f : g.figures) {
      Labels l = gpu;
      l.emplace_back("figure", f.name);
      Labels ls = l;
      ls.emplace_back("state", to_string(f.state));
      e.add("gpudoctor_probe_figure_info", "Each probe figure's state: ok, low, wrong, failed, not measured, no reference", ls, 1);
      auto unit = base_unit(f.unit);
      if (!unit) continue;
      std::string stem = unit->stem;
      if (f.measured.known())
        e.add("gpudoctor_probe_measured_" + stem, "What the probe measured, in " + stem, l, *f.measured * unit->factor);
      if (f.expected.known())
        e.add("gpudoctor_probe_expected_" + stem, "What the card and its link should deliver, in " + stem, l,
              *f.expected * unit->factor);
      if (f.measured.known() && f.expected.known() && *f.expected > 0)
        e.add("gpudoctor_probe_ratio", "Measured over expected, for each probe figure", l, *f.measured / *f.expected);
    }
  }
  e.write(out);
}

}  // namespace gpudoctor
