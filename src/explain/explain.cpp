#include "explain/explain.hpp"

#include <fmt/format.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <toml++/toml.h>

#include "core/requirement.hpp"
#include "core/version.hpp"
#include "diagnose/diagnose.hpp"
#include "diagnose/install_fixes.hpp"
#include "kb/embedded.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor::explain {

namespace {

// Parsers of the tool outputs people paste, beside the catalogue's messages: each fills one fact
// from its first capture. Formats: nvidia-smi's header, `pip list` / `pip freeze`, `nvcc --version`,
// PyTorch's collect_env, jax.print_environment_info(), tf.sysconfig.get_build_info().
struct BuiltinFact {
  const char* id;
  const char* pattern;
  const char* fact;
  bool success = false;  ///< the output lists a GPU in use (nvidia-smi's table: the driver holds it)
};
constexpr BuiltinFact k_builtin_facts[] = {
    {"nvidia_smi_header_driver", R"(Driver Version:\s*([0-9]+\.[0-9.]+))", "driver_version"},
    {"nvidia_smi_header_cuda", R"(CUDA Version:\s*([0-9]+\.[0-9]+))", "driver_cuda_version"},
    {"nvidia_smi_gpu_row", R"(^\|\s+\d+\s+(NVIDIA [^|]*?|Tesla [^|]*?|Quadro [^|]*?)\s+(?:On|Off)\s+\|)", "gpu_model", true},
    {"nvidia_smi_list", R"(^GPU \d+: (.+?) \(UUID:)", "gpu_model", true},
    {"pip_tensorflow", R"(^(tensorflow(?:-cpu|-gpu|-intel|-macos)?|tf-nightly)\s*(?:==|\s)\s*([0-9][0-9a-z.+]*)\s*$)", "pip_package"},
    {"pip_torch", R"(^(torch|torchvision|torchaudio)\s*(?:==|\s)\s*([0-9][0-9a-z.+]*)\s*$)", "pip_package"},
    {"pip_jax", R"(^(jax|jaxlib|jax-cuda1[0-9]-plugin|jax-cuda1[0-9]-pjrt)\s*(?:==|\s)\s*([0-9][0-9a-z.+]*)\s*$)", "pip_package"},
    // `conda list`: name, version, build string, channel.
    {"conda_list_framework", R"(^(tensorflow(?:-gpu)?|pytorch|torch|jax|jaxlib|cudatoolkit|cuda-version|cudnn)\s+([0-9][0-9a-z.+_]*)\s+\S+(?:\s+\S+)?\s*$)", "pip_package"},
    // `pip show NAME`: "Name: tensorflow", then "Version: 2.15.0".
    {"pip_show_name", R"(^Name:\s*(tensorflow(?:-cpu|-gpu)?|tf-nightly|torch|jax|jaxlib)\s*$)", "pip_show_name"},
    {"pip_show_version", R"(^Version:\s*([0-9][0-9a-z.+]*)\s*$)", "pip_show_version"},
    // `ldconfig -p`: a CUDA library in the loader cache.
    {"ldconfig_p_cuda_library", R"(^\s+(lib(?:cuda|cudart|cudnn[a-z_]*|cublas(?:Lt)?|cufft|curand|cusolver|cusparse|nccl|nvinfer|nvrtc|nvJitLink)\.so(?:\.[0-9.]+)?) \([^)]*\) => (\S+))", "ldconfig_library"},
    {"nvcc_release", R"(Cuda compilation tools, release ([0-9]+\.[0-9]+))", "toolkit_version"},
    {"collect_env_torch", R"(^PyTorch version:\s*([0-9][^\s]*))", "torch_version"},
    {"collect_env_cuda_build", R"(^CUDA used to build PyTorch:\s*(\S+))", "torch_cuda_build"},
    {"collect_env_available", R"(^Is CUDA available:\s*(True|False))", "cuda_available"},
    {"collect_env_driver", R"(^Nvidia driver version:\s*([0-9]+\.[0-9.]+))", "driver_version"},
    {"collect_env_os", R"(^OS:\s*(.+))", "os"},
    {"collect_env_gpu", R"(^GPU models and configuration:\s*(?:GPU 0:\s*)?(.+))", "gpu_model"},
    {"jax_env_jax", R"(^jax:\s+([0-9][0-9a-z.]*))", "jax_version"},
    {"jax_env_jaxlib", R"(^jaxlib:\s+([0-9][0-9a-z.]*))", "jaxlib_version"},
    {"tf_build_info_cuda", R"('cuda_version',\s*'([0-9_]+)')", "tf_build_cuda"},
    // What people write in prose: "My system is Windows 11. My tensorflow version is 2.12.0."
    {"prose_os_windows", R"((?i)\b(?:my (?:system|os|machine|computer|laptop|pc) is|i(?:'m| am) (?:on|using)|running on|os is)\s+(windows (?:7|8|8\.1|10|11|server \d+))\b)", "os"},
    {"prose_tensorflow_version", R"((?i)\bmy tensorflow(?:-gpu)? version is\s+v?(\d+\.\d+(?:\.\d+)?))", "tensorflow_version"},
    {"prose_installed_cuda", R"((?i)\b(?:i )?(?:have )?installed cuda(?: toolkit)?\s+v?(\d+\.\d+))", "cuda_version"},
    // More of what people write in sentences: "I have CUDA 11.2 and cuDNN 8.1", "GTX 1050 Ti",
    // "driver 470", "Windows 10", "on WSL2". The CUDA forms need a verb before them, so that
    // nvidia-smi's "CUDA Version: 12.2" (what the driver supports) is never read as an install;
    // cuDNN after a slash ("CUDA/cuDNN version: 11.8") is the template's field, not a cuDNN version.
    {"prose_have_cuda", R"((?i)\b(?:i have|i've got|i've|i am using|i'm using|using|with|have)\s+(?:the\s+)?(?:nvidia\s+)?cuda(?:\s+toolkit)?\s+v?(\d+\.\d+))", "cuda_version"},
    {"prose_cudnn", R"((?i)(?:^|[^/\w])cudnn(?:\s+version)?\s*(?:is\s+)?[v:=]?\s*(\d+\.\d+(?:\.\d+)*))", "cudnn_version"},
    {"prose_gpu_model", R"((?i)\b((?:nvidia\s+)?(?:geforce\s+)?(?:gtx|rtx)\s*\d{3,4}(?:\s*(?:ti|super))?|(?:tesla|quadro)\s+[a-z]{0,2}\d{2,4}[a-z]?|rtx\s+a\d{4}|geforce\s+(?:gt|mx)\s*\d{3})\b)", "gpu_model"},
    {"prose_driver", R"((?i)\b(?:nvidia\s+)?driver(?:\s+version)?\s*(?:is\s+|of\s+)?[:=]?\s*v?(\d{3}(?:\.\d{1,3}){0,2})\b)", "driver_version"},
    {"prose_windows", R"((?i)\b(windows\s*(?:10|11|7|8\.1|server\s+20\d\d))\b)", "os"},
    {"prose_wsl", R"((?i)\b(wsl\s*2?|microsoft-standard-wsl2)\b)", "platform_wsl"},
    {"path_cuda_toolkit_folder", R"(/usr/local/cuda-(\d+\.\d+)/)", "cuda_version"},
    {"pip_install_pinned_torch", R"(\bpip3? install\s+(?:-U\s+)?torch={2,3}(\d+\.\d+(?:\.\d+)?(?:\+\w+)?)\b)", "torch_version"},
};

Severity severity_of(std::string_view s) {
  if (auto v = enum_from_string<Severity>(s)) return *v;
  throw std::runtime_error(fmt::format("messages.toml: severity '{}' is none of error, warning, info", s));
}

}  // namespace

