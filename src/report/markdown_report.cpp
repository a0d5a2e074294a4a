#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include "core/escape.hpp"
#include "core/library_copy_text.hpp"
#include "report/redact.hpp"
#include "report/report.hpp"

#include <sstream>

namespace gpudoctor {

namespace {

/// Every value printed goes through cell() (text) or code() (inline code): redacted when the report
/// is for sharing, then escaped. A first pass with `learning` only shows the redactor every value.
struct Values {
  Redactor* redactor = nullptr;
  bool learning = false;
  [[nodiscard]] std::string shown(const std::string& s) const {
    if (redactor == nullptr) return s;
    if (learning) {
      redactor->learn(s);
      return s;
    }
    return redactor->text(s);
  }
  [[nodiscard]] std::string cell(const std::string& s) const { return escape::markdown(shown(s)); }
  [[nodiscard]] std::string code(const std::string& s, bool in_table = false) const {
    return escape::markdown_code(shown(s), in_table);
  }
};

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

void finding(std::ostream& out, const Finding& f, const Values& v) {
  auto cell = [&](const std::string& x) { return v.cell(x); };
  auto code = [&](const std::string& x) { return v.code(x); };
  out << "\nEvidence:\n";
  for (const auto& e : f.evidence) fmt::print(out, "- {}: {}\n", code(e.where.empty() ? "?" : e.where), cell(e.said));
  if (!f.fix.empty()) {
    out << "\nFix:\n";
    int i = 1;
    for (const auto& x : f.fix) fmt::print(out, "{}. {}\n", i++, cell(x));
  }
}

void render(std::ostream& out, const Diagnosis& d, const ReportHeader& h, const Values& v) {
  auto cell = [&](const std::string& x) { return v.cell(x); };
  auto code = [&](const std::string& x, bool in_table = false) { return v.code(x, in_table); };
  const bool unknown = !d.healthy && !d.causes.empty() && d.causes.front().severity != Severity::error;
  if (d.healthy) fmt::print(out, "### gpudoctor {}: healthy\n\n", cell(h.command));
  else if (unknown) fmt::print(out, "### gpudoctor {}: unknown (nothing blocks the GPU, nothing shows it in use)\n\n", cell(h.command));
  else fmt::print(out, "### gpudoctor {}: problem, root cause {}\n\n", cell(h.command), code(d.causes.front().cause));
  fmt::print(out, "gpudoctor {}, {} of {} ({}){}\n\n", cell(h.version), cell(h.command), code(h.root), cell(h.source),
             h.collected_at.empty() ? "" : ", " + cell(h.collected_at));
  out << "| Layer | Status | What was seen |\n|---|---|---|\n";
  for (const auto& l : d.layers)
    fmt::print(out, "| {} | {} | {} |\n", layer_title(l.layer), l.above_failure ? "✅ passed (above a failure)" : status_text(l.state),
               cell(l.summary));
  if (!d.annotations.empty()) {
    fmt::print(out, "\n**Significant lines** ({} of {} shown)\n\n| line | text | means |\n|---|---|---|\n", d.annotations.size(),
               d.annotated_total);
    for (const auto& a : d.annotations)
      fmt::print(out, "| {} | {} | {}{} |\n", a.line, code(a.text.substr(0, 200), true),
                 a.cause.empty() ? "" : code(a.cause, true) + ": ", cell(a.meaning));
  }
  if (!d.environments.empty()) {
    out << "\n**Python environments** (in use first marked *in use*):\n\n";
    for (const auto& [in_use, line] : environment_lines(d)) fmt::print(out, "- {}{}\n", in_use ? "*in use*: " : "", cell(line));
  }
  for (const auto& g : d.gpus) {
    fmt::print(out, "\n**GPU {} {}: {}** {}\n\n| check | measured | basis |\n|---|---|---|\n", g.ordinal, cell(g.name), cell(std::string(to_string(g.state))),
               cell(g.summary));
    for (const auto& f : g.figures)
      fmt::print(out, "| {} | {} | {} |\n", cell(f.name), cell(probe_figure_text(f)), cell(f.basis));
  }
  if (!d.probe_notes.empty()) {
    out << "\n**Probe**\n\n";
    for (const auto& n : d.probe_notes) fmt::print(out, "- {}\n", cell(n));
  }
  for (const auto& fw : (h.command == "probe" || h.command == "run" || h.command == "inspect") ? std::vector<FrameworkLibraries>{} : d.frameworks) {
    fmt::print(out, "\n**Libraries of {} {}** (built for CUDA {}) in {}\n\n", cell(fw.framework), cell(fw.version.value_or("?")),
               cell(fw.cuda_build.value_or("?")), code(fw.site_packages));
    out << "| library | version | from | loads | via | other copies |\n|---|---|---|---|---|---|\n";
    for (const auto& lib : fw.libraries) {
      std::vector<std::string> others;
      for (const auto& c : lib.also_mapped)
        others.push_back(cell(short_path(c.resolved)) + " (" + cell(c.origin) + ", " + cell(c.found_via) +
                         "): **also mapped, two copies in one process**");
      for (const auto& c : lib.others)
        if (!mapped_beside(lib, c)) others.push_back(cell(short_path(c.resolved)) + " (" + cell(c.origin) + ")");
      fmt::print(out, "| {} | {} | {} | {} | {} | {} |\n", cell(lib.name), cell(lib.version.value_or("?")), cell(lib.origin),
                 lib.path.known() ? cell(short_path(*lib.path)) : "**not found**", cell(lib.found_via), fmt::join(others, "<br>"));
    }
  }
  for (size_t i = 0; i < d.causes.size(); ++i) {
    const auto& c = d.causes[i];
    fmt::print(out, "\n**{}: {}** ({} layer): {}\n", i == 0    ? (d.healthy ? "Verdict" : unknown ? "Seen"
                                                                                                  : "Root cause")
                                                     : unknown ? "Seen"
                                                               : "Also found",
               code(c.cause), to_string(c.layer), cell(c.title));
    finding(out, c, v);
  }
  for (const auto& w : d.warnings) {
    fmt::print(out, "\n**Warning: {}** ({} layer): {}\n", code(w.cause), to_string(w.layer), cell(w.title));
    finding(out, w, v);
  }
  if (v.redactor != nullptr) fmt::print(out, "\n_{}_\n", escape::markdown(Redactor::note()));
}

}  // namespace

void markdown_report(std::ostream& out, const Diagnosis& d, const ReportHeader& h, Redactor* redactor) {
  if (redactor != nullptr) {
    std::ostringstream discard;
    render(discard, d, h, Values{redactor, true});
  }
  render(out, d, h, Values{redactor, false});
}

}  // namespace gpudoctor
