#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include "explain/explain.hpp"
#include "kb/embedded.hpp"
#include "kb/knowledge_base.hpp"

#include <sstream>
#include <toml++/toml.h>

using gpudoctor::explain::Catalogue;
using gpudoctor::explain::decide_cause;

namespace {

std::set<std::string> cause_ids() {
  std::set<std::string> ids;
  for (const auto& c : gpudoctor::kb::KnowledgeBase::get().causes()) ids.insert(c.id);
  return ids;
}

}  // namespace

TEST(ExplainCatalogue, HasAtLeast150MessagesEachWithASourceAndAKnownCause) {
  const auto& cat = Catalogue::get();
  auto ids = cause_ids();
  std::size_t messages = 0;
  std::set<std::string> seen;
  for (const auto& m : cat.messages()) {
    if (!m.fact.empty()) continue;  // template fields and tool-output parsers
    ++messages;
    EXPECT_TRUE(seen.insert(m.id).second) << "duplicate id " << m.id;
    EXPECT_FALSE(m.source.empty()) << m.id << " names no source";
    EXPECT_FALSE(m.meaning.empty()) << m.id << " says nothing of what it means";
    if (m.cause == "depends") {
      EXPECT_FALSE(m.cause_by.empty()) << m.id;
      for (const auto& [group, rules] : m.cause_by)
        for (const auto& [regex, cause] : rules) EXPECT_TRUE(ids.count(cause)) << m.id << ": " << cause;
    } else {
      EXPECT_TRUE(ids.count(m.cause)) << m.id << ": unknown cause " << m.cause;
    }
  }
  EXPECT_GE(messages, 150U);
}

TEST(ExplainCatalogue, EveryMessageMatchesItsOwnRealExample) {
  const auto& cat = Catalogue::get();
  std::vector<int> hits;
  for (std::size_t i = 0; i < cat.messages().size(); ++i) {
    const auto& m = cat.messages()[i];
    if (m.fact.empty()) {
      EXPECT_FALSE(m.example.empty()) << m.id << " has no real example";
    }
    std::vector<std::string> examples = m.examples;
    if (!m.example.empty()) examples.insert(examples.begin(), m.example);
    for (const auto& example : examples) {
      cat.match(example, hits);
      EXPECT_NE(std::find(hits.begin(), hits.end(), static_cast<int>(i)), hits.end())
          << m.id << " does not match its example: " << example;
      auto values = cat.captures(static_cast<int>(i), example);
      ASSERT_TRUE(values.has_value()) << m.id;
    }
    // A near text (another module, a wording one step off) that must not match.
    if (!m.counter_example.empty()) {
      cat.match(m.counter_example, hits);
      EXPECT_EQ(std::find(hits.begin(), hits.end(), static_cast<int>(i)), hits.end())
          << m.id << " matches its counter_example: " << m.counter_example;
    }
    if (m.cause == "depends" && !m.example.empty()) {
      auto values = cat.captures(static_cast<int>(i), m.example);
      EXPECT_NE(decide_cause(m, *values), "other") << m.id << ": its first example decides nothing";
    }
  }
}

TEST(ExplainCatalogue, DependsPicksTheCauseFromTheCapturedLibrary) {
  auto cat = Catalogue::parse(R"(
[[message]]
id = "tf_dso_load_failed"
framework = "tensorflow"
pattern = "Could not load dynamic library '(?P<library>[^']+)'"
cause = "depends"
cause_by = { library = [["^libcudnn", "cudnn_missing"], ["^libcudart", "cuda_runtime_missing"]] }
severity = "warning"
meaning = "the dso loader did not find a CUDA library"
source = "tensorflow/tsl/platform/default/dso_loader.cc"
)");
  std::vector<int> hits;
  cat->match("2023-01-01 W tensorflow/x.cc:64] Could not load dynamic library 'libcudnn.so.8'; dlerror: x", hits);
  ASSERT_EQ(hits.size(), 1U);
  const auto& m = cat->messages()[static_cast<std::size_t>(hits[0])];
  auto v = cat->captures(hits[0], "Could not load dynamic library 'libcudnn.so.8'; dlerror");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ((*v)["library"], "libcudnn.so.8");
  EXPECT_EQ(decide_cause(m, *v), "cudnn_missing");
  EXPECT_EQ(decide_cause(m, {{"library", "libcudart.so.11.0"}}), "cuda_runtime_missing");
  EXPECT_EQ(decide_cause(m, {{"library", "libfoo.so"}}), "other");
}

