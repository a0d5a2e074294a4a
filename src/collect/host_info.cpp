#include <sys/utsname.h>

#include "collect/collect.hpp"
#include "collect/parsers.hpp"
#include "kb/knowledge_base.hpp"
#include "loader/resolver.hpp"

namespace gpudoctor {

void collect_host_info(CollectContext& ctx) {
  auto& host = ctx.snapshot.host;
  host.os = std::string("linux");
  std::optional<std::string> text = ctx.fs.read_text("/etc/os-release");
  if (!text) text = ctx.fs.read_text("/usr/lib/os-release");
  if (text) {
    auto kv = parse::os_release(*text);
    auto get = [&](const char* key) -> Fact<std::string> {
      auto it = kv.find(key);
      if (it == kv.end()) return Fact<std::string>::unknown(std::string("no ") + key + " in os-release");
      return it->second;
    };
    host.os_id = get("ID");
    host.os_id_like = get("ID_LIKE");
    host.os_pretty = get("PRETTY_NAME");
  } else {
    host.os_id = host.os_id_like = host.os_pretty = Fact<std::string>::unknown("no /etc/os-release");
  }
  if (auto rel = ctx.fs.read_text("/proc/sys/kernel/osrelease")) {
    host.kernel_release = std::string(parse::trim(*rel));
  } else {
    host.kernel_release = Fact<std::string>::unknown("no /proc/sys/kernel/osrelease under the root");
  }
  if (ctx.fs.is_host()) {
    utsname u{};
    if (::uname(&u) == 0) {
      host.architecture = std::string(u.machine);
      host.architecture_from = "uname(2)";
    }
  } else if (std::string evidence; const auto* machine = loader::detect_root_machine(ctx.fs, &evidence)) {
    // Under --root, the machine of the image's own dynamic loader (its programs run on that CPU).
    host.architecture = std::string(machine->uname);
    host.architecture_from = evidence;
  } else {
    host.architecture = Fact<std::string>::unknown(
        "no dynamic loader of a known machine under the root "
        "(/lib64/ld-linux-x86-64.so.2, /lib/ld-linux-aarch64.so.1)");
  }
}

void collect_environment(CollectContext& ctx) {
  const auto& kb = kb::KnowledgeBase::get();
  for (const auto& [name, value] : ctx.options.environment) {
    if (kb.env_allowed(name)) ctx.snapshot.env.vars[name] = value;
  }
}

}  // namespace gpudoctor
