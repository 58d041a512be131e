#pragma once
// Building proof files, `loopgate.proof/v1` (docs/ledger-format.md section 9.7): self-contained
// JSON that a partner checks with the public key alone (check_proof.h, or the Python recipe of
// the docs). Two kinds:
//
// inclusion: the ledger entries of one event, each with its leaf index and its inclusion proof
// in the tree a signed checkpoint signs:
//   {"checkpoint":"<signed checkpoint text>",
//    "entries":[{"entry":"<entry text>","index":<leaf index>,"proof":["<hex>",...]},...],
//    "event_id":"<id>","format":"loopgate.proof/v1","kind":"inclusion"}
//
// consistency: that the tree of old_size leaves is a prefix of the one the checkpoint signs:
//   {"checkpoint":"<signed checkpoint text of new_size>","format":"loopgate.proof/v1",
//    "kind":"consistency","new_root":"<hex>","new_size":<n>,
//    "old_checkpoint":"<signed checkpoint text of old_size>" or null,
//    "old_root":"<hex>","old_size":<n>,"proof":["<hex>",...]}
//
// The file is one line of RFC 8785 canonical JSON and a line feed. Leaf index i holds the entry
// with seq i + 1. Builders check the tree they prove: a file is only produced when its proofs
// lead to the checkpoint's root.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "merkle/node_store.h"

namespace loopgate::merkle {

inline constexpr std::string_view kProofFormat = "loopgate.proof/v1";

// One ledger entry to prove: its exact text (docs/ledger-format.md section 5) and leaf index.
struct ProvenEntry {
  uint64_t index = 0;
  std::string text;
  Hash leaf{};  // The entry's hash as its format computes it from `text` (ledger::EntryHash).
};

// The inclusion proof file for `entries` (of event `event_id`, in ledger order) in the tree
// that `signed_checkpoint` (its text, as SignedCheckpoint::Text writes it) signs. `nodes` must
// hold at least that tree. Errors: InvalidArgument for no entries, entries out of order or
// beyond the checkpoint, or a checkpoint that does not parse; DataLoss when an entry's leaf
// hash is not the one stored at its index, or the stored tree's root is not the checkpoint's
// (the ledger changed after it was signed); the node source's errors.
absl::StatusOr<std::string> BuildInclusionProofFile(const NodeSource& nodes,
                                                    std::string_view event_id,
                                                    const std::vector<ProvenEntry>& entries,
                                                    std::string_view signed_checkpoint);

// The consistency proof file from `old_size` to the tree `signed_checkpoint` signs.
// `old_checkpoint` is the signed checkpoint text of old_size, or empty when there is none.
// Errors: InvalidArgument unless 0 < old_size <= the checkpoint's size, or when
// `old_checkpoint` is for another size; DataLoss when a checkpoint's root is not the stored
// tree's; the node source's errors.
absl::StatusOr<std::string> BuildConsistencyProofFile(const NodeSource& nodes, uint64_t old_size,
                                                      std::string_view signed_checkpoint,
                                                      std::string_view old_checkpoint = {});

}  // namespace loopgate::merkle
