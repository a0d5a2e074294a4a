// `gpudoctor run --html FILE`: one self-contained page (no scripts, no fonts, nothing fetched):
// the verdict, the causes with their evidence and fixes, and per GPU a timeline of the program's
// utilization and memory beside the device's, the program's CPU use, and its log's findings
// marked where they were printed. Every text from outside is escaped.

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "report/redact.hpp"
#include "report/report.hpp"

namespace gpudoctor {

namespace {

/// The redactor of the page being written (program_html sets it for its duration; nullptr with
/// --no-redact): every text goes through esc(), so every text is redacted there.
thread_local const Redactor* t_redactor = nullptr;

std::string esc(std::string_view s, std::size_t limit = 2000) {
  std::string out;
  std::string cut = printable(s, limit);
  if (t_redactor != nullptr) cut = t_redactor->text(cut);
  for (char c : cut) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

constexpr double k_width = 900, k_height = 160, k_left = 44, k_right = 12, k_top = 10, k_bottom = 22;

struct Plot {
  double duration;
  double x(double t) const { return k_left + (k_width - k_left - k_right) * (duration > 0 ? std::clamp(t / duration, 0.0, 1.0) : 0); }
  static double y(double fraction) { return k_top + (k_height - k_top - k_bottom) * (1 - std::clamp(fraction, 0.0, 1.0)); }
};

/// A polyline through the known points; a gap where a figure is unknown.
template <typename Get>
std::string polylines(const Plot& plot, const std::vector<GpuSample>& samples, Get get, const char* style) {
  std::string out, points;
  auto flush = [&] {
    if (!points.empty()) out += fmt::format("<polyline points=\"{}\" {}/>\n", points, style);
    points.clear();
  };
  for (const auto& s : samples) {
    auto v = get(s);
    if (!v) {
      flush();
      continue;
    }
    points += fmt::format("{:.1f},{:.1f} ", plot.x(s.t_s), Plot::y(*v));
  }
  flush();
  return out;
}

std::string axes(const Plot& plot, const char* label) {
  std::string out = fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n", k_left, k_top,
                                k_width - k_left - k_right, k_height - k_top - k_bottom);
  for (int pct : {0, 50, 100})
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"end\">{}%</text>\n", k_left - 4, Plot::y(pct / 100.0) + 3, pct);
  for (int i = 0; i <= 4; ++i) {
    double t = plot.duration * i / 4;
    // The last label ends at the plot's right edge, so that it is not cut off by the picture's.
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"10\" text-anchor=\"{}\">{:.1f} s</text>\n", plot.x(t), k_height - 6,
                       i == 4 ? "end" : "middle", t);
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#555\">{}</text>\n", k_left + 4, k_top + 11, label);
  return out;
}

/// The log's significant lines, each line once per cause: the catalogue may match one line with
/// two messages (TensorFlow's and the loader's), which the JSON keeps and a page shows once.
std::vector<const LogEvent*> log_lines(const Program& p) {
  std::vector<const LogEvent*> out;
  for (const auto& e : p.log) {
    bool repeat = std::any_of(out.begin(), out.end(), [&](const LogEvent* k) {
      return k->stream == e.stream && k->line == e.line && k->cause == e.cause;
    });
    if (!repeat) out.push_back(&e);
  }
  return out;
}

/// A mark per line of the log with a cause, across a plot.
std::string log_marks(const Plot& plot, const std::vector<const LogEvent*>& lines) {
  std::string out;
  for (const auto* event : lines) {
    const auto& e = *event;
    if (e.cause.empty()) continue;
    const char* color = e.severity == Severity::error ? "#c62828" : e.severity == Severity::warning ? "#ef6c00"
                                                                                                    : "#9e9e9e";
    out += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"2\"><title>{4} line {5}: {6} ({7})</title></line>\n",
                       plot.x(e.t_s), k_top, k_height - k_bottom, color, esc(e.stream, 200), e.line, esc(e.text, 300), esc(e.cause, 80));
  }
  return out;
}

void finding_html(std::ostream& out, const Finding& f, const char* kind) {
  fmt::print(out, "<div class=\"{}\"><h3>{} <code>{}</code> <small>({} layer)</small></h3>\n", kind, esc(f.title), esc(f.cause),
             to_string(f.layer));
  if (!f.evidence.empty()) {
    out << "<ul>";
    for (const auto& e : f.evidence) fmt::print(out, "<li><b>{}</b>: {}</li>", esc(e.where, 300), esc(e.said));
    out << "</ul>\n";
  }
  if (!f.fix.empty()) {
    out << "<ol class=\"fix\">";
    for (const auto& x : f.fix) fmt::print(out, "<li>{}</li>", esc(x));
    out << "</ol>\n";
  }
  out << "</div>\n";
}

}  // namespace

