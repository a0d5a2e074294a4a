#include <fmt/format.h>
#include <fmt/ostream.h>

#include "report/report.hpp"

namespace gpudoctor {

namespace {

std::string cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string code(const std::string& s) {
  // Inline code: pick a fence longer than any backtick run inside.
  size_t run = 0, longest = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(longest + 1, '`');
  return fence + (s.front() == '`' ? " " : "") + s + (s.back() == '`' ? " " : "") + fence;
}

const char* status_text(LayerState s) {
  switch (s) {
    case LayerState::passed: return "✅ passed";
    case LayerState::failed: return "❌ failed";
    case LayerState::warning: return "⚠️ warning";
    case LayerState::not_reached: return "not reached";
    case LayerState::not_checked: return "not checked";
  }
  return "";
}

void finding(std::ostream& out, const Finding& f) {
  out << "\nEvidence:\n";
  for (const auto& e : f.evidence) fmt::print(out, "- {}: {}\n", code(e.where.empty() ? "?" : e.where), cell(e.said));
  if (!f.fix.empty()) {
    out << "\nFix:\n";
    int i = 1;
    for (const auto& x : f.fix) fmt::print(out, "{}. {}\n", i++, cell(x));
  }
}

}  // namespace

void markdown_report(std::ostream& out, const Diagnosis& d, const ReportHeader& h) {
  if (d.healthy) fmt::print(out, "### gpudoctor {}: healthy\n\n", h.command);
  else fmt::print(out, "### gpudoctor {}: problem, root cause `{}`\n\n", h.command, d.causes.front().cause);
  fmt::print(out, "gpudoctor {}, {} of `{}` ({}){}\n\n", h.version, h.command, h.root, h.source,
             h.collected_at.empty() ? "" : ", " + h.collected_at);
  out << "| Layer | Status | What was seen |\n|---|---|---|\n";
  for (const auto& l : d.layers)
    fmt::print(out, "| {} | {} | {} |\n", layer_title(l.layer), status_text(l.state), cell(l.summary));
  if (!d.annotations.empty()) {
    fmt::print(out, "\n**Significant lines** ({} of {} shown)\n\n| line | text | means |\n|---|---|---|\n", d.annotations.size(),
               d.annotated_total);
    for (const auto& a : d.annotations)
      fmt::print(out, "| {} | {} | {}{} |\n", a.line, code(a.text.substr(0, 200).empty() ? std::string(" ") : a.text.substr(0, 200)),
                 a.cause.empty() ? "" : "`" + a.cause + "`: ", cell(a.meaning));
  }
  if (!d.environments.empty()) {
    out << "\n**Python environments** (in use first marked *in use*):\n\n";
    for (const auto& [in_use, line] : environment_lines(d)) fmt::print(out, "- {}{}\n", in_use ? "*in use*: " : "", cell(line));
  }
  for (const auto& g : d.gpus) {
    fmt::print(out, "\n**GPU {} {}: {}** {}\n\n| check | measured | basis |\n|---|---|---|\n", g.ordinal, cell(g.name), g.state,
               cell(g.summary));
    for (const auto& f : g.figures) fmt::print(out, "| {} | {} | {} |\n", f.name, cell(probe_figure_text(f)), cell(f.basis));
  }
  if (!d.probe_notes.empty()) {
    out << "\n**Probe**\n\n";
    for (const auto& n : d.probe_notes) fmt::print(out, "- {}\n", cell(n));
  }
  for (const auto& fw : (h.command == "probe" || h.command == "run" || h.command == "inspect") ? std::vector<FrameworkLibraries>{} : d.frameworks) {
    fmt::print(out, "\n**Libraries of {} {}** (built for CUDA {}) in `{}`\n\n", fw.framework, fw.version.value_or("?"),
               fw.cuda_build.value_or("?"), fw.site_packages);
    out << "| library | version | from | loads | via | other copies |\n|---|---|---|---|---|---|\n";
    for (const auto& lib : fw.libraries) {
      std::string others;
      for (const auto& c : lib.others)
        others += (others.empty() ? "" : "<br>") + cell(short_path(c.resolved)) + " (" + cell(c.origin) + ")";
      fmt::print(out, "| {} | {} | {} | {} | {} | {} |\n", lib.name, lib.version.value_or("?"), cell(lib.origin),
                 lib.path.known() ? cell(short_path(*lib.path)) : "**not found**", cell(lib.found_via), others);
    }
  }
  for (size_t i = 0; i < d.causes.size(); ++i) {
    const auto& c = d.causes[i];
    fmt::print(out, "\n**{}: `{}`** ({} layer): {}\n", i == 0 ? (d.healthy ? "Verdict" : "Root cause") : "Also found",
               c.cause, to_string(c.layer), cell(c.title));
    finding(out, c);
  }
  for (const auto& w : d.warnings) {
    fmt::print(out, "\n**Warning: `{}`** ({} layer): {}\n", w.cause, to_string(w.layer), cell(w.title));
    finding(out, w);
  }
}

}  // namespace gpudoctor
