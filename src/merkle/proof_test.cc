// The prover and the verifier cross-checked with the naive reference implementation
// (reference_testonly.h) on random trees: every size 0..300, and random larger ones.

#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "merkle/node_store.h"
#include "merkle/prover.h"
#include "merkle/reference_testonly.h"
#include "merkle/verifier.h"

namespace loopgate::merkle {
namespace {

std::vector<std::string> AsStrings(const std::vector<Hash>& proof) {
  std::vector<std::string> out;
  for (const Hash& h : proof) out.emplace_back(AsBytes(h));
  return out;
}

// A random tree: leaves of random bytes and lengths, stored in a MemoryNodeStore.
struct RandomTree {
  reference::Leaves leaves;
  MemoryNodeStore store;
  CompactRange range;

  RandomTree(uint64_t n, std::mt19937_64& rng) {
    for (uint64_t i = 0; i < n; ++i) {
      std::string data(rng() % 48, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      leaves.push_back(data);
      EXPECT_TRUE(AppendLeaf(range, store, LeafHash(data)).ok());
    }
  }
};

// The indexes checked in a tree of n leaves: all of them while n is small, then the edges,
// the powers of two and their neighbours, and a random sample.
std::set<uint64_t> Indexes(uint64_t n, std::mt19937_64& rng, uint64_t from = 0) {
  std::set<uint64_t> out;
  if (n <= 64) {
    for (uint64_t i = from; i < n; ++i) out.insert(i);
    return out;
  }
  for (uint64_t i : {from, from + 1, n / 2, n - 2, n - 1}) out.insert(i);
  for (uint64_t p = 1; p < n; p *= 2) {
    for (uint64_t i : {p - 1, p, p + 1}) {
      if (i >= from && i < n) out.insert(i);
    }
  }
  for (int k = 0; k < 6; ++k) out.insert(from + rng() % (n - from));
  return out;
}

// Checks root, inclusion and consistency for tree size n against the reference. The store may
// hold more leaves than n: proofs for an earlier tree size come from the same nodes.
void CrossCheck(const RandomTree& t, uint64_t n, std::mt19937_64& rng) {
  const std::string root = reference::Mth(t.leaves, 0, n);
  auto got_root = RootAt(t.store, n);
  ASSERT_TRUE(got_root.ok()) << got_root.status();
  ASSERT_EQ(AsBytes(*got_root), root) << "root of " << n;

  for (uint64_t m : Indexes(n, rng)) {
    auto proof = InclusionProof(t.store, m, n);
    ASSERT_TRUE(proof.ok()) << proof.status();
    ASSERT_EQ(AsStrings(*proof), reference::Path(m, t.leaves, 0, n)) << "PATH(" << m << ", " << n;
    EXPECT_EQ(proof->size(), InclusionProofLength(m, n));
    const Hash leaf = LeafHash(t.leaves[m]);
    ASSERT_TRUE(VerifyInclusion(leaf, m, n, *proof, *got_root).ok()) << m << " in " << n;
    // Damage is caught: a flipped bit anywhere in the proof, another leaf, another index.
    if (!proof->empty()) {
      std::vector<Hash> bad = *proof;
      bad[rng() % bad.size()][rng() % kHashSize] ^= static_cast<uint8_t>(1u << (rng() % 8));
      EXPECT_EQ(VerifyInclusion(leaf, m, n, bad, *got_root).code(), absl::StatusCode::kDataLoss);
    }
    EXPECT_FALSE(VerifyInclusion(LeafHash(t.leaves[m] + "x"), m, n, *proof, *got_root).ok());
    if (n > 1) {
      EXPECT_FALSE(VerifyInclusion(leaf, (m + 1) % n, n, *proof, *got_root).ok());
    }
  }

  for (uint64_t m : Indexes(n + 1, rng, 1)) {
    auto proof = ConsistencyProof(t.store, m, n);
    ASSERT_TRUE(proof.ok()) << proof.status();
    ASSERT_EQ(AsStrings(*proof), reference::Proof(m, t.leaves, n)) << "PROOF(" << m << ", " << n;
    EXPECT_EQ(proof->size(), ConsistencyProofLength(m, n));
    auto old_root = RootAt(t.store, m);
    ASSERT_TRUE(old_root.ok());
    ASSERT_TRUE(VerifyConsistency(m, n, *old_root, *got_root, *proof).ok()) << m << " to " << n;
    if (!proof->empty()) {
      std::vector<Hash> bad = *proof;
      bad[rng() % bad.size()][rng() % kHashSize] ^= static_cast<uint8_t>(1u << (rng() % 8));
      EXPECT_EQ(VerifyConsistency(m, n, *old_root, *got_root, bad).code(),
                absl::StatusCode::kDataLoss);
      Hash other = *old_root;
      other[0] ^= 1;
      EXPECT_EQ(VerifyConsistency(m, n, other, *got_root, *proof).code(),
                absl::StatusCode::kDataLoss);
    }
  }
}

TEST(ProofCrossCheckTest, EverySizeUpTo300AgainstTheNaiveReference) {
  std::mt19937_64 rng(20260630);
  RandomTree tree(300, rng);
  for (uint64_t n = 1; n <= 300; ++n) {
    CrossCheck(tree, n, rng);
    if (::testing::Test::HasFatalFailure()) return;
  }
  auto empty = RootAt(tree.store, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(AsBytes(*empty), reference::Mth(tree.leaves, 0, 0));
}

TEST(ProofCrossCheckTest, RandomLargerTrees) {
  std::mt19937_64 rng(4);
  for (int round = 0; round < 4; ++round) {
    const uint64_t n = 300 + rng() % 5000;
    RandomTree tree(n, rng);
    CrossCheck(tree, n, rng);
    CrossCheck(tree, n - 1 - rng() % 200, rng);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(ProverTest, RefusesWhatIsNotATreeItHolds) {
  std::mt19937_64 rng(1);
  RandomTree t(10, rng);
  EXPECT_EQ(InclusionProof(t.store, 10, 10).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InclusionProof(t.store, 3, 11).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ConsistencyProof(t.store, 0, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(t.store, 6, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(t.store, 5, 11).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(ConsistencyProof(t.store, 5, 5)->empty());
  EXPECT_EQ(RootAt(t.store, 11).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(SubtreeHash(t.store, 2, 6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AsBytes(*SubtreeHash(t.store, 4, 7)), reference::Mth(t.leaves, 4, 7));
}

TEST(ProverTest, AProofNeedsLogarithmicallyManyReads) {
  // A source that counts reads, over a tree of 2^20 + 12345 leaves of which only the nodes a
  // proof touches are computed (each as a leaf-derived fake hash: only the count matters).
  class CountingSource : public NodeSource {
   public:
    uint64_t size() const override { return (1u << 20) + 12345; }
    absl::StatusOr<Hash> Get(int level, uint64_t index) const override {
      ++reads;
      return LeafHash(std::to_string(level) + "/" + std::to_string(index));
    }
    mutable int reads = 0;
  } source;
  for (uint64_t index : {uint64_t{0}, uint64_t{1} << 19, source.size() - 1, uint64_t{777777}}) {
    source.reads = 0;
    ASSERT_TRUE(InclusionProof(source, index, source.size()).ok());
    EXPECT_LE(source.reads, 2 * 21) << index;
  }
  source.reads = 0;
  ASSERT_TRUE(ConsistencyProof(source, 1000001, source.size()).ok());
  EXPECT_LE(source.reads, 2 * 21 + 1);
}

TEST(VerifierTest, MessagesNameWhatFailed) {
  std::mt19937_64 rng(2);
  RandomTree t(8, rng);
  const Hash root = *RootAt(t.store, 8);
  const Hash leaf = LeafHash(t.leaves[6]);
  std::vector<Hash> proof = *InclusionProof(t.store, 6, 8);

  auto message = [](const absl::Status& s) { return std::string(s.message()); };
  EXPECT_EQ(message(VerifyInclusion(leaf, 8, 8, proof, root)),
            "leaf index 8 is not in a tree of 8 leaves");
  std::vector<Hash> longer = proof;
  longer.push_back(root);
  EXPECT_EQ(message(VerifyInclusion(leaf, 6, 8, longer, root)),
            "the inclusion proof for leaf 6 in a tree of 8 leaves has 4 hashes; it must have 3");
  const std::vector<std::string_view> short_hash = {AsBytes(proof[0]), "abc", AsBytes(proof[2])};
  EXPECT_EQ(message(VerifyInclusion(AsBytes(leaf), 6, 8, short_hash, AsBytes(root))),
            "inclusion proof hash 1 (counting from 0) is 3 bytes; a SHA-256 hash is 32");
  EXPECT_EQ(message(VerifyInclusion("WrongLeaf", 6, 8, {}, AsBytes(root))),
            "the leaf hash is 9 bytes; a SHA-256 hash is 32");
  const std::string wrong = message(VerifyInclusion(LeafHash("x"), 6, 8, proof, root));
  EXPECT_NE(wrong.find("the inclusion proof for leaf 6 in a tree of 8 leaves leads to root "),
            std::string::npos)
      << wrong;
  EXPECT_NE(wrong.find(", not to the root given, " + HashHex(root)), std::string::npos) << wrong;

  const Hash old_root = *RootAt(t.store, 6);
  std::vector<Hash> cons = *ConsistencyProof(t.store, 6, 8);
  EXPECT_TRUE(VerifyConsistency(6, 8, old_root, root, cons).ok());
  EXPECT_EQ(message(VerifyConsistency(6, 5, old_root, root, cons)),
            "the new tree size 5 is smaller than the old one, 6");
  EXPECT_EQ(message(VerifyConsistency(0, 8, EmptyRoot(), root, {})),
            "a consistency proof needs an old tree size of at least 1: every tree extends the "
            "empty tree, so there is nothing to prove");
  EXPECT_EQ(message(VerifyConsistency(8, 8, root, root, cons)),
            "the tree sizes are equal (8), so the consistency proof must be empty; it has 3 "
            "hashes");
  EXPECT_NE(message(VerifyConsistency(6, 8, root, root, cons)).find("leads to old root"),
            std::string::npos);
  EXPECT_NE(message(VerifyConsistency(6, 8, old_root, old_root, cons)).find("leads to new root"),
            std::string::npos);
  EXPECT_EQ(message(VerifyConsistency(6, 8, old_root, root, {})),
            "the consistency proof from 6 to 8 leaves has 0 hashes; it must have 3");
}

}  // namespace
}  // namespace loopgate::merkle