// The kernel's own lines are one catalogue (kb/data/kernel_log.toml) for check and explain: the
// messages that name a kernel_line use its pattern, and every line check's rules read is known to
// explain too.
TEST(ExplainCatalogue, KernelLinesComeFromTheKernelLogCatalogue) {
  const auto& kb = gpudoctor::kb::KnowledgeBase::get();
  const auto& cat = Catalogue::get();
  auto message = [&](std::string_view id) -> const gpudoctor::explain::Message* {
    for (const auto& m : cat.messages())
      if (m.id == id) return &m;
    return nullptr;
  };
  const std::pair<const char*, const char*> shared[] = {
      {"nvrm_xid", "xid"},
      {"nvrm_gpu_fallen_off_bus", "fallen_off_bus"},
      {"nvrm_rminitadapter_failed", "rminitadapter_failed"},
      {"nvrm_api_mismatch", "api_mismatch"},
      {"modprobe_key_rejected", "module_key_rejected"},
      {"kernel_module_signature_rejected", "module_signature_rejected"},
      {"kernel_lockdown_unsigned_module", "lockdown_unsigned_module"},
  };
  std::vector<int> hits;
  for (const auto& [msg_id, line_id] : shared) {
    SCOPED_TRACE(msg_id);
    const auto* m = message(msg_id);
    const auto* line = kb.kernel_log_line(line_id);
    ASSERT_NE(m, nullptr);
    ASSERT_NE(line, nullptr);
    EXPECT_EQ(m->pattern, line->pattern);
    // What the catalogue says is that line, explain recognises; its near texts it does not.
    for (const auto& e : line->examples) {
      cat.match(e, hits);
      auto index = static_cast<int>(m - cat.messages().data());
      EXPECT_NE(std::find(hits.begin(), hits.end(), index), hits.end()) << e;
    }
  }
  EXPECT_THROW(Catalogue::parse("[[message]]\nid = \"k\"\nkernel_line = \"no_such_line\"\ncause = \"other\"\n"), std::runtime_error);
  EXPECT_THROW(Catalogue::parse("[[message]]\nid = \"k\"\nkernel_line = \"xid\"\npattern = \"Xid\"\ncause = \"other\"\n"),
               std::runtime_error);
}

TEST(ExplainCatalogue, RejectsMalformedDataWithAClearError) {
  EXPECT_THROW(Catalogue::parse("[[message]\nid="), std::runtime_error);
  try {
    Catalogue::parse("[[message]]\nid = \"bad\"\npattern = \"(unclosed\"\ncause = \"other\"\n");
    FAIL() << "a pattern RE2 cannot compile must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad"), std::string::npos);
  }
  EXPECT_THROW(Catalogue::parse("[[message]]\nid = \"nopattern\"\ncause = \"other\"\n"), std::runtime_error);
  // cause_by patterns are compiled, and their causes checked against causes.md, once at load.
  const char* bad_regex = R"toml([[message]]
id = "bad_cause_by"
pattern = "lib (?P<library>\\S+)"
cause = "depends"
cause_by = { library = [["(unclosed", "cudnn_missing"]] }
)toml";
  try {
    Catalogue::parse(bad_regex);
    FAIL() << "a cause_by regex RE2 cannot compile must be refused at load";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_cause_by"), std::string::npos) << e.what();
  }
  const char* unknown_cause = R"toml([[message]]
id = "made_up_cause"
pattern = "lib (?P<library>\\S+)"
cause = "depends"
cause_by = { library = [["^libcudnn", "cudnn_is_sad"]] }
)toml";
  EXPECT_THROW(Catalogue::parse(unknown_cause), std::runtime_error);
}

TEST(ExplainReadText, TurnsPastedToolOutputIntoSnapshotFacts) {
  // nvidia-smi's header and pip list lines as users paste them.
  std::string text =
      "| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |\n"
      "tensorflow                   2.15.0\n"
      "Cuda compilation tools, release 11.8, V11.8.89\n";
  std::FILE* f = tmpfile();
  std::fwrite(text.data(), 1, text.size(), f);
  std::rewind(f);
  auto r = gpudoctor::explain::read_text(f, Catalogue::get());
  std::fclose(f);
  EXPECT_EQ(r.facts["driver_version"], "535.104.05");
  EXPECT_EQ(r.facts["driver_cuda_version"], "12.2");
  EXPECT_EQ(r.facts["toolkit_version"], "11.8");
  EXPECT_EQ(r.snapshot.driver.nvml.cuda_driver_version.value_or(0), 12020);
  ASSERT_EQ(r.snapshot.framework_installs.size(), 1U);
  EXPECT_EQ(r.snapshot.framework_installs[0].framework, "tensorflow");
  EXPECT_EQ(r.snapshot.framework_installs[0].version.value_or(""), "2.15.0");
  EXPECT_EQ(r.stats.lines, 3U);
}

