#include <fmt/color.h>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include "core/escape.hpp"
#include "core/library_copy_text.hpp"
#include "core/utf8.hpp"
#include "kb/knowledge_base.hpp"
#include "report/report.hpp"

namespace gpudoctor {

namespace {

// The longest start of `s` of at most `max_bytes` bytes that ends between UTF-8 sequences, so a
// cut never leaves half a character (a stray byte shown as U+FFFD, or eaten by the terminal).
std::string utf8_cut(std::string_view s, std::size_t max_bytes) {
  std::size_t end = 0;
  while (end < s.size()) {
    std::size_t n = utf8_sequence_length(s, end);
    if (n == 0) n = 1;  // a byte of no sequence: one byte (the escaper marks it)
    if (end + n > max_bytes) break;
    end += n;
  }
  return std::string(s.substr(0, end));
}

/// Every value printed here went through this: control characters from outside shown, never sent.
std::string t(std::string_view s) { return escape::terminal(s); }

struct Style {
  bool color;
  std::string paint(const std::string& s, fmt::text_style st) const { return color ? fmt::format(st, "{}", s) : s; }
};

std::string mark(LayerState s, const Style& st) {
  switch (s) {
    case LayerState::passed: return st.paint("[✓]", fg(fmt::terminal_color::green));
    case LayerState::failed: return st.paint("[✗]", fg(fmt::terminal_color::red) | fmt::emphasis::bold);
    case LayerState::warning: return st.paint("[!]", fg(fmt::terminal_color::yellow));
    case LayerState::not_reached: return st.paint("[·]", fmt::text_style{});
    case LayerState::not_checked: return st.paint("[-]", fmt::text_style{});
  }
  return "[?]";
}

void print_finding(std::ostream& out, const Finding& f, const Style& st, const char* indent, bool evidence = true) {
  if (evidence && !f.evidence.empty()) {
    out << indent << "Evidence:\n";
    for (const auto& e : f.evidence) fmt::print(out, "{}  {}: {}\n", indent, st.paint(t(e.where), fmt::emphasis::bold), t(e.said));
  }
  if (!f.fix.empty()) {
    out << indent << "Fix:\n";
    int i = 1;
    for (const auto& x : f.fix) fmt::print(out, "{}  {}. {}\n", indent, i++, t(x));
  }
}

// Whether a library row matters without --verbose: it is missing, or a cause or warning names it.
bool library_in_question(const ResolvedLibrary& lib, const Diagnosis& d) {
  if (!lib.path.known()) return !lib.optional;
  auto named = [&](const Finding& f) {
    if (f.title.find(lib.name) != std::string::npos) return true;
    for (const auto& e : f.evidence)
      if (e.where == *lib.path || e.said.find(*lib.path) != std::string::npos) return true;
    return false;
  };
  for (const auto& c : d.causes)
    if (c.severity == Severity::error && named(c)) return true;
  for (const auto& w : d.warnings)
    if (named(w)) return true;
  return false;
}

void print_library(std::ostream& out, const ResolvedLibrary& lib, const Style& st) {
  std::string where = lib.path.known() ? t(short_path(*lib.path)) : st.paint("NOT FOUND", fg(fmt::terminal_color::red));
  std::string version = t(lib.version.value_or("?"));
  if (lib.reported_version.known() && lib.version.known() && lib.version->rfind(*lib.reported_version, 0) != 0)
    version += " (says " + t(*lib.reported_version) + ")";
  else if (lib.reported_version.known() && !lib.version.known())
    version = t(*lib.reported_version);
  fmt::print(out, "  {:<40} {:<12} {:<40} {}\n", t(lib.name), version, lib.path.known() ? t(lib.origin) : std::string("-"), where);
  for (const auto& c : lib.also_mapped)
    fmt::print(out, "  {:<40} and {} ({}, {}): two copies in one process\n", "", t(short_path(c.resolved)),
               t(origin_and_version(c)), t(c.found_via));
  // A copy mapped beside the one found is not also "not reached".
  std::vector<const LibraryCopy*> others;
  for (const auto& c : lib.others)
    if (!mapped_beside(lib, c)) others.push_back(&c);
  size_t shown = 0;
  for (const LibraryCopy* cp : others) {
    const LibraryCopy& c = *cp;
    if (shown++ == 2) {
      fmt::print(out, "  {:<40} … {} more copies\n", "", others.size() - 2);
      break;
    }
    std::string state = c.status == CopyStatus::accepted ? (c.reached ? "reached, not loaded" : "not reached: the one above loads first")
                                                         : copy_status_text(c);
    fmt::print(out, "  {:<40} also {} ({}, {})\n", "", t(short_path(c.resolved)), t(origin_and_version(c)), t(state));
  }
}

}  // namespace

void terminal_report(std::ostream& out, const Diagnosis& d, const ReportHeader& h, bool color) {
  Style st{color};
  fmt::print(out, "gpudoctor {} · {} of {} ({}){}\n", t(h.version), t(h.command), t(h.root), t(h.source),
             h.collected_at.empty() ? "" : " · " + t(h.collected_at));
  // The verdict first; for a problem its root cause, evidence and fix right below it.
  bool unknown = !d.healthy && d.causes.front().severity != Severity::error;
  if (d.healthy) {
    fmt::print(out, "{} {}\n", st.paint("Verdict: healthy.", fg(fmt::terminal_color::green) | fmt::emphasis::bold),
               t(d.causes.front().title));
  } else if (unknown) {
    // Nothing blocks, but nothing shows the GPU in use either (explain).
    fmt::print(out, "{} {}\n", st.paint("Verdict: unknown.", fg(fmt::terminal_color::yellow) | fmt::emphasis::bold),
               "nothing here blocks the GPU, and nothing shows it in use");
    for (const auto& c : d.causes) {
      fmt::print(out, "  {} ({} layer): {}\n", st.paint(t(c.cause), fmt::emphasis::bold), to_string(c.layer), t(c.title));
      print_finding(out, c, st, "    ");
    }
  } else {
    const auto& root = d.causes.front();
    fmt::print(out, "{} root cause {} ({} layer)\n",
               st.paint("Verdict: problem.", fg(fmt::terminal_color::red) | fmt::emphasis::bold),
               st.paint(t(root.cause), fmt::emphasis::bold), to_string(root.layer));
    fmt::print(out, "  {}\n", t(root.title));
    print_finding(out, root, st, "  ");
  }
  out << "\n";
  // One line per layer. A layer that a cause or warning fails names it: its title is printed once,
  // with its evidence.
  auto named = [&](const Finding& f) -> std::string {
    if (!unknown && !d.healthy && &f == &d.causes.front()) return t(f.cause) + ": the root cause, above";
    return t(f.cause) + ", below";
  };
  for (const auto& l : d.layers) {
    std::string summary = t(l.summary);
    const Finding* by = nullptr;
    if (l.state == LayerState::failed && !d.healthy && !unknown)
      for (const auto& c : d.causes)
        if (c.layer == l.layer && c.severity == Severity::error && c.title == l.summary) by = &c;
    if (l.state == LayerState::warning)
      for (const auto& w : d.warnings)
        if (w.layer == l.layer && w.title == l.summary) by = &w;
    if (by != nullptr) summary = named(*by);
    if (l.above_failure) summary = "passed (above a failure): " + summary;
    fmt::print(out, "{} {:<12} {}\n", mark(l.state, st), layer_title(l.layer), summary);
  }
  fmt::print(out, "Marks: {} passed {} failed {} warning {} not reached {} not checked{}\n", mark(LayerState::passed, st),
             mark(LayerState::failed, st), mark(LayerState::warning, st), mark(LayerState::not_reached, st),
             mark(LayerState::not_checked, st), h.verbose ? "" : "; --verbose lists every library and environment");
  if (!d.annotations.empty()) {
    fmt::print(out, "\nSignificant lines ({} of {} shown):\n", d.annotations.size(), d.annotated_total);
    for (const auto& a : d.annotations) {
      std::string tag = a.cause.empty() ? "fact" : t(a.cause);
      auto style = a.severity == Severity::error     ? fg(fmt::terminal_color::red)
                   : a.severity == Severity::warning ? fg(fmt::terminal_color::yellow)
                                                     : fmt::text_style{};
      fmt::print(out, "  {:>6}  {}\n          {} {}\n", a.line, t(utf8_cut(a.text, 160)), st.paint("-> " + tag, style), t(a.meaning));
    }
  }
  if (!d.environments.empty()) {
    // Without --verbose: the one in use and those holding a framework (three at most).
    auto lines = environment_lines(d);
    std::vector<std::pair<bool, std::string>> shown;
    size_t with_framework = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      bool holds = false;
      for (const auto& f : d.installs) holds = holds || f.environment == d.environments[i].prefix;
      if (h.verbose || lines[i].first || (holds && with_framework++ < 3)) shown.push_back(lines[i]);
    }
    size_t rest = lines.size() - shown.size();
    out << (shown.size() == 1 && rest == 0 ? "\nPython environment (* = in use):\n" : "\nPython environments (* = the one in use):\n");
    for (const auto& [in_use, line] : shown) fmt::print(out, "  {} {}\n", in_use ? "*" : " ", t(line));
    if (rest > 0) fmt::print(out, "    and {} more without a framework shown (--verbose lists them)\n", rest);
  }
  for (const auto& g : d.gpus) {
    auto style = g.state == GpuState::healthy  ? fg(fmt::terminal_color::green)
                 : g.state == GpuState::failed ? fg(fmt::terminal_color::red) | fmt::emphasis::bold
                                               : fg(fmt::terminal_color::yellow);
    fmt::print(out, "\nGPU {} {}: {} {}\n", g.ordinal, t(g.name), st.paint(t(std::string(to_string(g.state))), style), t(g.summary));
    for (const auto& f : g.figures) {
      std::string basis = t(f.basis.size() > 90 ? utf8_cut(f.basis, 87) + "..." : f.basis);
      fmt::print(out, "  {:<32} {:<36} {}\n", t(f.name), t(probe_figure_text(f)), basis);
    }
  }
  if (!d.probe_notes.empty()) {
    out << "\nProbe:\n";
    for (const auto& n : d.probe_notes) fmt::print(out, "  {}\n", t(n));
  }
  // The libraries table: every row with --verbose, otherwise only the rows in question.
  bool tables = h.command != "probe" && h.command != "run" && h.command != "inspect";
  for (const auto& fw : tables ? d.frameworks : std::vector<FrameworkLibraries>{}) {
    std::vector<const ResolvedLibrary*> rows;
    for (const auto& lib : fw.libraries)
      if (h.verbose || library_in_question(lib, d)) rows.push_back(&lib);
    if (rows.empty()) continue;
    fmt::print(out, "\nLibraries of {} {} (built for CUDA {}) in {}{}:\n", t(fw.framework), t(fw.version.value_or("?")),
               t(fw.cuda_build.value_or("?")), t(fw.site_packages),
               rows.size() == fw.libraries.size() ? "" : fmt::format(", {} of {} in question", rows.size(), fw.libraries.size()));
    for (const auto* lib : rows) print_library(out, *lib, st);
  }
  if (!d.healthy && !unknown && d.causes.size() > 1) {
    out << "\nAlso found:\n";
    for (size_t i = 1; i < d.causes.size(); ++i) {
      const auto& c = d.causes[i];
      fmt::print(out, "  {} ({} layer): {}\n", st.paint(t(c.cause), fmt::emphasis::bold), to_string(c.layer), t(c.title));
      print_finding(out, c, st, "    ", h.verbose);
    }
  }
  if (!d.warnings.empty()) {
    out << "\nWarnings:\n";
    for (const auto& w : d.warnings) {
      fmt::print(out, "  {} {} ({} layer): {}\n", st.paint("!", fg(fmt::terminal_color::yellow)), t(w.cause), to_string(w.layer),
                 t(w.title));
      print_finding(out, w, st, "    ", h.verbose);
    }
  }
}

}  // namespace gpudoctor
