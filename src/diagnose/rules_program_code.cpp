// Program layer: what the program's own source says (Program::code, read by collect/python_code
// for `gpudoctor run` and `inspect`). A line that hides the GPU or pins the work to the CPU is
// program_forces_cpu; memory growth or virtual devices set after the GPUs were initialized is
// memory_growth_misconfigured. Each is a cause only when nothing lower already explains the
// verdict and the program did not use a GPU anyway; otherwise a warning.

#include <fmt/format.h>

#include <algorithm>

#include "diagnose/rule_context.hpp"
#include "diagnose/visible_devices.hpp"

namespace gpudoctor {

namespace {

std::string where(const CodeFact& c) { return fmt::format("{}:{}", c.file, c.line); }

/// Whether CUDA_VISIBLE_DEVICES=value leaves no GPU (or hides the ones after an invalid entry).
bool hides_gpus(const RuleContext& ctx, const std::string& value, std::string& why) {
  VisibleDevicesInput in;
  in.value = value;
  const auto& s = ctx.s;
  if (ctx.nvml_init_ok() && s.driver.nvml.device_count.known()) {
    in.device_count = *s.driver.nvml.device_count;
    for (const auto& d : s.driver.nvml.devices) {
      in.gpu_uuids.push_back(d.uuid.value_or(""));
      for (const auto& m : d.mig_devices) in.mig_uuids.push_back(m.uuid);
    }
  }
  auto r = evaluate_visible_devices(in);
  why = r.explanation;
  return r.all_hidden || (r.first_invalid && !r.ignored.empty());
}

/// A platform list for JAX (JAX_PLATFORMS, jax_platforms) with no GPU platform in it, read with
/// the environment table's values that keep the GPU (environment.toml [[forces_cpu]]).
bool jax_without_gpu(const RuleContext& ctx, const std::string& value) {
  const kb::EnvForcesCpu* row = nullptr;
  for (const auto& r : ctx.kb.env_forces_cpu())
    if (r.variable == "JAX_PLATFORMS") row = &r;
  if (row == nullptr || value.empty()) return false;  // empty: JAX chooses by itself
  std::size_t b = 0;
  while (b <= value.size()) {
    std::size_t e = value.find(',', b);
    if (e == std::string::npos) e = value.size();
    std::string p = value.substr(b, e - b);
    p.erase(0, p.find_first_not_of(' '));
    p.erase(p.find_last_not_of(' ') + 1);
    std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(row->gpu_values.begin(), row->gpu_values.end(), p) != row->gpu_values.end()) return false;
    b = e + 1;
  }
  return true;
}

}  // namespace

void rule_program_code(const RuleContext& ctx, std::vector<Finding>& out) {
  const Program& p = ctx.s.program;
  if (p.code.empty()) return;
  // This rule runs last (diagnose.cpp): the findings already made tell whether a lower layer
  // explains the verdict (no GPU, no driver, a CPU-only build, the environment hiding the GPUs).
  bool explained_below = std::any_of(out.begin(), out.end(), [](const Finding& f) {
    return f.severity == Severity::error && f.layer != Layer::program;
  });
  bool used_gpu = std::any_of(p.gpus.begin(), p.gpus.end(), [](const ProgramGpu& g) { return g.used; });
  Severity severity = explained_below || used_gpu ? Severity::warning : Severity::error;
  std::string context = explained_below ? " (a lower layer already keeps the GPU away; fix that first)"
                        : used_gpu      ? " (the program used a GPU anyway)"
                                        : "";

  for (const auto& c : p.code) {
    Finding f;
    f.cause = "program_forces_cpu";
    f.layer = Layer::program;
    f.severity = severity;
    f.evidence.push_back({where(c), c.code});
    const std::string loc = where(c);
    std::string why;
    std::string note = context;
    if (c.kind == "sets_cuda_visible_devices" || c.kind == "defaults_cuda_visible_devices") {
      if (!hides_gpus(ctx, c.value, why)) continue;
      if (c.kind == "defaults_cuda_visible_devices" && p.env.count("CUDA_VISIBLE_DEVICES")) continue;  // setdefault did nothing
      f.title = fmt::format("{} sets CUDA_VISIBLE_DEVICES to \"{}\", which hides the GPUs", loc, c.value);
      f.evidence.push_back({"CUDA's rules for the variable", why});
      f.fix.push_back(fmt::format(
          "Remove the line at {} (or give a valid list such as \"0\"): CUDA reads "
          "CUDA_VISIBLE_DEVICES once, when the framework first initializes it.",
          loc));
    } else if (c.kind == "sets_jax_platforms") {
      if (!jax_without_gpu(ctx, c.value)) continue;
      f.title = fmt::format("{} limits JAX to the platforms \"{}\", so it never uses the GPU", loc, c.value);
      f.fix.push_back(fmt::format(
          "Remove the line at {}, or list the GPU first: \"cuda,cpu\" (JAX then uses the CPU "
          "only when no GPU works).",
          loc));
    } else if (c.kind == "tf_hides_gpus") {
      f.title = fmt::format("{} makes no GPU visible to TensorFlow", loc);
      f.fix.push_back(fmt::format("Remove the line at {}: TensorFlow uses every visible GPU by default.", loc));
    } else if (c.kind == "tf_cpu_device_scope") {
      f.title = fmt::format("{} runs the training inside a TensorFlow device scope for the CPU (\"{}\")", loc, c.value);
      f.fix.push_back(fmt::format(
          "Take the training out of the device scope at {} (TensorFlow places ops on the GPU "
          "by default); keep only the input pipeline under it if that was the intent.",
          loc));
    } else if (c.kind == "torch_device_cpu") {
      f.title = fmt::format("{} hard-codes the CPU as PyTorch's device", loc);
      f.fix.push_back(fmt::format(
          "Choose the device from what is there, at {}: "
          "device = torch.device(\"cuda\" if torch.cuda.is_available() else \"cpu\")",
          loc));
    } else if (c.kind == "torch_never_on_cuda") {
      f.title = fmt::format("{} builds a PyTorch model ({}) that nothing in the program moves to a GPU", loc, c.value);
      f.fix.push_back(fmt::format(
          "Move the model and every batch to the GPU: device = torch.device(\"cuda\"); "
          "model = model.to(device) after {}; inputs, targets = inputs.to(device), "
          "targets.to(device) in the loop.",
          loc));
    } else if (c.kind == "tf_memory_growth_late") {
      f.cause = "memory_growth_misconfigured";
      f.severity = explained_below || !ctx.gpu_seen() ? Severity::warning : severity;
      if (!explained_below && !ctx.gpu_seen()) note = " (harmless without a GPU: TensorFlow refuses it only when one exists)";
      f.title = fmt::format("{} sets TensorFlow's GPU memory configuration {}, when it can no longer change", loc, c.value);
      f.fix.push_back(fmt::format(
          "Move the call at {} before anything that touches the GPUs (right after importing "
          "TensorFlow, before {}); TensorFlow refuses it with a RuntimeError once the GPUs are "
          "initialized, and a try/except around it hides that the setting never applied.",
          loc, c.value.substr(c.value.find(' ') + 1)));
    } else {
      continue;
    }
    f.title += note;
    out.push_back(std::move(f));
  }
}

}  // namespace gpudoctor
