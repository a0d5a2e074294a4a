// The environment search (collect/python_envs.cpp, kb/data/python_envs.toml): environments
// nobody activated, in the folders where the tools that make them put them. Each tree is laid
// out as the tool leaves it, with the pyvenv.cfg text it writes (uv 0.13.9, virtualenv 21.15.11
// as Poetry, PDM and Hatch run it, and python3 -m venv, as written on the development machine).

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "cli/run_tool.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path k_wheels = fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "fixtures" / "wheels";
const std::string k_host_root = (fs::path(GPUDOCTOR_SCENARIOS).parent_path() / "hosts" / "h200-container" / "root").string();

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// pyvenv.cfg as each tool writes it.
std::string uv_cfg(const std::string& prompt) {
  return "home = /usr/bin\nimplementation = CPython\nuv = 0.13.9\nversion_info = 3.11.2\n"
         "include-system-site-packages = false\nprompt = " +
         prompt + "\n";
}
std::string virtualenv_cfg(const std::string& prefix, const std::string& prompt) {
  return "home = /usr/bin\nimplementation = CPython\npython-version = 3.11\nversion_info = 3.11.2.final.0\n"
         "version = 3.11.2\nexecutable = /usr/bin/python3.11\ncommand = /usr/bin/python3 -m virtualenv " +
         prefix +
         "\nvirtualenv = 21.15.11\nprompt = \"" + prompt +
         "\"\ninclude-system-site-packages = false\n"
         "base-prefix = /usr\nbase-exec-prefix = /usr\nbase-executable = /usr/bin/python3.11\n";
}
std::string venv_cfg(const std::string& prefix) {
  return "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\nexecutable = /usr/bin/python3.11\n"
         "command = /usr/bin/python3 -m venv " +
         prefix + "\n";
}

// A venv at `dir` (its path inside the tree `at`): pyvenv.cfg, bin/python as a link to the base
// interpreter (as venv, virtualenv and uv make it), an empty lib/python3.11/site-packages.
fs::path make_env(const fs::path& dir, const std::string& cfg) {
  write(dir / "pyvenv.cfg", cfg);
  fs::create_directories(dir / "bin");
  fs::create_symlink("/usr/bin/python3.11", dir / "bin/python");
  fs::create_symlink("python", dir / "bin/python3");
  write(dir / "bin/activate", "# This file must be used with \"source bin/activate\" *from bash*\n");
  fs::path sp = dir / "lib/python3.11/site-packages";
  fs::create_directories(sp);
  return sp;
}

// The real tensorflow 2.15.0 wheel's metadata and build_info.py (tests/fixtures/wheels).
void install_tensorflow(const fs::path& sp) {
  fs::copy(k_wheels / "tensorflow-2.15.0/tensorflow-2.15.0.dist-info", sp / "tensorflow-2.15.0.dist-info", fs::copy_options::recursive);
  fs::copy(k_wheels / "tensorflow-2.15.0/tensorflow", sp / "tensorflow", fs::copy_options::recursive);
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path = fs::temp_directory_path() / fmt::format("gpudoctor-envs-{}-{}", getpid(), name);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

bool has_cause(const nlohmann::json& report, const std::string& id) {
  for (const auto& c : report["causes"])
    if (c["id"] == id) return true;
  return false;
}

const nlohmann::json* env_of(const nlohmann::json& list, const std::string& prefix) {
  for (const auto& e : list)
    if (e["prefix"] == prefix) return &e;
  return nullptr;
}

}  // namespace

