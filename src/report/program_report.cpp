// The program part of `gpudoctor run` and `inspect` reports: JSON, terminal and Markdown.

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include "core/snapshot_json.hpp"
#include "core/escape.hpp"
#include "report/redact.hpp"
#include "report/report.hpp"

namespace gpudoctor {

namespace {

std::string gib(std::uint64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1u << 30)); }

template <typename T>
nlohmann::ordered_json figure(const Fact<T>& f) {
  return f.known() ? nlohmann::ordered_json(*f) : nlohmann::ordered_json(nullptr);
}

std::string percent(const Fact<double>& f, double scale = 1) {
  return f.known() ? fmt::format("{:.0f}%", *f * scale) : "?";
}

std::string pids_text(const std::vector<std::uint32_t>& pids) {
  return pids.empty() ? "-" : fmt::format("{}", fmt::join(pids, ", "));
}

}  // namespace

std::string printable(std::string_view s, std::size_t limit) {
  std::string out;
  for (char c : s.substr(0, limit)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7F) ? '?' : c;
  }
  if (s.size() > limit) out += "...";
  return out;
}

nlohmann::ordered_json program_json(const Diagnosis& d, const Program& p) {
  nlohmann::ordered_json j;
  j["verdict"] = to_string(d.program_verdict);
  j["summary"] = d.program_summary;
  j["mode"] = p.mode;
  j["command"] = p.command;
  j["cwd"] = p.cwd;
  j["pid"] = p.pid;
  std::vector<std::uint32_t> pids;
  for (const auto& proc : p.processes) pids.push_back(proc.pid);
  j["pids"] = pids;
  j["exit_status"] = figure(p.exit_status);
  j["ended"] = p.ended;
  j["started_at"] = p.started_at;
  j["duration_s"] = p.duration_s;
  j["per_process"] = to_string(p.per_process);
  j["gpus"] = nlohmann::ordered_json::array();
  for (const auto& g : p.gpus) {
    nlohmann::ordered_json gj;
    gj["index"] = g.index;
    gj["name"] = g.name;
    gj["uuid"] = g.uuid;
    gj["used"] = g.used;
    gj["pids"] = g.pids;
    gj["peak_memory_bytes"] = figure(g.peak_memory_bytes);
    gj["memory_total_bytes"] = figure(g.memory_total_bytes);
    gj["mean_utilization_percent"] = figure(g.mean_utilization_percent);
    gj["peak_utilization_percent"] = figure(g.peak_utilization_percent);
    gj["busy_share"] = figure(g.busy_share);
    gj["utilization_basis"] = g.utilization_basis;
    gj["others_peak_memory_bytes"] = figure(g.others_peak_memory_bytes);
    gj["other_pids"] = g.other_pids;
    gj["samples"] = g.samples;
    j["gpus"].push_back(std::move(gj));
  }
  j["cpu_mean_percent"] = figure(p.cpu_mean_percent);
  j["libraries"] = nlohmann::ordered_json::array();
  for (const auto& c : d.program_libraries)
    j["libraries"].push_back({{"framework", c.framework}, {"role", c.role}, {"loaded", c.loaded}, {"predicted", c.predicted}, {"state", to_string(c.state)}, {"pids", c.pids}});
  j["notes"] = p.notes;
  auto watch = to_json(p);
  // What the program's source says (file:line), as the program rules read it.
  j["code"] = watch.contains("code") ? watch["code"] : nlohmann::json::array();
  // Everything watched, timelines included (the snapshot's Program).
  j["watch"] = std::move(watch);
  return j;
}

