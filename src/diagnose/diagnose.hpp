#pragma once
// Diagnosis: runs every rule over a snapshot, ranks what they found (root cause first) and
// says, layer by layer, what passed, failed or was not reached.

#include "core/finding.hpp"
#include "core/snapshot.hpp"
#include "kb/knowledge_base.hpp"

namespace gpudoctor {

Diagnosis diagnose(const Snapshot& snapshot, const kb::KnowledgeBase& kb = kb::KnowledgeBase::get());

}  // namespace gpudoctor
