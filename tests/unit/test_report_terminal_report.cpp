// The terminal report cuts long values between UTF-8 sequences, never inside one.

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "core/utf8.hpp"
#include "report/report.hpp"

namespace gpudoctor {
namespace {

std::string report_of(const Diagnosis& d) {
  std::ostringstream out;
  ReportHeader h;
  h.command = "explain";
  terminal_report(out, d, h, false);
  return out.str();
}

TEST(TerminalReport, LongLinesAreCutBetweenCharacters) {
  Diagnosis d;
  d.healthy = true;
  Finding healthy;  // diagnose() always gives a healthy diagnosis its "healthy" finding
  healthy.cause = "healthy";
  healthy.layer = Layer::benign;
  healthy.severity = Severity::info;
  healthy.title = "Nothing blocks the GPU in the layers checked";
  d.causes.push_back(healthy);
  Annotation a;
  a.line = 7;
  a.cause = "cuda_runtime_missing";
  a.severity = Severity::error;
  a.meaning = "libcudart is not found";
  // 159 ASCII bytes, then "é" (C3 A9) across byte 160: the cut keeps the 159 and drops both bytes.
  a.text = std::string(159, 'x') + "\xc3\xa9" + "tail";
  d.annotations.push_back(a);
  d.annotated_total = 1;
  // A near case: "é" wholly inside the first 160 bytes stays.
  Annotation b = a;
  b.line = 8;
  b.text = std::string(158, 'y') + "\xc3\xa9" + "tail";
  d.annotations.push_back(b);
  d.annotated_total = 2;
  std::string out = report_of(d);
  EXPECT_EQ(valid_utf8(out), out) << "the report holds a cut character";
  EXPECT_NE(out.find(std::string(159, 'x') + "\n"), std::string::npos) << out;
  EXPECT_EQ(out.find(std::string(159, 'x') + "\xc3"), std::string::npos) << out;
  EXPECT_NE(out.find(std::string(158, 'y') + "\xc3\xa9\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace gpudoctor
