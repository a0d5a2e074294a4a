#pragma once
// Diagnosis: runs every rule over a snapshot, ranks what they found (root cause first) and
// says, layer by layer, what passed, failed or was not reached.

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/finding.hpp"
#include "core/snapshot.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

Diagnosis diagnose(const Snapshot& snapshot, const kb::KnowledgeBase& kb = kb::KnowledgeBase::get());

/// What every rule found in `snapshot`, before ranking (a program seen using a GPU already turns the
/// failures below the program layer into warnings).
std::vector<Finding> rule_findings(const Snapshot& snapshot, const kb::KnowledgeBase& kb = kb::KnowledgeBase::get());

/// For tests only: called with a rule's name and each finding it adds, as `rule_findings` runs them
/// (before a program seen using a GPU turns failures into warnings). The rule-table test
/// (tests/rules/) checks through it that every rule reports only the causes its row lists. The
/// binary sets one only when GPUDOCTOR_TEST_RULE_LOG names a folder (app.cpp). Not thread-safe: set
/// it before any diagnosis runs.
using RuleObserver = std::function<void(std::string_view rule, const Finding& finding)>;
void set_rule_observer(RuleObserver observer);

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