struct Catalogue::Compiled {
  /// One regex per message, for its captures: compiled on the message's first hit (the sets below
  /// find the hits and have checked every pattern's syntax at load), since a watch or a log
  /// explained needs few of them and all of them cost megabytes.
  std::unique_ptr<std::unique_ptr<const RE2>[]> regexes;
  std::unique_ptr<std::once_flag[]> compiled_once;
  RE2::Options options;
  std::unique_ptr<RE2::Set> set;
  std::unique_ptr<RE2::Set> multiline;  ///< the same patterns in (?m) mode, over runs of lines
};

Catalogue::Catalogue() = default;
Catalogue::~Catalogue() = default;

std::unique_ptr<Catalogue> Catalogue::parse(std::string_view toml_text) {
  std::unique_ptr<Catalogue> c(new Catalogue());
  toml::table t;
  try {
    t = toml::parse(toml_text, std::string_view("messages.toml"));
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("messages.toml: {}", e.description()));
  }
  auto load = [&](const toml::array* arr, bool field) {
    if (arr == nullptr) return;
    for (const auto& n : *arr) {
      const auto* m = n.as_table();
      if (m == nullptr) continue;
      Message msg;
      msg.id = (*m)["id"].value_or(field ? std::string((*m)["label"].value_or(std::string("field"))) : std::string{});
      msg.framework = (*m)["framework"].value_or(std::string("any"));
      msg.pattern = (*m)["pattern"].value_or(std::string{});
      if (auto id = (*m)["kernel_line"].value<std::string>()) {  // a line of kb/data/kernel_log.toml
        const auto* line = kb::KnowledgeBase::get().kernel_log_line(*id);
        if (line == nullptr) throw std::runtime_error("messages.toml: " + msg.id + ": no kernel_log.toml line " + *id);
        if (!msg.pattern.empty()) throw std::runtime_error("messages.toml: " + msg.id + " has a pattern and a kernel_line");
        msg.pattern = line->pattern;
      }
      msg.cause = (*m)["cause"].value_or(std::string{});
      msg.severity = severity_of((*m)["severity"].value_or(std::string(field ? "info" : "warning")));
      msg.meaning = (*m)["meaning"].value_or(std::string{});
      msg.source = (*m)["source"].value_or(std::string{});
      msg.fact = (*m)["fact"].value_or(std::string{});
      msg.example = (*m)["example"].value_or(std::string{});
      if (const auto* ex = (*m)["examples"].as_array())
        for (const auto& e : *ex) msg.examples.push_back(e.value_or(std::string{}));
      msg.symptom = (*m)["symptom"].value_or(false);
      if (const auto* ex = (*m)["explains"].as_array())
        for (const auto& e : *ex) msg.explains.push_back(e.value_or(std::string{}));
      msg.counter_example = (*m)["counter_example"].value_or(std::string{});
      msg.success = (*m)["success"].value_or(false);
      if (const auto* by = (*m)["cause_by"].as_table()) {
        for (const auto& [group, rules] : *by) {
          std::vector<std::pair<std::string, std::string>> list;
          if (const auto* ra = rules.as_array()) {
            for (const auto& r : *ra) {
              const auto* pair = r.as_array();
              if (pair == nullptr || pair->size() != 2) continue;
              list.emplace_back((*pair)[0].value_or(std::string{}), (*pair)[1].value_or(std::string{}));
            }
          }
          std::vector<std::shared_ptr<const RE2>> compiled;
          for (const auto& [regex, cause] : list) {
            RE2::Options o;
            o.set_log_errors(false);
            auto re = std::make_shared<const RE2>(regex, o);
            if (!re->ok())
              throw std::runtime_error("messages.toml: " + msg.id + ": cause_by " + std::string(group.str()) + " regex '" + regex +
                                       "' does not compile: " + re->error());
            if (kb::KnowledgeBase::get().cause(cause) == nullptr)
              throw std::runtime_error("messages.toml: " + msg.id + ": cause_by names " + cause + ", no cause id of causes.md");
            compiled.push_back(std::move(re));
          }
          msg.cause_by_compiled.push_back(std::move(compiled));
          msg.cause_by.emplace_back(std::string(group.str()), std::move(list));
        }
      }
      if (field && msg.fact.empty()) throw std::runtime_error("messages.toml: template field " + msg.id + " names no fact");
      if (auto heading = (*m)["heading"].value<std::string>(); field && heading) {
        Message h = msg;
        h.id += " (heading)";
        h.pattern = *heading;
        h.heading = true;
        h.example.clear();
        h.examples.clear();
        c->m_messages.push_back(std::move(h));
        if (msg.pattern.empty()) continue;
      }
      if (msg.pattern.empty()) throw std::runtime_error("messages.toml: " + msg.id + " has no pattern");
      c->m_messages.push_back(std::move(msg));
    }
  };
  load(t["message"].as_array(), false);
  load(t["template_field"].as_array(), true);
  for (const auto& b : k_builtin_facts) {
    Message m;
    m.id = b.id;
    m.pattern = b.pattern;
    m.fact = b.fact;
    m.success = b.success;
    m.severity = Severity::info;
    c->m_messages.push_back(std::move(m));
  }
  c->compile();
  return c;
}