void program_html(std::ostream& out, const Diagnosis& d, const ReportHeader& h, const Program& p, const Redactor* redactor) {
  struct Scope {
    explicit Scope(const Redactor* r) { t_redactor = r; }
    ~Scope() { t_redactor = nullptr; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  } scope(redactor);
  std::string cmd = fmt::format("{}", fmt::join(p.command, " "));
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  fmt::print(out, "<title>gpudoctor: {}</title>\n", esc(cmd, 120));
  out << "<style>body{font-family:sans-serif;margin:24px;max-width:960px;color:#222}"
         "code{background:#f2f2f2;padding:0 3px}.cause{border-left:4px solid #c62828;padding-left:10px}"
         ".warning{border-left:4px solid #ef6c00;padding-left:10px}.ok{border-left:4px solid #2e7d32;padding-left:10px}"
         "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px}"
         ".legend span{display:inline-block;margin-right:14px;font-size:12px}</style></head><body>\n";
  fmt::print(out, "<h1>gpudoctor {} · {}</h1>\n", esc(h.version, 40), esc(h.command, 20));
  fmt::print(out, "<p><code>{}</code> (PID {}), {} after {:.1f} s, started {}</p>\n", esc(cmd, 500), p.pid, esc(p.ended, 200),
             p.duration_s, esc(p.started_at, 40));
  fmt::print(out, "<h2 id=\"verdict\">Verdict: {} ({})</h2>\n", d.healthy ? "healthy" : "problem", esc(to_string(d.program_verdict), 40));
  // A healthy verdict's finding restates the summary as its title.
  if (d.causes.empty() || d.causes.front().cause != "healthy") fmt::print(out, "<p>{}</p>\n", esc(d.program_summary));
  for (const auto& c : d.causes) finding_html(out, c, d.healthy ? "ok" : "cause");
  for (const auto& w : d.warnings) finding_html(out, w, "warning");

  Plot plot{std::max(p.duration_s, 0.001)};
  const auto lines = log_lines(p);
  out << "<h2>Timeline</h2>\n<p class=\"legend\"><span style=\"color:#1565c0\">&#9632; the program's utilization</span>"
         "<span style=\"color:#90caf9\">&#9632; the device's utilization (every process)</span>"
         "<span style=\"color:#6a1b9a\">&#9632; the program's memory</span>"
         "<span style=\"color:#c62828\">| log findings</span></p>\n";
  for (const auto& g : p.gpus) {
    fmt::print(out, "<h3>GPU {} {} {}</h3>\n", g.index, esc(g.name, 100), g.used ? "(used)" : "(not used by the program)");
    fmt::print(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"GPU {} timeline\">\n",
               k_width, k_height, g.index);
    out << axes(plot, "utilization and memory (of the card)");
    double total = g.memory_total_bytes.known() && *g.memory_total_bytes > 0 ? static_cast<double>(*g.memory_total_bytes) : 0;
    out << polylines(
        plot, g.timeline, [](const GpuSample& s) -> std::optional<double> {
          if (!s.device_utilization_percent.known()) return std::nullopt;
          return *s.device_utilization_percent / 100.0;
        },
        "fill=\"none\" stroke=\"#90caf9\" stroke-width=\"1.5\"");
    out << polylines(
        plot, g.timeline, [](const GpuSample& s) -> std::optional<double> {
          if (!s.utilization_percent.known()) return std::nullopt;
          return *s.utilization_percent / 100.0;
        },
        "fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\"");
    if (total > 0)
      out << polylines(
          plot, g.timeline, [total](const GpuSample& s) -> std::optional<double> {
            if (!s.memory_bytes.known()) return std::nullopt;
            return static_cast<double>(*s.memory_bytes) / total;
          },
          "fill=\"none\" stroke=\"#6a1b9a\" stroke-width=\"1.5\" stroke-dasharray=\"4 2\"");
    out << log_marks(plot, lines) << "</svg>\n";
  }
  if (!p.cpu.empty()) {
    double peak = 100;
    for (const auto& c : p.cpu) peak = std::max(peak, c.percent);
    fmt::print(out, "<h3>CPU of the program's processes (100% = one core; top of the plot {:.0f}%)</h3>\n", peak);
    fmt::print(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"CPU timeline\">\n", k_width, k_height);
    out << axes(plot, "CPU, of the plot's top");
    std::string points;
    for (const auto& c : p.cpu) points += fmt::format("{:.1f},{:.1f} ", plot.x(c.t_s), Plot::y(c.percent / peak));
    fmt::print(out, "<polyline points=\"{}\" fill=\"none\" stroke=\"#2e7d32\" stroke-width=\"1.5\"/>\n", points);
    out << log_marks(plot, lines) << "</svg>\n";
  }
  if (!p.gpus.empty()) {
    out << "<h2>Per GPU</h2><table><tr><th>GPU</th><th>used by</th><th>peak memory</th><th>mean util</th><th>peak util</th><th>busy</th><th>basis</th></tr>\n";
    for (const auto& g : p.gpus) {
      std::string pids = fmt::format("{}", fmt::join(g.pids, ", "));
      fmt::print(out, "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", g.index, esc(g.name, 100),
                 pids.empty() ? "-" : pids,
                 g.peak_memory_bytes.known() ? fmt::format("{:.2f} GiB", static_cast<double>(*g.peak_memory_bytes) / (1u << 30)) : "?",
                 g.mean_utilization_percent.known() ? fmt::format("{:.0f}%", *g.mean_utilization_percent) : "?",
                 g.peak_utilization_percent.known() ? fmt::format("{}%", *g.peak_utilization_percent) : "?",
                 g.busy_share.known() ? fmt::format("{:.0f}%", *g.busy_share * 100) : "?", esc(g.utilization_basis, 200));
    }
    out << "</table>\n";
  }
  if (!lines.empty()) {
    out << "<h2>Log findings</h2><table><tr><th>time</th><th>where</th><th>cause</th><th>line</th></tr>\n";
    for (const auto* e : lines)
      fmt::print(out, "<tr><td>{:.1f} s</td><td>{} line {}</td><td><code>{}</code></td><td>{}</td></tr>\n", e->t_s, esc(e->stream, 200),
                 e->line, esc(e->cause, 80), esc(e->text, 300));
    out << "</table>\n";
  }
  if (!p.notes.empty()) {
    out << "<h2>Notes</h2><ul>";
    for (const auto& n : p.notes) fmt::print(out, "<li>{}</li>", esc(n));
    out << "</ul>\n";
  }
  out << "</body></html>\n";
}

}  // namespace gpudoctor
