// core/path.hpp's line splitters: for_each_line (text in memory) and take_complete_lines (a buffer
// that a child's pipe appends to, as driver/child_process.cpp reads the probes' state lines).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/path.hpp"

namespace gpudoctor {
namespace {

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  for_each_line(text, [&](std::string_view l) { out.emplace_back(l); });
  return out;
}

TEST(CorePath, ForEachLine) {
  EXPECT_TRUE(lines_of("").empty());
  EXPECT_EQ(lines_of("a\n"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(lines_of("a\n\nb"), (std::vector<std::string>{"a", "", "b"}));
}

TEST(CorePath, TakeCompleteLinesKeepsTheUnendedRest) {
  std::string buffer = "{\"step\":\"cuInit\"}\n\n{\"step\":\"GPU 0";
  std::vector<std::string> seen;
  take_complete_lines(buffer, [&](std::string_view l) {
    seen.emplace_back(l);
    return false;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"{\"step\":\"cuInit\"}", ""}));
  EXPECT_EQ(buffer, "{\"step\":\"GPU 0");
  // The rest of the line arrives with the next read.
  buffer += ": kernel\"}\n";
  seen.clear();
  take_complete_lines(buffer, [&](std::string_view l) {
    seen.emplace_back(l);
    return false;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"{\"step\":\"GPU 0: kernel\"}"}));
  EXPECT_TRUE(buffer.empty());
}

TEST(CorePath, TakeCompleteLinesStopsWhereTheCallbackSays) {
  std::string buffer = "one\ntwo\nthree\n";
  std::vector<std::string> seen;
  take_complete_lines(buffer, [&](std::string_view l) {
    seen.emplace_back(l);
    return l == "two";
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(buffer, "three\n");
}

}  // namespace
}  // namespace gpudoctor
