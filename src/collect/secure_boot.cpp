#include "collect/collect.hpp"
#include "collect/parsers.hpp"

namespace gpudoctor {

void collect_secure_boot(CollectContext& ctx) {
  auto& sb = ctx.snapshot.secure_boot;
  bool efi = ctx.fs.is_dir("/sys/firmware/efi");
  bool have_sysfs = ctx.fs.is_dir("/sys/firmware");
  if (efi) sb.efi = true;
  else if (have_sysfs) sb.efi = false;
  else sb.efi = Fact<bool>::unknown("no /sys/firmware under the root");

  if (efi) {
    std::optional<std::string> var;
    for (const auto& name : ctx.fs.list_dir("/sys/firmware/efi/efivars")) {
      if (name.rfind("SecureBoot-", 0) == 0) {
        var = ctx.fs.read_text("/sys/firmware/efi/efivars/" + name, 64);
        break;
      }
    }
    if (var) {
      if (auto flag = parse::efivar_flag(*var)) sb.enabled = *flag;
      else sb.enabled = Fact<bool>::unknown("SecureBoot efivar too short");
    } else {
      sb.enabled = Fact<bool>::unknown("no SecureBoot efivar (efivarfs not mounted or not readable)");
    }
  } else if (have_sysfs) {
    sb.enabled = false;  // legacy BIOS boot: no Secure Boot
  } else {
    sb.enabled = Fact<bool>::unknown("no /sys/firmware under the root");
  }
  if (auto text = ctx.fs.read_text("/sys/kernel/security/lockdown", 256)) {
    if (auto mode = parse::lockdown_mode(*text)) sb.lockdown = *mode;
  } else {
    sb.lockdown = Fact<std::string>::unknown("no /sys/kernel/security/lockdown");
  }
}

}  // namespace gpudoctor
