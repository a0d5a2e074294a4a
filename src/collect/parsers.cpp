#include "collect/parsers.hpp"

#include <re2/re2.h>

#include <charconv>

#include "core/path.hpp"
#include "core/version.hpp"

namespace gpudoctor::parse {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool mentions_gpu_module(std::string_view word) {
  return starts_with(word, "nvidia") || starts_with(word, "nouveau");
}

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::map<std::string, std::string> os_release(std::string_view text) {
  std::map<std::string, std::string> out;
  for_each_line(text, [&](std::string_view line) {
    line = trim(line);
    if (line.empty() || line.front() == '#') return;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) return;
    std::string_view value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    out[std::string(line.substr(0, eq))] = std::string(value);
  });
  return out;
}

std::set<std::string> proc_modules(std::string_view text) {
  std::set<std::string> out;
  for_each_line(text, [&](std::string_view line) {
    auto w = words(line);
    if (!w.empty()) out.emplace(w.front());
  });
  return out;
}

NvidiaVersion nvidia_version(std::string_view text) {
  NvidiaVersion out;
  bool found = false;
  for_each_line(text, [&](std::string_view line) {
    if (found || !starts_with(trim(line), "NVRM version:")) return;
    found = true;
    out.banner = std::string(trim(line));
    if (line.find("Open Kernel Module") != std::string_view::npos) out.flavour = "open";
    else if (line.find("Kernel Module") != std::string_view::npos) out.flavour = "proprietary";
    // The version is the first word that is a dotted number of two or more parts.
    for (auto w : words(line)) {
      auto parts = parse_dotted_version(w);
      if (parts && parts->size() >= 2) {
        out.version = std::string(w);
        break;
      }
    }
  });
  return out;
}

ProcGpu gpu_information(std::string_view text, std::string bus_location) {
  ProcGpu gpu;
  gpu.bus_location = std::move(bus_location);
  gpu.model = Fact<std::string>::unknown("no Model line");
  gpu.uuid = Fact<std::string>::unknown("no GPU UUID line");
  gpu.device_minor = Fact<int>::unknown("no Device Minor line");
  gpu.excluded = Fact<bool>::unknown("no GPU Excluded line");
  gpu.firmware = Fact<std::string>::unknown("no GPU Firmware line (no GSP firmware in use)");
  for_each_line(text, [&](std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view key = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (key == "Model") gpu.model = std::string(value);
    else if (key == "GPU UUID") gpu.uuid = std::string(value);
    else if (key == "Device Minor") {
      if (auto v = decimal(value)) gpu.device_minor = *v;
    } else if (key == "GPU Excluded") gpu.excluded = value == "Yes";
    else if (key == "GPU Firmware") gpu.firmware = std::string(value);
  });
  return gpu;
}

std::optional<double> link_speed_gts(std::string_view text) {
  text = trim(text);
  auto w = words(text);
  if (w.size() < 2 || w[1] != "GT/s") return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(w[0].data(), w[0].data() + w[0].size(), v);
  if (ec != std::errc{} || ptr != w[0].data() + w[0].size() || !(v > 0 && v <= 1000)) return std::nullopt;
  return v;
}