// The case: `uv init && uv add tensorflow` made tfproj/.venv; the user works in
// tfproj/notebooks without activating it, and check said "tensorflow is not installed in any
// Python environment found", with a pip command for a framework already there. The search now
// looks at .venv, venv and env in the working folder and each folder above it.
TEST(EnvironmentSearch, ProjectVenvAboveTheWorkingFolderIsFound) {
  TempDir t("project");
  fs::path project = t.path / "tfproj";
  write(project / "pyproject.toml",
        "[project]\nname = \"tfproj\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\n"
        "dependencies = [\"tensorflow==2.15.0\"]\n");
  fs::create_directories(project / "notebooks");
  std::string venv = (project / ".venv").string();
  install_tensorflow(make_env(project / ".venv", uv_cfg("tfproj")));
  fs::create_directories(t.path / "elsewhere");

  auto r = run({"check", "--json", "--framework", "tensorflow", "--driver", "none"}, {}, 120, 0, (project / "notebooks").string());
  ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(has_cause(j, "framework_not_installed")) << r.out.substr(0, 3000);
  const auto* env = env_of(j["environments"], venv);
  ASSERT_NE(env, nullptr) << j["environments"].dump(1);
  EXPECT_NE((*env)["found_by"].get<std::string>().find("above the working folder"), std::string::npos) << (*env)["found_by"];
  ASSERT_EQ((*env)["frameworks"].size(), 1u);
  EXPECT_EQ((*env)["frameworks"][0]["version"], "2.15.0");
  // Whatever names the venv in a fix activates it as a venv.
  for (const auto& list : {j["causes"], j["warnings"]})
    for (const auto& c : list)
      for (const auto& step : c["fix"]) {
        std::string s = step.get<std::string>();
        EXPECT_EQ(s.find("conda activate"), std::string::npos) << s;
        if (s.find(venv) != std::string::npos && s.find("activate") != std::string::npos)
          EXPECT_NE(s.find("source " + venv + "/bin/activate"), std::string::npos) << s;
      }

  // Near: from a folder beside the project (not below it) the venv is not the user's project's.
  auto n = run({"check", "--json", "--framework", "tensorflow", "--driver", "none"}, {}, 120, 0, (t.path / "elsewhere").string());
  auto nj = nlohmann::json::parse(n.out);
  EXPECT_EQ(env_of(nj["environments"], venv), nullptr);
  EXPECT_TRUE(has_cause(nj, "framework_not_installed")) << n.out.substr(0, 2000);
}

