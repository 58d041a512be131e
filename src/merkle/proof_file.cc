#include "merkle/proof_file.h"

#include "common/status.h"
#include "common/strings.h"
#include "json/json.h"
#include "merkle/checkpoint.h"
#include "merkle/prover.h"

namespace loopgate::merkle {
namespace {

using common::StrAppend;
using common::StrCat;

void AppendHashes(const std::vector<Hash>& proof, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < proof.size(); ++i) {
    if (i > 0) out->push_back(',');
    StrAppend(out, "\"", HashHex(proof[i]), "\"");
  }
  out->push_back(']');
}

// The checkpoint parsed, and the stored tree of its size checked to have its root.
absl::StatusOr<Checkpoint> CheckedCheckpoint(const NodeSource& nodes, std::string_view text,
                                             std::string_view which) {
  ASSIGN_OR_RETURN(SignedCheckpoint cp, ParseSignedCheckpoint(text));
  ASSIGN_OR_RETURN(Hash root, RootAt(nodes, cp.checkpoint.tree_size));
  if (root != cp.checkpoint.root) {
    return absl::DataLossError(StrCat(
        "the stored tree of ", cp.checkpoint.tree_size, " entries has root ", HashHex(root),
        ", but the ", which, " signs ", HashHex(cp.checkpoint.root),
        ": the ledger changed after the checkpoint was signed (run `loopgate ledger verify`)"));
  }
  return cp.checkpoint;
}

}  // namespace

absl::StatusOr<std::string> BuildInclusionProofFile(const NodeSource& nodes,
                                                    std::string_view event_id,
                                                    const std::vector<ProvenEntry>& entries,
                                                    std::string_view signed_checkpoint) {
  if (entries.empty()) {
    return absl::InvalidArgumentError("an inclusion proof needs at least one entry");
  }
  ASSIGN_OR_RETURN(Checkpoint cp, CheckedCheckpoint(nodes, signed_checkpoint, "checkpoint"));
  std::string out = "{\"checkpoint\":";
  json::AppendString(signed_checkpoint, &out);
  out.append(",\"entries\":[");
  for (size_t i = 0; i < entries.size(); ++i) {
    const ProvenEntry& e = entries[i];
    if (i > 0 && e.index <= entries[i - 1].index) {
      return absl::InvalidArgumentError("the entries to prove must be in ledger order, each once");
    }
    if (e.index >= cp.tree_size) {
      return absl::InvalidArgumentError(StrCat("leaf index ", e.index,
                                               " is not in the checkpoint's tree of ", cp.tree_size,
                                               " entries"));
    }
    ASSIGN_OR_RETURN(Hash stored, nodes.Get(0, e.index));
    if (e.leaf != stored) {
      return absl::DataLossError(StrCat("the entry given for leaf index ", e.index,
                                        " is not the one in the tree: its leaf hash differs"));
    }
    ASSIGN_OR_RETURN(std::vector<Hash> proof, InclusionProof(nodes, e.index, cp.tree_size));
    if (i > 0) out.push_back(',');
    out.append("{\"entry\":");
    json::AppendString(e.text, &out);
    StrAppend(&out, ",\"index\":", e.index, ",\"proof\":");
    AppendHashes(proof, &out);
    out.push_back('}');
  }
  out.append("],\"event_id\":");
  json::AppendString(event_id, &out);
  StrAppend(&out, ",\"format\":\"", kProofFormat, "\",\"kind\":\"inclusion\"}\n");
  return out;
}

absl::StatusOr<std::string> BuildConsistencyProofFile(const NodeSource& nodes, uint64_t old_size,
                                                      std::string_view signed_checkpoint,
                                                      std::string_view old_checkpoint) {
  ASSIGN_OR_RETURN(Checkpoint cp, CheckedCheckpoint(nodes, signed_checkpoint, "checkpoint"));
  if (old_size == 0 || old_size > cp.tree_size) {
    return absl::InvalidArgumentError(StrCat("a consistency proof to the checkpoint of ",
                                             cp.tree_size, " entries needs an old size from 1 to ",
                                             cp.tree_size, ", not ", old_size));
  }
  if (!old_checkpoint.empty()) {
    ASSIGN_OR_RETURN(Checkpoint old, CheckedCheckpoint(nodes, old_checkpoint, "old checkpoint"));
    if (old.tree_size != old_size) {
      return absl::InvalidArgumentError(
          StrCat("the old checkpoint is for ", old.tree_size, " entries, not ", old_size));
    }
  }
  ASSIGN_OR_RETURN(Hash old_root, RootAt(nodes, old_size));
  ASSIGN_OR_RETURN(std::vector<Hash> proof, ConsistencyProof(nodes, old_size, cp.tree_size));
  std::string out = "{\"checkpoint\":";
  json::AppendString(signed_checkpoint, &out);
  StrAppend(&out, ",\"format\":\"", kProofFormat, "\",\"kind\":\"consistency\",\"new_root\":\"",
            HashHex(cp.root), "\",\"new_size\":", cp.tree_size, ",\"old_checkpoint\":");
  if (old_checkpoint.empty()) {
    out.append("null");
  } else {
    json::AppendString(old_checkpoint, &out);
  }
  StrAppend(&out, ",\"old_root\":\"", HashHex(old_root), "\",\"old_size\":", old_size,
            ",\"proof\":");
  AppendHashes(proof, &out);
  out.append("}\n");
  return out;
}

}  // namespace loopgate::merkle
