#pragma once
// Building RFC 6962 proofs (section 2.1.1 PATH, 2.1.2 PROOF) from stored perfect-subtree
// hashes. Each proof costs O(log n) NodeSource reads: the hashes it needs are perfect subtrees,
// except at most one subtree on the tree's right edge, which is computed from the perfect
// subtrees it is made of. Verifying is separate code (verifier.h).

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "merkle/hash.h"
#include "merkle/node_store.h"

namespace loopgate::merkle {

// The RFC 6962 hash of the subtree over leaves [begin, end), which must be a node of some
// tree: end - begin <= 2^k where 2^k divides begin (any range for begin = 0). Reads one node
// per set bit of end - begin. Errors: InvalidArgument for a range that is not a node;
// OutOfRange when `nodes` does not cover `end`; the source's errors.
absl::StatusOr<Hash> SubtreeHash(const NodeSource& nodes, uint64_t begin, uint64_t end);

// MTH of leaves [0, tree_size); EmptyRoot() for 0.
absl::StatusOr<Hash> RootAt(const NodeSource& nodes, uint64_t tree_size);

// PATH(index, D[tree_size]): the sibling hashes from the leaf up to the root.
// Errors: InvalidArgument unless index < tree_size; OutOfRange when tree_size > nodes.size().
absl::StatusOr<std::vector<Hash>> InclusionProof(const NodeSource& nodes, uint64_t index,
                                                 uint64_t tree_size);

// PROOF(old_size, D[new_size]). Empty when the sizes are equal. Errors: InvalidArgument unless
// 0 < old_size <= new_size (no proof starts from the empty tree: every tree extends it);
// OutOfRange when new_size > nodes.size().
absl::StatusOr<std::vector<Hash>> ConsistencyProof(const NodeSource& nodes, uint64_t old_size,
                                                   uint64_t new_size);

}  // namespace loopgate::merkle
