// Scenario tests: every folder of tests/scenarios is a host as users have it (a broken one, or a
// healthy one): its files under root/, the answers its driver gave in driver.json, and the
// verdict it must get in scenario.toml. Each runs the real gpudoctor binary on the tree, with
// the fake libnvidia-ml.so.1 and libcuda.so.1 on LD_LIBRARY_PATH, so the probe's real dlopen
// path runs.
//
// scenario.toml:
//   description = "..."; source = "where the facts come from"
//   base = "h200-container" (start from tests/hosts/NAME/root and its driver.json); remove = ["proc/modules"]
//   [[elf]] path = "opt/venv/.../libtorch_cuda.so"; soname = "..."; needed = ["..."]; rpath = "..." | runpath = "...";
//           links = ["other/name"]   (a real ELF built with the C compiler at test time);
//           machine = "aarch64" (an AArch64 object, by clang and lld; a top-level `machine` is the default of the list)
//   ldconfig = true   (run `ldconfig -r` on the tree: a real /etc/ld.so.cache)
//   [[wheel]] fixture = "torch-2.3.1"; site_packages = "home/.../site-packages"  (real wheel metadata)
//   [run] env = { NAME = "value" }; args = ["..."]; as_user = { uid = 1000, gids = [1000, 44] };
//         driver = "missing" (no driver library at all), "none" (no probe); otherwise driver.json
//         (the scenario's, else the base host's) drives the fakes
//   [[chmod]] path = "dev/nvidia0"; mode = "0660"; uid = 0; gid = 44
//   [expect] verdict = "problem"; causes = ["root_cause", "..."]; warnings = ["..."];
//            evidence_contains = ["..."]; title_contains = "..."; layers = { hardware = "passed" }
//   [expect.terminal] the report a person reads: max_lines = 15; verdict_by_line = 12;
//            contains = ["..."]; lacks = ["..."]; once = ["..."] (exactly once); verbose_contains, verbose_lacks (with --verbose);
//            markdown_contains (check --markdown, redacted as it is shared)

#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <fstream>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(GPUDOCTOR_SCENARIOS))
    if (e.is_directory() && fs::exists(e.path() / "scenario.toml")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

struct BinaryRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

BinaryRun run_binary(const std::string& binary, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env,
                     std::optional<std::pair<uid_t, std::vector<gid_t>>> as_user) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    if (as_user) {
      const auto& gids = as_user->second;
      if (setgroups(gids.size(), gids.data()) != 0 || setgid(gids.front()) != 0 || setuid(as_user->first) != 0) _exit(125);
    }
    std::vector<std::string> envs;
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    // The rule-table test's log (tests/rules/): passed through the clean environment.
    if (const char* log = std::getenv("GPUDOCTOR_TEST_RULE_LOG"); log != nullptr && !env.count("GPUDOCTOR_TEST_RULE_LOG"))
      envs.push_back(std::string("GPUDOCTOR_TEST_RULE_LOG=") + log);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(126);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  BinaryRun r;
  auto drain = [](int fd, std::string& into) {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) into.append(buf, static_cast<size_t>(n));
    close(fd);
  };
  drain(out_pipe[0], r.out);
  drain(err_pipe[0], r.err);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Builds a real ELF shared object at `out` with the SONAME, NEEDED and RPATH/RUNPATH a scenario