void Catalogue::compile() {
  RE2::Options opts;
  opts.set_log_errors(false);
  m_compiled = std::make_unique<Compiled>();
  auto build_set = [&](const RE2::Options& o, const char* prefix) {
    auto set = std::make_unique<RE2::Set>(o, RE2::UNANCHORED);
    for (const auto& m : m_messages) {
      std::string err;
      if (set->Add(prefix + m.pattern, &err) < 0) throw std::runtime_error("messages.toml: " + m.id + ": " + err);
    }
    if (!set->Compile()) throw std::runtime_error("messages.toml: the patterns do not compile as one set");
    return set;
  };
  m_compiled->options = opts;
  m_compiled->regexes = std::make_unique<std::unique_ptr<const RE2>[]>(m_messages.size());
  m_compiled->compiled_once = std::make_unique<std::once_flag[]>(m_messages.size());
  m_compiled->set = build_set(opts, "");
  // A prefilter over runs of lines: with (?m), ^ and $ also match at each line break, so a line
  // that matches alone matches inside the run too ('.' never crosses a line break; classes such
  // as [^'] and \s may, which only lets more runs through).
  RE2::Options multi = opts;
  multi.set_max_mem(int64_t{64} << 20);
  m_compiled->multiline = build_set(multi, "(?m)");
}

const Catalogue& Catalogue::get() {
  static const std::unique_ptr<Catalogue> c = parse(kb::embedded_file("messages.toml"));
  return *c;
}

bool Catalogue::may_match(std::string_view lines) const {
  // Lone carriage returns are line breaks to the reader but not to (?m), and a colour code can
  // hide a message until the line is cleaned: the set sees a copy with '\r' as '\n' and the
  // escape sequences removed, as the per-line pass would.
  thread_local std::string copy;
  const bool has_esc = std::memchr(lines.data(), 0x1B, lines.size()) != nullptr;
  const bool has_cr = std::memchr(lines.data(), '\r', lines.size()) != nullptr;
  if (has_esc || has_cr) {
    copy.clear();
    std::size_t i = 0;
    auto first = [&](char c) {
      const void* f = std::memchr(lines.data(), c, lines.size());
      return f == nullptr ? std::string_view::npos : static_cast<std::size_t>(static_cast<const char*>(f) - lines.data());
    };
    std::size_t next_esc = first(0x1B);  // npos: none left
    std::size_t next_cr = first('\r');
    while (i < lines.size()) {
      // The next ESC or CR from i (each searched again only once passed).
      auto next = [&](std::size_t& at, char c) {
        if (at != std::string_view::npos && at < i) {
          const void* f = std::memchr(lines.data() + i, c, lines.size() - i);
          at = f == nullptr ? std::string_view::npos : static_cast<std::size_t>(static_cast<const char*>(f) - lines.data());
        }
      };
      next(next_esc, 0x1B);
      next(next_cr, '\r');
      std::size_t j = std::min({next_esc, next_cr, lines.size()});
      copy.append(lines.data() + i, j - i);
      if (j >= lines.size()) break;
      if (lines[j] == '\r') {
        copy += '\n';
        i = j + 1;
        continue;
      }
      i = escape_end(lines, j);  // as clean_line drops it
    }
    lines = copy;
  }
  RE2::Set::ErrorInfo error{};
  bool hit = m_compiled->multiline->Match(lines, nullptr, &error);
  // Out of DFA memory the set cannot tell: let the run through to the per-line pass.
  return hit || error.kind != RE2::Set::kNoError;
}

void Catalogue::match(std::string_view line, std::vector<int>& hits) const {
  hits.clear();
  m_compiled->set->Match(line, &hits);
  std::sort(hits.begin(), hits.end());
}

std::optional<std::map<std::string, std::string>> Catalogue::captures(int index, std::string_view line) const {
  if (index < 0 || static_cast<std::size_t>(index) >= m_messages.size()) return std::nullopt;
  auto at = static_cast<std::size_t>(index);
  std::call_once(m_compiled->compiled_once[at], [&] {
    m_compiled->regexes[at] = std::make_unique<const RE2>(m_messages[at].pattern, m_compiled->options);
  });
  const RE2& re = *m_compiled->regexes[at];
  if (!re.ok()) return std::nullopt;  // the set compiled it: only a regex over RE2's memory budget
  int n = re.NumberOfCapturingGroups();
  std::vector<re2::StringPiece> groups(static_cast<size_t>(n) + 1);
  if (!re.Match(line, 0, line.size(), RE2::UNANCHORED, groups.data(), n + 1)) return std::nullopt;
  std::map<std::string, std::string> out;
  for (const auto& [name, idx] : re.NamedCapturingGroups())
    if (groups[static_cast<size_t>(idx)].data() != nullptr) out[name] = std::string(groups[static_cast<size_t>(idx)]);
  for (int i = 1; i <= n; ++i)
    if (groups[static_cast<size_t>(i)].data() != nullptr) out["$" + std::to_string(i)] = std::string(groups[static_cast<size_t>(i)]);
  return out;
}

