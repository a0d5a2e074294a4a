// Redaction of what is made for sharing (report/redact.cpp): each shape that must be replaced, and
// the near texts that must stay.

#include <gtest/gtest.h>

#include <string>

#include "core/snapshot_json.hpp"
#include "report/redact.hpp"

namespace gpudoctor {
namespace {

Redactor plain() { return Redactor(RedactionContext{}); }

bool kept(const std::string& s) { return plain().text(s) == s; }

TEST(Redact, TokensByTheirShapes) {
  auto r = plain();
  EXPECT_EQ(r.text("/opt/ghp_" + std::string(36, 'A') + "/bin"), "/opt/<redacted:github-token>/bin");
  EXPECT_EQ(r.text("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF"), "<redacted:github-token>");
  EXPECT_EQ(r.text("/srv/hf_abcdefghijklmnopqrstuvwxyzABCDEFGH/models"), "/srv/<redacted:huggingface-token>/models");
  EXPECT_EQ(r.text("key sk-proj-abcdefghijklmnopqrstuvwx0123"), "key <redacted:api-key>");
  EXPECT_EQ(r.text("AKIAIOSFODNN7EXAMPLE"), "<redacted:aws-access-key>");
  EXPECT_EQ(r.text("xoxb-1234567890-abcdefghijkl"), "<redacted:slack-token>");
  EXPECT_EQ(r.text("glpat-abcdefghij0123456789"), "<redacted:gitlab-token>");
  EXPECT_EQ(r.text("/cache/" + std::string(20, 'a') + std::string(20, '0') + "/x"), "/cache/<redacted:hex>/x");
  EXPECT_EQ(r.text("secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "secret=<redacted>");
  EXPECT_EQ(r.text("aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "aws <redacted:base64>");
  EXPECT_EQ(r.text("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
            "<redacted:jwt>");
}

TEST(Redact, NearTextsThatAreNoSecrets) {
  // sk- inside an ordinary word, short prefixed names, versions, short hashes, ordinary paths.
  for (const std::string s : {"/opt/task-runner-with-a-rather-long-name/bin", "desk-organizer-0123456789abcdef",
                              "hf_transfer", "ghp_short", "AKIA", "pip install tokenizers==0.19.1",
                              "--max-tokens 512", "torch 2.3.1+cu121 (git a1b2c3d)", "libcudnn.so.9.1.0",
                              "/usr/lib/x86_64-linux-gnu/libcudnn_ops_infer.so.8",
                              "/home/linuxbrew/.linuxbrew/lib", "/root/.cache/pip",
                              "/opt/conda/pkgs/someverylongpackagenamewithoutanydigitsorcaps/lib",
                              "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "GPU-1234abcd",
                              "00000000:00:06.0", "https://download.pytorch.org/whl/cu121",
                              "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  580.95.05"}) {
    EXPECT_TRUE(kept(s)) << s << " -> " << plain().text(s);
  }
}

TEST(Redact, CredentialsInUrlsAndCondaTokens) {
  auto r = plain();
  EXPECT_EQ(r.text("https://alice:hunter2@conda.example.com/channel"), "https://<redacted:credentials>@conda.example.com/channel");
  EXPECT_EQ(r.text("https://conda.anaconda.org/t/ab-12345678-1234-1234-1234-123456789abc/mychannel"),
            "https://conda.anaconda.org/t/<redacted:conda-token>/mychannel");
  EXPECT_EQ(r.text("python train.py --hf-token abc123 --epochs 3"), "python train.py --hf-token <redacted> --epochs 3");
  EXPECT_EQ(r.text("HF_TOKEN=abc123 python x.py"), "HF_TOKEN=<redacted> python x.py");
  EXPECT_EQ(r.text("https://x.example/api?access_token=abc&page=2"), "https://x.example/api?access_token=<redacted>&page=2");
  // Near: a URL with a user and no password, a port.
  EXPECT_TRUE(kept("https://pypi.example.com:8443/simple"));
  EXPECT_TRUE(kept("git+ssh://git@github.com/org/repo"));
}

TEST(Redact, UserNamesWhereverTheyAreAPathComponent) {
  RedactionContext c;
  c.user_names = {"carol"};
  Redactor r(c);
  r.learn("/home/alice/venv");
  r.learn("/Users/bob/miniconda3");
  r.learn("/home/linuxbrew/.linuxbrew/bin");
  EXPECT_EQ(r.text("/home/alice/venv/bin/python"), "/home/<user2>/venv/bin/python");
  EXPECT_EQ(r.text("/opt/conda/envs/alice"), "/opt/conda/envs/<user2>");
  EXPECT_EQ(r.text("/Users/bob/miniconda3:/data/carol/bin"), "/Users/<user3>/miniconda3:/data/<user>/bin");
  EXPECT_EQ(r.text("alice"), "<user2>");  // a group named after the user
  EXPECT_EQ(r.text("/home/linuxbrew/.linuxbrew/bin"), "/home/linuxbrew/.linuxbrew/bin");
  EXPECT_EQ(r.text("/root/.cache"), "/root/.cache");
  // Near: a name inside a longer component or word is not the user.
  EXPECT_EQ(r.text("/opt/alice-tools/malice"), "/opt/alice-tools/malice");
  EXPECT_EQ(r.text("video"), "video");
}

TEST(Redact, HostNamesAndSyslogLines) {
  RedactionContext c;
  c.host_names = {"gpu-node-17.cluster.example", "ubuntu"};
  c.keep_words = {"ubuntu"};
  Redactor r(c);
  EXPECT_EQ(r.text("Jan  5 10:00:00 gpu-node-17 kernel: NVRM: Xid 79"), "Jan  5 10:00:00 <host> kernel: NVRM: Xid 79");
  EXPECT_EQ(r.text("Mar 14 09:26:53 otherhost kernel: [ 1.0] nvidia: loading"), "Mar 14 09:26:53 <host> kernel: [ 1.0] nvidia: loading");
  EXPECT_EQ(r.text("2025-03-14T09:26:53.123+01:00 otherhost kernel: NVRM"), "2025-03-14T09:26:53.123+01:00 <host> kernel: NVRM");
  EXPECT_EQ(r.text("ssh gpu-node-17.cluster.example"), "ssh <host>");
  EXPECT_EQ(r.text("/var/log/gpu-node-17/kern.log"), "/var/log/<host>/kern.log");
  // Near: the distribution ID that happens to be the host name, and a longer name.
  EXPECT_EQ(r.text("ubuntu"), "ubuntu");
  EXPECT_EQ(r.text("gpu-node-170"), "gpu-node-170");
}

TEST(Redact, GpuUuidsShortenedAndStillAPrefix) {
  auto r = plain();
  EXPECT_EQ(r.text("GPU-5e2a8a9c-0f6c-2a3e-9f1d-0123456789ab"), "GPU-5e2a8a9c…");
  EXPECT_EQ(r.text("CUDA_VISIBLE_DEVICES=GPU-5e2a8a9c-0f6c,1"), "CUDA_VISIBLE_DEVICES=GPU-5e2a8a9c…,1");
  EXPECT_EQ(r.text("MIG-GPU-5e2a8a9c-0f6c-2a3e-9f1d-0123456789ab/1/0"), "MIG-GPU-5e2a8a9c…/1/0");
  EXPECT_EQ(r.text("MIG-aa11bb22-0f6c-2a3e-9f1d-0123456789ab"), "MIG-aa11bb22…");
  EXPECT_EQ(r.text(r.text("GPU-5e2a8a9c-0f6c-2a3e-9f1d-0123456789ab")), "GPU-5e2a8a9c…");  // idempotent
}

TEST(Redact, SnapshotIdsRenumberedAndMarked) {
  nlohmann::json j = {{"kind", "gpudoctor-snapshot"},
                      {"user", {{"uid", 1234}, {"gids", {44, 1234, 2001}}, {"group_names", {"video", "alice"}}}},
                      {"device_nodes", {{{"path", "/dev/nvidia0"}, {"uid", 0}, {"gid", 2001}}}},
                      {"python_envs", {{{"prefix", "/home/alice/venv"}}}}};
  Redactor r(RedactionContext{});
  r.snapshot(j);
  EXPECT_EQ(j["redacted"], true);
  EXPECT_EQ(j["user"]["uid"], 1000);
  EXPECT_EQ(j["user"]["gids"], nlohmann::json({44, 1000, 1001}));
  EXPECT_EQ(j["device_nodes"][0]["uid"], 0);
  EXPECT_EQ(j["device_nodes"][0]["gid"], 1001);  // the same group as the user's, still
  EXPECT_EQ(j["user"]["group_names"], nlohmann::json({"video", "<user>"}));
  EXPECT_EQ(j["python_envs"][0]["prefix"], "/home/<user>/venv");
}

TEST(Redact, TheSnapshotsOwnWordsAreNoUserOrHostAndItStillReadsBack) {
  // A host named "search" and a login named "quick": both words of the snapshot's own texts
  // ("not on the search path", probe mode "quick"). Redacted, it must read back (check --from).
  Snapshot snap;
  FrameworkLibraries fw;
  fw.framework = "torch";
  ResolvedLibrary lib;
  lib.role = "cudart";
  lib.name = "libcudart.so.13";
  LibraryCopy copy;
  copy.path = "/home/alice/arm/libcudart.so.13";
  copy.resolved = copy.path;
  copy.status = CopyStatus::wrong_machine;
  copy.detail = "x86-64";
  copy.off_path = true;
  lib.others.push_back(copy);
  fw.libraries.push_back(lib);
  snap.frameworks.push_back(fw);
  snap.compute.mode = ProbeMode::quick;
  LogEvent line;
  line.text = "W0000 00:00:1733270000.000000 1234 cuda_dnn.cc:8310] Unable to register cuDNN factory";
  line.severity = Severity::warning;
  snap.program.log.push_back(line);
  auto j = to_json(snap);
  RedactionContext c;
  c.host_names = {"search.cluster.example", "gpu-node-7"};
  c.user_names = {"quick", "warning", "alice"};
  Redactor r(c);
  r.snapshot(j);
  Snapshot back;
  ASSERT_NO_THROW(back = snapshot_from_json(j)) << j.dump();
  const auto& other = back.frameworks.at(0).libraries.at(0).others.at(0);
  EXPECT_EQ(other.status, CopyStatus::wrong_machine);
  EXPECT_TRUE(other.off_path);
  EXPECT_EQ(other.path, "/home/<user>/arm/libcudart.so.13");  // alice is still a user
  EXPECT_EQ(back.compute.mode, ProbeMode::quick);
  EXPECT_EQ(back.program.log.at(0).severity, Severity::warning);
  // Near: the other host and user are redacted as before, in the same kind of text.
  EXPECT_EQ(r.text("gpu-node-7: wrong machine, not on the search path"), "<host>: wrong machine, not on the search path");
  EXPECT_EQ(r.text("alice"), "<user>");
  EXPECT_EQ(r.text("quick"), "quick");
}

}  // namespace
}  // namespace gpudoctor
