#pragma once
// Runs driver calls in child processes with a time limit, so that a hung cuInit or a library
// that crashes yields a finding instead of a hung or crashed gpudoctor.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor {

/// What a child reports through `emit`: each call replaces what the parent keeps, so a child
/// killed half-way still leaves the last state it emitted.
using Emit = std::function<void(const std::string& state)>;
using ChildWork = std::function<void(const Emit& emit)>;

struct ChildReport {
  ChildOutcome outcome;
  std::string last_state;  ///< the last complete state the child emitted; empty if none
};

/// Starts every job in its own child process at once and waits for all of them, at most
/// `limit` in all; children still running then are killed. The children's standard output
/// and error go to /dev/null, so a library that prints cannot spoil gpudoctor's output.
std::vector<ChildReport> run_children(const std::vector<ChildWork>& jobs, std::chrono::milliseconds limit);

}  // namespace gpudoctor
