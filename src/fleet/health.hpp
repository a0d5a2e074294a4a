#pragma once
// `gpudoctor health`: the mode for Slurm's HealthCheckProgram, Prolog and Epilog (and LBNL NHC):
// only the node's own layers (hardware, driver, platform), a verdict of fit or faulty, one line.
// Unknown is not broken: a driver call that did not answer in time is reported, never a fault,
// because Slurm drains a node on a Prolog's or Epilog's non-zero exit.

#include <string>
#include <vector>

#include "core/finding.hpp"
#include "core/snapshot.hpp"

namespace gpudoctor::fleet {

struct HealthVerdict {
  bool fit = true;
  std::string cause;                    ///< the fault's cause id (causes.md), empty when fit
  std::string line;                     ///< the one line for stdout (NHC's convention)
  std::vector<std::string> unanswered;  ///< the queries that did not answer, and why
};

/// Marks the driver and probe children that ran into their time limit as unanswered, so that
/// diagnosis reads their facts as unknown instead of as a hung GPU; returns what they were in.
std::vector<std::string> mark_unanswered(Snapshot& s);

/// The node's verdict from a diagnosis of a snapshot passed through mark_unanswered: faulty
/// when an error finding sits in the hardware, driver or platform layer.
HealthVerdict judge_health(const Diagnosis& d, std::vector<std::string> unanswered);

/// This node's name as Slurm knows it: SLURMD_NODENAME when set (slurmd sets it for prologs),
/// else the short host name.
std::string slurm_node_name();

/// A name Slurm could have given a node (letters, digits, '.', '-', '_'; 1 to 64 bytes): what
/// comes from the environment is checked before it becomes an argument of scontrol.
bool valid_node_name(const std::string& name);

/// The argv of the one action gpudoctor ever takes, on request (--drain):
/// scontrol update NodeName=NODE State=DRAIN Reason="gpudoctor: CAUSE".
std::vector<std::string> drain_command(const std::string& node, const std::string& cause);

/// Runs `argv` (execvp: found on PATH, no shell) and waits; its exit status, 127 when it could
/// not be started, 128+N after signal N.
int run_and_wait(const std::vector<std::string>& argv);

}  // namespace gpudoctor::fleet