std::string decide_cause(const Message& m, const std::map<std::string, std::string>& values) {
  if (m.cause != "depends") return m.cause;
  for (std::size_t g = 0; g < m.cause_by.size(); ++g) {
    const auto& [group, rules] = m.cause_by[g];
    auto it = values.find(group);
    if (it == values.end()) continue;
    for (std::size_t r = 0; r < rules.size(); ++r) {
      bool compiled = g < m.cause_by_compiled.size() && r < m.cause_by_compiled[g].size();
      if (compiled ? RE2::PartialMatch(it->second, *m.cause_by_compiled[g][r]) : RE2::PartialMatch(it->second, rules[r].first))
        return rules[r].second;
    }
  }
  return "other";
}

namespace {

void set_fact(TextReading& r, const std::string& fact, const std::string& value) {
  if (fact.empty() || value.empty()) return;
  r.facts.emplace(fact, value);  // the first statement wins
}

// The facts the text states, as a partial snapshot for the rules.
void build_snapshot(TextReading& r) {
  Snapshot& s = r.snapshot;
  s.host.root = "(pasted text)";
  auto fact = [&](const char* k) -> const std::string* {
    auto it = r.facts.find(k);
    return it == r.facts.end() ? nullptr : &it->second;
  };
  if (const auto* os = fact("os")) {
    std::string lower;
    for (char c : *os) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s.host.os_pretty = *os;
    // "Windows 10" in a text that also says WSL is the host of a Linux under WSL.
    bool wsl = lower.find("wsl") != std::string::npos || fact("platform_wsl") != nullptr;
    if (lower.find("windows") != std::string::npos && !wsl) s.host.os = std::string("windows");
    else if (lower.find("mac") != std::string::npos || lower.find("darwin") != std::string::npos) s.host.os = std::string("macos");
    else s.host.os = std::string("linux");
  }
  if (const auto* v = fact("driver_version")) {
    s.driver.nvml.driver_version = *v;
    s.driver.mode = DriverProbeOrigin::text;
  }
  if (const auto* v = fact("driver_cuda_version")) {
    auto parts = parse_dotted_version(*v);  // "12.2" as nvidia-smi prints it
    if (parts && parts->size() >= 2 && (*parts)[0] < 1000 && (*parts)[1] < 100)
      s.driver.nvml.cuda_driver_version = (*parts)[0] * 1000 + (*parts)[1] * 10;
  }
  auto add_install = [&](const std::string& framework, const std::string& dist, const std::string& version) {
    FrameworkInstall f;
    f.framework = framework;
    f.distribution = dist;
    f.version = version;
    f.environment = "(pasted text)";
    f.environment_in_use = true;
    f.site_packages = "(pasted text)";
    if (dist == "tensorflow-cpu") f.cuda_build = false;
    if (framework == "torch") {
      f.build = version;
      if (version.find("+cpu") != std::string::npos) f.cuda_build = false;
      auto cu = version.find("+cu");
      if (cu != std::string::npos && version.size() > cu + 4) {
        std::string digits = version.substr(cu + 3);
        f.cuda_build = true;
        f.cuda_version = digits.substr(0, digits.size() - 1) + "." + digits.substr(digits.size() - 1);
      }
    }
    f.evidence.push_back("the pasted text");
    s.framework_installs.push_back(std::move(f));
  };
  if (const auto* v = fact("tensorflow_version")) add_install("tensorflow", "tensorflow", *v);
  if (const auto* v = fact("torch_version")) {
    add_install("torch", "torch", *v);
    if (const auto* b = fact("torch_cuda_build")) {
      auto& f = s.framework_installs.back();
      if (*b == "None" || *b == "N/A") f.cuda_build = false;
      else {
        f.cuda_build = true;
        f.cuda_version = *b;
      }
    }
  }
  for (const auto& [k, v] : r.facts) {
    if (k.rfind("pip:", 0) != 0) continue;
    std::string dist = k.substr(4);
    std::string fw = dist.rfind("tensorflow", 0) == 0 || dist == "tf-nightly" ? "tensorflow" : dist == "torch" ? "torch"
                                                                                           : dist == "jax"     ? "jax"
                                                                                                               : "";
    bool known = false;
    for (const auto& f : s.framework_installs) known = known || f.framework == fw;
    if (!fw.empty() && !known) add_install(fw, dist, v);
    InstalledPackage p;
    p.name = dist;
    p.version = v;
    p.site_packages = "(pasted text)";
    s.packages.push_back(p);
  }
  PythonEnvironment env;
  env.prefix = "(pasted text)";
  env.found_by = "the pasted text";
  env.in_use = true;
  env.site_packages = {"(pasted text)"};
  if (const auto* v = fact("python_version")) env.version = v->substr(0, v->find('.', v->find('.') + 1));
  if (!s.framework_installs.empty()) s.python_envs.push_back(env);
  if (const auto* g = fact("gpu_model")) {
    NvmlDevice d;
    d.name = *g;
    s.driver.nvml.devices.push_back(d);
  }
}

// The level letter of a glog/absl prefix: "2023-01-01 12:00:00.123: W tensorflow/..." or
// "E0000 00:00:1721000000.1 1234 cuda_dnn.cc:8310]"; 0 for a line without one.
char log_level(std::string_view line) {
  static const RE2 dated(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?: ([IWEF]) )");
  static const RE2 absl(R"(^([IWEF])\d{4} \d\d:\d\d:\d\d)");
  std::string level;
  if (RE2::PartialMatch(line, dated, &level) || RE2::PartialMatch(line, absl, &level)) return level[0];
  return 0;
}

// A finding's title: the first sentence of what the line means (the whole meaning stays on the
// annotated line).
std::string first_sentence(const std::string& meaning) {
  std::size_t end = meaning.find(". ");
  std::string out = meaning.substr(0, end == std::string::npos ? meaning.size() : end);
  if (out.size() > 200) out = out.substr(0, out.rfind(' ', 197)) + "...";
  return out;
}

// The CUDA version a library file name asks for: libcudart.so.10.1 -> 10.1, libcublas.so.11 -> 11,
// cudart64_101.dll -> 10.1, cudart64_110.dll -> 11.0, cudart64_12.dll -> 12. Empty when none.
std::string cuda_version_in_name(const std::string& library) {
  static const RE2 so(R"(\.so\.(\d+)(?:\.(\d+))?)");
  static const RE2 dll(R"(64_(\d+)\.dll)");
  std::string major, minor, digits;
  if (RE2::PartialMatch(library, so, &major, &minor)) return minor.empty() ? major : major + "." + minor;
  if (RE2::PartialMatch(library, dll, &digits)) {
    if (digits.size() == 3) return digits.substr(0, 2) + "." + digits.substr(2);
    return digits;
  }
  return {};
}

// "8.1.0" -> "8.1", "8" -> "8", "5105" (TF 1.x's cuDNN form) -> "5.1"; empty when not a version.
std::string major_minor(const std::string& v) {
  if (v.find('.') == std::string::npos && v.size() == 4 && v.find_first_not_of("0123456789") == std::string::npos)
    return v.substr(0, 1) + "." + v.substr(1, 1);
  auto dot = v.find('.');
  return dot == std::string::npos ? v : v.substr(0, v.find('.', dot + 1));
}
std::string major_of(const std::string& v) { return major_minor(v).substr(0, major_minor(v).find('.')); }

const std::string* stated(const std::map<std::string, std::string>& facts, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (auto it = facts.find(k); it != facts.end() && !it->second.empty()) return &it->second;
  return nullptr;
}

// Versions reasoned with: what a line asks for against what the text states installed.
// - A CUDA library of one version fails to load while the text states another CUDA installed
//   (nvcc, the template's CUDA field, prose): not missing, the versions do not match. The same for
//   cuDNN (libcudnn.so.8 or cudnn64_8.dll against "cuDNN 7.6").
// - "Loaded runtime CuDNN library: X but source was compiled with Y" while the stated cuDNN is Y:
//   the installed copy is right, another one won (conflicting installs).
// - pip's "Could not find a version that satisfies the requirement NAME==X (from versions: ...)"
//   where X is not among the versions the index offers this Python: the release does not support
//   this Python (or platform).
std::pair<std::string, std::string> refine_cause(const AnnotatedLine& a, const std::map<std::string, std::string>& facts) {
  auto value = [&](const char* k) -> std::string {
    auto it = a.values.find(k);
    return it == a.values.end() ? std::string{} : it->second;
  };
  if (a.cause == "cuda_runtime_missing" || a.cause == "cuda_math_library_missing") {
    std::string lib = value("library");
    std::string wanted = cuda_version_in_name(lib);
    const std::string* have = stated(facts, {"toolkit_version", "cuda_version"});
    if (wanted.empty() || have == nullptr) return {a.cause, ""};
    // CUDA 11 and later keep one soname per major (libcudart.so.11.0 serves every 11.x); before 11,
    // every minor had its own.
    bool per_major = std::atoi(major_of(wanted).c_str()) >= 11 || wanted.find('.') == std::string::npos;
    bool differs = per_major ? major_of(wanted) != major_of(*have) : major_minor(wanted) != major_minor(*have);
    if (!differs) return {a.cause, ""};
    return {"cuda_version_mismatch",
            fmt::format("The framework loads {}, the CUDA {} library it was built for; the text says CUDA {} is installed, "
                        "which does not provide it",
                        lib, wanted, *have)};
  }
  if (a.cause == "cudnn_missing") {
    std::string lib = value("library");
    static const RE2 so(R"(cudnn[a-z_]*\.so\.(\d+))");
    static const RE2 dll(R"(cudnn[a-z_]*64_(\d+)\.dll)");
    std::string wanted;
    if (!RE2::PartialMatch(lib, so, &wanted)) RE2::PartialMatch(lib, dll, &wanted);
    const std::string* have = stated(facts, {"cudnn_version"});
    if (wanted.empty() || have == nullptr || major_of(*have) == wanted) return {a.cause, ""};
    return {"cudnn_version_mismatch",
            fmt::format("The framework loads {}, cuDNN {}; the text says cuDNN {} is installed, another major version", lib,
                        wanted, *have)};
  }
  if (a.message == "xla_cudnn_version_mismatch") {
    const std::string* have = stated(facts, {"cudnn_version"});
    std::string compiled = value("compiled"), loaded = value("loaded");
    if (have != nullptr && !compiled.empty() && major_minor(*have) == major_minor(compiled) &&
        major_minor(loaded) != major_minor(compiled))
      return {"conflicting_cuda_installs",
              fmt::format("cuDNN {} was loaded, though the text says cuDNN {} (the version the build needs) is installed: "
                          "another copy of cuDNN comes first on the library path",
                          major_minor(loaded), *have)};
    return {a.cause, ""};
  }
  if (a.message == "pip_no_version_satisfies") {
    // No version at all, or none listed: the index has nothing for this interpreter (a Python
    // newer or older than every release, 32-bit Python, a platform without wheels).
    if (value("versions").empty() || value("versions") == "none")
      return {"framework_version_incompatible_python", ""};
    static const RE2 pinned(R"(^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([0-9][0-9a-z.]*)$)");
    std::string name, version;
    std::string versions = value("versions");
    if (!RE2::FullMatch(value("requirement"), pinned, &name, &version))
      return {a.cause, ""};
    std::vector<std::string> offered;
    for (std::size_t i = 0; i < versions.size();) {
      std::size_t j = versions.find(',', i);
      std::string v = versions.substr(i, j == std::string::npos ? std::string::npos : j - i);
      v.erase(0, v.find_first_not_of(' '));
      v.erase(v.find_last_not_of(' ') + 1);
      if (!v.empty()) offered.push_back(v);
      if (j == std::string::npos) break;
      i = j + 1;
    }
    if (offered.empty() ||
        std::any_of(offered.begin(), offered.end(), [&](const std::string& v) { return compare_versions(v, version) == 0; }))
      return {a.cause, ""};
    // A version the index has for other Pythons but not this one (X older than all offered: the
    // Python is too new; newer than all: too old or another platform).
    std::string why = compare_versions(version, offered.front()) < 0
                          ? fmt::format(
                                "{} {} has no build for this Python: the index offers {} {} to {} only, so the Python "
                                "is newer than that release supports",
                                name, version, name, offered.front(), offered.back())
                          : fmt::format("{} {} is not offered for this Python or platform (the index offers {} {} to {})", name,
                                        version, name, offered.front(), offered.back());
    return {"framework_version_incompatible_python", why};
  }
  return {a.cause, ""};
}

// A library failure in a text that also states the TensorFlow version: name what that release
// was built with (tensorflow.toml), and the install that brings exactly that.
void add_what_the_framework_needs(const TextReading& text, std::vector<Finding>& findings) {
  auto it = text.facts.find("tensorflow_version");
  std::string version = it != text.facts.end() ? it->second : "";
  if (version.empty()) {
    for (const auto& [k, v] : text.facts)
      if ((k == "pip:tensorflow" || k == "pip:tensorflow-gpu" || k == "pip:tf-nightly") && version.empty()) version = v;
  }
  if (version.empty()) return;
  auto first = version.find('.');
  if (first == std::string::npos) return;
  auto second = version.find_first_not_of("0123456789", first + 1);
  std::string series = version.substr(0, second);
  const auto* rel = kb::KnowledgeBase::get().tf_release(series);
  if (rel == nullptr || rel->cuda.empty()) return;
  static const std::set<std::string> library_causes = {"cuda_runtime_missing", "cudnn_missing", "cuda_math_library_missing",
                                                       "cuda_version_mismatch", "cudnn_version_mismatch"};
  for (auto& f : findings) {
    if (!library_causes.count(f.cause) || f.severity != Severity::error) continue;
    f.title += fmt::format(" (TensorFlow {} was built with CUDA {} and cuDNN {})", series, rel->cuda, rel->cudnn);
    f.evidence.push_back({"tensorflow.toml", fmt::format("TensorFlow {}: CUDA {}, cuDNN {}, Python {} (tested build configurations)",
                                                         series, rel->cuda, rel->cudnn, rel->python)});
    if (tensorflow_has_and_cuda(kb::KnowledgeBase::get(), series))
      f.fix.push_back(fmt::format("On Linux or WSL2: {} (installs CUDA {} and cuDNN {} as pip packages)",
                                  tensorflow_gpu_install(kb::KnowledgeBase::get(), series + ".*", "python -m pip"), rel->cuda,
                                  rel->cudnn));
    else
      f.fix.push_back(tensorflow_gpu_install(kb::KnowledgeBase::get(), version, "python -m pip"));
  }
}

}  // namespace

