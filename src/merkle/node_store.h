#pragma once
// Where the tree's perfect-subtree hashes live, so that proofs cost O(log n) reads and never a
// pass over the entries. A NodeSource reads them; a NodeStore is also appended to, fed by
// CompactRange::Append (AppendLeaf below does both).
//
// FileNodeStore keeps them on disk in the layout `loopgate.merkle-nodes/v1`
// (docs/ledger-format.md section 9.3): one file per level, `level-00` ... `level-63`, each an
// array of 32-byte hashes with node (level, i) at byte offset 32 * i, plus a file `FORMAT`
// holding the layout's name.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "merkle/compact_range.h"
#include "merkle/hash.h"

namespace loopgate::merkle {

// Read access to perfect-subtree hashes.
class NodeSource {
 public:
  virtual ~NodeSource() = default;

  // Number of leaves stored. Every perfect subtree inside [0, size()) can be read:
  // (level, index) with (index + 1) << level <= size().
  virtual uint64_t size() const = 0;

  // The hash of perfect subtree (level, index). Errors: OutOfRange for a node not stored;
  // DataLoss when stored data cannot be read back.
  virtual absl::StatusOr<Hash> Get(int level, uint64_t index) const = 0;
};

// An append-only store of perfect-subtree hashes. Not thread-safe: Get() calls may run
// concurrently with each other, but not with Add, Truncate or Sync.
class NodeStore : public NodeSource {
 public:
  // Stores one node. Nodes must arrive in the order CompactRange::Append reports them: at each
  // level, `node.index` is the number of nodes the level holds (FailedPrecondition otherwise).
  // size() counts level 0, so between a leaf's Add and the Adds of the nodes it completes,
  // those nodes are not yet readable; AppendLeaf makes the whole step one call.
  virtual absl::Status Add(const Node& node) = 0;

  // Keeps exactly the nodes of a tree of `tree_size` leaves (tree_size >> level at each level)
  // and drops the rest: crash recovery, back to the last committed size. Errors: DataLoss when
  // a level holds fewer nodes than that size needs (the store lost data it had confirmed).
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
  uint64_t size() const override;
  absl::StatusOr<Hash> Get(int level, uint64_t index) const override;
  absl::Status Add(const Node& node) override;
  absl::Status Truncate(uint64_t tree_size) override;
  absl::Status Sync() override { return absl::OkStatus(); }

 private:
  std::vector<std::vector<Hash>> levels_;
};

// On disk, in `loopgate.merkle-nodes/v1`. Writes are buffered per level and reach the files
// when a level's buffer fills or on Sync(); Get() sees buffered nodes too. A store opened for
// reading sees what had been written to the files when it was opened.
//
// After a crash the files may hold nodes beyond the last committed tree size, or a torn last
// record: call Truncate(committed size) after Open before adding or trusting size().
class FileNodeStore final : public NodeStore {
 public:
  // Opens the store in `dir`, creating the directory and the FORMAT file when `dir` does not
  // exist or is empty. Errors: InvalidArgument when `dir` holds something else; Internal for
  // I/O.
  static absl::StatusOr<std::unique_ptr<FileNodeStore>> Open(const std::string& dir);
  ~FileNodeStore() override;

  uint64_t size() const override;
  absl::StatusOr<Hash> Get(int level, uint64_t index) const override;
  absl::Status Add(const Node& node) override;
  absl::Status Truncate(uint64_t tree_size) override;
  absl::Status Sync() override;

 private:
  struct Level {
    int fd = -1;
    uint64_t written = 0;  // Whole records in the file.
    std::string pending;   // Records not yet written, 32 bytes each.
    bool dirty = false;    // Written or truncated since the last Sync.
  };

  explicit FileNodeStore(std::string dir) : dir_(std::move(dir)) {}
  uint64_t Count(int level) const;
  absl::Status Flush(int level);

  std::string dir_;
  std::array<Level, kMaxLevels> levels_;
  bool dir_dirty_ = false;  // A level file was created since the last Sync.
};

}  // namespace loopgate::merkle
