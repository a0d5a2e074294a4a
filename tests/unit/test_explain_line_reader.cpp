#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "explain/line_reader.hpp"

using gpudoctor::explain::clean_line;
using gpudoctor::explain::read_lines;

namespace {

struct Read {
  std::vector<std::string> lines;
  gpudoctor::explain::ReadStats stats;
};

Read read_all(const std::string& text, std::size_t max_line = 16384) {
  Read r;
  std::FILE* f = tmpfile();
  std::fwrite(text.data(), 1, text.size(), f);
  std::rewind(f);
  r.stats = read_lines(
      f, [&](std::size_t n, std::string_view l) {
        EXPECT_EQ(n, r.lines.size() + 1);
        r.lines.emplace_back(l);
      },
      max_line);
  std::fclose(f);
  return r;
}

}  // namespace

TEST(ExplainLineReader, SplitsOnLfCrlfAndLoneCr) {
  // A tqdm progress bar redraws with lone CRs; Windows pastes end lines with CRLF.
  auto r = read_all("first\r\nsecond\n 10%|#   |\r 50%|##  |\rthird\nlast-no-newline");
  std::vector<std::string> want = {"first", "second", " 10%|#   |", " 50%|##  |", "third", "last-no-newline"};
  EXPECT_EQ(r.lines, want);
  EXPECT_EQ(r.stats.lines, 6U);
}

TEST(ExplainLineReader, CrlfSplitAcrossTheReadBufferIsOneBreak) {
  std::string text(std::size_t{1} << 20, 'x');
  text[text.size() - 1] = '\r';  // the buffer ends in the middle of "\r\n"
  text += "\nnext\n";
  auto r = read_all(text);
  ASSERT_EQ(r.lines.size(), 2U);
  EXPECT_EQ(r.lines[0].size(), 16384U);  // cut at the default 16 KiB limit
  EXPECT_EQ(r.lines[1], "next");
  EXPECT_EQ(r.stats.cut_lines, 1U);
}

TEST(ExplainLineReader, LineLongerThanTheBufferIsCutOnceAndTheNextLineIsWhole) {
  std::string text(3 * (std::size_t{1} << 20), 'a');
  text += "\nCould not load dynamic library 'libcudnn.so.8'\n";
  auto r = read_all(text, 100);
  ASSERT_EQ(r.lines.size(), 2U);
  EXPECT_EQ(r.lines[0], std::string(100, 'a'));
  EXPECT_EQ(r.lines[1], "Could not load dynamic library 'libcudnn.so.8'");
  EXPECT_EQ(r.stats.cut_lines, 1U);
  EXPECT_EQ(r.stats.bytes, text.size());
}

TEST(ExplainLineReader, EmptyInputHasNoLines) {
  auto r = read_all("");
  EXPECT_TRUE(r.lines.empty());
  EXPECT_EQ(r.stats.bytes, 0U);
}

TEST(ExplainCleanLine, RemovesAnsiColourAndCursorSequences) {
  // absl's coloured log prefix and a terminal title (OSC) as pasted from a terminal.
  EXPECT_EQ(clean_line("\x1b[1;31mE\x1b[0m tensorflow/core/x.cc:1] boom"), "E tensorflow/core/x.cc:1] boom");
  EXPECT_EQ(clean_line("\x1b]0;title\x07"
                       "after"),
            "after");
  EXPECT_EQ(clean_line("\x1b[2Kcleared  \t "), "cleared");
}

TEST(ExplainCleanLine, ReplacesControlBytesAndInvalidUtf8ButKeepsValidUtf8) {
  EXPECT_EQ(clean_line(std::string("a\0b", 3)), "a b");
  EXPECT_EQ(clean_line("\xff\xfeok"), "\xEF\xBF\xBD\xEF\xBF\xBDok");
  EXPECT_EQ(clean_line("微调时报错"), "微调时报错");
  EXPECT_EQ(clean_line("cut \xE5\xBE"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ExplainLineReader, PushedBytesSplitAsReadLinesDoesWhereverTheChunksEnd) {
  // A program's output arrives in chunks that cut lines, "\r\n" pairs and UTF-8 anywhere.
  std::string text = "first\r\nsecond\n 10%|#   |\r 50%|##  |\rthird é\n" + std::string(40, 'x') + "\nlast-no-newline";
  auto whole = read_all(text, 16);
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u}) {
    std::vector<std::string> got;
    gpudoctor::explain::LineSplitter s([&](std::size_t n, std::string_view l) {
      EXPECT_EQ(n, got.size() + 1);
      got.emplace_back(l);
    },
                                       16);
    for (std::size_t i = 0; i < text.size(); i += chunk) s.push(std::string_view(text).substr(i, chunk));
    s.finish();
    EXPECT_EQ(got, whole.lines) << "chunk " << chunk;
    EXPECT_EQ(s.stats().lines, whole.stats.lines);
    EXPECT_EQ(s.stats().cut_lines, whole.stats.cut_lines);
    EXPECT_EQ(s.stats().bytes, text.size());
  }
}