void program_terminal(std::ostream& out, const Diagnosis& d, const Program& p) {
  std::string cmd = fmt::format("{}", fmt::join(p.command, " "));
  fmt::print(out, "\nProgram: {} (PID {}), {} after {:.1f} s\n", printable(cmd, 200), p.pid, p.ended, p.duration_s);
  fmt::print(out, "  Verdict: {}: {}\n", to_string(d.program_verdict), printable(d.program_summary, 400));
  for (const auto& g : p.gpus) {
    fmt::print(out, "  GPU {} {}: {}; peak memory {}, utilization mean {} peak {}, busy {} ({} samples{})\n", g.index,
               printable(g.name, 80), g.used ? "used by PID " + pids_text(g.pids) : "not used",
               g.peak_memory_bytes.known() ? gib(*g.peak_memory_bytes) : "?", percent(g.mean_utilization_percent),
               g.peak_utilization_percent.known() ? fmt::format("{}%", *g.peak_utilization_percent) : "?",
               percent(g.busy_share, 100), g.samples, g.utilization_basis.empty() ? "" : "; " + g.utilization_basis);
    if (!g.other_pids.empty())
      fmt::print(out, "        other processes on it: PID {} (peak {})\n", pids_text(g.other_pids),
                 g.others_peak_memory_bytes.known() ? gib(*g.others_peak_memory_bytes) : "?");
  }
  if (p.cpu_mean_percent.known()) fmt::print(out, "  CPU: {:.0f}% of one core on average, {} process(es)\n", *p.cpu_mean_percent, p.processes.size());
  std::size_t shown = 0;
  for (const auto& c : d.program_libraries) {
    if (shown++ == 0) out << "  Libraries loaded (against check's prediction):\n";
    if (shown > 24) break;
    fmt::print(out, "    {:<10} {:<14} {:<13} {}\n", c.framework.empty() ? "-" : c.framework, c.role, to_string(c.state),
               printable(short_path(c.loaded.empty() ? c.predicted : c.loaded), 160));
  }
  for (const auto& n : p.notes) fmt::print(out, "  note: {}\n", printable(n, 400));
}

void program_markdown(std::ostream& out, const Diagnosis& d, const Program& p, const Redactor* redactor) {
  std::string cmd = fmt::format("{}", fmt::join(p.command, " "));
  auto shown = [&](const std::string& s) {
    std::string cut = printable(s, 300);
    return redactor != nullptr ? redactor->text(cut) : cut;
  };
  auto cell = [&](const std::string& s) { return escape::markdown(shown(s)); };
  fmt::print(out, "\n### Program\n\n");
  fmt::print(out, "- Command: {} (PID {}), {} after {:.1f} s\n", escape::markdown_code(shown(cmd), false), p.pid, cell(p.ended),
             p.duration_s);
  fmt::print(out, "- Verdict: **{}**: {}\n", to_string(d.program_verdict), cell(d.program_summary));
  if (p.cpu_mean_percent.known()) fmt::print(out, "- CPU: {:.0f}% of one core on average, {} process(es)\n", *p.cpu_mean_percent, p.processes.size());
  if (!p.gpus.empty()) {
    fmt::print(out, "\n| GPU | used by | peak memory | mean util | peak util | busy | basis |\n|---|---|---|---|---|---|---|\n");
    for (const auto& g : p.gpus)
      fmt::print(out, "| {} {} | {} | {} | {} | {} | {} | {} |\n", g.index, cell(g.name), g.used ? pids_text(g.pids) : "-",
                 g.peak_memory_bytes.known() ? gib(*g.peak_memory_bytes) : "?", percent(g.mean_utilization_percent),
                 g.peak_utilization_percent.known() ? fmt::format("{}%", *g.peak_utilization_percent) : "?",
                 percent(g.busy_share, 100), cell(g.utilization_basis));
  }
  if (!d.program_libraries.empty()) {
    fmt::print(out, "\n| framework | library | state | loaded | predicted |\n|---|---|---|---|---|\n");
    for (const auto& c : d.program_libraries)
      fmt::print(out, "| {} | {} | {} | {} | {} |\n", c.framework, c.role, to_string(c.state), cell(short_path(c.loaded)), cell(short_path(c.predicted)));
  }
  for (const auto& n : p.notes) fmt::print(out, "- note: {}\n", cell(n));
}

}  // namespace gpudoctor