// gives ([[elf]] tables), with the C compiler: each NEEDED name links against a stub carrying that
// SONAME, so the file's dynamic section is what the real library's readelf shows.
// `machine` "aarch64" (the [[elf]]'s own key, else the list's top-level `machine`) builds an
// AArch64 object with clang and lld (GPUDOCTOR_AARCH64_CC), as an arm64 host's files are.
std::string build_elf(const fs::path& work, const fs::path& out, const toml::table& spec,
                      const std::string& default_machine) {
  std::string machine = spec["machine"].value_or(default_machine);
  const char* cc_env = std::getenv("CC");
  std::string cc = cc_env != nullptr ? cc_env : "cc";
  if (machine == "aarch64") cc = GPUDOCTOR_AARCH64_CC;
  else if (!machine.empty() && machine != "x86_64") return "unknown machine " + machine + " for " + out.string();
  fs::create_directories(work);
  fs::path src = work / "stub.c";
  if (!fs::exists(src)) std::ofstream(src) << "int gpudoctor_fixture(void) { return 42; }\n";
  const fs::path stubs = work / (machine == "aarch64" ? "stubs-aarch64" : "stubs");
  fs::create_directories(stubs);
  fs::create_directories(out.parent_path());
  auto quote = [](const std::string& a) {
    std::string q = "'";
    for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  std::string cmd = cc + " -shared -fPIC -nostdlib -o " + quote(out.string()) + " " + quote(src.string());
  if (auto soname = spec["soname"].value<std::string>()) cmd += " -Wl,-soname," + quote(*soname);
  if (auto rpath = spec["rpath"].value<std::string>()) cmd += " -Wl,--disable-new-dtags -Wl,-rpath," + quote(*rpath);
  if (auto runpath = spec["runpath"].value<std::string>()) cmd += " -Wl,--enable-new-dtags -Wl,-rpath," + quote(*runpath);
  if (const auto* needed = spec["needed"].as_array()) {
    cmd += " -Wl,--no-as-needed";
    for (const auto& n : *needed) {
      std::string name = n.value_or(std::string{});
      fs::path stub = stubs / name;
      if (!fs::exists(stub)) {
        std::string s = cc + " -shared -fPIC -nostdlib -o " + quote(stub.string()) + " " + quote(src.string()) +
                        " -Wl,-soname," + quote(name);
        if (std::system(s.c_str()) != 0) return "cannot build stub " + name;
      }
      cmd += " " + quote(stub.string());
    }
  }
  if (std::system(cmd.c_str()) != 0) return "cannot build " + out.string() + ": " + cmd;
  return "";
}

// Lays `from` over `to`: files and links of `from` replace those of the same name.
void overlay(const fs::path& from, const fs::path& to) {
  for (auto it = fs::recursive_directory_iterator(from); it != fs::recursive_directory_iterator(); ++it) {
    fs::path dest = to / it->path().lexically_relative(from);  // not fs::relative: it follows links
    if (it->is_symlink()) {
      fs::remove_all(dest);
      fs::create_directories(dest.parent_path());
      fs::create_symlink(fs::read_symlink(it->path()), dest);
    } else if (it->is_directory()) {
      if (fs::is_symlink(dest)) fs::remove(dest);
      fs::create_directories(dest);
    } else {
      fs::create_directories(dest.parent_path());
      if (fs::is_symlink(dest)) fs::remove(dest);
      fs::copy_file(it->path(), dest, fs::copy_options::overwrite_existing);
    }
  }
}

class Scenario : public ::testing::TestWithParam<std::string> {};

TEST_P(Scenario, GivesTheExpectedVerdict) {
  fs::path dir = fs::path(GPUDOCTOR_SCENARIOS) / GetParam();
  toml::table spec = toml::parse_file((dir / "scenario.toml").string());
  ASSERT_TRUE(spec["expect"].is_table()) << "scenario.toml needs [expect]";

  // A private copy of the tree, so that modes and owners can be set as the scenario says.
  fs::path tmp = fs::temp_directory_path() / fmt::format("gpudoctor-scenario-{}-{}", GetParam(), getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  // A scenario may start from a real host's tree (tests/hosts/NAME), remove files from it and
  // lay its own root/ over it.
  fs::path root = tmp / "root";
  fs::create_directories(root);
  // `base` is one host or a list of hosts laid over each other (a machine, then a Python
  // environment installed on it).
  std::vector<fs::path> bases;
  if (auto b = spec["base"].value<std::string>()) bases.push_back(fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts" / *b);
  if (const auto* list = spec["base"].as_array())
    for (const auto& x : *list) bases.push_back(fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts" / x.value_or(std::string{}));
  std::optional<fs::path> base;
  for (const auto& b : bases) {
    ASSERT_TRUE(fs::exists(b / "root")) << "no host tree " << b;
    overlay(b / "root", root);
    if (!base && fs::exists(b / "driver.json")) base = b;
  }
  if (const auto* rm = spec["remove"].as_array())
    for (const auto& x : *rm) fs::remove_all(root / x.value_or(std::string{}));
  if (fs::exists(dir / "root")) overlay(dir / "root", root);
  // Real wheels' files (tests/fixtures/wheels/NAME: dist-info, version files), laid into a
  // site-packages folder of the tree: [[wheel]] fixture = "torch-2.3.1"; site_packages = "...".
  if (const auto* wheels = spec["wheel"].as_array()) {
    fs::path fixtures = fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "fixtures" / "wheels";
    for (const auto& w : *wheels) {
      const auto& t = *w.as_table();
      fs::path from = fixtures / t["fixture"].value_or(std::string{});
      ASSERT_TRUE(fs::is_directory(from)) << "no wheel fixture " << from;
      fs::path into = root / t["site_packages"].value_or(std::string{});
      fs::create_directories(into);
      for (const auto& e : fs::directory_iterator(from)) {
        std::string n = e.path().filename().string();
        if (n == "files.txt" || n == "wheel.txt" || n == "readelf.txt" || n == "README.md") continue;
        fs::copy(e.path(), into / n, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      }
    }
  }
  // Real ELF files: the base host's (elf.toml beside its root/), then the scenario's own.
  std::vector<const toml::array*> elf_lists;
  std::vector<std::string> elf_machines;  // each list's default machine
  std::vector<toml::table> base_elfs;
  bool base_ldconfig = false;
  for (const auto& b : bases) {
    if (!fs::exists(b / "elf.toml")) continue;
    base_elfs.push_back(toml::parse_file((b / "elf.toml").string()));
    base_ldconfig = base_ldconfig || base_elfs.back()["ldconfig"].value_or(false);
  }
  for (const auto& t : base_elfs)
    if (const auto* a = t["elf"].as_array()) {
      elf_lists.push_back(a);
      elf_machines.push_back(t["machine"].value_or(std::string{}));
    }
  if (const auto* a = spec["elf"].as_array()) {
    elf_lists.push_back(a);
    elf_machines.push_back(spec["machine"].value_or(std::string{}));
  }
  std::set<std::string> removed;
  if (const auto* rm = spec["remove"].as_array())
    for (const auto& x : *rm) removed.insert(x.value_or(std::string{}));
  auto is_removed = [&](const std::string& path) {
    for (const auto& r : removed)
      if (path == r || path.rfind(r + "/", 0) == 0) return true;
    return false;
  };
  for (size_t li = 0; li < elf_lists.size(); ++li) {
    bool from_base = li < base_elfs.size();  // `remove` applies to the bases, not to the scenario's own files
    for (const auto& e : *elf_lists[li]) {
      const auto& t = *e.as_table();
      std::string rel = t["path"].value_or(std::string{});
      if (from_base && is_removed(rel)) continue;
      auto err = build_elf(tmp / "elf-work", root / rel, t, elf_machines[li]);
      ASSERT_TRUE(err.empty()) << err;
      // Extra names (the links a package installs: libcudnn.so.9 -> libcudnn.so.9.1.0).
      if (const auto* links = t["links"].as_array()) {
        for (const auto& l : *links) {
          if (from_base && is_removed(l.value_or(std::string{}))) continue;
          fs::path link = root / l.value_or(std::string{});
          fs::create_directories(link.parent_path());
          fs::remove(link);
          fs::create_symlink(fs::path(rel).filename(), link);
        }
      }
    }
  }
  // A real /etc/ld.so.cache of the tree, as ldconfig writes it from the tree's ld.so.conf.
  if (spec["ldconfig"].value_or(base_ldconfig)) {
    if (geteuid() != 0) {
      fs::remove_all(tmp);
      GTEST_SKIP() << "ldconfig -r needs root";
    }
    std::string cmd = "ldconfig -r '" + root.string() + "' 2>/dev/null || /sbin/ldconfig -r '" + root.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  // git cannot hold empty folders: .keep files stand for them and are removed here.
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    if (it->path().filename() == ".keep") fs::remove(it->path());
  fs::permissions(tmp, fs::perms::all);

  std::optional<std::pair<uid_t, std::vector<gid_t>>> as_user;
  if (const auto* u = spec["run"]["as_user"].as_table()) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run the binary as another user";
    std::vector<gid_t> gids;
    if (const auto* g = (*u)["gids"].as_array())
      for (const auto& x : *g) gids.push_back(static_cast<gid_t>(x.value_or(int64_t{65534})));
    if (gids.empty()) gids.push_back(65534);
    as_user = std::make_pair(static_cast<uid_t>((*u)["uid"].value_or(int64_t{65534})), gids);
    for (auto it = fs::recursive_directory_iterator(tmp); it != fs::recursive_directory_iterator(); ++it)
      if (it->is_directory() && !it->is_symlink()) fs::permissions(it->path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  }
  if (const auto* chmods = spec["chmod"].as_array()) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to set owners";
    for (const auto& n : *chmods) {
      const auto& c = *n.as_table();
      fs::path p = root / c["path"].value_or(std::string{});
      auto mode = std::stoul(c["mode"].value_or(std::string("0644")), nullptr, 8);
      ASSERT_EQ(chmod(p.c_str(), static_cast<mode_t>(mode)), 0) << p;
      ASSERT_EQ(lchown(p.c_str(), static_cast<uid_t>(c["uid"].value_or(int64_t{0})), static_cast<gid_t>(c["gid"].value_or(int64_t{0}))), 0) << p;
    }
  }

  std::map<std::string, std::string> env{{"PATH", "/usr/bin:/bin"}, {"LD_LIBRARY_PATH", GPUDOCTOR_FAKES_DIR}};
  if (const auto* e = spec["run"]["env"].as_table()) {
    for (const auto& [k, v] : *e) {
      std::string key(k.str());
      std::string value = v.value_or(std::string{});
      if (key == "LD_LIBRARY_PATH") value = std::string(GPUDOCTOR_FAKES_DIR) + ":" + value;
      env[key] = value;
    }
  }
  // driver.json: the fake libraries answer; [run] driver = "missing": the probe runs with no
  // driver library to find at all (skipped on a host that has a real one).
  std::string driver_mode = spec["run"]["driver"].value_or(std::string{});
  bool driver_missing = driver_mode == "missing";
  fs::path driver_json = dir / "driver.json";
  if (!fs::exists(driver_json) && base && driver_mode != "none" && !driver_missing) driver_json = *base / "driver.json";
  bool has_driver = fs::exists(driver_json) && driver_mode != "none";
  if (has_driver) {
    env["GPUDOCTOR_FAKE_DRIVER"] = driver_json.string();
  } else if (driver_missing) {
    env.erase("LD_LIBRARY_PATH");
    for (const char* lib : {"libcuda.so.1", "libnvidia-ml.so.1"}) {
      if (void* real = dlopen(lib, RTLD_LAZY)) {
        dlclose(real);
        fs::remove_all(tmp);
        GTEST_SKIP() << "this host has a real " << lib << ", so a missing driver cannot be modelled";
      }
    }
  }
  std::vector<std::string> args{"check", "--json", "--root", root.string(), "--driver",
                                has_driver || driver_missing ? "host" : "none", "--timeout", "3"};
  if (const auto* a = spec["run"]["args"].as_array())
    for (const auto& x : *a) args.push_back(x.value_or(std::string{}));

  // Another user may not reach the build folder (a checkout under /root, mode 0700): the binary, the
  // fake driver libraries and driver.json are copied into the scenario's own folder, open to all.
  std::string binary = GPUDOCTOR_BINARY;
  if (as_user) {
    fs::path copies = tmp / "as-user";
    fs::create_directories(copies / "fakes");
    auto copy_open = [](const fs::path& from, const fs::path& to, fs::perms mode) {
      fs::copy_file(from, to, fs::copy_options::overwrite_existing);
      fs::permissions(to, mode);
    };
    const auto readable = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
    const auto runnable = readable | fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
    copy_open(GPUDOCTOR_BINARY, copies / "gpudoctor", runnable);
    binary = (copies / "gpudoctor").string();
    for (const auto& e : fs::directory_iterator(GPUDOCTOR_FAKES_DIR))
      if (e.is_regular_file() && e.path().filename().string().find(".so") != std::string::npos)
        copy_open(e.path(), copies / "fakes" / e.path().filename(), runnable);
    // The fakes' soname links (libcuda.so.1 -> ...) are made again beside the copies.
    for (const auto& e : fs::directory_iterator(GPUDOCTOR_FAKES_DIR))
      if (e.is_symlink() && !fs::exists(copies / "fakes" / e.path().filename()))
        fs::create_symlink(fs::read_symlink(e.path()), copies / "fakes" / e.path().filename());
    std::string ld = env["LD_LIBRARY_PATH"];
    if (ld.rfind(GPUDOCTOR_FAKES_DIR, 0) == 0) env["LD_LIBRARY_PATH"] = (copies / "fakes").string() + ld.substr(std::string(GPUDOCTOR_FAKES_DIR).size());
    if (has_driver) {
      copy_open(driver_json, copies / "driver.json", readable);
      env["GPUDOCTOR_FAKE_DRIVER"] = (copies / "driver.json").string();
    }
    for (const fs::path& d : {copies, copies / "fakes"}) fs::permissions(d, fs::perms::all);
  }
  BinaryRun r = run_binary(binary, args, env, as_user);
  // [expect.terminal]: the report a person reads, from the same tree (check without --json).
  const toml::table* term_expect = spec["expect"]["terminal"].as_table();
  std::string term, term_verbose, markdown;
  if (term_expect != nullptr) {
    std::vector<std::string> targs = args;
    targs[1] = "--no-color";
    term = run_binary(binary, targs, env, as_user).out;
    if (term_expect->contains("verbose_contains") || term_expect->contains("verbose_lacks")) {
      targs.push_back("--verbose");
      term_verbose = run_binary(binary, targs, env, as_user).out;
    }
    if (term_expect->contains("markdown_contains")) {
      std::vector<std::string> margs = args;
      margs[1] = "--markdown";
      markdown = run_binary(binary, margs, env, as_user).out;
    }
  }
  if (std::getenv("GPUDOCTOR_KEEP_SCENARIO_TREE") == nullptr) fs::remove_all(tmp);
  ASSERT_NE(r.exit_code, 125) << "could not switch user";
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON; stderr: " << r.err << "\nstdout: " << r.out;

  const auto& expect = *spec["expect"].as_table();
  std::string verdict = expect["verdict"].value_or(std::string{});
  EXPECT_EQ(j["verdict"], verdict) << j.dump(2);
  EXPECT_EQ(r.exit_code, verdict == "healthy" ? 0 : 1) << r.err;
  std::vector<std::string> want, got;
  if (const auto* c = expect["causes"].as_array())
    for (const auto& x : *c) want.push_back(x.value_or(std::string{}));
  for (const auto& c : j["causes"]) got.push_back(c["id"]);
  EXPECT_EQ(got, want) << j.dump(2);
  std::vector<std::string> want_w, got_w;
  if (const auto* w = expect["warnings"].as_array())
    for (const auto& x : *w) want_w.push_back(x.value_or(std::string{}));
  for (const auto& w : j["warnings"]) got_w.push_back(w["id"]);
  EXPECT_EQ(got_w, want_w) << j.dump(2);
  std::string all_evidence;
  if (!j["causes"].empty()) {
    for (const auto& e : j["causes"][0]["evidence"]) all_evidence += e["source"].template get<std::string>() + ": " + e["fact"].template get<std::string>() + "\n";
  }
  if (const auto* ev = expect["evidence_contains"].as_array()) {
    for (const auto& x : *ev) {
      std::string needle = x.value_or(std::string{});
      EXPECT_NE(all_evidence.find(needle), std::string::npos) << "root cause evidence lacks \"" << needle << "\":\n"
                                                              << all_evidence;
    }
  }
  // The causes' fixes: lines that must be there, and texts no line may hold.
  std::string all_fix;
  for (const auto& c : j["causes"])
    for (const auto& x : c["fix"]) all_fix += x.template get<std::string>() + "\n";
  if (const auto* fc = expect["fix_contains"].as_array())
    for (const auto& x : *fc)
      EXPECT_NE(all_fix.find(x.value_or(std::string{})), std::string::npos) << "the fixes lack \"" << x.value_or(std::string{}) << "\":\n"
                                                                            << all_fix;
  if (const auto* fl = expect["fix_lacks"].as_array())
    for (const auto& x : *fl)
      EXPECT_EQ(all_fix.find(x.value_or(std::string{})), std::string::npos) << "a fix holds \"" << x.value_or(std::string{}) << "\":\n"
                                                                            << all_fix;
  if (auto t = expect["title_contains"].value<std::string>()) {
    ASSERT_FALSE(j["causes"].empty());
    EXPECT_NE(j["causes"][0]["title"].template get<std::string>().find(*t), std::string::npos) << j["causes"][0]["title"];
  }
  if (const auto* layers = expect["layers"].as_table()) {
    for (const auto& [name, state] : *layers) {
      bool found = false;
      for (const auto& l : j["layers"]) {
        if (l["layer"] == std::string(name.str())) {
          found = true;
          EXPECT_EQ(l["status"], state.value_or(std::string{})) << "layer " << name.str() << ": " << l["summary"];
        }
      }
      EXPECT_TRUE(found) << "no layer " << name.str();
    }
  }
  if (term_expect != nullptr) {
    const auto& te = *term_expect;
    std::vector<std::string> lines;
    for (size_t pos = 0; pos < term.size();) {
      size_t nl = term.find('\n', pos);
      if (nl == std::string::npos) nl = term.size();
      lines.push_back(term.substr(pos, nl - pos));
      pos = nl + 1;
    }
    if (auto max = te["max_lines"].value<int64_t>()) EXPECT_LE(lines.size(), static_cast<size_t>(*max)) << term;
    if (auto by = te["verdict_by_line"].value<int64_t>()) {
      size_t at = 0;
      for (size_t i = 0; i < lines.size() && at == 0; ++i)
        if (lines[i].rfind("Verdict: ", 0) == 0) at = i + 1;
      EXPECT_NE(at, 0u) << term;
      EXPECT_LE(at, static_cast<size_t>(*by)) << term;
    }
    auto texts = [&](const char* key) {
      std::vector<std::string> out;
      if (const auto* a = te[key].as_array())
        for (const auto& x : *a) out.push_back(x.value_or(std::string{}));
      return out;
    };
    for (const auto& x : texts("contains")) EXPECT_NE(term.find(x), std::string::npos) << "lacks \"" << x << "\":\n"
                                                                                       << term;
    for (const auto& x : texts("lacks")) EXPECT_EQ(term.find(x), std::string::npos) << "holds \"" << x << "\":\n"
                                                                                    << term;
    for (const auto& x : texts("once")) {
      size_t n = 0;
      for (size_t at = term.find(x); at != std::string::npos; at = term.find(x, at + 1)) ++n;
      EXPECT_EQ(n, 1u) << "\"" << x << "\" " << n << " times:\n"
                       << term;
    }
    for (const auto& x : texts("verbose_contains"))
      EXPECT_NE(term_verbose.find(x), std::string::npos) << "--verbose lacks \"" << x << "\":\n"
                                                         << term_verbose;
    for (const auto& x : texts("verbose_lacks"))
      EXPECT_EQ(term_verbose.find(x), std::string::npos) << "--verbose holds \"" << x << "\":\n"
                                                         << term_verbose;
    for (const auto& x : texts("markdown_contains"))
      EXPECT_NE(markdown.find(x), std::string::npos) << "--markdown lacks \"" << x << "\":\n"
                                                     << markdown;
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Scenario, ::testing::ValuesIn(scenario_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
