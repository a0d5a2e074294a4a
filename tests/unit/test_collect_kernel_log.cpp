// Which kernel-log lines check keeps from a log file: real kern.log lines of Ubuntu hosts (the
// classic "[ uptime]" form and the journal-fed form of Ubuntu 22.04 and newer).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "collect/collect.hpp"

namespace gpudoctor {
namespace {

bool holds(const std::vector<std::string>& lines, std::string_view part) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

const char* k_boot1 =
    "Mar  3 10:12:01 gpu-node kernel: [    0.000000] Linux version 5.15.0-97-generic (buildd@lcy02-amd64-102) (gcc "
    "(Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #107-Ubuntu SMP Wed Feb 7 13:26:48 UTC 2024\n"
    "Mar  3 10:12:05 gpu-node kernel: [    4.918120] nvidia-nvlink: Nvlink Core is being initialized, major device number 234\n"
    "Mar  3 10:12:05 gpu-node kernel: [    4.920021] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.161.07  Sat Feb 17 22:55:48 UTC 2024\n"
    "Mar  3 11:40:13 gpu-node kernel: [ 5291.003514] NVRM: Xid (PCI:0000:01:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n"
    "Mar  3 11:40:13 gpu-node kernel: [ 5291.003520] NVRM: GPU 0000:01:00.0: GPU has fallen off the bus.\n";

TEST(KernelLog, AnEarlierBootsXidIsNotThisBoots) {
  std::string text = std::string(k_boot1) +
                     "Mar  4 08:00:01 gpu-node kernel: [    0.000000] Linux version 5.15.0-97-generic (buildd@lcy02-amd64-102) #107-Ubuntu SMP\n"
                     "Mar  4 08:00:06 gpu-node kernel: [    5.101002] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.161.07  Sat Feb 17 22:55:48 UTC 2024\n";
  auto lines = kernel_log_lines_of_file(text);
  EXPECT_FALSE(holds(lines, "Xid"));
  EXPECT_FALSE(holds(lines, "fallen off the bus"));
  EXPECT_TRUE(holds(lines, "Mar  4 08:00:06"));
  // The journal-fed form (no kernel time stamp) starts a boot the same way.
  std::string journal = std::string(k_boot1) +
                        "2024-03-04T08:00:01.000000+00:00 gpu-node kernel: Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) #45-Ubuntu SMP\n";
  EXPECT_FALSE(holds(kernel_log_lines_of_file(journal), "Xid"));
}

TEST(KernelLog, ThisBootsXidStays) {
  auto lines = kernel_log_lines_of_file(k_boot1);
  EXPECT_TRUE(holds(lines, "Xid (PCI:0000:01:00): 79"));
  // "Linux version" later in a boot (a module or a program quoting it) is not a new boot.
  std::string quoted = std::string(k_boot1) +
                       "Mar  3 11:41:00 gpu-node kernel: [ 5348.120001] Linux version 5.15.0-97-generic quoted by a module\n";
  EXPECT_TRUE(holds(kernel_log_lines_of_file(quoted), "Xid (PCI:0000:01:00): 79"));
}

TEST(KernelLog, ChatterDoesNotPushAFaultOut) {
  std::string text = k_boot1;
  for (int i = 0; i < 5000; ++i)
    text += "Mar  3 12:00:00 gpu-node kernel: [ 6000.000000] nvidia-uvm: Loaded the UVM driver, major device number 510.\n";
  auto lines = kernel_log_lines_of_file(text);
  EXPECT_TRUE(holds(lines, "Xid (PCI:0000:01:00): 79"));
  EXPECT_LE(lines.size(), 400u);
  // In order: the fault before the chatter that followed it.
  auto xid = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find("Xid") != std::string::npos; });
  auto uvm = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find("nvidia-uvm") != std::string::npos; });
  EXPECT_LT(xid, uvm);
}

// What is kept is the kernel-log catalogue's (kb/data/kernel_log.toml): its lines, kept apart from
// chatter even when they do not name the module (the kernel's own refusal), and the nvidia and
// nouveau lines; another module's refusal and unrelated lines are not.
TEST(KernelLog, KeepsTheCataloguesLinesAndNoOthers) {
  std::string text = k_boot1;
  text += "Sep 21 18:02:11 gpu-node kernel: [   14.208377] Loading of unsigned module is rejected\n";
  text += "Sep 21 18:02:11 gpu-node systemd-modules-load[412]: Failed to insert module 'vboxdrv': Key was rejected by service\n";
  text += "Sep 21 18:02:11 gpu-node kernel: [   14.300000] usb 1-1: new high-speed USB device number 2 using xhci_hcd\n";
  for (int i = 0; i < 5000; ++i)
    text += "Mar  3 12:00:00 gpu-node kernel: [ 6000.000000] nvidia-uvm: Loaded the UVM driver, major device number 510.\n";
  auto lines = kernel_log_lines_of_file(text);
  EXPECT_TRUE(holds(lines, "Loading of unsigned module is rejected"));
  EXPECT_TRUE(holds(lines, "Xid (PCI:0000:01:00): 79"));
  EXPECT_FALSE(holds(lines, "vboxdrv"));
  EXPECT_FALSE(holds(lines, "usb 1-1"));
  EXPECT_TRUE(holds(lines, "nvidia-uvm"));
}

}  // namespace
}  // namespace gpudoctor
