#include "core/library_copy_text.hpp"
#include "kb/knowledge_base.hpp"
#include "report/report.hpp"

namespace gpudoctor {

namespace {

nlohmann::ordered_json finding_json(const Finding& f) {
  nlohmann::ordered_json j;
  j["id"] = f.cause;
  j["layer"] = std::string(to_string(f.layer));
  j["severity"] = std::string(to_string(f.severity));
  j["title"] = f.title;
  if (const auto* c = kb::KnowledgeBase::get().cause(f.cause)) j["meaning"] = c->meaning;
  j["evidence"] = nlohmann::ordered_json::array();
  for (const auto& e : f.evidence) j["evidence"].push_back({{"source", e.where}, {"fact", e.said}});
  j["fix"] = f.fix;
  return j;
}

}  // namespace

nlohmann::ordered_json json_report(const Diagnosis& d, const ReportHeader& h) {
  nlohmann::ordered_json j;
  // "unknown": nothing blocks, but nothing shows the GPU in use either (explain on a text of harmless
  // lines, or of nothing it knows): the first cause is then no error.
  bool unknown = !d.healthy && !d.causes.empty() && d.causes.front().severity != Severity::error;
  j["verdict"] = d.healthy ? "healthy" : unknown ? "unknown"
                                                 : "problem";
  j["tool"] = "gpudoctor";
  j["version"] = h.version;
  j["command"] = h.command;
  j["root"] = h.root;
  j["collected_at"] = h.collected_at;
  j["source"] = h.source;
  j["causes"] = nlohmann::ordered_json::array();
  for (const auto& c : d.causes) j["causes"].push_back(finding_json(c));
  j["warnings"] = nlohmann::ordered_json::array();
  for (const auto& w : d.warnings) j["warnings"].push_back(finding_json(w));
  if (!d.gpus.empty()) {
    j["gpus"] = nlohmann::ordered_json::array();
    for (const auto& g : d.gpus) {
      nlohmann::ordered_json gj{{"ordinal", g.ordinal}, {"name", g.name}, {"state", to_string(g.state)}, {"summary", g.summary}};
      gj["figures"] = nlohmann::ordered_json::array();
      for (const auto& f : g.figures) {
        gj["figures"].push_back({{"name", f.name},
                                 {"unit", f.unit},
                                 {"measured", f.measured.known() ? nlohmann::ordered_json(*f.measured) : nullptr},
                                 {"expected", f.expected.known() ? nlohmann::ordered_json(*f.expected) : nullptr},
                                 {"basis", f.basis},
                                 {"state", to_string(f.state)}});
      }
      j["gpus"].push_back(std::move(gj));
    }
  }
  if (!d.probe_notes.empty()) j["probe_notes"] = d.probe_notes;
  if (h.command == "explain") {
    j["lines"] = nlohmann::ordered_json::array();
    for (const auto& a : d.annotations)
      j["lines"].push_back({{"line", a.line}, {"text", a.text}, {"message", a.message}, {"cause", a.cause.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.cause)}, {"severity", std::string(to_string(a.severity))}, {"meaning", a.meaning}});
    j["significant_lines"] = d.annotated_total;
  }
  j["environments"] = nlohmann::ordered_json::array();
  for (const auto& e : d.environments) {
    nlohmann::ordered_json env;
    env["prefix"] = e.prefix;
    env["in_use"] = e.in_use;
    env["kind"] = std::string(to_string(e.kind));
    env["python_version"] = e.version.known() ? nlohmann::ordered_json(*e.version) : nlohmann::ordered_json(nullptr);
    env["found_by"] = e.found_by;
    env["frameworks"] = nlohmann::ordered_json::array();
    for (const auto& f : d.installs) {
      if (f.environment != e.prefix) continue;
      env["frameworks"].push_back({{"framework", f.framework}, {"distribution", f.distribution}, {"version", f.version.value_or("")}, {"build", f.build.value_or("")}, {"cuda_build", f.cuda_build.known() ? nlohmann::ordered_json(*f.cuda_build) : nlohmann::ordered_json(nullptr)}, {"cuda_version", f.cuda_version.known() ? nlohmann::ordered_json(*f.cuda_version) : nlohmann::ordered_json(nullptr)}});
    }
    j["environments"].push_back(std::move(env));
  }
  j["frameworks"] = nlohmann::ordered_json::array();
  for (const auto& fw : d.frameworks) {
    nlohmann::ordered_json f;
    f["framework"] = fw.framework;
    f["version"] = fw.version.known() ? nlohmann::ordered_json(*fw.version) : nlohmann::ordered_json(nullptr);
    f["cuda_build"] = fw.cuda_build.known() ? nlohmann::ordered_json(*fw.cuda_build) : nlohmann::ordered_json(nullptr);
    f["site_packages"] = fw.site_packages;
    f["libraries"] = nlohmann::ordered_json::array();
    for (const auto& lib : fw.libraries) {
      nlohmann::ordered_json l;
      l["name"] = lib.name;
      l["role"] = lib.role;
      l["path"] = lib.path.known() ? nlohmann::ordered_json(*lib.path) : nlohmann::ordered_json(nullptr);
      l["version"] = lib.version.known() ? nlohmann::ordered_json(*lib.version) : nlohmann::ordered_json(nullptr);
      l["reported_version"] = lib.reported_version.known() ? nlohmann::ordered_json(*lib.reported_version) : nlohmann::ordered_json(nullptr);
      l["origin"] = lib.origin;
      l["found_via"] = lib.found_via;
      l["requested_by"] = lib.requested_by;
      l["other_copies"] = nlohmann::ordered_json::array();
      for (const auto& c : lib.others)
        l["other_copies"].push_back({{"path", c.resolved}, {"origin", c.origin}, {"status", copy_status_text(c)}, {"reached", c.reached}});
      // A second file of this SONAME mapped into the same process (a by-path preload).
      if (!lib.also_mapped.empty()) {
        l["also_mapped"] = nlohmann::ordered_json::array();
        for (const auto& c : lib.also_mapped)
          l["also_mapped"].push_back({{"path", c.resolved}, {"origin", c.origin}, {"found_via", c.found_via}});
      }
      f["libraries"].push_back(std::move(l));
    }
    j["frameworks"].push_back(std::move(f));
  }
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : d.layers) {
    j["layers"].push_back({{"layer", std::string(to_string(l.layer))}, {"status", std::string(to_string(l.state))}, {"summary", l.summary}});
    if (l.above_failure) j["layers"].back()["above_failure"] = true;
  }
  return j;
}

}  // namespace gpudoctor
