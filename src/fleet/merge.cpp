#include "fleet/merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "diagnose/diagnose.hpp"

namespace gpudoctor::fleet {

namespace {

std::string cuda_text(int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// (value, hosts) pairs, most hosts first, then by value.
template <typename Map>
std::vector<std::pair<std::string, std::vector<std::string>>> by_count(Map& m) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out(m.begin(), m.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  return out;
}

}  // namespace

std::vector<std::string> snapshot_files(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  auto add = [&](std::string p) {
    if (out.size() >= k_max_snapshots)
      throw std::length_error(fmt::format("more than {} snapshots: merge them in parts", k_max_snapshots));
    out.push_back(std::move(p));
  };
  for (const auto& a : args) {
    std::error_code ec;
    if (!fs::is_directory(a, ec)) {
      add(a);
      continue;
    }
    std::vector<std::string> inside;
    for (fs::directory_iterator it(a, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() != ".json") continue;
      if (inside.size() >= k_max_snapshots)
        throw std::length_error(fmt::format("{} holds more than {} snapshots: merge them in parts", a, k_max_snapshots));
      inside.push_back(it->path().string());
    }
    if (ec) throw std::runtime_error(fmt::format("cannot list {}: {}", a, ec.message()));
    std::sort(inside.begin(), inside.end());
    for (auto& p : inside) add(std::move(p));
  }
  return out;
}

NodeSummary summarize(const Snapshot& s, const std::string& file) {
  NodeSummary n;
  n.file = file;
  bool placeholder = s.label.empty() || s.label.front() == '<';  // empty, or a redacted host name
  n.host = placeholder ? std::filesystem::path(file).stem().string() : s.label;
  Diagnosis d = diagnose(s);
  n.healthy = d.healthy;
  if (!d.healthy && !d.causes.empty()) {
    const Finding& root = d.causes.front();
    n.root_cause = root.cause;
    n.root_layer = std::string(to_string(root.layer));
    n.root_title = root.title;
    n.fix = root.fix;
  } else {
    n.root_cause = "healthy";
    n.root_layer = "-";
  }
  if (s.driver.nvml.driver_version.known()) n.versions["driver"] = *s.driver.nvml.driver_version;
  else if (s.nvidia_proc.module_version.known()) n.versions["driver"] = *s.nvidia_proc.module_version;
  if (s.driver.nvml.cuda_driver_version.known()) n.versions["cuda"] = cuda_text(*s.driver.nvml.cuda_driver_version);
  else if (s.driver.cuda.driver_version.known()) n.versions["cuda"] = cuda_text(*s.driver.cuda.driver_version);
  // Each framework as the environment in use has it (else the first found).
  for (const auto& f : s.framework_installs) {
    std::string v = f.build.value_or(f.version.value_or(""));
    if (v.empty()) continue;
    auto it = n.versions.find(f.framework);
    if (it == n.versions.end() || f.environment_in_use) n.versions[f.framework] = v;
  }
  for (const auto& g : d.gpus)
    for (const auto& f : g.figures)
      if (f.measured.known() && !f.unit.empty()) n.figures.push_back({g.ordinal, g.name, f.name, f.unit, *f.measured});
  return n;
}

void analyze(FleetReport& r) {
  r.causes.clear();
  r.lagging.clear();
  r.versions.clear();
  // Root causes, most nodes first.
  std::map<std::string, std::size_t> index;
  for (const auto& n : r.nodes) {
    auto [it, fresh] = index.try_emplace(n.root_cause, r.causes.size());
    if (fresh) r.causes.push_back(CauseGroup{n.root_cause, n.root_layer, n.root_title, n.fix, {}});
    r.causes[it->second].hosts.push_back(n.host);
  }
  std::stable_sort(r.causes.begin(), r.causes.end(), [](const CauseGroup& a, const CauseGroup& b) {
    bool ah = a.id == "healthy", bh = b.id == "healthy";
    if (ah != bh) return bh;
    return a.hosts.size() > b.hosts.size();
  });
  // Figures against the fleet's median for the same GPU model and figure.
  std::map<std::pair<std::string, std::string>, std::vector<double>> values;
  for (const auto& n : r.nodes)
    for (const auto& f : n.figures) values[{f.model, f.figure}].push_back(f.measured);
  std::map<std::pair<std::string, std::string>, double> medians;
  for (auto& [key, v] : values)
    if (v.size() >= 3) medians[key] = median_of(v);  // a median of two says nothing about either
  for (const auto& n : r.nodes)
    for (const auto& f : n.figures) {
      auto it = medians.find({f.model, f.figure});
      if (it != medians.end() && f.measured < r.lag_fraction * it->second)
        r.lagging.push_back({n.host, f, it->second, values[{f.model, f.figure}].size()});
    }
  // Versions that differ between nodes (a node that lacks one counts as "none").
  std::map<std::string, std::map<std::string, std::vector<std::string>>> seen;
  for (const auto& n : r.nodes)
    for (const auto& [what, v] : n.versions) seen[what][v];
  for (const auto& n : r.nodes)
    for (auto& [what, byv] : seen) {
      auto it = n.versions.find(what);
      byv[it == n.versions.end() ? std::string("none") : it->second].push_back(n.host);
    }
  for (const std::string first : {"driver", "cuda"})
    if (auto it = seen.find(first); it != seen.end() && it->second.size() > 1) r.versions.push_back({first, by_count(it->second)});
  for (auto& [what, byv] : seen)
    if (what != "driver" && what != "cuda" && byv.size() > 1) r.versions.push_back({what, by_count(byv)});
}

FleetReport merge(const std::vector<std::string>& files, const SnapshotLoader& load, double lag_fraction) {
  FleetReport r;
  r.lag_fraction = lag_fraction;
  r.nodes.reserve(files.size());
  for (const auto& f : files) {
    try {
      Snapshot s = load(f);
      r.nodes.push_back(summarize(s, f));
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      r.unreadable.emplace_back(f, e.what());
    }
  }
  analyze(r);
  return r;
}

}  // namespace gpudoctor::fleet
