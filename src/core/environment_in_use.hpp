#pragma once
// "The environment in use": the Python environment the frameworks are judged in, computed once
// here for the rules (framework, libraries) and the probe's choice of libraries.

#include <string_view>

#include "core/snapshot.hpp"

namespace gpudoctor {

/// The Python environment `python3` on PATH (or --python, VIRTUAL_ENV, CONDA_PREFIX, the venv
/// gpudoctor is installed in) runs: the first one marked in use; nullptr when none is.
const PythonEnvironment* environment_in_use(const Snapshot& s);

/// Whether what is installed in `site_packages` is in use. A folder on the path of several
/// environments (the user site of every non-venv interpreter of one Python version, a base
/// site-packages a venv includes) is in use when any environment in use lists it, whatever
/// order they were found in; and a framework the collector found there is in use when it marked
/// it so (`FrameworkInstall::environment_in_use`: it compares folders with links resolved).
bool site_packages_in_use(const Snapshot& s, std::string_view site_packages);

}  // namespace gpudoctor
