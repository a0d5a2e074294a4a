// Rules on hand-built snapshots: the cases the scenario trees do not reach.
#include <gtest/gtest.h>

#include "diagnose/diagnose.hpp"

namespace gpudoctor {
namespace {

Snapshot gpu_host() {
  Snapshot s;
  s.pci_scanned = true;
  PciGpu g;
  g.address = "0000:01:00.0";
  g.vendor_id = 0x10de;
  g.device_id = 0x2204;
  g.class_code = 0x030000;
  g.driver = std::string("nvidia");
  s.pci_gpus.push_back(g);
  s.modules.modules["nvidia"].loaded = true;
  s.modules.modules["nvidia"].version = std::string("535.129.03");
  s.modules.modules["nvidia_uvm"].loaded = true;
  for (const char* n : {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia0"}) {
    DeviceNode d;
    d.path = n;
    d.exists = true;
    d.accessible = true;
    s.device_nodes.push_back(d);
  }
  DriverLibraryFile lib;
  lib.name = "libcuda.so.1";
  lib.path = "/usr/lib/x86_64-linux-gnu/libcuda.so.1";
  lib.resolved = "/usr/lib/x86_64-linux-gnu/libcuda.so.535.129.03";
  lib.version = std::string("535.129.03");
  s.driver_files.libraries.push_back(lib);
  return s;
}

std::vector<std::string> ids(const std::vector<Finding>& f) {
  std::vector<std::string> out;
  for (const auto& x : f) out.push_back(x.cause);
  return out;
}

TEST(Rules, FilesOnlyHealthyHost) {
  auto d = diagnose(gpu_host());
  EXPECT_TRUE(d.healthy);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"healthy"}));
}

TEST(Rules, MismatchFromFilesAloneWithoutAProbe) {
  auto s = gpu_host();
  s.driver_files.libraries[0].version = std::string("535.154.05");
  auto d = diagnose(s);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"driver_library_mismatch"}));
}

TEST(Rules, CompatLibcudaIsNotAMismatch) {
  auto s = gpu_host();
  s.driver_files.libraries[0].resolved = "/usr/local/cuda-12.4/compat/libcuda.so.550.54.15";
  s.driver_files.libraries[0].version = std::string("550.54.15");
  EXPECT_TRUE(diagnose(s).healthy);
}

TEST(Rules, UvmNotYetLoadedIsFineWhenNvidiaModprobeCanLoadIt) {
  auto s = gpu_host();
  s.modules.modules["nvidia_uvm"].loaded = false;
  s.device_nodes.erase(s.device_nodes.begin() + 1);
  s.driver_files.nvidia_modprobe_setuid = true;
  EXPECT_TRUE(diagnose(s).healthy);
  s.driver_files.nvidia_modprobe_setuid = false;
  auto d = diagnose(s);
  EXPECT_TRUE(d.healthy);  // without a probe it is only a warning
  EXPECT_EQ(ids(d.warnings), (std::vector<std::string>{"uvm_module_missing"}));
}

TEST(Rules, ContainerWithoutNodesExplainsTheMissingDriverPieces) {
  auto s = gpu_host();
  s.platform.container = true;
  s.platform.container_kind = "docker";
  s.device_nodes.clear();
  s.driver_files.libraries.clear();
  auto d = diagnose(s);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"container_no_gpu_passthrough"}));
  EXPECT_EQ(d.layers[0].state, LayerState::passed);  // hardware
  EXPECT_EQ(d.layers[2].state, LayerState::failed);  // platform
}

TEST(Rules, HostDriverDownInsideAContainerIsTheRootCause) {
  auto s = gpu_host();
  s.platform.container = true;
  s.modules.modules["nvidia"].loaded = false;
  s.modules.modules["nvidia"].version = Fact<std::string>::unknown("absent");
  s.pci_gpus[0].driver = Fact<std::string>::unknown("unbound");
  s.device_nodes.clear();
  s.driver_files.libraries.clear();
  auto d = diagnose(s);
  ASSERT_FALSE(d.causes.empty());
  EXPECT_EQ(d.causes.front().cause, "driver_not_installed");
  EXPECT_EQ(d.causes.back().cause, "container_no_gpu_passthrough");
}

TEST(Rules, ProgramXidsAreNotHardwareFaults) {
  auto s = gpu_host();
  s.kernel_log.source = std::string("/dev/kmsg");
  s.kernel_log.lines = {"NVRM: Xid (PCI:0000:01:00): 13, pid=4242, name=python, Graphics SM Warp Exception on (GPC 0, TPC 0, SM 0): Out Of Range Address",
                        "NVRM: Xid (PCI:0000:01:00): 31, pid=4242, name=python, Ch 00000008, intr 10000000. MMU Fault"};
  EXPECT_TRUE(diagnose(s).healthy);
  s.kernel_log.lines.push_back("NVRM: Xid (PCI:0000:01:00): 48, pid=0, name=, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.");
  auto d = diagnose(s);
  EXPECT_EQ(ids(d.causes), (std::vector<std::string>{"gpu_in_bad_state"}));
  EXPECT_NE(d.causes[0].title.find("Xid 48"), std::string::npos) << d.causes[0].title;
}

TEST(Rules, EmptySnapshotIsNotAVerdictOfBrokenHardware) {
  Snapshot s;  // an image root with nothing readable
  auto d = diagnose(s);
  EXPECT_TRUE(d.healthy);
  EXPECT_EQ(d.layers[0].state, LayerState::not_checked);
}

}  // namespace
}  // namespace gpudoctor
