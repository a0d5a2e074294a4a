#include <fmt/color.h>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include "core/escape.hpp"
#include "kb/knowledge_base.hpp"
#include "report/report.hpp"

namespace gpudoctor {

namespace {

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

void print_finding(std::ostream& out, const Finding& f, const Style& st, const char* indent) {
  out << indent << "Evidence:\n";
  for (const auto& e : f.evidence) fmt::print(out, "{}  {}: {}\n", indent, st.paint(t(e.where), fmt::emphasis::bold), t(e.said));
  if (!f.fix.empty()) {
    out << indent << "Fix:\n";
    int i = 1;
    for (const auto& x : f.fix) fmt::print(out, "{}  {}. {}\n", indent, i++, t(x));
  }
}

}  // namespace

void terminal_report(std::ostream& out, const Diagnosis& d, const ReportHeader& h, bool color) {
  Style st{color};
  fmt::print(out, "gpudoctor {} · {} of {} ({}){}\n\n", t(h.version), t(h.command), t(h.root), t(h.source),
             h.collected_at.empty() ? "" : " · " + t(h.collected_at));
  for (const auto& l : d.layers) {
    fmt::print(out, "{} {:<12} {}\n", mark(l.state, st), layer_title(l.layer), t(l.summary));
  }
  if (!d.annotations.empty()) {
    fmt::print(out, "\nSignificant lines ({} of {} shown):\n", d.annotations.size(), d.annotated_total);
    for (const auto& a : d.annotations) {
      std::string tag = a.cause.empty() ? "fact" : t(a.cause);
      auto style = a.severity == Severity::error ? fg(fmt::terminal_color::red)
                   : a.severity == Severity::warning ? fg(fmt::terminal_color::yellow) : fmt::text_style{};
      fmt::print(out, "  {:>6}  {}\n          {} {}\n", a.line, t(a.text.substr(0, 160)), st.paint("-> " + tag, style), t(a.meaning));
    }
  }
  if (!d.environments.empty()) {
    out << "\nPython environments (* = the one in use):\n";
    for (const auto& [in_use, line] : environment_lines(d)) fmt::print(out, "  {} {}\n", in_use ? "*" : " ", t(line));
  }
  for (const auto& g : d.gpus) {
    auto style = g.state == "healthy" ? fg(fmt::terminal_color::green)
                 : g.state == "failed" ? fg(fmt::terminal_color::red) | fmt::emphasis::bold
                                       : fg(fmt::terminal_color::yellow);
    fmt::print(out, "\nGPU {} {}: {} {}\n", g.ordinal, t(g.name), st.paint(t(g.state), style), t(g.summary));
    for (const auto& f : g.figures) {
      std::string basis = t(f.basis.size() > 90 ? f.basis.substr(0, 87) + "..." : f.basis);
      fmt::print(out, "  {:<32} {:<36} {}\n", t(f.name), t(probe_figure_text(f)), basis);
    }
  }
  if (!d.probe_notes.empty()) {
    out << "\nProbe:\n";
    for (const auto& n : d.probe_notes) fmt::print(out, "  {}\n", t(n));
  }
  for (const auto& fw : (h.command == "probe" || h.command == "run" || h.command == "inspect") ? std::vector<FrameworkLibraries>{} : d.frameworks) {
    fmt::print(out, "\nLibraries of {} {} (built for CUDA {}) in {}:\n", t(fw.framework), t(fw.version.value_or("?")),
               t(fw.cuda_build.value_or("?")), t(fw.site_packages));
    for (const auto& lib : fw.libraries) {
      std::string where = lib.path.known() ? t(short_path(*lib.path)) : st.paint("NOT FOUND", fg(fmt::terminal_color::red));
      std::string version = t(lib.version.value_or("?"));
      if (lib.reported_version.known() && lib.version.known() && lib.version->rfind(*lib.reported_version, 0) != 0)
        version += " (says " + t(*lib.reported_version) + ")";
      else if (lib.reported_version.known() && !lib.version.known())
        version = t(*lib.reported_version);
      fmt::print(out, "  {:<40} {:<12} {:<40} {}\n", t(lib.name), version,
                 lib.path.known() ? t(lib.origin) : std::string("-"), where);
      size_t shown = 0;
      for (const auto& c : lib.others) {
        if (shown++ == 2) {
          fmt::print(out, "  {:<40} … {} more copies\n", "", lib.others.size() - 2);
          break;
        }
        std::string state = c.status == "accepted" ? (c.reached ? "reached, not loaded" : "not reached: the one above loads first")
                                                   : c.status;
        fmt::print(out, "  {:<40} also {} ({}{}, {})\n", "", t(short_path(c.resolved)), t(c.origin),
                   c.version.known() ? " " + t(*c.version) : "", t(state));
      }
    }
  }
  out << "\n";
  if (d.healthy) {
    fmt::print(out, "{} {}\n", st.paint("Verdict: healthy.", fg(fmt::terminal_color::green) | fmt::emphasis::bold),
               t(d.causes.front().title));
  } else if (d.causes.front().severity != Severity::error) {
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
    if (d.causes.size() > 1) {
      out << "\nAlso found:\n";
      for (size_t i = 1; i < d.causes.size(); ++i) {
        const auto& c = d.causes[i];
        fmt::print(out, "  {} ({} layer): {}\n", st.paint(t(c.cause), fmt::emphasis::bold), to_string(c.layer), t(c.title));
        print_finding(out, c, st, "    ");
      }
    }
  }
  if (!d.warnings.empty()) {
    out << "\nWarnings:\n";
    for (const auto& w : d.warnings) {
      fmt::print(out, "  {} {}: {}\n", st.paint("!", fg(fmt::terminal_color::yellow)), t(w.cause), t(w.title));
      print_finding(out, w, st, "    ");
    }
  }
}

}  // namespace gpudoctor
