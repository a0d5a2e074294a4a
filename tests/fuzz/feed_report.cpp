#include "feed_report.hpp"

#include <sstream>
#include <string_view>

#include "core/escape.hpp"
#include "core/snapshot_json.hpp"
#include "core/utf8.hpp"
#include "diagnose/diagnose.hpp"
#include "report/redact.hpp"
#include "report/report.hpp"

namespace gpudoctor::fuzz {
namespace {

std::string control_in(std::string_view what, const std::string& out, bool sgr_allowed) {
  std::size_t line = first_control_line(out, sgr_allowed);
  if (line == 0) return "";
  std::string_view rest = out;
  for (std::size_t i = 1; i < line; ++i) rest.remove_prefix(rest.find('\n') + 1);
  return std::string(what) + " line " + std::to_string(line) +
         " holds a control character: " + escape::terminal(rest.substr(0, rest.find('\n')));
}

std::string loads_back(std::string_view what, const nlohmann::json& j) {
  auto again = nlohmann::json::parse(json_text(j), nullptr, false);
  if (again.is_discarded()) return std::string(what) + ": the JSON written does not parse";
  try {
    (void)snapshot_from_json(again);
  } catch (const SnapshotError& e) {
    return std::string(what) + " does not load back: " + e.what();
  }
  return "";
}

}  // namespace

std::size_t first_control_line(std::string_view out, bool sgr_allowed) {
  std::size_t line = 1;
  while (!out.empty()) {
    std::size_t nl = out.find('\n');
    std::string_view text = out.substr(0, nl);
    std::string plain;
    if (sgr_allowed) {
      for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
          std::size_t j = i + 2;
          while (j < text.size() && ((text[j] >= '0' && text[j] <= '9') || text[j] == ';')) ++j;
          if (j < text.size() && text[j] == 'm') {
            i = j;
            continue;
          }
        }
        plain += text[i];
      }
      text = plain;
    }
    if (escape::has_control(text)) return line;
    if (nl == std::string_view::npos) break;
    out.remove_prefix(nl + 1);
    ++line;
  }
  return 0;
}

std::string feed_report(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Snapshot s;
  try {
    s = snapshot_from_json(parse_json_text(text));
  } catch (const SnapshotError&) {
    return "";
  }
  Diagnosis d = diagnose(s);
  ReportHeader h;
  h.source = "snapshot fuzz.json";
  h.collected_at = s.collected_at;

  // JSON: the contract, valid whatever the snapshot held.
  auto report = json_report(d, h);
  report["program"] = program_json(d, s.program);
  if (nlohmann::json::parse(json_text(report, 2), nullptr, false).is_discarded()) return "the JSON report does not parse";
  // The snapshot written again, and redacted, loads again.
  nlohmann::json written = to_json(s);
  if (auto problem = loads_back("the snapshot written again", written); !problem.empty()) return problem;
  RedactionContext context{{"alice"}, {"gpu-node-07"}, {}};
  Redactor redactor(context);
  redactor.snapshot(written);
  if (auto problem = loads_back("the redacted snapshot", written); !problem.empty()) return problem;

  for (bool verbose : {false, true}) {
    h.verbose = verbose;
    for (bool color : {false, true}) {
      std::ostringstream out;
      terminal_report(out, d, h, color);
      program_terminal(out, d, s.program);
      if (auto problem = control_in(color ? "terminal (colour)" : "terminal", out.str(), color); !problem.empty()) return problem;
    }
  }
  for (Redactor* r : {static_cast<Redactor*>(nullptr), &redactor}) {
    std::ostringstream md;
    markdown_report(md, d, h, r);
    program_markdown(md, d, s.program, r);
    if (auto problem = control_in("markdown", md.str(), false); !problem.empty()) return problem;
    std::ostringstream html;
    program_html(html, d, h, s.program, r);
    if (auto problem = control_in("html", html.str(), false); !problem.empty()) return problem;
  }
  std::ostringstream prom;
  prometheus_report(prom, d, s, h);
  if (auto problem = control_in("prometheus", prom.str(), false); !problem.empty()) return problem;
  return "";
}

}  // namespace gpudoctor::fuzz
