#pragma once
// A hand-built snapshot of a host whose NVIDIA driver files, module and device nodes are all in
// place (what the files-only collectors see on a working machine), for the rule tests.

#include <string>

#include "core/snapshot.hpp"

namespace gpudoctor::fixtures {

struct HostGpu {
  const char* address;
  unsigned device_id;
  unsigned class_code;
  const char* driver_version;
};
/// A desktop GeForce RTX 3090 with driver 535.129.03, and the lent H200 with 580.159.04 (its PCI
/// class is 3D controller).
inline constexpr HostGpu k_rtx3090{"0000:01:00.0", 0x2204, 0x030000, "535.129.03"};
inline constexpr HostGpu k_h200{"0000:00:06.0", 0x2335, 0x030200, "580.159.04"};

inline Snapshot gpu_host_snapshot(const HostGpu& gpu) {
  Snapshot s;
  s.pci_scanned = true;
  PciGpu g;
  g.address = gpu.address;
  g.vendor_id = 0x10de;
  g.device_id = gpu.device_id;
  g.class_code = gpu.class_code;
  g.driver = std::string("nvidia");
  s.pci_gpus.push_back(g);
  s.modules.modules["nvidia"].loaded = true;
  s.modules.modules["nvidia"].version = std::string(gpu.driver_version);
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
  lib.resolved = std::string("/usr/lib/x86_64-linux-gnu/libcuda.so.") + gpu.driver_version;
  lib.version = std::string(gpu.driver_version);
  s.driver_files.libraries.push_back(lib);
  return s;
}

}  // namespace gpudoctor::fixtures
