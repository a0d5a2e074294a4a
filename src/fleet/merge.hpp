#pragma once
// `gpudoctor merge SNAPSHOT...` (and `gpudoctor fleet`, which gathers them through Slurm): one
// report of many nodes. Each snapshot is read through the bounded snapshot reader, diagnosed, and
// kept only as a small summary, so memory grows with the number of nodes, not their size.

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "core/snapshot.hpp"

namespace gpudoctor::fleet {

/// At most this many snapshots in one merge (files named, or found in the folders named).
inline constexpr std::size_t k_max_snapshots = 100000;

/// One probe figure of one node's GPU, in the unit the probe reports it ("GB/s", "TFLOP/s").
struct NodeFigure {
  int gpu = 0;
  std::string model;
  std::string figure;
  std::string unit;
  double measured = 0;
};

/// What the fleet report keeps of one node.
struct NodeSummary {
  std::string host;  ///< the snapshot's label, else its file name
  std::string file;
  bool healthy = false;
  std::string root_cause;  ///< cause id; "healthy" when healthy
  std::string root_layer;
  std::string root_title;
  std::vector<std::string> fix;                 ///< the root cause's fix
  std::map<std::string, std::string> versions;  ///< "driver", "cuda", "torch", ... -> version
  std::vector<NodeFigure> figures;
};

/// A node whose figure lags the fleet's median for the same GPU model.
struct Lagging {
  std::string host;
  NodeFigure figure;
  double median = 0;
  std::size_t peers = 0;  ///< nodes with a figure for this model, this one included
};

struct VersionSpread {
  std::string what;                                                      ///< "driver", "cuda", a framework
  std::vector<std::pair<std::string, std::vector<std::string>>> values;  ///< version -> hosts, most hosts first
};

struct CauseGroup {
  std::string id, layer, title;  ///< title: the first node's
  std::vector<std::string> fix;  ///< once for the group: the first node's
  std::vector<std::string> hosts;
};

struct FleetReport {
  std::vector<NodeSummary> nodes;
  std::vector<CauseGroup> causes;  ///< root causes, most nodes first; healthy last
  std::vector<Lagging> lagging;
  std::vector<VersionSpread> versions;                          ///< only what differs between nodes
  std::vector<std::pair<std::string, std::string>> unreadable;  ///< file -> why
  std::vector<std::string> not_answered;                        ///< `fleet`: nodes that sent no snapshot in time
  std::map<std::string, std::string> not_answered_why;          ///< `fleet`: node -> why (its Slurm state, srun's message)
  std::vector<std::string> notes;                               ///< `fleet`: what srun and the tasks said besides snapshots (bounded)
  std::string command = "merge";
  double lag_fraction = 0.8;
};

/// Reads a snapshot file or throws (std::exception) with why.
using SnapshotLoader = std::function<Snapshot(const std::string& path)>;

/// The files to merge: each argument a snapshot file, or a folder whose *.json files are taken
/// (sorted). Throws std::length_error past k_max_snapshots.
std::vector<std::string> snapshot_files(const std::vector<std::string>& args);

/// One node's summary: `s` diagnosed.
NodeSummary summarize(const Snapshot& s, const std::string& file);

/// Every file through `load`, one at a time; unreadable ones listed, not fatal.
FleetReport merge(const std::vector<std::string>& files, const SnapshotLoader& load, double lag_fraction);
/// Groups, medians and version spreads from the nodes (merge calls it; fleet after adding nodes).
void analyze(FleetReport& r);

/// JSON: causes[] {id, layer, title, fix, hosts[]}, hosts[] {host, file, verdict, root_cause},
/// lagging[], version_differences[], unreadable[], not_answered[], not_answered_why{}, notes[].
nlohmann::ordered_json fleet_json(const FleetReport& r);
void fleet_terminal(std::ostream& out, const FleetReport& r, bool color);
void fleet_markdown(std::ostream& out, const FleetReport& r);

}  // namespace gpudoctor::fleet
