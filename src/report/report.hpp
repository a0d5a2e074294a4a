#pragma once
// Reporters: render a Diagnosis for a terminal, as JSON (the stable contract) or as Markdown.

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "core/finding.hpp"
#include "core/snapshot.hpp"

namespace gpudoctor {

struct ReportHeader {
  std::string command = "check";
  std::string version;
  std::string root = "/";
  std::string collected_at;
  std::string source;  ///< "this host", "snapshot FILE"
  /// Terminal: every library of every framework, every environment and every finding's evidence
  /// (check --verbose); otherwise only the failing libraries and the environments that matter.
  bool verbose = false;
};

/// The JSON contract: verdict, causes[] (id, layer, severity, title, meaning, evidence, fix), warnings[], layers[].
nlohmann::ordered_json json_report(const Diagnosis& d, const ReportHeader& h);
/// The verdict first (a problem: its root cause, evidence and fix), then one line per layer and a
/// legend of the marks, the environments that matter, the libraries that fail (all with verbose),
/// the other causes and the warnings. No sentence twice: a layer that a cause or warning fails
/// names it, and its title is printed once, where its evidence is.
void terminal_report(std::ostream& out, const Diagnosis& d, const ReportHeader& h, bool color);
class Redactor;

/// Ready to paste into an issue. With a `redactor` (the default for sharing), every value is
/// redacted before it is escaped, and a closing line says so; nullptr with --no-redact.
void markdown_report(std::ostream& out, const Diagnosis& d, const ReportHeader& h, Redactor* redactor);

/// The Prometheus text exposition format of `d` (for `check --prometheus`, node_exporter's textfile
/// collector): gpudoctor_verdict_info, gpudoctor_layer_state, gpudoctor_cause{id,layer,severity},
/// the driver, CUDA and framework versions as _info metrics, and with a probe every figure
/// against what the card should deliver (labels gpu, uuid, model; base units). Like --json, it
/// is the operator's own record, not redacted (a snapshot redacted when taken stays so).
void prometheus_report(std::ostream& out, const Diagnosis& d, const Snapshot& s, const ReportHeader& h);

/// Shortens a path for a table: the part after "site-packages/" when it has one.
std::string short_path(const std::string& path);

/// One line per Python environment: "/opt/torch/.venv (venv, Python 3.12, python3 on PATH): torch 2.11.0+cu130 (CUDA 13.0)".
std::vector<std::pair<bool, std::string>> environment_lines(const Diagnosis& d);

/// One row of a probe figure: "2999.3 GB/s of 3350.0 (90%)", or the state when nothing was measured.
std::string probe_figure_text(const ProbeFigure& f);

/// The `program` object of run/inspect JSON: verdict, summary, command, PIDs, exit status,
/// duration, per GPU figures, libraries loaded against predicted, notes, and the whole watch.
nlohmann::ordered_json program_json(const Diagnosis& d, const Program& p);
/// The program's section after the terminal report (stderr of `gpudoctor run`).
void program_terminal(std::ostream& out, const Diagnosis& d, const Program& p);
/// The program's section of the Markdown report; values redacted by `redactor` unless nullptr.
void program_markdown(std::ostream& out, const Diagnosis& d, const Program& p, const Redactor* redactor);
/// `gpudoctor run --html`: one self-contained page, the verdict and a timeline per GPU (inline
/// SVG); every text redacted by `redactor` unless nullptr.
void program_html(std::ostream& out, const Diagnosis& d, const ReportHeader& h, const Program& p,
                  const Redactor* redactor);
/// `s` with control bytes replaced by '?', cut at `limit` bytes (text from other processes).
std::string printable(std::string_view s, std::size_t limit);

/// "Hardware", "Driver", ...
std::string layer_title(Layer l);

}  // namespace gpudoctor