std::optional<std::uint32_t> hex_number(std::string_view text) {
  text = trim(text);
  if (starts_with(text, "0x") || starts_with(text, "0X")) text.remove_prefix(2);
  if (text.empty()) return std::nullopt;
  std::uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<int> decimal(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<bool> efivar_flag(std::string_view bytes) {
  if (bytes.size() < 5) return std::nullopt;
  return bytes[4] == 1;
}

std::optional<std::string> lockdown_mode(std::string_view text) {
  size_t open = text.find('[');
  size_t close = text.find(']', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
  return std::string(text.substr(open + 1, close - open - 1));
}

std::vector<std::string> modprobe_directives(std::string_view text) {
  std::vector<std::string> out;
  for_each_line(text, [&](std::string_view line) {
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    auto w = words(line);
    if (w.size() < 2) return;
    if ((w[0] == "blacklist" || w[0] == "install" || w[0] == "options" || w[0] == "alias") &&
        mentions_gpu_module(w[1])) {
      std::string joined;
      for (auto x : w) joined += (joined.empty() ? "" : " ") + std::string(x);
      out.push_back(joined);
    }
  });
  return out;
}

std::vector<std::string> cmdline_directives(std::string_view text) {
  std::vector<std::string> out;
  for (auto w : words(text)) {
    bool list = starts_with(w, "modprobe.blacklist=") || starts_with(w, "rd.driver.blacklist=") ||
                starts_with(w, "module_blacklist=");
    if ((list && (w.find("nvidia") != std::string_view::npos || w.find("nouveau") != std::string_view::npos)) ||
        starts_with(w, "nouveau.") || starts_with(w, "nvidia.") || starts_with(w, "nvidia-drm.") ||
        starts_with(w, "nvidia_drm.")) {
      out.emplace_back(w);
    }
  }
  return out;
}

std::optional<std::string> cgroup_container(std::string_view text) {
  if (text.find("kubepods") != std::string_view::npos) return "kubernetes";
  if (text.find("docker") != std::string_view::npos) return "docker";
  if (text.find("libpod") != std::string_view::npos) return "podman";
  if (text.find("containerd") != std::string_view::npos) return "containerd";
  if (text.find("/lxc") != std::string_view::npos || text.find("lxc.payload") != std::string_view::npos) return "lxc";
  return std::nullopt;
}

LdSoConf ld_so_conf(std::string_view text) {
  LdSoConf out;
  for_each_line(text, [&](std::string_view line) {
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    auto w = words(line);
    if (w.empty()) return;
    if (w[0] == "include") {
      for (size_t i = 1; i < w.size(); ++i) out.includes.emplace_back(w[i]);
    } else if (w[0] == "hwcap") {
      return;
    } else {
      for (auto d : w) {
        // "dir=TYPE" (old libc5 syntax) and comma-separated lists are allowed.
        size_t pos = 0;
        while (pos <= d.size()) {
          size_t comma = d.find(',', pos);
          std::string_view one = d.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
          size_t eq = one.find('=');
          if (eq != std::string_view::npos) one = one.substr(0, eq);
          if (!one.empty() && one.front() == '/') out.dirs.emplace_back(one);
          if (comma == std::string_view::npos) break;
          pos = comma + 1;
        }
      }
    }
  });
  return out;
}

std::map<std::uint32_t, std::string> group_names(std::string_view text) {
  std::map<std::uint32_t, std::string> out;
  for_each_line(text, [&](std::string_view line) {
    // name:password:gid:members
    size_t a = line.find(':');
    if (a == std::string_view::npos) return;
    size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) return;
    size_t c = line.find(':', b + 1);
    std::string_view gid = line.substr(b + 1, c == std::string_view::npos ? std::string_view::npos : c - b - 1);
    std::uint32_t g = 0;
    auto [ptr, ec] = std::from_chars(gid.data(), gid.data() + gid.size(), g);
    if (ec == std::errc{} && ptr == gid.data() + gid.size()) out.emplace(g, std::string(line.substr(0, a)));
  });
  return out;
}

std::string cut_value(std::string_view s) { return std::string(s.substr(0, k_max_value)); }

std::optional<DistInfoName> dist_info_name(std::string_view folder) {
  constexpr std::string_view suffix = ".dist-info";
  if (folder.size() <= suffix.size() || folder.substr(folder.size() - suffix.size()) != suffix) return std::nullopt;
  std::string_view stem = folder.substr(0, folder.size() - suffix.size());
  size_t dash = stem.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  return DistInfoName{std::string(stem.substr(0, dash)), std::string(stem.substr(dash + 1))};
}

DistMetadata dist_metadata(std::string_view text) {
  DistMetadata out;
  bool in_headers = true;
  for_each_line(text, [&](std::string_view line) {
    if (!in_headers) return;
    if (line.empty() || line == "\r") {
      in_headers = false;  // the description follows
      return;
    }
    // Headers split on the first ": " (values may hold colons).
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos) return;
    std::string_view key = line.substr(0, colon), value = trim(line.substr(colon + 2));
    if (key == "Version") out.version = cut_value(value);
    else if (key == "Requires-Python") out.requires_python = cut_value(value);
    else if (key == "Requires-Dist") out.requires_dist.push_back(cut_value(value));
  });
  return out;
}

std::vector<std::string> wheel_tags(std::string_view text, std::size_t max) {
  std::vector<std::string> out;
  for_each_line(text, [&](std::string_view line) {
    if (line.rfind("Tag: ", 0) == 0 && out.size() < max) out.push_back(cut_value(trim(line.substr(5))));
  });
  return out;
}

std::vector<std::string> record_files(std::string_view text) {
  std::vector<std::string> out;
  for_each_line(text, [&](std::string_view line) { out.emplace_back(line.substr(0, line.find(','))); });
  return out;
}

namespace {

// RE2 runs in time linear in the text and without recursion, whatever the text holds.
std::string_view whole(const re2::StringPiece& p) { return {p.data(), p.size()}; }

}  // namespace

TorchVersionPy torch_version_py(std::string_view text) {
  static const RE2 version_re(R"((?m)^__version__\s*=\s*'([^'\n]+)')");
  static const RE2 cuda_re(R"((?m)^cuda\s*(?::\s*Optional\[str\])?\s*=\s*(?:'([0-9.]+)'|None))");
  TorchVersionPy out;
  re2::StringPiece input(text.data(), text.size()), m;
  if (RE2::PartialMatch(input, version_re, &m)) out.version = cut_value(whole(m));
  m = re2::StringPiece();
  if (RE2::PartialMatch(input, cuda_re, &m)) {
    out.has_cuda_line = true;
    if (m.data() != nullptr) out.cuda = cut_value(whole(m));
  }
  return out;
}

std::optional<std::string> tf_build_info_value(std::string_view text, std::string_view key) {
  RE2 re("'" + RE2::QuoteMeta(re2::StringPiece(key.data(), key.size())) +
         R"('\s*[:,]\s*('[^']*'|True|False|\[[^\]]*\]))");
  re2::StringPiece m;
  if (!re.ok() || !RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), re, &m)) return std::nullopt;
  std::string_view v = whole(m);
  if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
  return cut_value(v);
}

std::vector<std::string> quoted_items(std::string_view list) {
  static const RE2 item_re(R"('([a-z_0-9.]+)')");
  std::vector<std::string> out;
  re2::StringPiece input(list.data(), list.size()), m;
  while (out.size() < 256 && RE2::FindAndConsume(&input, item_re, &m)) out.push_back(cut_value(whole(m)));
  return out;
}

std::optional<int> jax_cuda_plugin_major(std::string_view dist) {
  constexpr std::string_view prefix = "jax-cuda", suffix = "-plugin";
  if (dist.size() <= prefix.size() + suffix.size() || !starts_with(dist, prefix) ||
      dist.substr(dist.size() - suffix.size()) != suffix)
    return std::nullopt;
  return decimal(dist.substr(prefix.size(), dist.size() - prefix.size() - suffix.size()));
}

std::optional<std::string> jaxlib_local_cuda(std::string_view version) {
  size_t at = version.find("+cuda");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = version.substr(at + 5);
  size_t digits = 0;
  while (digits < rest.size() && digits < 4 && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  return std::string(rest.substr(0, std::min<size_t>(digits, 2)));
}

}  // namespace gpudoctor::parse
