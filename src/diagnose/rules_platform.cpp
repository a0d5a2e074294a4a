// Platform layer: containers and WSL2, which decide how the GPU reaches the system at all.

#include <fmt/format.h>

#include "core/version.hpp"
#include "core/escape.hpp"
#include "diagnose/rule_context.hpp"

namespace gpudoctor {

void rule_container(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (!s.platform.container || ctx.wsl()) return;
  // A host without an NVIDIA GPU is the hardware layer's finding, not the container's.
  if (s.pci_scanned && !ctx.nvidia_on_pci()) return;
  const DeviceNode* ctl = s.node("/dev/nvidiactl");
  bool nodes = !ctx.gpu_nodes().empty() || (ctl != nullptr && ctl->exists);
  bool libcuda_file = false;
  for (const auto& l : s.driver_files.libraries) libcuda_file = libcuda_file || l.name == "libcuda.so.1";
  bool libcuda_loaded = s.driver.cuda.library.known();
  bool libs = libcuda_file || libcuda_loaded;

  Finding f;
  f.cause = "container_no_gpu_passthrough";
  f.layer = Layer::platform;
  for (const auto& e : s.platform.container_evidence) f.evidence.push_back(e);
  const std::string* nvd = s.env_var("NVIDIA_VISIBLE_DEVICES");
  const std::string* caps = s.env_var("NVIDIA_DRIVER_CAPABILITIES");
  if (nvd) f.evidence.push_back({"env NVIDIA_VISIBLE_DEVICES", *nvd});
  if (caps) f.evidence.push_back({"env NVIDIA_DRIVER_CAPABILITIES", *caps});

  const std::string& kind = s.platform.container_kind;
  auto add_runtime_fix = [&] {
    if (kind == "kubernetes") {
      f.fix.push_back(
          "Request a GPU in the pod spec: resources: { limits: { nvidia.com/gpu: 1 } } (needs the NVIDIA "
          "device plugin or GPU Operator on the cluster).");
    } else if (kind == "podman") {
      f.fix.push_back(
          "podman run --device nvidia.com/gpu=all ...   (CDI; generate the spec on the host once: sudo "
          "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml)");
    } else {
      f.fix.push_back(
          "docker run --gpus all ...   (compose: deploy.resources.reservations.devices with "
          "capabilities: [gpu])");
      f.fix.push_back(
          "The host needs the NVIDIA Container Toolkit: sudo apt install nvidia-container-toolkit && sudo "
          "nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker");
    }
  };

  if (!nodes) {
    f.title = fmt::format("This {} container was started without access to the GPU", kind.empty() ? "" : kind);
    f.evidence.push_back({"/dev", "no /dev/nvidiactl and no /dev/nvidia0..N"});
    if (!libs) f.evidence.push_back({"libcuda.so.1", "not present (the NVIDIA runtime mounts it into GPU containers)"});
    if (ctx.nvidia_on_pci())
      f.evidence.push_back({"/sys/bus/pci/devices", fmt::format("the host has {} NVIDIA GPU(s)", s.pci_gpus.size())});
    if (nvd && (*nvd == "void" || *nvd == "none" || nvd->empty()))
      f.fix.push_back(fmt::format(
          "NVIDIA_VISIBLE_DEVICES={} asks the runtime for no GPU: set it to all (or GPU "
          "indexes/UUIDs) when starting the container.",
          escape::shell(*nvd)));
    add_runtime_fix();
    // Only a host whose driver runs: otherwise the driver layer is the root cause.
    if (ctx.module_loaded() || !s.pci_scanned) f.explains = {"driver_not_installed", "driver_not_loaded", "uvm_module_missing",
                                                             "no_nvidia_gpu"};
    out.push_back(std::move(f));
    return;
  }
  if (!libs && (!ctx.probed() || !libcuda_loaded)) {
    f.title = "The container has the GPU device nodes but not the driver's CUDA library (libcuda.so.1)";
    for (const auto* n : ctx.gpu_nodes()) f.evidence.push_back({n->path, "present"});
    if (ctx.probed()) f.evidence.push_back(ctx.cuda_init_evidence());
    if (caps && caps->find("compute") == std::string::npos && *caps != "all") {
      f.title += ": NVIDIA_DRIVER_CAPABILITIES lacks compute";
      f.fix.push_back("Start the container with NVIDIA_DRIVER_CAPABILITIES=compute,utility (or all).");
    } else {
      f.fix.push_back(
          "Start the container through the NVIDIA runtime so that it mounts the driver libraries: "
          "docker run --gpus all ... (not only --device /dev/nvidia0).");
    }
    out.push_back(std::move(f));
  }
}

void rule_wsl(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (!ctx.wsl()) return;
  Finding f;
  f.cause = "wsl_setup";
  f.layer = Layer::platform;
  for (const auto& e : s.platform.wsl_evidence) f.evidence.push_back(e);
  std::string release = s.host.kernel_release.value_or("");
  bool wsl1 = release.find("Microsoft") != std::string::npos && release.find("WSL2") == std::string::npos &&
              release.find("microsoft-standard") == std::string::npos;
  if (wsl1 || !s.platform.dxg_present) {
    f.title = wsl1 ? "This is WSL 1, which has no GPU support" : "WSL has no /dev/dxg: the Windows GPU is not passed to Linux";
    f.evidence.push_back({"/dev/dxg", s.platform.dxg_present ? "present" : "missing"});
    if (wsl1) f.fix.push_back("In Windows PowerShell: wsl --set-version <distribution> 2");
    f.fix.push_back("In Windows PowerShell: wsl --update, then wsl --shutdown and start the distribution again.");
    f.fix.push_back("Install a current NVIDIA driver for Windows (Game Ready or Studio, R470 or newer): it brings CUDA to WSL.");
    out.push_back(std::move(f));
    return;
  }
  bool wsl_libcuda = false;
  for (const auto& p : s.platform.wsl_driver_libraries) wsl_libcuda = wsl_libcuda || p == "/usr/lib/wsl/lib/libcuda.so.1";
  if (!wsl_libcuda) {
    f.title = "WSL has no /usr/lib/wsl/lib/libcuda.so.1: the Windows NVIDIA driver does not provide CUDA to WSL";
    f.evidence.push_back({"/usr/lib/wsl/lib", "no libcuda.so.1"});
    f.fix.push_back("Install or update the NVIDIA driver on Windows (not inside WSL), then in PowerShell: wsl --shutdown");
    out.push_back(std::move(f));
    return;
  }
  // A Linux driver installed inside WSL: its libcuda.so.1 competes with the Windows driver's in
  // the loader cache, and it cannot work (there is no nvidia kernel module in WSL). NVIDIA's WSL
  // guide: never install a Linux display driver inside WSL.
  std::vector<const DriverLibraryFile*> shadows;
  for (const auto& l : s.driver_files.libraries) {
    if ((l.name == "libcuda.so.1" || l.name == "libnvidia-ml.so.1") && l.path.rfind("/usr/lib/wsl/", 0) != 0)
      shadows.push_back(&l);
  }
  auto loaded = ctx.loaded_libcuda();
  bool loaded_shadow = ctx.probe_sees_root() && loaded && loaded->path.rfind("/usr/lib/wsl/", 0) != 0;
  if (!shadows.empty() || loaded_shadow || !s.modules.kernels_with_nvidia_module.empty()) {
    f.title = "A Linux NVIDIA driver installed inside WSL shadows the Windows driver's CUDA library";
    for (const auto* l : shadows)
      f.evidence.push_back({l->path, "a Linux driver library (" + l->resolved + ") beside the Windows driver's in /usr/lib/wsl/lib"});
    if (loaded_shadow) f.evidence.push_back({"dlopen(libcuda.so.1)", "loaded " + loaded->path});
    for (const auto& k : s.modules.kernels_with_nvidia_module) f.evidence.push_back({"/lib/modules/" + k, "an nvidia kernel module was installed"});
    f.fix.push_back(
        "Remove the Linux driver from WSL (never install one there): sudo apt remove --purge 'nvidia-driver-*' "
        "'libnvidia-compute-*' cuda-drivers; install only a toolkit package such as cuda-toolkit-12-8.");
    f.fix.push_back("Then: sudo ldconfig, and check that ldconfig -p | grep libcuda.so.1 lists /usr/lib/wsl/lib first.");
    f.explains = {"driver_library_mismatch"};
    out.push_back(std::move(f));
  }
}

}  // namespace gpudoctor