struct TextReader::State {
  std::vector<int> hits;
  std::string pending_heading;  // an issue-form heading seen: its value is the next non-empty line
  std::string pending_heading_id;
  std::string pip_show_name;            // `pip show`: the Name: line seen, its Version: line to come
  std::set<std::string> kept_messages;  // message/cause pairs with a kept line
  bool blank = true;                    // no line with more than white space yet
};

TextReader::TextReader(const Catalogue& catalogue, std::size_t max_kept_lines)
    : m_catalogue(catalogue), m_max_kept(max_kept_lines), m_state(std::make_unique<State>()) {}
TextReader::~TextReader() = default;

bool TextReader::may_match(std::string_view run) const {
  if (m_state->blank && run.find_first_not_of(" \t\r\n\f\v") != std::string_view::npos) m_state->blank = false;
  return !m_state->pending_heading.empty() || m_catalogue.may_match(run);
}

void TextReader::line(std::size_t n, std::string_view raw) {
  TextReading& r = m_reading;
  const auto& catalogue = m_catalogue;
  const auto& messages = catalogue.messages();
  auto& hits = m_state->hits;
  auto& pending_heading = m_state->pending_heading;
  auto& pending_heading_id = m_state->pending_heading_id;
  auto& pip_show_name = m_state->pip_show_name;
  auto& kept_messages = m_state->kept_messages;
  const std::size_t max_kept_lines = m_max_kept;
  if (m_state->blank && raw.find_first_not_of(" \t\r\n\f\v") != std::string_view::npos) m_state->blank = false;
  // Counts a significant line; keeps it while under the limit, and always the first line of each
  // message (so a cause that first shows late in a long log still has its line).
  auto annotate = [&](AnnotatedLine&& a) {
    ++r.significant;
    std::string key = a.message + "/" + a.cause;
    if (r.lines.size() < max_kept_lines || !kept_messages.count(key)) {
      kept_messages.insert(std::move(key));
      a.text.resize(std::min<std::size_t>(a.text.size(), 2000));
      r.lines.push_back(std::move(a));
    }
  };

  if (!pending_heading.empty() && raw.find_first_not_of(" \t") != std::string_view::npos) {
    std::string value = clean_line(raw);
    value.erase(0, value.find_first_not_of(" \t"));
    const std::string line_text = value;
    if (pending_heading.size() > 8 && pending_heading.compare(pending_heading.size() - 8, 8, "_version") == 0) {
      // "v2.12.0-rc1-12-g0db597d0d75 2.12.0", "cuda_11.8.0_522.06_windows / cudnn-...": the first version.
      static const RE2 version(R"((\d+\.\d+(?:\.\d+)?))");
      std::string v;
      if (RE2::PartialMatch(value, version, &v)) value = v;
    }
    if (value != "_No response_" && value.rfind("###", 0) != 0) {
      set_fact(r, pending_heading, value.substr(0, 200));
      AnnotatedLine a;
      a.line = n;
      a.text = line_text;
      a.message = pending_heading_id;
      a.meaning = "states " + pending_heading + ": " + value.substr(0, 200);
      annotate(std::move(a));
    }
    pending_heading.clear();
    if (value.rfind("###", 0) != 0) return;
  }
  // Fast path: most lines of a big log match nothing. A line with colour codes is cleaned
  // first, so that a code inside a message does not hide it.
  std::string text;
  if (std::memchr(raw.data(), 0x1B, raw.size()) != nullptr) {
    text = clean_line(raw);
    catalogue.match(text, hits);
  } else {
    catalogue.match(raw, hits);
    if (!hits.empty()) text = clean_line(raw);
  }
  if (hits.empty()) return;
  for (int h : hits) {
    const Message& m = messages[static_cast<size_t>(h)];
    auto values = catalogue.captures(h, text);
    if (!values) continue;
    if (m.heading) {
      pending_heading = m.fact;
      pending_heading_id = m.id;
      continue;
    }
    if (!m.fact.empty()) {
      std::string stated;
      if (m.fact == "pip_package") {
        std::string dist = (*values)["$1"] == "pytorch" ? std::string("torch") : (*values)["$1"];
        set_fact(r, "pip:" + dist, (*values)["$2"]);
        stated = dist + " " + (*values)["$2"];
      } else if (m.fact == "pip_show_name") {
        pip_show_name = (*values)["$1"];
        continue;
      } else if (m.fact == "pip_show_version") {
        if (pip_show_name.empty()) continue;
        set_fact(r, "pip:" + pip_show_name, (*values)["$1"]);
        stated = pip_show_name + " " + (*values)["$1"];
        pip_show_name.clear();
      } else if (m.fact == "ldconfig_library") {
        stated = (*values)["$1"] + " at " + (*values)["$2"];
        set_fact(r, "ldconfig:" + (*values)["$1"], (*values)["$2"]);
      } else {
        stated = values->count("$1") ? (*values)["$1"] : "";
        set_fact(r, m.fact, stated);
      }
      if (m.success) r.gpu_created = true;
      if (m.cause.empty()) {
        AnnotatedLine a;
        a.line = n;
        a.text = text;
        a.message = m.id;
        a.severity = Severity::info;
        a.success = m.success;
        bool package = m.fact == "pip_package" || m.fact == "pip_show_version";
        a.meaning = "states " + (package ? std::string("an installed package") : m.fact == "ldconfig_library" ? std::string("a library in the loader cache")
                                                                                                              : m.fact) +
                    ": " + stated;
        annotate(std::move(a));
        continue;
      }
    }
    if (m.cause.empty()) continue;
    if (m.success) r.gpu_created = true;
    AnnotatedLine a;
    a.line = n;
    a.text = text;
    a.message = m.id;
    a.cause = decide_cause(m, *values);
    a.severity = m.severity;
    a.meaning = m.meaning;
    a.symptom = m.symptom;
    a.success = m.success;
    a.explains = m.explains;
    a.level = log_level(text);
    for (auto& [k, v] : *values)
      if (k.empty() || k[0] != '$') a.values[k] = v;
    annotate(std::move(a));
  }
}

