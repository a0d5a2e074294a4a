#pragma once
// Diagnosis: runs every rule over a snapshot, ranks what they found (root cause first) and
// says, layer by layer, what passed, failed or was not reached.

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/finding.hpp"
#include "core/snapshot.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

Diagnosis diagnose(const Snapshot& snapshot, const kb::KnowledgeBase& kb = kb::KnowledgeBase::get());

/// What every rule found in `snapshot`, before ranking (a program seen using a GPU already turns the
/// failures below the program layer into warnings).
std::vector<Finding> rule_findings(const Snapshot& snapshot, const kb::KnowledgeBase& kb = kb::KnowledgeBase::get());

/// What a text (gpudoctor explain) adds to the ranking of its findings; empty for check.
struct RankHints {
  /// Causes seen only in lines that are consequences of another failure ("Skipping registering GPU
  /// devices..."): dropped when another error stands.
  std::set<std::string> symptom_only;
  /// The line where the text first shows a cause: in one layer, the earlier failure first.
  std::map<std::string, std::size_t> first_seen;
  /// The loudest log level of a cause's lines (F 4, E 3, W 2, I 1): among harmless findings of
  /// one layer, the line that looks worst first (it is the one the user asks about).
  std::map<std::string, int> loudness;
};

/// The one ranking of check and explain: drops a cause another error explains (and, with hints, a
/// cause seen only in consequence lines), merges findings of one cause and severity (evidence
/// together, each fix step once), sorts by severity, then layer (lowest first), then the hints.
/// Returns the errors (root cause first) and the rest.
std::pair<std::vector<Finding>, std::vector<Finding>> rank_findings(std::vector<Finding> found, const RankHints& hints = {});

}  // namespace gpudoctor
