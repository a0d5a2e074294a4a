// Explain cases: every folder of tests/explain is a real text users pasted (a log, an issue
// template, nvidia-smi or collect_env output), as posted in the public thread that case.toml names,
// with the root cause the thread's resolution established. Each runs the real gpudoctor binary:
// `gpudoctor explain input.txt --json`, and checks the verdict against case.toml.
//
// case.toml:
//   source = "https://..."      (the thread the text comes from)
//   root_cause = "cause_id"     (what the resolution showed; the first cause of the verdict)
//   also = ["cause_id", ...]    (further causes or warnings the text shows; each must be named)
//   verdict = "problem" | "healthy"
//   known_gap = "why"          (the text alone cannot show the cause: explain must then name no wrong one)
//
// heldout.txt lists the held-out part of the corpus (drawn once at random): bench/explain_accuracy.py
// measures explain on it, and no rule is tuned on it, so its cases are not held to their root cause
// here (that would be tuning on them); they must still give a well-formed verdict.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(GPUDOCTOR_EXPLAIN_CASES))
    if (e.is_directory() && fs::exists(e.path() / "case.toml")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string run_explain(const fs::path& input, int& status) {
  std::string cmd = fmt::format("'{}' explain '{}' --json 2>/dev/null", GPUDOCTOR_BINARY, input.string());
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 65536> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  status = pclose(p);
  return out;
}

bool held_out(const std::string& name) {
  std::ifstream in(fs::path(GPUDOCTOR_EXPLAIN_CASES) / "heldout.txt");
  std::string line;
  while (std::getline(in, line))
    if (line == name) return true;
  return false;
}

class ExplainCase : public ::testing::TestWithParam<std::string> {};

TEST_P(ExplainCase, NamesTheRootCauseTheThreadFound) {
  fs::path dir = fs::path(GPUDOCTOR_EXPLAIN_CASES) / GetParam();
  toml::table spec = toml::parse_file((dir / "case.toml").string());
  std::string source = spec["source"].value_or(std::string{});
  ASSERT_TRUE(source.rfind("https://", 0) == 0) << "case.toml must name the source URL";
  std::string root_cause = spec["root_cause"].value_or(std::string{});
  std::string verdict = spec["verdict"].value_or(std::string("problem"));
  ASSERT_FALSE(root_cause.empty());

  int status = -1;
  std::string out = run_explain(dir / "input.txt", status);
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON: " << out.substr(0, 500);
  ASSERT_TRUE(j.contains("causes") && j["causes"].is_array() && !j["causes"].empty()) << out.substr(0, 2000);

  if (held_out(GetParam())) {
    EXPECT_TRUE(j.contains("verdict")) << out.substr(0, 500);
    EXPECT_TRUE(status != -1);
    return;
  }
  std::vector<std::string> named;
  for (const auto& c : j["causes"]) named.push_back(c.value("id", ""));
  for (const auto& w : j.value("warnings", nlohmann::json::array())) named.push_back(w.value("id", ""));
  if (auto gap = spec["known_gap"].value<std::string>()) {
    // The text alone does not show the cause (known_gap says why): explain must not name a wrong
    // problem instead. It may say it cannot tell ("other"), or see only harmless lines.
    for (const auto& c : j["causes"]) {
      std::string id = c.value("id", "");
      bool harmless = id.find("_harmless") != std::string::npos;
      EXPECT_TRUE(id == root_cause || id == "other" || harmless) << "names " << id << " though: " << *gap;
    }
    return;
  }
  EXPECT_EQ(j["causes"][0].value("id", ""), root_cause)
      << "source: " << source << "\nall named: " << fmt::format("{}", fmt::join(named, ", "));
  EXPECT_EQ(j.value("verdict", ""), verdict);
  if (const auto* also = spec["also"].as_array())
    for (const auto& a : *also) {
      std::string c = a.value_or(std::string{});
      EXPECT_NE(std::find(named.begin(), named.end(), c), named.end())
          << c << " not named; named: " << fmt::format("{}", fmt::join(named, ", "));
    }
  // Every text here comes with at least one annotated line.
  EXPECT_TRUE(j.contains("lines") && !j["lines"].empty());
}

INSTANTIATE_TEST_SUITE_P(Explain, ExplainCase, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
