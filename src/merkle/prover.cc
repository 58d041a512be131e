#include "merkle/prover.h"

#include <algorithm>
#include <bit>

#include "common/strings.h"

namespace loopgate::merkle {
namespace {

using common::StrCat;

absl::Status CheckCovered(const NodeSource& nodes, uint64_t tree_size) {
  if (tree_size > nodes.size()) {
    return absl::OutOfRangeError(StrCat("a tree of ", tree_size, " leaves was asked for, but only ",
                                        nodes.size(), " are stored"));
  }
  return absl::OkStatus();
}

// Appends the siblings on the path from node (level, index) to the root of a tree of
// `tree_size` leaves, bottom up. A node whose right sibling lies wholly beyond the tree has no
// sibling at that level: RFC 6962 hashes it unchanged into its parent's place.
absl::Status AppendPath(const NodeSource& nodes, int level, uint64_t index, uint64_t tree_size,
                        std::vector<Hash>* out) {
  for (; level < kMaxLevels && ((tree_size - 1) >> level) != 0; ++level, index >>= 1) {
    const uint64_t sibling = index ^ 1;
    const uint64_t begin = sibling << level;
    if (begin >= tree_size) continue;
    // A left sibling is always perfect; a right one may be cut by the tree's right edge.
    const uint64_t end = std::min(tree_size, begin + (uint64_t{1} << level));
    auto h = end - begin == (uint64_t{1} << level) ? nodes.Get(level, sibling)
                                                   : SubtreeHash(nodes, begin, end);
    if (!h.ok()) return h.status();
    out->push_back(*h);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Hash> SubtreeHash(const NodeSource& nodes, uint64_t begin, uint64_t end) {
  if (end <= begin) {
    if (begin == 0 && end == 0) return EmptyRoot();
    return absl::InvalidArgumentError(StrCat("no subtree over leaves [", begin, ", ", end, ")"));
  }
  if (absl::Status s = CheckCovered(nodes, end); !s.ok()) return s;
  // Pieces: one perfect subtree per set bit of the width, largest first, folded from the right.
  const uint64_t width = end - begin;
  const int top = std::bit_width(width) - 1;
  if (begin != 0 && std::countr_zero(begin) < top) {
    return absl::InvalidArgumentError(
        StrCat("leaves [", begin, ", ", end, ") are not a node of any RFC 6962 tree"));
  }
  Hash pieces[kMaxLevels];
  int n = 0;
  uint64_t at = begin;
  for (int level = top; level >= 0; --level) {
    if (((width >> level) & 1) == 0) continue;
    auto h = nodes.Get(level, at >> level);
    if (!h.ok()) return h.status();
    pieces[n++] = *h;
    at += uint64_t{1} << level;
  }
  Hash root = pieces[n - 1];
  for (int i = n - 2; i >= 0; --i) {
    root = NodeHash(pieces[i], root);
  }
  return root;
}

absl::StatusOr<Hash> RootAt(const NodeSource& nodes, uint64_t tree_size) {
  return SubtreeHash(nodes, 0, tree_size);
}

absl::StatusOr<std::vector<Hash>> InclusionProof(const NodeSource& nodes, uint64_t index,
                                                 uint64_t tree_size) {
  if (index >= tree_size) {
    return absl::InvalidArgumentError(
        StrCat("leaf ", index, " is not in a tree of ", tree_size, " leaves"));
  }
  if (absl::Status s = CheckCovered(nodes, tree_size); !s.ok()) return s;
  std::vector<Hash> proof;
  if (absl::Status s = AppendPath(nodes, 0, index, tree_size, &proof); !s.ok()) return s;
  return proof;
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(const NodeSource& nodes, uint64_t old_size,
                                                   uint64_t new_size) {
  if (old_size == 0 || old_size > new_size) {
    return absl::InvalidArgumentError(StrCat("no consistency proof from ", old_size, " to ",
                                             new_size,
                                             " leaves: it needs 0 < old size <= new size"));
  }
  if (absl::Status s = CheckCovered(nodes, new_size); !s.ok()) return s;
  std::vector<Hash> proof;
  if (old_size == new_size) return proof;
  // The old tree's last perfect subtree, [old_size - 2^shift, old_size), is a node of the new
  // tree; the proof is that node (unless it is the whole old tree, which the verifier has)
  // followed by its path to the new root.
  const int shift = std::countr_zero(old_size);
  const uint64_t index = (old_size - 1) >> shift;
  if (index != 0) {
    auto h = nodes.Get(shift, index);
    if (!h.ok()) return h.status();
    proof.push_back(*h);
  }
  if (absl::Status s = AppendPath(nodes, shift, index, new_size, &proof); !s.ok()) return s;
  return proof;
}

}  // namespace loopgate::merkle
