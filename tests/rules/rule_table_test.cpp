// The rule table (src/diagnose/diagnose.cpp) against what the rules really report. Every test that
// runs the binary (scenarios, probe, program, explain and CLI tests) does so with
// GPUDOCTOR_TEST_RULE_LOG set: the binary then appends each rule's findings to that folder
// ("rule<TAB>cause<TAB>severity", app.cpp through diagnose's rule observer). This test, run by
// CTest after all of them (the fixture rule_log), fails when
//   - a rule reported a cause its row does not list, or a cause its row marks "(warning)" as an
//     error, or a rule the table does not have reported anything;
//   - a cause a row lists was reported by no test input, unless never_reported.toml says why
//     (only as root, as CI runs: without root some scenarios skip);
//   - never_reported.toml names a cause that some input does report (its reason is stale).

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <toml++/toml.h>

#include "diagnose/diagnose.hpp"
#include "diagnose/rule_context.hpp"
#include "kb/knowledge_base.hpp"

namespace fs = std::filesystem;
using namespace gpudoctor;

namespace {

struct Listed {
  std::set<std::string> any;           ///< as an error or a warning
  std::set<std::string> warning_only;  ///< "id (warning)"
  bool message_causes = false;
};

std::map<std::string, Listed> table() {
  std::map<std::string, Listed> out;
  for (const auto& r : rules()) {
    Listed& l = out[r.name];
    l.message_causes = r.message_causes;
    std::stringstream list(r.causes);
    std::string item;
    while (std::getline(list, item, ',')) {
      auto first = item.find_first_not_of(' ');
      if (first == std::string::npos) continue;
      item = item.substr(first, item.find_last_not_of(' ') + 1 - first);
      const std::string mark = " (warning)";
      if (item.size() > mark.size() && item.compare(item.size() - mark.size(), mark.size(), mark) == 0) {
        item.resize(item.size() - mark.size());
        l.warning_only.insert(item);
      }
      l.any.insert(item);
    }
  }
  return out;
}

struct Reported {
  std::string rule, cause, severity;
  auto operator<=>(const Reported&) const = default;
};

std::set<Reported> read_logs(const fs::path& dir, size_t& files) {
  std::set<Reported> out;
  files = 0;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".log") continue;
    ++files;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      auto a = line.find('\t'), b = line.find('\t', a + 1);
      if (a == std::string::npos || b == std::string::npos) {
        ADD_FAILURE() << e.path() << ": malformed line " << line;
        continue;
      }
      out.insert({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
    }
  }
  return out;
}

TEST(RuleTable, ListsWhatEveryRuleReportsOnTheTestInputs) {
  const auto listed = table();
  size_t files = 0;
  const auto reported = read_logs(GPUDOCTOR_RULE_LOG, files);
  ASSERT_GT(files, 50u) << "too few runs of the binary logged in " << GPUDOCTOR_RULE_LOG
                        << " (run this test through ctest: the fixture rule_log runs the tests first)";
  std::map<std::string, std::set<std::string>> seen;  // rule -> causes
  for (const auto& r : reported) {
    auto row = listed.find(r.rule);
    if (row == listed.end()) {
      ADD_FAILURE() << "a rule the table lacks reported " << r.cause << ": " << r.rule;
      continue;
    }
    seen[r.rule].insert(r.cause);
    const Listed& l = row->second;
    if (l.message_causes && !l.any.count(r.cause)) {
      EXPECT_NE(kb::KnowledgeBase::get().cause(r.cause), nullptr) << r.rule << " reported an unknown cause " << r.cause;
      continue;
    }
    EXPECT_TRUE(l.any.count(r.cause)) << "rule " << r.rule << " reported " << r.cause << " (" << r.severity
                                      << "), which its row in diagnose.cpp does not list";
    if (l.warning_only.count(r.cause))
      EXPECT_NE(r.severity, "error") << "rule " << r.rule << " reported " << r.cause
                                     << " as an error; its row lists it as a warning only";
  }

  // Causes listed and never reported, and why (never_reported.toml).
  std::map<std::pair<std::string, std::string>, std::string> excused;
  toml::table why = toml::parse_file(GPUDOCTOR_NEVER_REPORTED);
  if (const auto* a = why["never_reported"].as_array())
    for (const auto& x : *a) {
      const auto& t = *x.as_table();
      std::string rule = t["rule"].value_or(std::string{}), cause = t["cause"].value_or(std::string{});
      std::string reason = t["why"].value_or(std::string{});
      EXPECT_FALSE(reason.empty()) << rule << "/" << cause << ": never_reported.toml needs a why";
      ASSERT_TRUE(listed.count(rule)) << "never_reported.toml names a rule the table lacks: " << rule;
      EXPECT_TRUE(listed.at(rule).any.count(cause)) << "never_reported.toml: " << rule << " does not list " << cause;
      excused[{rule, cause}] = reason;
    }
  for (const auto& [pair, reason] : excused)
    EXPECT_FALSE(seen[pair.first].count(pair.second))
        << pair.first << " did report " << pair.second << ": remove it from never_reported.toml";
  if (geteuid() != 0) {
    std::cout << "not root: scenarios that need root skipped, so causes never reported are not checked\n";
    return;
  }
  for (const auto& [rule, l] : listed)
    for (const auto& cause : l.any)
      EXPECT_TRUE(seen[rule].count(cause) || excused.count({rule, cause}))
          << "rule " << rule << " lists " << cause
          << " but no test input makes it report it: add a scenario or say why in tests/rules/never_reported.toml";
}

}  // namespace
