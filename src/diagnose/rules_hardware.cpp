// Hardware layer: is there an NVIDIA GPU, and is it in a working state.

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "diagnose/rule_context.hpp"

namespace gpudoctor {

void rule_no_nvidia_gpu(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (ctx.wsl() || ctx.gpu_seen()) return;
  // Without a readable PCI bus (an image) and without a driver answer, there is nothing to judge.
  if (!s.pci_scanned && !ctx.probed()) return;
  // Inside a container the PCI bus may be hidden; a container without GPU access is its own cause.
  if (!s.pci_scanned && s.platform.container) return;
  Finding f;
  f.cause = "no_nvidia_gpu";
  f.layer = Layer::hardware;
  f.title = "This machine has no NVIDIA GPU";
  if (s.pci_scanned) {
    f.evidence.push_back({"/sys/bus/pci/devices", "no device with vendor 0x10de and a display class (0x03xxxx)"});
    for (const auto& other : s.pci_other_display) {
      f.evidence.push_back({"/sys/bus/pci/devices/" + other.address,
                            fmt::format("display device of {} (class 0x{:06x})", ctx.kb.pci_vendor_name(other.vendor_id),
                                        other.class_code)});
    }
  }
  if (ctx.probed()) {
    if (ctx.nvml_init_code()) f.evidence.push_back(ctx.nvml_init_evidence());
    else if (!s.driver.nvml.library.known()) f.evidence.push_back(ctx.nvml_init_evidence());
  }
  bool amd = false;
  for (const auto& o : s.pci_other_display) amd = amd || o.vendor_id == 0x1002;
  f.fix.push_back("CUDA builds of TensorFlow, PyTorch and JAX need an NVIDIA GPU; none is attached to this machine.");
  f.fix.push_back(
      "On a cloud VM choose a GPU instance type (for example AWS g5/p4/p5, GCP a2/a3/g2, Azure NC/ND); in "
      "a VM of your own, pass the GPU through (VFIO) and check that the guest lists it: lspci -nn | grep -i nvidia");
  if (amd) f.fix.push_back("This machine has an AMD GPU: use the ROCm builds of the framework instead of CUDA builds.");
  f.fix.push_back("If a GPU is physically installed: reseat it, check its power cables, and look for it in the firmware setup.");
  out.push_back(std::move(f));
}

void rule_gpu_bad_state(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  Finding f;
  f.cause = "gpu_in_bad_state";
  f.layer = Layer::hardware;
  std::vector<std::string> titles;

  // NVML says the GPU is lost or needs a reset.
  for (const auto& d : s.driver.nvml.devices) {
    if (d.handle.known() && !d.handle->ok()) {
      int code = d.handle->code;
      if (ctx.kb.nvml_error_is(code, "gpu_lost") || ctx.kb.nvml_error_is(code, "gpu_power")) {
        titles.push_back(fmt::format("GPU {} does not answer: {}", d.index, d.handle->name));
        f.evidence.push_back({fmt::format("nvmlDeviceGetHandleByIndex_v2({})", d.index), ctx.describe_nvml_code(code)});
      }
    }
    if (d.remapped_rows_failure.is(1)) {
      titles.push_back(fmt::format("GPU {} failed to remap a faulty memory row", d.index));
      f.evidence.push_back({fmt::format("nvmlDeviceGetRemappedRows({})", d.index), "failureOccurred = 1"});
    }
  }
  if (ctx.nvml_init_is("gpu_lost")) {
    titles.push_back("NVML cannot reach the GPU");
    f.evidence.push_back(ctx.nvml_init_evidence());
  }
  // A driver call (cuInit, nvmlInit_v2, ...) that hung, crashed, or is stuck in the kernel. Each
  // probe child says which call it was in before making it.
  struct Child {
    const ChildOutcome& outcome;
    const std::string& in_call;
    const Fact<std::string>& library;
    const char* soname;
    const char* what;
  };
  const Child children[] = {
      {s.driver.cuda_child, s.driver.cuda.in_call, s.driver.cuda.library, "libcuda.so.1", "the CUDA driver library"},
      {s.driver.nvml_child, s.driver.nvml.in_call, s.driver.nvml.library, "libnvidia-ml.so.1",
       "the NVIDIA management library (NVML)"},
  };
  bool stuck = false;
  for (const auto& c : children) {
    if (!ctx.probed()) break;
    const ChildStatus st = c.outcome.status;
    if (st != ChildStatus::timeout && st != ChildStatus::stuck && st != ChildStatus::crashed && st != ChildStatus::failed)
      continue;
    std::string call = c.in_call.empty() ? std::string(c.soname) + " probe" : c.in_call;
    std::string where = call + " (" + c.library.value_or(c.soname) + ")";
    if (st == ChildStatus::stuck) {
      stuck = true;
      titles.push_back(call + " is stuck in the kernel");
    } else if (st == ChildStatus::timeout) {
      titles.push_back(call + " hangs");
    } else if (st == ChildStatus::crashed) {
      titles.push_back(std::string(c.what) + " crashed in " + call);
    } else {
      titles.push_back(std::string(c.what) + " ended abnormally in " + call);
    }
    f.evidence.push_back({where, c.outcome.detail});
  }
  // cuInit returned an unknown error with the UVM module in place and no suspend to blame.
  if (ctx.cuda_init_is("unknown")) {
    const DeviceNode* uvm = s.node("/dev/nvidia-uvm");
    bool uvm_ready = s.modules.loaded("nvidia_uvm") && uvm != nullptr && uvm->exists;
    bool suspended = s.suspend_count.value_or(0) > 0;
    if (uvm_ready && !suspended) {
      titles.push_back("cuInit fails with an unknown error");
      f.evidence.push_back(ctx.cuda_init_evidence());
    }
  }
  // The kernel module excluded the GPU, or failed to bring it up.
  for (const auto& g : s.nvidia_proc.gpus) {
    if (g.excluded.is(true)) {
      titles.push_back(fmt::format("the driver excluded GPU {}", g.bus_location));
      f.evidence.push_back({"/proc/driver/nvidia/gpus/" + g.bus_location + "/information", "GPU Excluded: Yes"});
    }
  }
  if (s.nvidia_proc.version_file_present && s.modules.loaded("nvidia")) {
    for (const auto& p : s.pci_gpus) {
      bool bound = p.driver.is("nvidia");
      bool listed = false;
      for (const auto& g : s.nvidia_proc.gpus) listed = listed || g.bus_location == p.address;
      if (bound && !listed) {
        titles.push_back(fmt::format("GPU {} is bound to nvidia but the driver did not bring it up", p.address));
        f.evidence.push_back({"/proc/driver/nvidia/gpus", fmt::format("has no entry for {}", p.address)});
      }
    }
  }
  // Xid errors that mean hardware trouble.
  std::vector<int> reported;
  for (const auto& line : s.kernel_log.lines) {
    std::map<std::string, std::string> values;
    if (!ctx.kb.kernel_log_is("xid", line, &values)) continue;
    const std::string& bus = values["bus"];
    int xid = std::atoi(values["xid"].c_str());
    const auto* info = ctx.kb.xid(xid);
    if (info == nullptr || !info->hardware) continue;
    if (std::find(reported.begin(), reported.end(), xid) == reported.end()) {
      reported.push_back(xid);
      titles.push_back(fmt::format("Xid {} on {}: {}", xid, bus, info->meaning));
    }
    if (f.evidence.size() < 12) f.evidence.push_back({s.kernel_log.source.value_or("kernel log"), line});
  }
  // Messages of the kernel module that mean the GPU itself failed, with or without an Xid:
  // "NVRM: The NVIDIA GPU 0000:b3:00.0 ... has fallen off the bus", "RmInitAdapter failed".
  bool fallen = false;
  for (const auto& line : s.kernel_log.lines) {
    bool off_bus = ctx.kb.kernel_log_is("fallen_off_bus", line) && !ctx.kb.kernel_log_is("xid", line);
    bool init_failed = ctx.kb.kernel_log_is("rminitadapter_failed", line);
    if (!off_bus && !init_failed) continue;
    if (off_bus && !fallen) {
      fallen = true;
      if (std::find(reported.begin(), reported.end(), 79) == reported.end()) titles.push_back("it has fallen off the bus");
    }
    if (init_failed && std::find(titles.begin(), titles.end(), "the driver failed to initialize it") == titles.end())
      titles.push_back("the driver failed to initialize it");
    if (f.evidence.size() < 12) f.evidence.push_back({s.kernel_log.source.value_or("kernel log"), line});
  }
  if (titles.empty()) return;
  f.title = "The GPU is present but in a bad state: " + titles.front();
  for (size_t i = 1; i < titles.size() && i < 4; ++i) f.title += "; " + titles[i];
  bool lost = fallen || std::any_of(reported.begin(), reported.end(), [](int x) { return x == 79; });
  if (stuck) {
    f.fix.push_back(
        "A process stuck in a driver call cannot be killed until the call returns: reboot the machine "
        "(nvidia-smi and every CUDA program will hang meanwhile).");
    f.fix.push_back(
        "Before rebooting, look for Xid errors (sudo dmesg | grep -i xid) and keep the output of "
        "sudo nvidia-bug-report.sh for the vendor or cloud provider.");
  } else if (lost) {
    f.fix.push_back("The GPU fell off the bus: reboot the machine (a GPU reset is rarely enough after Xid 79).");
    f.fix.push_back(
        "If it happens again, check the GPU's power cables and power supply, reseat the card, and check its "
        "temperature under load; on a cloud instance, stop and start it to move to other hardware.");
  } else {
    f.fix.push_back("Reset the GPU when nothing uses it (sudo nvidia-smi --gpu-reset -i <index>) or reboot the machine.");
    f.fix.push_back(
        "If the error comes back, run NVIDIA's diagnostics (dcgmi diag -r 2) and report it to the vendor or "
        "cloud provider with the output of sudo nvidia-bug-report.sh.");
  }
  out.push_back(std::move(f));
}

void rule_pcie_link(const RuleContext& ctx, std::vector<Finding>& out) {
  for (const auto& p : ctx.s.pci_gpus) {
    if (!p.current_link_width.known() || !p.max_link_width.known()) continue;
    if (*p.current_link_width <= 0 || *p.current_link_width >= *p.max_link_width) continue;
    Finding f;
    f.cause = "pcie_link_degraded";
    f.layer = Layer::hardware;
    f.severity = Severity::warning;
    f.title = fmt::format("GPU {} runs its PCIe link at x{} of x{}: host-device copies are slower", p.address,
                          *p.current_link_width, *p.max_link_width);
    f.evidence.push_back({"/sys/bus/pci/devices/" + p.address + "/current_link_width",
                          fmt::format("{} (max_link_width {})", *p.current_link_width, *p.max_link_width)});
    f.fix.push_back(
        "Seat the card in a full-width (x16) slot, check risers and slot sharing (M.2 or other cards on the "
        "same lanes), and the slot's lane setting in the firmware setup.");
    out.push_back(std::move(f));
  }
}

}  // namespace gpudoctor
