#pragma once
// Checking a proof file (`loopgate.proof/v1`, proof_file.h) with nothing but the operator's
// public key: no state, no ledger. Separate from building (STYLE.md).
//
// An inclusion proof is accepted when the checkpoint is signed by the key given, and for every
// entry: its text is a JSON object with "event_id" equal to the file's and "seq" equal to its
// index + 1; its index is inside the checkpoint's tree; and its inclusion proof leads from the
// entry's leaf hash (as `leaf_hash` computes it from the text: ledger::EntryHash) to the
// checkpoint's root. Entries must be in strictly increasing index order.
//
// A consistency proof is accepted when the checkpoint is signed by the key given and is for
// new_size and new_root; the old checkpoint, if present, likewise for old_size and old_root;
// and the proof shows old_root's tree is a prefix of new_root's.
//
// What a proof does not show: that the event has no other entries (an event's entries are
// consecutive, but its quarantines may be anywhere), nor that the ledger has not been rewritten
// since the checkpoint, which a consistency proof from that checkpoint to a later one shows.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/ed25519.h"
#include "merkle/checkpoint.h"

namespace loopgate::merkle {

enum class ProofKind : uint8_t {
  kInclusion,    // Entries of one event are in the signed tree.
  kConsistency,  // An older tree is a prefix of the signed tree.
};

struct ProofReport {
  ProofKind kind = ProofKind::kInclusion;
  Checkpoint checkpoint;  // The signed checkpoint (of the new tree, for consistency).
  // Inclusion.
  std::string event_id;
  std::vector<uint64_t> indexes;
  // Consistency.
  uint64_t old_size = 0;
  Hash old_root{};
  bool has_old_checkpoint = false;
};

// An entry text's leaf hash by its format's rule; an error says why the text is not an entry.
using EntryLeafHash = std::function<absl::StatusOr<Hash>(std::string_view entry_text)>;

// Verifies a proof file's text. Errors: InvalidArgument when the file is not a well-formed
// loopgate.proof/v1 proof; DataLoss when it is well formed but does not verify. The message
// names the first problem.
absl::StatusOr<ProofReport> CheckProof(std::string_view file_text,
                                       const crypto::Ed25519PublicKey& public_key,
                                       const EntryLeafHash& leaf_hash);

}  // namespace loopgate::merkle