TEST(ExplainCatalogue, PrefilterNeverDropsARunWithAMessage) {
  const auto& cat = Catalogue::get();
  const std::string message =
      "2021-08-06 21:37:12.570693: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load "
      "dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory";
  std::string noise = "Epoch 3/100\n 10/99 [==>....] - 12s 21ms/step - loss: 0.4312\n";
  EXPECT_FALSE(cat.may_match(noise + noise));
  EXPECT_TRUE(cat.may_match(noise + message + "\n" + noise));
  // After a lone CR (a progress bar redrawn) and inside colour codes.
  EXPECT_TRUE(cat.may_match(" 50%|#####     |\r" + message + "\n"));
  EXPECT_TRUE(cat.may_match(noise + "\x1b[33m" + message.substr(0, 40) + "\x1b[0m" + message.substr(40) + "\n"));
  // An nvidia-smi row anchored at the line start, in the middle of a run.
  EXPECT_TRUE(cat.may_match(noise + "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2  |\n"));
}

TEST(ExplainCatalogue, TemplateFieldsCaptureTheValueTheirExampleStates) {
  // [[template_field]] entries carry `value`: what the pattern must capture from `example`.
  toml::table t = toml::parse(gpudoctor::kb::embedded_file("messages.toml"));
  const auto* fields = t["template_field"].as_array();
  ASSERT_NE(fields, nullptr);
  int checked = 0;
  for (const auto& n : *fields) {
    const auto& f = *n.as_table();
    auto example = f["example"].value<std::string>();
    auto value = f["value"].value<std::string>();
    auto pattern = f["pattern"].value<std::string>();
    if (!example || !value || !pattern) continue;
    toml::table one;
    toml::table field{{"id", "x"}, {"fact", "f"}, {"pattern", *pattern}};
    one.insert("template_field", toml::array{field});
    std::ostringstream text;
    text << one;
    auto cat = Catalogue::parse(text.str());
    std::vector<int> hits;
    cat->match(*example, hits);
    ASSERT_FALSE(hits.empty()) << f["id"].value_or(std::string{});
    auto v = cat->captures(hits[0], *example);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ((*v)["$1"], *value) << f["id"].value_or(std::string{});
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

TEST(ExplainReadText, ReadsPipShowCondaListAndLdconfigOutput) {
  // `pip show tensorflow` (two lines), a `conda list` row, an `ldconfig -p` row, as pasted.
  std::string text =
      "Name: tensorflow\n"
      "Version: 2.12.0\n"
      "Summary: TensorFlow is an open source machine learning framework for everyone.\n"
      "# packages in environment at /home/me/miniconda3/envs/tf:\n"
      "pytorch                   2.1.0           py3.10_cuda11.8_cudnn8.7.0_0    pytorch\n"
      "cudatoolkit               11.2.2              hbe64b41_10    conda-forge\n"
      "\tlibcudnn.so.8 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.8\n";
  std::FILE* f = tmpfile();
  std::fwrite(text.data(), 1, text.size(), f);
  std::rewind(f);
  auto r = gpudoctor::explain::read_text(f, Catalogue::get());
  std::fclose(f);
  EXPECT_EQ(r.facts["pip:tensorflow"], "2.12.0");
  EXPECT_EQ(r.facts["pip:torch"], "2.1.0");
  EXPECT_EQ(r.facts["pip:cudatoolkit"], "11.2.2");
  EXPECT_EQ(r.facts["ldconfig:libcudnn.so.8"], "/usr/lib/x86_64-linux-gnu/libcudnn.so.8");
  std::vector<std::string> frameworks;
  for (const auto& i : r.snapshot.framework_installs) frameworks.push_back(i.framework);
  EXPECT_EQ(frameworks, (std::vector<std::string>{"tensorflow", "torch"}));
}

TEST(ExplainReadText, KeepsTheFirstLineOfEachCauseBeyondTheLimit) {
  std::string notice =
      "2024-05-10 11:33:14.068255: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary is "
      "optimized to use available CPU instructions in performance-critical operations.\n";
  std::string text = notice + notice + notice + notice +
                     "2021-08-06 21:37:12.570693: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could "
                     "not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: "
                     "No such file or directory\n";
  std::FILE* f = tmpfile();
  std::fwrite(text.data(), 1, text.size(), f);
  std::rewind(f);
  auto r = gpudoctor::explain::read_text(f, Catalogue::get(), 2);
  std::fclose(f);
  EXPECT_GE(r.significant, 5U);
  // Two under the limit, then the cuDNN line (once per message that reads it); the other notices
  // are counted, not kept.
  ASSERT_GE(r.lines.size(), 3U);
  for (std::size_t i = 2; i < r.lines.size(); ++i) {
    EXPECT_EQ(r.lines[i].line, 5U);
    EXPECT_EQ(r.lines[i].cause, "cudnn_missing");
  }
  EXPECT_EQ(gpudoctor::explain::diagnose_text(r, nullptr).causes.at(0).cause, "cudnn_missing");
}
