#pragma once
// What the user's own program says in its source code, read (never run) by `gpudoctor run` and
// `gpudoctor inspect` from the script and the local modules it imports. The scanner
// (collect/python_code.*) fills these; the program rules (diagnose/rules_program_code.cpp) judge
// them beside every other fact, so a line that hides the GPU is a cause only when nothing lower
// already explains the verdict.

#include <string>

namespace gpudoctor {

/// One statement of the program that decides where its work runs.
struct CodeFact {
  /// What the statement does, one of the kinds documented in collect/python_code.hpp
  /// (e.g. "sets_cuda_visible_devices", "tf_hides_gpus", "tf_cpu_device_scope",
  /// "jax_platform_cpu", "torch_device_cpu", "torch_never_on_cuda", "tf_memory_growth_late").
  std::string kind;
  std::string framework;  ///< "tensorflow", "torch", "jax" or "" when the statement is not a framework's
  std::string file;       ///< the source file, as the program names it (relative to its working folder when inside it)
  int line = 0;           ///< 1-based line of the statement's start
  std::string code;       ///< the statement's text (one line, cut at 200 bytes)
  std::string value;      ///< the value that matters, e.g. "-1" for CUDA_VISIBLE_DEVICES or "cpu"
};

}  // namespace gpudoctor
