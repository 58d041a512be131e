#pragma once
// Where the tree's perfect-subtree hashes live, so that proofs cost O(log n) reads and never a
// pass over the entries. A NodeSource reads them; a NodeStore is also appended to, fed by
// CompactRange::Append (AppendLeaf below does both).
//
// Both stores keep the hashes in the order appends complete them (each leaf, then the nodes it
// completes, bottom up), which is also the layout `loopgate.merkle-nodes/v1` of FileNodeStore
// (docs/ledger-format.md section 9.3): a tree of n leaves is exactly the first
// NodeCount(n) = 2n - popcount(n) hashes, and node (level, index) is hash number
// NodePosition(level, index). One append-only file, so one sync makes a batch durable.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "merkle/compact_range.h"
#include "merkle/hash.h"

namespace loopgate::merkle {

// Hashes stored for a tree of `tree_size` leaves: 2 * tree_size - popcount(tree_size).
uint64_t NodeCount(uint64_t tree_size);

// Where node (level, index) is in append order: NodeCount of the leaves before its last leaf,
// plus level (the leaf, then one node per level it completes). Precondition: the node lies in
// the first 2^62 leaves, ((index + 1) << level) <= 2^62; stores hold no more.
uint64_t NodePosition(int level, uint64_t index);

// The number of leaves whose hashes are all among the first `count` stored: the largest n with
// NodeCount(n) <= count.
uint64_t LeavesStored(uint64_t count);

// Read access to perfect-subtree hashes.
class NodeSource {
 public:
  virtual ~NodeSource() = default;

  // Number of leaves whose nodes are all stored. Every perfect subtree inside [0, size()) can
  // be read: (level, index) with (index + 1) << level <= size().
  virtual uint64_t size() const = 0;

  // The hash of perfect subtree (level, index). Errors: OutOfRange for a node not stored;
  // DataLoss when stored data cannot be read back.
  virtual absl::StatusOr<Hash> Get(int level, uint64_t index) const = 0;
};

// An append-only store of perfect-subtree hashes. Not thread-safe: Get() calls may run
// concurrently with each other, but not with Add, Truncate or Sync.
class NodeStore : public NodeSource {
 public:
  // Stores one node. Nodes must arrive in the order CompactRange::Append reports them, so
  // NodePosition(node) must be the number of hashes stored (FailedPrecondition otherwise).
  // size() grows when the last node a leaf completes arrives; AppendLeaf makes the whole step
  // one call.
  virtual absl::Status Add(const Node& node) = 0;

  // Keeps exactly the hashes of a tree of `tree_size` leaves (the first NodeCount(tree_size))
  // and drops the rest: crash recovery, back to the last committed size. Errors: DataLoss when
  // fewer are stored than that size needs (the store lost data it had confirmed).
  virtual absl::Status Truncate(uint64_t tree_size) = 0;

  // Makes every node added so far durable.
  virtual absl::Status Sync() = 0;
};

// Appends `leaf_hash` to `range` and adds the leaf and every node it completes to `store`.
// Precondition: range.size() == store.size() (FailedPrecondition otherwise, nothing changed).
absl::Status AppendLeaf(CompactRange& range, NodeStore& store, const Hash& leaf_hash);

// The compact range of leaves [0, size) read from `nodes`: popcount(size) reads. Use it to
// resume appending after a restart, after NodeStore::Truncate to the committed size.
absl::StatusOr<CompactRange> RangeFromNodes(const NodeSource& nodes, uint64_t size);

// In memory, for tests and small trees.
class MemoryNodeStore final : public NodeStore {
 public:
  uint64_t size() const override { return LeavesStored(nodes_.size()); }
  absl::StatusOr<Hash> Get(int level, uint64_t index) const override;
  absl::Status Add(const Node& node) override;
  absl::Status Truncate(uint64_t tree_size) override;
  absl::Status Sync() override { return absl::OkStatus(); }

 private:
  std::vector<Hash> nodes_;
};

// On disk, in `loopgate.merkle-nodes/v1`: a directory with a file `FORMAT` (the layout's name)
// and a file `nodes` of 32-byte hashes in append order. Writes are buffered and reach the file
// when the buffer fills or on Sync(); Get() sees buffered hashes too. A store opened for reading
// sees what had been written to the file when it was opened.
//
// After a crash the file may hold hashes beyond the last committed tree size, or a torn last
// record: call Truncate(committed size) after Open before adding or trusting size().
class FileNodeStore final : public NodeStore {
 public:
  // Opens the store in `dir`, creating the directory and its files when `dir` does not exist or
  // is empty. Errors: InvalidArgument when `dir` holds something else; Internal for I/O.
  static absl::StatusOr<std::unique_ptr<FileNodeStore>> Open(const std::string& dir);
  ~FileNodeStore() override;

  uint64_t size() const override;
  absl::StatusOr<Hash> Get(int level, uint64_t index) const override;
  absl::Status Add(const Node& node) override;
  absl::Status Truncate(uint64_t tree_size) override;
  absl::Status Sync() override;

 private:
  explicit FileNodeStore(std::string dir) : dir_(std::move(dir)) {}
  uint64_t Count() const { return written_ + pending_.size() / kHashSize; }
  absl::Status Flush();

  std::string dir_;
  std::string path_;  // dir_ + "/nodes".
  int fd_ = -1;
  uint64_t written_ = 0;  // Whole records in the file.
  std::string pending_;   // Records not yet written, 32 bytes each.
  bool dirty_ = false;    // Written or truncated since the last Sync.
};

}  // namespace loopgate::merkle