namespace gpudoctor {

void rule_operating_system(const RuleContext& ctx, std::vector<Finding>& out) {
  const auto& s = ctx.s;
  if (s.host.os.is("macos")) {
    Finding f;
    f.cause = "macos_no_cuda";
    f.layer = Layer::platform;
    f.title = "macOS has no CUDA: TensorFlow, PyTorch and JAX cannot use an NVIDIA GPU there";
    f.evidence.push_back({"operating system", s.host.os_pretty.value_or("macOS")});
    f.fix.push_back(
        "On Apple silicon use Metal: pip install tensorflow-metal (TensorFlow), the mps device (PyTorch: "
        "torch.device(\"mps\")), or jax-metal.");
    f.fix.push_back("For CUDA, run on a Linux machine (or WSL2 on Windows) with an NVIDIA GPU.");
    out.push_back(std::move(f));
  }
  if (s.host.os.is("windows")) {
    for (const auto& fw : s.framework_installs) {
      if (fw.framework != "tensorflow" || !fw.version.known()) continue;
      auto v = parse_dotted_version(fw.version->substr(0, fw.version->find_first_not_of("0123456789.")));
      if (!v || v->size() < 2 || ctx.kb.tf_windows_native_gpu(fmt::format("{}.{}", (*v)[0], (*v)[1]))) continue;
      Finding f;
      f.cause = "windows_native_unsupported";
      f.layer = Layer::platform;
      f.title = fmt::format("TensorFlow {} on native Windows: no GPU support after {}", *fw.version,
                            ctx.kb.tf_last_windows_native_gpu());
      f.evidence.push_back({"operating system", s.host.os_pretty.value_or("Windows")});
      f.evidence.push_back({fw.site_packages, fw.distribution + " " + *fw.version});
      f.fix.push_back("Use WSL2 (wsl --install, then inside it: pip install \"tensorflow[and-cuda]\"), which has GPU support.");
      const std::string& last = ctx.kb.tf_last_windows_native_gpu();
      auto lv = parse_dotted_version(last).value_or(std::vector<int>{2, 10});
      const kb::TfRelease* rel = ctx.kb.tf_release(last);
      f.fix.push_back(fmt::format("Or stay on native Windows with TensorFlow {}: pip install \"tensorflow<{}.{}\"{}.", last,
                                  lv.front(), lv.size() > 1 ? lv[1] + 1 : 0,
                                  rel != nullptr ? fmt::format(" (with CUDA {} and cuDNN {})", rel->cuda, rel->cudnn) : ""));
      out.push_back(std::move(f));
      break;
    }
  }
}

}  // namespace gpudoctor