// The tools' own folders (Poetry, PDM, Hatch), and venvs outside the home folders two levels
// down (/workspace, /data), inside an inspected image. Near ones that are not judged: pipx's
// application venvs, a pyvenv.cfg without bin/python outside the tools' folders, a venv three
// levels down, and (under --root) nothing for a working folder.
TEST(EnvironmentSearch, ToolFoldersAndVenvsOutsideHomeInAnImage) {
  TempDir t("image");
  fs::path root = t.path / "root";
  fs::copy(k_host_root, root, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  const std::string poetry = "/home/alice/.cache/pypoetry/virtualenvs/tfproj-Xb3kL9aQ-py3.11";
  const std::string pdm = "/home/alice/.local/share/pdm/venvs/tfproj-8Sgn_62n-for-test";
  const std::string hatch = "/home/alice/.local/share/hatch/env/virtual/tfproj/Ab12CdEf/tfproj";
  const std::string hatch_old = "/home/alice/.local/share/hatch/env/virtual/tfproj-Zq7wXy1c/test";
  const std::string workspace = "/workspace/tfproj/.venv";
  const std::string data = "/data/envs/tf";
  const std::string pipx = "/home/alice/.local/share/pipx/venvs/black";
  const std::string stray = "/opt/tool";
  const std::string deep = "/srv/projects/tfproj/.venv";
  make_env(root / poetry.substr(1), virtualenv_cfg(poetry, "tfproj-py3.11"));
  make_env(root / pdm.substr(1), virtualenv_cfg(pdm, "tfproj-3.11"));
  make_env(root / hatch.substr(1), virtualenv_cfg(hatch, "tfproj"));
  make_env(root / hatch_old.substr(1), virtualenv_cfg(hatch_old, "test"));
  install_tensorflow(make_env(root / workspace.substr(1), uv_cfg("tfproj")));
  make_env(root / data.substr(1), venv_cfg(data));
  make_env(root / pipx.substr(1), venv_cfg(pipx));
  write(root / "opt/tool/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n");
  make_env(root / deep.substr(1), uv_cfg("tfproj"));

  auto r = run({"snapshot", "--no-redact", "--root", root.string(), "--driver", "none"}, {}, 120, 0, (root / "workspace/tfproj").string());
  ASSERT_EQ(r.code, 0) << r.err;
  auto snap = nlohmann::json::parse(r.out);
  const auto& envs = snap["python_envs"];
  for (const auto& [prefix, by] : std::vector<std::pair<std::string, std::string>>{
           {poetry, "Poetry"}, {pdm, "PDM"}, {hatch, "Hatch"}, {hatch_old, "Hatch"}, {workspace, "/workspace"}, {data, "/data"}}) {
    const auto* e = env_of(envs, prefix);
    ASSERT_NE(e, nullptr) << prefix << "\n"
                          << envs.dump(1);
    EXPECT_NE((*e)["found_by"].get<std::string>().find(by), std::string::npos) << (*e)["found_by"];
    EXPECT_EQ((*e)["kind"], "venv");
    EXPECT_EQ((*e)["version"], "3.11");
    EXPECT_FALSE((*e)["in_use"].get<bool>());
  }
  for (const auto& prefix : {pipx, stray, deep}) EXPECT_EQ(env_of(envs, prefix), nullptr) << prefix;
  EXPECT_TRUE(snap["python_env_notes"].empty()) << snap["python_env_notes"];

  // The framework in /workspace is read, and the check of the image says where it is.
  auto c = run({"check", "--json", "--root", root.string(), "--driver", "none", "--framework", "tensorflow"}, {}, 120);
  auto cj = nlohmann::json::parse(c.out);
  EXPECT_FALSE(has_cause(cj, "framework_not_installed")) << c.out.substr(0, 3000);
  const auto* ws = env_of(cj["environments"], workspace);
  ASSERT_NE(ws, nullptr);
  ASSERT_EQ((*ws)["frameworks"].size(), 1u);
  EXPECT_EQ((*ws)["frameworks"][0]["framework"], "tensorflow");
}

// Bounded: 70 virtualenvwrapper environments, of which 64 are judged and the rest named in a
// note that the report shows; at 64 there is no note.
TEST(EnvironmentSearch, AtMost64EnvironmentsAreJudgedAndTheCapIsSaid) {
  for (int count : {70, 64}) {
    TempDir t(fmt::format("cap{}", count));
    fs::path root = t.path / "root";
    fs::copy(k_host_root, root, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    for (int i = 0; i < count; ++i) {
      std::string prefix = fmt::format("/home/alice/.virtualenvs/env{:02}", i);
      make_env(root / prefix.substr(1), virtualenv_cfg(prefix, fmt::format("env{:02}", i)));
    }
    auto r = run({"snapshot", "--no-redact", "--root", root.string(), "--driver", "none"}, {}, 120);
    ASSERT_EQ(r.code, 0) << r.err;
    auto snap = nlohmann::json::parse(r.out);
    size_t judged = 0;
    for (const auto& e : snap["python_envs"]) judged += e["found_by"].get<std::string>().find("virtualenvwrapper") != std::string::npos;
    EXPECT_EQ(judged, 64u) << count;
    if (count == 64) {
      EXPECT_TRUE(snap["python_env_notes"].empty()) << snap["python_env_notes"];
      continue;
    }
    ASSERT_EQ(snap["python_env_notes"].size(), 1u);
    std::string note = snap["python_env_notes"][0];
    EXPECT_NE(note.find("judged 64 environments"), std::string::npos) << note;
    EXPECT_NE(note.find("6 more"), std::string::npos) << note;
    auto c = run({"check", "--json", "--root", root.string(), "--driver", "none", "--framework", "torch"}, {}, 120);
    auto cj = nlohmann::json::parse(c.out);
    bool said = false;
    for (const auto& cause : cj["causes"])
      if (cause["id"] == "framework_not_installed")
        for (const auto& ev : cause["evidence"]) said = said || ev.dump().find("6 more") != std::string::npos;
    EXPECT_TRUE(said) << c.out.substr(0, 3000);
  }
}

// Thousands of environments: 2,000 virtualenvwrapper venvs, 6,500 in /workspace/envs (more names
// than the search looks at) and a conda list naming 2,000 more that are not there. The search
// judges 64, stops listing at its bounds and says both; the run stays within 1 GiB of address
// space (a bound not kept fails the allocation, not a timing) and the snapshot stays small.
// Near: the 64 judged are real environments of the tree, each judged once.
TEST(EnvironmentSearch, ThousandsOfEnvironmentsCostABoundedSearchThatSaysItStopped) {
  TempDir t("thousands");
  fs::path root = t.path / "root";
  fs::copy(k_host_root, root, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  // pyvenv.cfg and bin/python: what makes a folder an environment to the search.
  auto light_env = [&](const std::string& prefix, const std::string& cfg) {
    write(root / prefix.substr(1) / "pyvenv.cfg", cfg);
    fs::create_directories(root / prefix.substr(1) / "bin");
    fs::create_symlink("/usr/bin/python3.11", root / prefix.substr(1) / "bin/python");
  };
  for (int i = 0; i < 2000; ++i) {
    std::string a = fmt::format("/home/alice/.virtualenvs/env{:04}", i);
    light_env(a, virtualenv_cfg(a, fmt::format("env{:04}", i)));
  }
  for (int i = 0; i < 6500; ++i) {
    std::string b = fmt::format("/workspace/envs/ws{:04}", i);
    light_env(b, venv_cfg(b));
  }
  std::string conda_list;
  for (int i = 0; i < 2000; ++i) conda_list += fmt::format("/home/alice/miniconda3/envs/c{:04}\n", i);
  write(root / "home/alice/.conda/environments.txt", conda_list);
  auto r = run({"snapshot", "--no-redact", "--root", root.string(), "--driver", "none"}, {}, 300, 1024);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(r.out.size(), std::size_t{4} << 20) << "the snapshot grows with the environments not judged";
  auto snap = nlohmann::json::parse(r.out);
  std::set<std::string> judged;
  for (const auto& e : snap["python_envs"]) {
    std::string prefix = e["prefix"];
    if (!prefix.starts_with("/home/alice/.virtualenvs/env") && !prefix.starts_with("/workspace/envs/ws")) continue;
    EXPECT_TRUE(judged.insert(prefix).second) << prefix << " judged twice";
    EXPECT_TRUE(fs::exists(root / prefix.substr(1) / "pyvenv.cfg")) << prefix;
  }
  EXPECT_EQ(judged.size(), 64u);
  std::string notes = snap["python_env_notes"].dump();
  EXPECT_NE(notes.find("judged 64 environments and stopped there"), std::string::npos) << notes;
  EXPECT_NE(notes.find("the environment search stopped after"), std::string::npos) << notes;
}

// The tools' documented overrides, on this machine: WORKON_HOME (virtualenvwrapper, pipenv) and
// POETRY_VIRTUALENVS_PATH name where the environments are. Near: without the variables they are not
// looked for there, and under --root the variables (this user's, not the image's) are not used.
TEST(EnvironmentSearch, TheToolsFolderVariablesOnThisMachine) {
  TempDir t("vars");
  std::string workon = (t.path / "envs").string(), poetry = (t.path / "poetry-venvs").string();
  make_env(fs::path(workon) / "tf", virtualenv_cfg(workon + "/tf", "tf"));
  make_env(fs::path(poetry) / "tfproj-Xb3kL9aQ-py3.11", virtualenv_cfg(poetry + "/tfproj-Xb3kL9aQ-py3.11", "tfproj-py3.11"));
  auto snapshot_envs = [&](std::map<std::string, std::string> env, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"snapshot", "--no-redact", "--driver", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run(args, std::move(env), 120, 0, t.path.string());
    EXPECT_EQ(r.code, 0) << r.err;
    return nlohmann::json::parse(r.out)["python_envs"];
  };
  auto with = snapshot_envs({{"WORKON_HOME", workon}, {"POETRY_VIRTUALENVS_PATH", poetry + "/"}});
  const auto* w = env_of(with, workon + "/tf");
  ASSERT_NE(w, nullptr) << with.dump(1);
  EXPECT_NE((*w)["found_by"].get<std::string>().find("$WORKON_HOME=" + workon), std::string::npos) << (*w)["found_by"];
  const auto* p = env_of(with, poetry + "/tfproj-Xb3kL9aQ-py3.11");
  ASSERT_NE(p, nullptr) << with.dump(1);
  EXPECT_NE((*p)["found_by"].get<std::string>().find("Poetry"), std::string::npos);
  auto without = snapshot_envs({});
  EXPECT_EQ(env_of(without, workon + "/tf"), nullptr);
  EXPECT_EQ(env_of(without, poetry + "/tfproj-Xb3kL9aQ-py3.11"), nullptr);
  // Under --root: an image whose own home has nothing there; the variable points into this machine.
  fs::path root = t.path / "root";
  fs::copy(k_host_root, root, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  auto image = snapshot_envs({{"WORKON_HOME", workon}}, {"--root", root.string()});
  for (const auto& e : image) EXPECT_EQ(e["found_by"].get<std::string>().find("WORKON_HOME"), std::string::npos) << e.dump();
}