TextReading TextReader::finish(const ReadStats& stats) {
  m_reading.stats = stats;
  m_reading.blank = m_state->blank;
  // collect_env's "Is CUDA available: True": PyTorch reached the GPU.
  if (auto it = m_reading.facts.find("cuda_available"); it != m_reading.facts.end() && it->second == "True")
    m_reading.gpu_created = true;
  build_snapshot(m_reading);
  return std::move(m_reading);
}

TextReading read_text(std::FILE* in, const Catalogue& catalogue, std::size_t max_kept_lines) {
  TextReader reader(catalogue, max_kept_lines);
  auto stats = read_lines(
      in, [&](std::size_t n, std::string_view raw) { reader.line(n, raw); }, 16384,
      [&](std::string_view run) { return reader.may_match(run); });
  return reader.finish(stats);
}

Diagnosis diagnose_text(const TextReading& text, const Snapshot* host) {
  const auto& kb = kb::KnowledgeBase::get();
  std::vector<Finding> found;
  RankHints hints;
  // Findings from the lines: one per cause, its first line first.
  std::map<std::string, bool> only_symptoms;  // every line of the cause is a consequence of another
  auto weight = [](char l) { return l == 'F' ? 4 : l == 'E' ? 3
                                               : l == 'W'   ? 2
                                               : l == 'I'   ? 1
                                                            : 0; };
  // A harmless line's cause is of the benign layer (causes.toml), whatever its id says.
  auto benign_cause = [&](const std::string& id) {
    const auto* c = kb.cause(id);
    return c != nullptr && c->layer == Layer::benign;
  };
  for (const auto& a : text.lines) {
    if (a.cause.empty()) continue;
    auto [cause, why] = refine_cause(a, text.facts);
    auto it = std::find_if(found.begin(), found.end(), [&, c = cause](const Finding& f) { return f.cause == c; });
    if (it == found.end()) {
      Finding f;
      f.cause = cause;
      const auto* info = kb.cause(cause);
      f.layer = info && info->layer ? *info->layer : Layer::benign;
      bool benign = benign_cause(cause);
      f.severity = benign ? Severity::info : a.severity;
      f.title = !why.empty() ? why : first_sentence(a.meaning.empty() ? (info ? info->meaning : cause) : a.meaning);
      hints.first_seen[cause] = a.line;
      only_symptoms[cause] = true;
      found.push_back(std::move(f));
      it = found.end() - 1;
    } else if (a.severity == Severity::error && it->severity != Severity::error && !benign_cause(it->cause)) {
      it->severity = Severity::error;
    }
    if (!a.symptom) only_symptoms[cause] = false;
    for (const auto& e : a.explains)
      if (std::find(it->explains.begin(), it->explains.end(), e) == it->explains.end()) it->explains.push_back(e);
    hints.loudness[cause] = std::max(hints.loudness[cause], weight(a.level));
    std::string where = fmt::format("line {}", a.line);
    bool seen = std::any_of(it->evidence.begin(), it->evidence.end(), [&](const Source& e) { return e.where == where; });
    if (!seen && it->evidence.size() < 6) it->evidence.push_back({where, a.text});
  }
  for (const auto& [cause, only] : only_symptoms)
    if (only) hints.symptom_only.insert(cause);
  // The rules over the facts the text states (and this host's, with --host), ranked with the
  // lines' findings by the one ranking check uses.
  for (auto& f : rule_findings(text.snapshot, kb)) found.push_back(std::move(f));
  if (host != nullptr)
    for (auto& f : rule_findings(*host, kb)) {
      if (f.severity != Severity::error) continue;
      for (auto& e : f.evidence) e.where = "this host: " + e.where;
      found.push_back(std::move(f));
    }
  auto [causes, rest] = rank_findings(std::move(found), hints);
  Diagnosis d;
  d.causes = std::move(causes);
  add_what_the_framework_needs(text, d.causes);
  std::vector<Finding> benign;
  for (auto& w : rest) (w.severity == Severity::info && d.causes.empty() ? benign : d.warnings).push_back(std::move(w));
  for (auto* list : {&d.causes, &d.warnings})
    for (auto& f : *list)
      if (f.fix.empty() && f.severity != Severity::info) f.fix = kb.text_fix(f.cause);
  if (d.causes.empty()) {
    // Healthy only when the text shows the GPU in use and nothing blocks it. A text of harmless
    // lines alone, or of nothing gpudoctor knows, is no verdict of health: its benign
    // explanations lead (the verdict says unknown), or `other` says what the text held.
    std::erase_if(benign, [](const Finding& f) { return f.cause == "healthy"; });
    if (text.gpu_created) {
      Finding f;
      f.cause = "healthy";
      f.layer = Layer::benign;
      f.severity = Severity::info;
      f.title = "The text shows the framework using the GPU, and no failure";
      for (const auto& a : text.lines)
        if (a.success && f.evidence.size() < 3) f.evidence.push_back({fmt::format("line {}", a.line), a.text});
      if (f.evidence.empty()) f.evidence.push_back({"the text", "Is CUDA available: True (PyTorch's collect_env)"});
      // A harmless line that looks like a failure (logged at W, E or F) is what the user asks
      // about: its explanation leads, the healthy verdict follows it.
      auto loud = [&](const Finding& b) { return hints.loudness.count(b.cause) && hints.loudness.at(b.cause) >= 2; };
      bool asks_about_one = !benign.empty() && loud(benign.front());
      benign.insert(asks_about_one ? benign.begin() + 1 : benign.begin(), std::move(f));
    } else if (benign.empty()) {
      Finding f;
      f.cause = "other";
      f.layer = Layer::benign;
      f.severity = Severity::info;
      f.title = "Nothing in this text shows a GPU problem gpudoctor knows, nor the GPU in use";
      for (const auto& a : text.lines)
        if (f.evidence.size() < 6) f.evidence.push_back({fmt::format("line {}", a.line), a.meaning.empty() ? a.text : a.meaning});
      f.evidence.push_back({"the text", fmt::format("{} lines read, {} of them known to the catalogue (messages and tool outputs); "
                                                    "none shows a failure or a GPU in use",
                                                    text.stats.lines, text.significant)});
      f.fix.push_back(
          "Paste the framework's whole output from its start (import and first GPU use), or run gpudoctor check on the "
          "machine itself.");
      benign.insert(benign.begin(), std::move(f));
    }
    d.causes = std::move(benign);
    d.healthy = text.gpu_created;
  }
  for (const auto& a : text.lines)
    d.annotations.push_back({a.line, a.text, a.message, a.cause, a.severity, a.meaning});
  d.annotated_total = text.significant;
  for (Layer l : k_all_layers) {
    LayerStatus st;
    st.layer = l;
    auto failed = std::find_if(d.causes.begin(), d.causes.end(), [&](const Finding& c) { return c.layer == l && c.severity == Severity::error; });
    if (failed != d.causes.end()) {
      st.state = LayerState::failed;
      st.summary = failed->title;
    } else if (text.gpu_created && (l == Layer::hardware || l == Layer::driver || l == Layer::libraries)) {
      st.state = LayerState::passed;
      st.summary = "the text shows the GPU device created";
    } else {
      st.state = LayerState::not_checked;
      st.summary = "the text says nothing about it";
    }
    d.layers.push_back(std::move(st));
  }
  return d;
}

}  // namespace gpudoctor::explain
