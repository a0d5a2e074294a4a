// The fleet report: JSON (the contract), terminal and Markdown. Host names and versions come
// from snapshots, so every value goes through its escaper.

#include <fmt/format.h>

#include "core/escape.hpp"
#include "fleet/merge.hpp"

namespace gpudoctor::fleet {

namespace {

/// At most this many host names on one line of the terminal and Markdown reports; JSON has all.
constexpr std::size_t k_hosts_shown = 12;

template <typename Escape>
std::string host_list(const std::vector<std::string>& hosts, Escape esc) {
  std::string out;
  for (std::size_t i = 0; i < hosts.size() && i < k_hosts_shown; ++i) out += (i > 0 ? ", " : "") + esc(hosts[i]);
  if (hosts.size() > k_hosts_shown) out += fmt::format(" and {} more", hosts.size() - k_hosts_shown);
  return out;
}

std::size_t healthy_count(const FleetReport& r) {
  std::size_t n = 0;
  for (const auto& x : r.nodes) n += x.healthy ? 1 : 0;
  return n;
}

}  // namespace

nlohmann::ordered_json fleet_json(const FleetReport& r) {
  nlohmann::ordered_json j;
  std::size_t healthy = healthy_count(r);
  j["verdict"] = !r.nodes.empty() && healthy == r.nodes.size() && r.lagging.empty() && r.not_answered.empty() ? "healthy" : "problem";
  j["tool"] = "gpudoctor";
  j["command"] = r.command;
  j["nodes"] = r.nodes.size();
  j["healthy_nodes"] = healthy;
  j["causes"] = nlohmann::ordered_json::array();
  for (const auto& c : r.causes)
    j["causes"].push_back({{"id", c.id}, {"layer", c.layer}, {"title", c.title}, {"fix", c.fix}, {"hosts", c.hosts}});
  j["hosts"] = nlohmann::ordered_json::array();
  for (const auto& n : r.nodes)
    j["hosts"].push_back({{"host", n.host}, {"file", n.file}, {"verdict", n.healthy ? "healthy" : "problem"}, {"root_cause", n.root_cause}, {"versions", n.versions}});
  j["lagging"] = nlohmann::ordered_json::array();
  for (const auto& l : r.lagging)
    j["lagging"].push_back({{"host", l.host}, {"gpu", l.figure.gpu}, {"model", l.figure.model}, {"figure", l.figure.figure}, {"unit", l.figure.unit}, {"measured", l.figure.measured}, {"fleet_median", l.median}, {"nodes_compared", l.peers}});
  j["lag_fraction"] = r.lag_fraction;
  j["version_differences"] = nlohmann::ordered_json::array();
  for (const auto& v : r.versions) {
    nlohmann::ordered_json values = nlohmann::ordered_json::array();
    for (const auto& [version, hosts] : v.values) values.push_back({{"version", version}, {"hosts", hosts}});
    j["version_differences"].push_back({{"what", v.what}, {"values", values}});
  }
  j["unreadable"] = nlohmann::ordered_json::array();
  for (const auto& [file, why] : r.unreadable) j["unreadable"].push_back({{"file", file}, {"error", why}});
  j["not_answered"] = r.not_answered;
  j["not_answered_why"] = nlohmann::ordered_json::object();
  for (const auto& [host, why] : r.not_answered_why) j["not_answered_why"][host] = why;
  j["notes"] = r.notes;
  return j;
}

void fleet_terminal(std::ostream& out, const FleetReport& r, bool color) {
  auto esc = [](const std::string& s) { return escape::terminal(s); };
  const char* red = color ? "\x1b[31m" : "";
  const char* green = color ? "\x1b[32m" : "";
  const char* yellow = color ? "\x1b[33m" : "";
  const char* off = color ? "\x1b[0m" : "";
  std::size_t healthy = healthy_count(r);
  out << fmt::format("gpudoctor fleet: {} nodes, {} healthy, {} with a problem", r.nodes.size(), healthy, r.nodes.size() - healthy);
  if (!r.unreadable.empty()) out << fmt::format(", {} snapshots unreadable", r.unreadable.size());
  if (!r.not_answered.empty()) out << fmt::format(", {} nodes did not answer", r.not_answered.size());
  out << "\n";
  for (const auto& c : r.causes) {
    bool ok = c.id == "healthy";
    out << fmt::format("\n{}{} {}{} ({} node{}): {}\n", ok ? green : red, ok ? "[✓]" : "[✗]", c.id, off, c.hosts.size(),
                       c.hosts.size() == 1 ? "" : "s", host_list(c.hosts, esc));
    if (ok) continue;
    out << "    " << esc(c.title) << "\n";
    for (const auto& f : c.fix) out << "    fix: " << esc(f) << "\n";
  }
  if (!r.lagging.empty()) {
    out << fmt::format("\n{}[!]{} figures below {:.0f}% of the fleet's median for the same GPU model:\n", yellow, off,
                       100 * r.lag_fraction);
    for (const auto& l : r.lagging)
      out << fmt::format("    {} GPU {} ({}): {} {:.1f} {} against a median of {:.1f} over {} nodes\n", esc(l.host), l.figure.gpu,
                         esc(l.figure.model), esc(l.figure.figure), l.figure.measured, esc(l.figure.unit), l.median, l.peers);
  }
  if (!r.versions.empty()) {
    out << fmt::format("\n{}[!]{} versions that differ between nodes:\n", yellow, off);
    for (const auto& v : r.versions) {
      out << "    " << esc(v.what) << ":";
      for (const auto& [version, hosts] : v.values)
        out << fmt::format("\n        {} on {} node{}: {}", esc(version), hosts.size(), hosts.size() == 1 ? "" : "s",
                           host_list(hosts, esc));
      out << "\n";
    }
  }
  if (!r.not_answered.empty()) {
    out << fmt::format("\n{}[?]{} no snapshot in time from: {}\n", yellow, off, host_list(r.not_answered, esc));
    std::size_t shown = 0;
    for (const auto& h : r.not_answered) {
      auto it = r.not_answered_why.find(h);
      if (it == r.not_answered_why.end() || shown++ >= k_hosts_shown) continue;
      out << "    " << esc(h) << ": " << esc(it->second) << "\n";
    }
  }
  for (std::size_t i = 0; i < r.notes.size() && i < k_hosts_shown; ++i) out << "note: " << esc(r.notes[i]) << "\n";
  if (!r.unreadable.empty()) {
    out << fmt::format("\n{}[?]{} unreadable snapshots:\n", yellow, off);
    for (std::size_t i = 0; i < r.unreadable.size() && i < k_hosts_shown; ++i)
      out << "    " << esc(r.unreadable[i].first) << ": " << esc(r.unreadable[i].second) << "\n";
    if (r.unreadable.size() > k_hosts_shown) out << fmt::format("    and {} more\n", r.unreadable.size() - k_hosts_shown);
  }
}

void fleet_markdown(std::ostream& out, const FleetReport& r) {
  auto code = [](const std::string& s) { return escape::markdown_code(s, true); };
  std::size_t healthy = healthy_count(r);
  out << fmt::format("## gpudoctor fleet report\n\n{} nodes, {} healthy, {} with a problem", r.nodes.size(), healthy,
                     r.nodes.size() - healthy);
  if (!r.unreadable.empty()) out << fmt::format(", {} snapshots unreadable", r.unreadable.size());
  if (!r.not_answered.empty()) out << fmt::format(", {} nodes did not answer", r.not_answered.size());
  out << ".\n\n| root cause | nodes | hosts |\n|---|---|---|\n";
  for (const auto& c : r.causes) out << fmt::format("| `{}` | {} | {} |\n", c.id, c.hosts.size(), host_list(c.hosts, code));
  for (const auto& c : r.causes) {
    if (c.id == "healthy") continue;
    out << fmt::format("\n### `{}` ({} nodes)\n\n{}\n", c.id, c.hosts.size(), escape::markdown(c.title));
    if (!c.fix.empty()) out << "\nFix:\n\n";
    for (const auto& f : c.fix) out << "- " << escape::markdown(f) << "\n";
  }
  if (!r.lagging.empty()) {
    out << fmt::format("\n### Below {:.0f}% of the fleet's median\n\n| host | GPU | model | figure | measured | median |\n|---|---|---|---|---|---|\n",
                       100 * r.lag_fraction);
    for (const auto& l : r.lagging)
      out << fmt::format("| {} | {} | {} | {} | {:.1f} {} | {:.1f} |\n", code(l.host), l.figure.gpu, code(l.figure.model),
                         code(l.figure.figure), l.figure.measured, code(l.figure.unit), l.median);
  }
  if (!r.versions.empty()) {
    out << "\n### Versions that differ\n\n| what | version | nodes | hosts |\n|---|---|---|---|\n";
    for (const auto& v : r.versions)
      for (const auto& [version, hosts] : v.values)
        out << fmt::format("| {} | {} | {} | {} |\n", code(v.what), code(version), hosts.size(), host_list(hosts, code));
  }
  if (!r.not_answered.empty()) {
    out << "\nNo snapshot in time from: " << host_list(r.not_answered, code) << "\n";
    std::size_t shown = 0;
    for (const auto& h : r.not_answered) {
      auto it = r.not_answered_why.find(h);
      if (it == r.not_answered_why.end() || shown++ >= k_hosts_shown) continue;
      out << "\n- " << code(h) << ": " << escape::markdown(it->second);
    }
    if (shown > 0) out << "\n";
  }
  if (!r.notes.empty()) {
    out << "\nNotes:\n\n";
    for (std::size_t i = 0; i < r.notes.size() && i < k_hosts_shown; ++i) out << "- " << escape::markdown(r.notes[i]) << "\n";
  }
  if (!r.unreadable.empty()) {
    out << "\n### Unreadable snapshots\n\n";
    for (std::size_t i = 0; i < r.unreadable.size() && i < k_hosts_shown; ++i)
      out << "- " << code(r.unreadable[i].first) << ": " << escape::markdown(r.unreadable[i].second) << "\n";
    if (r.unreadable.size() > k_hosts_shown) out << fmt::format("- and {} more\n", r.unreadable.size() - k_hosts_shown);
  }
}

}  // namespace gpudoctor::fleet
