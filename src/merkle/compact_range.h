#pragma once
// The compact range of a growing RFC 6962 tree: the roots of the perfect subtrees that make up
// leaves [0, n), one per set bit of n, largest (leftmost) first. Appending a leaf hash costs one
// node hash on average (one per trailing one bit of n) and never reads earlier leaves; the
// tree's root is the right fold of the frontier. See docs/ledger-format.md section 9.
//
// Nodes are named by (level, index): the perfect subtree of 2^level leaves starting at leaf
// index * 2^level. Level 0 nodes are the leaf hashes themselves.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "merkle/hash.h"

namespace loopgate::merkle {

inline constexpr int kMaxLevels = 64;  // A tree of at most 2^64 - 1 leaves has levels 0..63.

// A perfect subtree: leaves [index << level, (index + 1) << level).
struct Node {
  int level = 0;
  uint64_t index = 0;
  Hash hash{};
};

// Called with each perfect subtree an Append completes, bottom up: first the leaf itself
// (level 0), then each node it closes.
using NodeVisitor = absl::FunctionRef<void(const Node&)>;

// Value type; not thread-safe.
class CompactRange {
 public:
  CompactRange() = default;  // The empty tree.

  // Number of leaves.
  uint64_t size() const { return size_; }

  // Appends leaf `size()`. Precondition: size() < 2^64 - 1.
  void Append(const Hash& leaf_hash);
  // As above, reporting the leaf and every perfect subtree it completes to `completed`.
  void Append(const Hash& leaf_hash, NodeVisitor completed);

  // The RFC 6962 Merkle tree hash MTH of leaves [0, size()); EmptyRoot() when size() is 0.
  Hash Root() const;

  // The frontier: the root of each perfect subtree, largest first; one per set bit of size().
  const std::vector<Hash>& frontier() const { return frontier_; }

  // Encoding `loopgate.compact-range/v1` (docs/ledger-format.md section 9.2): "LGCR", the byte
  // 1, the size as 8 bytes big-endian, then the frontier's 32-byte hashes in order.
  std::string Serialize() const;
  // Reads Serialize()'s encoding. Errors: DataLoss when it is not exactly that.
  static absl::StatusOr<CompactRange> Deserialize(std::string_view bytes);

  // From a size and its frontier. Errors: InvalidArgument when the frontier does not hold one
  // hash per set bit of `size`.
  static absl::StatusOr<CompactRange> FromFrontier(uint64_t size, std::vector<Hash> frontier);

  friend bool operator==(const CompactRange&, const CompactRange&) = default;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> frontier_;
};

}  // namespace loopgate::merkle
