#pragma once
// Install commands shared by the rules and by explain, so that every fix for the same framework
// says the same thing and only what works for its release.

#include <string>
#include <string_view>

#include "kb/knowledge_base.hpp"

namespace gpudoctor {

/// The fix that installs TensorFlow `version` ("2.6.2", "2.15.*", or empty for the newest) with the
/// CUDA libraries it was built for, as one line. From tensorflow.toml's `and_cuda_first` (2.14) on:
/// `pip install "tensorflow[and-cuda]==V"`. Older releases have no such extra: the release's own
/// GPU package, then the CUDA and cuDNN of its tested build row (or the tested-builds page when the
/// series has no row). `pip` is how pip is run ("pip", "python -m pip").
std::string tensorflow_gpu_install(const kb::KnowledgeBase& kb, std::string_view version, std::string_view pip = "pip");

/// Whether TensorFlow `version` has the `and-cuda` extra; true for an empty (newest) version.
bool tensorflow_has_and_cuda(const kb::KnowledgeBase& kb, std::string_view version);

}  // namespace gpudoctor
