#include "merkle/node_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "merkle/prover.h"
#include "merkle/reference_testonly.h"

namespace loopgate::merkle {
namespace {

namespace fs = std::filesystem;

std::string Leaf(uint64_t i) { return "entry " + std::to_string(i); }

class ScratchDir {
 public:
  ScratchDir() {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) {
      if (c == '/') c = '_';  // Parameterized test names contain '/'.
    }
    path_ = ::testing::TempDir() + "node-store-" + std::to_string(::getpid()) + "-" + name;
    fs::remove_all(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The conformance suite: every NodeStore behaves the same (STYLE.md, one suite per interface).
class NodeStoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<NodeStore> Make() {
    if (GetParam() == "memory") return std::make_unique<MemoryNodeStore>();
    auto store = FileNodeStore::Open(dir_.path() + "/nodes");
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }
  ScratchDir dir_;
};

TEST_P(NodeStoreConformance, HoldsEveryPerfectSubtreeOfTheLeavesAppended) {
  auto store = Make();
  CompactRange range;
  reference::Leaves leaves;
  for (uint64_t i = 0; i < 77; ++i) {
    leaves.push_back(Leaf(i));
    ASSERT_TRUE(AppendLeaf(range, *store, LeafHash(leaves.back())).ok());
  }
  EXPECT_EQ(store->size(), 77u);
  for (int level = 0; level < 7; ++level) {
    const uint64_t count = 77u >> level;
    for (uint64_t i = 0; i < count; ++i) {
      auto h = store->Get(level, i);
      ASSERT_TRUE(h.ok()) << h.status();
      EXPECT_EQ(AsBytes(*h), reference::Mth(leaves, i << level, (i + 1) << level));
    }
    EXPECT_EQ(store->Get(level, count).status().code(), absl::StatusCode::kOutOfRange);
  }
  EXPECT_EQ(store->Get(7, 0).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store->Get(64, 0).status().code(), absl::StatusCode::kOutOfRange);
  auto restored = RangeFromNodes(*store, 77);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, range);
  auto earlier = RangeFromNodes(*store, 50);
  ASSERT_TRUE(earlier.ok());
  EXPECT_EQ(AsBytes(earlier->Root()), reference::Mth(leaves, 0, 50));
  EXPECT_EQ(RangeFromNodes(*store, 78).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(store->Sync().ok());
}

TEST_P(NodeStoreConformance, RefusesNodesOutOfOrder) {
  auto store = Make();
  const Hash h = LeafHash("x");
  EXPECT_EQ(store->Add({0, 1, h}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store->Add({0, 0, h}).ok());
  EXPECT_EQ(store->Add({0, 0, h}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Add({64, 0, h}).code(), absl::StatusCode::kInvalidArgument);
  CompactRange behind;  // Empty, but the store has a leaf.
  EXPECT_EQ(AppendLeaf(behind, *store, h).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(behind.size(), 0u);
}

TEST_P(NodeStoreConformance, TruncateDropsWhatIsBeyondAndAppendingResumes) {
  auto store = Make();
  CompactRange range;
  for (uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(AppendLeaf(range, *store, LeafHash(Leaf(i))).ok());
  ASSERT_TRUE(store->Sync().ok());
  ASSERT_TRUE(store->Truncate(37).ok());
  EXPECT_EQ(store->size(), 37u);
  EXPECT_EQ(store->Get(0, 37).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store->Get(2, 9).status().code(), absl::StatusCode::kOutOfRange);  // 37 >> 2 = 9.
  EXPECT_TRUE(store->Get(2, 8).ok());
  EXPECT_EQ(store->Get(6, 0).status().code(), absl::StatusCode::kOutOfRange);

  auto resumed = RangeFromNodes(*store, 37);
  ASSERT_TRUE(resumed.ok());
  reference::Leaves leaves;
  for (uint64_t i = 0; i < 37; ++i) leaves.push_back(Leaf(i));
  for (uint64_t i = 37; i < 90; ++i) {
    leaves.push_back("other " + std::to_string(i));
    ASSERT_TRUE(AppendLeaf(*resumed, *store, LeafHash(leaves.back())).ok());
  }
  EXPECT_EQ(AsBytes(resumed->Root()), reference::Mth(leaves, 0, 90));
  auto root = RootAt(*store, 90);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, resumed->Root());

  // Growing by truncation is impossible: the nodes were never there.
  const absl::Status grow = store->Truncate(91);
  EXPECT_EQ(grow.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(grow.message()).find("holds 176 hashes; a tree of 91 leaves needs 177"),
            std::string::npos)
      << grow;
  EXPECT_TRUE(store->Truncate(0).ok());
  EXPECT_EQ(store->size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, NodeStoreConformance, ::testing::Values("memory", "file"),
                         [](const auto& info) { return info.param; });

// File-specific behaviour: durability, crash recovery, the layout.

TEST(NodeOrderTest, PositionsFollowTheOrderAppendsCompleteNodes) {
  // Each leaf, then the nodes it completes, bottom up.
  std::vector<std::pair<int, uint64_t>> order;
  CompactRange range;
  for (int i = 0; i < 64; ++i) {
    range.Append(LeafHash(Leaf(i)), [&](const Node& n) { order.push_back({n.level, n.index}); });
  }
  ASSERT_EQ(order.size(), NodeCount(64));
  for (uint64_t at = 0; at < order.size(); ++at) {
    EXPECT_EQ(NodePosition(order[at].first, order[at].second), at);
  }
  EXPECT_EQ(NodeCount(0), 0u);
  EXPECT_EQ(NodeCount(1), 1u);
  EXPECT_EQ(NodeCount(2), 3u);
  EXPECT_EQ(NodeCount(3), 4u);
  EXPECT_EQ(NodeCount(10'000'000), 20'000'000u - 8);
  for (uint64_t n = 0; n < 5000; ++n) {
    EXPECT_EQ(LeavesStored(NodeCount(n)), n);
    if (NodeCount(n + 1) - NodeCount(n) > 1) {
      EXPECT_EQ(LeavesStored(NodeCount(n + 1) - 1), n);  // A leaf without all its nodes.
    }
  }
  const uint64_t big = uint64_t{1} << 40;
  EXPECT_EQ(LeavesStored(NodeCount(big)), big);
  EXPECT_EQ(LeavesStored(NodeCount(big) - 1), big - 1);   // Its last node missing.
  EXPECT_EQ(LeavesStored(NodeCount(big) - 41), big - 1);  // Leaf big - 1 and its 40 nodes.
  EXPECT_EQ(LeavesStored(NodeCount(big) - 42), big - 2);
}

TEST(FileNodeStoreTest, LayoutIsOneFileOf32ByteHashesInAppendOrder) {
  ScratchDir dir;
  auto store = *FileNodeStore::Open(dir.path());
  CompactRange range;
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(AppendLeaf(range, *store, LeafHash(Leaf(i))).ok());
  ASSERT_TRUE(store->Sync().ok());
  std::ifstream format(dir.path() + "/FORMAT");
  std::string line;
  std::getline(format, line);
  EXPECT_EQ(line, "loopgate.merkle-nodes/v1");
  // 5 leaves: leaf 0, leaf 1, (1,0), leaf 2, leaf 3, (1,1), (2,0), leaf 4.
  EXPECT_EQ(fs::file_size(dir.path() + "/nodes"), 8u * 32);
  std::ifstream in(dir.path() + "/nodes", std::ios::binary);
  std::string bytes(8 * 32, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const Hash n10 = NodeHash(LeafHash(Leaf(0)), LeafHash(Leaf(1)));
  const Hash n11 = NodeHash(LeafHash(Leaf(2)), LeafHash(Leaf(3)));
  const Hash expected[] = {LeafHash(Leaf(0)),  LeafHash(Leaf(1)), n10,
                           LeafHash(Leaf(2)),  LeafHash(Leaf(3)), n11,
                           NodeHash(n10, n11), LeafHash(Leaf(4))};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(bytes.substr(32 * i, 32), AsBytes(expected[i])) << i;
  }
}

TEST(FileNodeStoreTest, ReopenedStoreRecoversToTheCommittedSizeAfterACrash) {
  ScratchDir dir;
  reference::Leaves leaves;
  {
    auto store = *FileNodeStore::Open(dir.path());
    CompactRange range;
    for (uint64_t i = 0; i < 1000; ++i) {
      leaves.push_back(Leaf(i));
      ASSERT_TRUE(AppendLeaf(range, *store, LeafHash(leaves.back())).ok());
    }
    ASSERT_TRUE(store->Sync().ok());  // Committed: 1000 leaves.
    for (uint64_t i = 1000; i < 1300; ++i) {
      ASSERT_TRUE(AppendLeaf(range, *store, LeafHash("uncommitted")).ok());
    }
  }  // Destroyed without Sync, with nodes beyond the committed size flushed or not.
  // A torn write: half a record after the last whole one.
  {
    std::ofstream tail(dir.path() + "/nodes", std::ios::binary | std::ios::app);
    tail << std::string(16, 'x');
  }
  auto store = *FileNodeStore::Open(dir.path());
  EXPECT_EQ(store->size(), 1300u);  // What the files hold, until recovery.
  ASSERT_TRUE(store->Truncate(1000).ok());
  EXPECT_EQ(store->size(), 1000u);
  EXPECT_EQ(fs::file_size(dir.path() + "/nodes"), NodeCount(1000) * 32);
  auto range = RangeFromNodes(*store, 1000);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(AsBytes(range->Root()), reference::Mth(leaves, 0, 1000));
  for (uint64_t i = 1000; i < 1100; ++i) {
    leaves.push_back(Leaf(i));
    ASSERT_TRUE(AppendLeaf(*range, *store, LeafHash(leaves.back())).ok());
  }
  ASSERT_TRUE(store->Sync().ok());
  store.reset();
  auto again = *FileNodeStore::Open(dir.path());
  EXPECT_EQ(again->size(), 1100u);
  auto root = RootAt(*again, 1100);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(AsBytes(*root), reference::Mth(leaves, 0, 1100));
}

TEST(FileNodeStoreTest, LostNodesBelowTheCommittedSizeAreDataLoss) {
  ScratchDir dir;
  {
    auto store = *FileNodeStore::Open(dir.path());
    CompactRange range;
    for (uint64_t i = 0; i < 64; ++i)
      ASSERT_TRUE(AppendLeaf(range, *store, LeafHash(Leaf(i))).ok());
    ASSERT_TRUE(store->Sync().ok());
  }
  // The file lost its end: the last leaf and the six nodes it completed.
  fs::resize_file(dir.path() + "/nodes", (NodeCount(64) - 7) * 32);
  auto store = *FileNodeStore::Open(dir.path());
  EXPECT_EQ(store->size(), 63u);
  const absl::Status s = store->Truncate(64);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(s.message()).find("holds 120 hashes; a tree of 64 leaves needs 127"),
            std::string::npos)
      << s;
  EXPECT_TRUE(store->Truncate(63).ok());  // What survives is still a whole tree.
  EXPECT_EQ(AsBytes(*RootAt(*store, 63)), [] {
    reference::Leaves leaves;
    for (uint64_t i = 0; i < 63; ++i) leaves.push_back(Leaf(i));
    return reference::Mth(leaves, 0, 63);
  }());
}

TEST(FileNodeStoreTest, RefusesADirectoryThatIsNotANodeStore) {
  ScratchDir dir;
  fs::create_directories(dir.path());
  std::ofstream(dir.path() + "/state.db") << "x";
  auto store = FileNodeStore::Open(dir.path());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir.path() + "/FORMAT") << "something/v9\n";
  EXPECT_EQ(FileNodeStore::Open(dir.path()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FileNodeStoreTest, ReadsSeeBufferedAndFlushedNodesAlike) {
  ScratchDir dir;
  auto store = *FileNodeStore::Open(dir.path());
  MemoryNodeStore memory;
  CompactRange a, b;
  // Enough leaves that the 256 KiB write buffer is written out several times.
  for (uint64_t i = 0; i < 30000; ++i) {
    const Hash h = LeafHash(Leaf(i));
    ASSERT_TRUE(AppendLeaf(a, *store, h).ok());
    ASSERT_TRUE(AppendLeaf(b, memory, h).ok());
  }
  for (uint64_t i = 0; i < 30000; i += 97) {
    EXPECT_EQ(*store->Get(0, i), *memory.Get(0, i));
    EXPECT_EQ(*store->Get(3, i >> 3), *memory.Get(3, i >> 3));
  }
  EXPECT_EQ(*RootAt(*store, 9999), *RootAt(memory, 9999));
}

}  // namespace
}  // namespace loopgate::merkle
