// `gpudoctor run -- CMD ...` passes the program through exactly: its bytes on stdout and stderr,
// its exit status (128+N after signal N), the signals sent to gpudoctor, a terminal where
// gpudoctor had one.

#include <gtest/gtest.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "program/spawn.hpp"

namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / fmt::format("gpudoctor-run-{}-{}", ::getpid(), name)).string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// What gpudoctor itself adds on stderr, after the program's last byte: its report.
std::string program_part_of_stderr(const std::string& err) {
  auto at = err.find("gpudoctor: ");
  return at == std::string::npos ? err : err.substr(0, at);
}

spawn::Result run_sh(const std::string& script, std::vector<std::string> before = {}) {
  spawn::Options o;
  o.args = {"run"};
  o.args.insert(o.args.end(), before.begin(), before.end());
  o.args.insert(o.args.end(), {"--", "sh", "-c", script});
  return spawn::run(o);
}

TEST(Run, ExitCodeIsTheProgramsOwn) {
  for (int code : {0, 1, 2, 3, 7, 42, 126, 255}) {
    auto r = run_sh(fmt::format("exit {}", code));
    EXPECT_EQ(r.code, code) << r.err;
  }
}

TEST(Run, SignalDeathIs128PlusTheSignal) {
  auto segv = run_sh("kill -SEGV $$");
  EXPECT_EQ(segv.code, 139) << segv.err;
  EXPECT_NE(segv.err.find("SIGSEGV"), std::string::npos) << segv.err;
  EXPECT_EQ(run_sh("kill -KILL $$").code, 137);
  EXPECT_EQ(run_sh("kill -ABRT $$").code, 134);
}

TEST(Run, BytesPassThroughExactlyBinaryAndWithoutTrailingNewline) {
  // Every byte value, a NUL, a lone carriage return and no newline at the end, on both streams.
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  bytes += "\r\nend\r";
  std::string path = temp_path("bytes");
  std::ofstream(path, std::ios::binary) << bytes;
  auto r = run_sh(fmt::format("cat '{0}'; cat '{0}' >&2", path));
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, bytes);
  EXPECT_EQ(program_part_of_stderr(r.err), bytes);
  fs::remove(path);
}

TEST(Run, LargeOutputOnBothStreamsAtOnce) {
  // 24 MiB of random bytes on stdout while stderr gets 8 MiB: neither may stall the other or lose a byte.
  std::string big(24u << 20, '\0'), small(8u << 20, '\0');
  std::mt19937_64 rng(7);
  for (auto& c : big) c = static_cast<char>(rng());
  for (auto& c : small) c = static_cast<char>(rng());
  std::string a = temp_path("big"), b = temp_path("small");
  std::ofstream(a, std::ios::binary) << big;
  std::ofstream(b, std::ios::binary) << small;
  auto r = run_sh(fmt::format("cat '{1}' >&2 & cat '{0}'; wait", a, b));
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.size(), big.size());
  EXPECT_TRUE(r.out == big);
  std::string err = program_part_of_stderr(r.err);
  EXPECT_EQ(err.size(), small.size());
  EXPECT_TRUE(err == small);
  fs::remove(a);
  fs::remove(b);
}

TEST(Run, ArgumentsAfterTheSeparatorAreTheProgramsEvenWhenTheyLookLikeOptions) {
  spawn::Options o;
  o.args = {"run", "--", "sh", "-c", "printf '%s|' \"$@\"", "x", "--json", "out", "--", "-v", "it's \"quoted\""};
  auto q = spawn::run(o);
  EXPECT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(q.out, "--json|out|--|-v|it's \"quoted\"|");
}

TEST(Run, CommandNotFoundIs127AndNotExecutableIs126) {
  spawn::Options o;
  o.args = {"run", "--", "gpudoctor-no-such-command-xyz"};
  auto r = spawn::run(o);
  EXPECT_EQ(r.code, 127);
  EXPECT_NE(r.err.find("gpudoctor-no-such-command-xyz: command not found"), std::string::npos) << r.err;
  std::string path = temp_path("not-executable");
  std::ofstream(path) << "#!/bin/sh\necho hi\n";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  o.args = {"run", "--", path};
  auto n = spawn::run(o);
  EXPECT_EQ(n.code, 126) << n.err;
  EXPECT_NE(n.err.find("Permission denied"), std::string::npos) << n.err;
  fs::remove(path);
}

TEST(Run, MissingCommandIsAUsageError) {
  spawn::Options o;
  o.args = {"run"};
  auto r = spawn::run(o);
  EXPECT_EQ(r.code, 2);
  o.args = {"run", "--interval", "5", "--", "true"};
  EXPECT_EQ(spawn::run(o).code, 2);
  o.args = {"run", "--json", "/nonexistent-dir/x.json", "--", "sh", "-c", "echo ran"};
  auto u = spawn::run(o);
  EXPECT_EQ(u.code, 2);
  EXPECT_EQ(u.out, "") << "the program must not run when its report cannot be written";
}

TEST(Run, SigtermReachesTheProgramAndItsOwnExitCodeComesBack) {
  spawn::Options o;
  o.args = {"run", "--", "sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done"};
  auto c = spawn::start(o);
  spawn::Result r;
  ASSERT_TRUE(spawn::read_until(c, r, "ready\n"));
  ::kill(c.pid, SIGTERM);
  r = spawn::finish(c, r);
  EXPECT_EQ(r.code, 42) << r.err;
  EXPECT_EQ(r.out, "ready\ngot TERM\n");
}

TEST(Run, EachForwardedSignalArrivesOnce) {
  for (auto [sig, name] : {std::pair{SIGINT, "INT"}, {SIGHUP, "HUP"}, {SIGQUIT, "QUIT"}, {SIGWINCH, "WINCH"}}) {
    spawn::Options o;
    std::string script = fmt::format(
        "n=0; trap 'n=$((n+1)); echo got {0} $n' {0}; trap 'exit 0' USR1; echo ready; while :; do sleep 0.05; done", name);
    o.args = {"run", "--", "sh", "-c", script};
    auto c = spawn::start(o);
    spawn::Result r;
    ASSERT_TRUE(spawn::read_until(c, r, "ready\n")) << name;
    ::kill(c.pid, sig);
    ASSERT_TRUE(spawn::read_until(c, r, fmt::format("got {} 1\n", name))) << name << ": " << r.out;
    // Ended through its own pid (USR1 is not forwarded by design: only these five are).
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::string children = read_file(fmt::format("/proc/{0}/task/{0}/children", c.pid));
    ASSERT_FALSE(children.empty());
    ::kill(std::stoi(children), SIGUSR1);
    r = spawn::finish(c, r);
    EXPECT_EQ(r.code, 0) << name;
    EXPECT_EQ(r.out, fmt::format("ready\ngot {} 1\n", name)) << "delivered more than once";
  }
}

TEST(Run, ATerminalStaysATerminalAndAPipeAPipe) {
  spawn::Options o;
  o.args = {"run", "--", "sh", "-c",
            "if [ -t 1 ]; then echo out-tty; else echo out-pipe; fi; "
            "if [ -t 2 ]; then echo err-tty >&2; else echo err-pipe >&2; fi"};
  auto piped = spawn::run(o);
  EXPECT_EQ(piped.out, "out-pipe\n");
  EXPECT_EQ(program_part_of_stderr(piped.err), "err-pipe\n");
  o.pty_out = true;
  auto tty = spawn::run(o);
  EXPECT_EQ(tty.code, 0);
  EXPECT_EQ(tty.out, "out-tty\n") << "the program's own newline, not the terminal's \\r\\n";
  EXPECT_EQ(program_part_of_stderr(tty.err), "err-pipe\n");
  o.pty_err = true;
  auto both = spawn::run(o);
  EXPECT_NE(both.out.find("out-tty\n"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("err-tty\n"), std::string::npos) << both.out;
}

TEST(Run, TheTerminalsSizeAndItsChangesReachTheProgram) {
  spawn::Options o;
  o.pty_out = true;
  o.rows = 33;
  o.cols = 101;
  o.args = {"run", "--", "sh", "-c",
            "stty size </dev/tty; trap 'stty size </dev/tty; exit 0' WINCH; echo ready; "
            "while :; do sleep 0.05; done"};
  auto c = spawn::start(o);
  spawn::Result r;
  ASSERT_TRUE(spawn::read_until(c, r, "ready\n")) << r.out << r.err;
  EXPECT_EQ(r.out.substr(0, 7), "33 101\n");
  winsize w{50, 160, 0, 0};
  ::ioctl(c.master, TIOCSWINSZ, &w);  // the terminal resized: the kernel signals gpudoctor
  r = spawn::finish(c, r);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ready\n50 160\n"), std::string::npos) << r.out;
}

TEST(Run, JsonReportFileHoldsTheProgram) {
  std::string path = temp_path("report.json");
  auto r = run_sh("exit 3", {"--json", path});
  EXPECT_EQ(r.code, 3);
  auto j = nlohmann::json::parse(read_file(path));
  EXPECT_EQ(j["program"]["exit_status"], 3);
  EXPECT_EQ(j["program"]["command"][0], "sh");
  EXPECT_GT(j["program"]["pid"].get<int>(), 0);
  fs::remove(path);
}

}  // namespace
