#include "merkle/compact_range.h"

#include <bit>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/text.h"
#include "gtest/gtest.h"
#include "merkle/reference_testonly.h"
#include "simdjson.h"

namespace loopgate::merkle {
namespace {

const std::string kVectors = LOOPGATE_SHARED_DIR "/corpora/merkle-rfc6962-vectors";

// reference_roots.json holds 8 leaf inputs and MTH of the first n of them for n = 0..8
// (transparency-dev/merkle testonly/constants.go, recomputed independently per its note).
TEST(CompactRangeTest, RootsMatchTheRfc6962ReferenceRoots) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.load(kVectors + "/reference_roots.json").get(doc), simdjson::SUCCESS);
  std::vector<std::string> inputs, roots;
  for (auto v : doc["leaf_inputs_hex"].get_array()) {
    inputs.push_back(*common::HexDecode(std::string_view(v.get_string().value())));
  }
  for (auto v : doc["root_by_tree_size_hex"].get_array()) {
    roots.emplace_back(std::string_view(v.get_string().value()));
  }
  ASSERT_EQ(inputs.size(), 8u);
  ASSERT_EQ(roots.size(), 9u);
  CompactRange range;
  EXPECT_EQ(HashHex(range.Root()), roots[0]);
  for (size_t n = 1; n <= inputs.size(); ++n) {
    range.Append(LeafHash(inputs[n - 1]));
    EXPECT_EQ(range.size(), n);
    EXPECT_EQ(HashHex(range.Root()), roots[n]) << "tree size " << n;
  }
}

TEST(CompactRangeTest, FrontierHasOneHashPerSetBitAndMatchesTheReference) {
  std::mt19937_64 rng(7);
  reference::Leaves leaves;
  CompactRange range;
  for (uint64_t n = 0; n < 300; ++n) {
    EXPECT_EQ(range.frontier().size(), static_cast<size_t>(std::popcount(n)));
    EXPECT_EQ(AsBytes(range.Root()), reference::Mth(leaves, 0, n)) << "tree size " << n;
    // Each frontier hash is MTH of the perfect subtree it stands for, largest first.
    uint64_t begin = 0;
    size_t i = 0;
    for (int level = 63; level >= 0; --level) {
      if (((n >> level) & 1) == 0) continue;
      const uint64_t end = begin + (uint64_t{1} << level);
      EXPECT_EQ(AsBytes(range.frontier()[i++]), reference::Mth(leaves, begin, end));
      begin = end;
    }
    std::string data(rng() % 40, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    leaves.push_back(data);
    range.Append(LeafHash(data));
  }
}

TEST(CompactRangeTest, AppendReportsEveryPerfectSubtreeOnceBottomUp) {
  reference::Leaves leaves;
  CompactRange range;
  std::set<std::pair<int, uint64_t>> seen;
  for (uint64_t n = 0; n < 100; ++n) {
    leaves.push_back("leaf " + std::to_string(n));
    std::vector<Node> completed;
    range.Append(LeafHash(leaves.back()), [&](const Node& node) { completed.push_back(node); });
    // The leaf first, then one node per trailing one bit of the old size, a level up each.
    ASSERT_EQ(completed.size(), 1u + std::countr_one(n)) << n;
    for (size_t i = 0; i < completed.size(); ++i) {
      const Node& node = completed[i];
      EXPECT_EQ(node.level, static_cast<int>(i));
      EXPECT_EQ(node.index, n >> i);
      const uint64_t begin = node.index << node.level;
      EXPECT_EQ(AsBytes(node.hash),
                reference::Mth(leaves, begin, begin + (uint64_t{1} << node.level)));
      EXPECT_TRUE(seen.insert({node.level, node.index}).second);
    }
  }
  // A tree of n leaves has 2n - popcount(n) perfect subtrees.
  EXPECT_EQ(seen.size(), 2u * 100 - std::popcount(100u));
}

TEST(CompactRangeTest, SerializeRoundTripsAndRejectsDamage) {
  CompactRange range;
  for (int n = 0; n < 70; ++n) {
    const std::string bytes = range.Serialize();
    EXPECT_EQ(bytes.size(), 13u + 32u * range.frontier().size());
    auto back = CompactRange::Deserialize(bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, range);
    EXPECT_EQ(back->Root(), range.Root());
    range.Append(LeafHash(std::to_string(n)));
  }
  const std::string good = range.Serialize();  // 70 leaves: 3 hashes.
  EXPECT_EQ(good.substr(0, 5), std::string("LGCR\x01", 5));
  EXPECT_EQ(common::HexEncode(good.substr(5, 8)), "0000000000000046");

  auto code = [](std::string_view b) { return CompactRange::Deserialize(b).status().code(); };
  EXPECT_EQ(code(good.substr(0, good.size() - 1)), absl::StatusCode::kDataLoss);
  EXPECT_EQ(code(good + std::string(32, '\0')), absl::StatusCode::kDataLoss);
  EXPECT_EQ(code(""), absl::StatusCode::kDataLoss);
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_EQ(code(bad_magic), absl::StatusCode::kDataLoss);
  std::string bad_version = good;
  bad_version[4] = 2;
  EXPECT_EQ(code(bad_version), absl::StatusCode::kDataLoss);
  std::string bad_size = good;
  bad_size[12] = 71;  // 71 leaves need 4 hashes.
  auto status = CompactRange::Deserialize(bad_size).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("71 leaves takes 141 bytes, not 109"), std::string::npos)
      << status;
}

TEST(CompactRangeTest, FromFrontierNeedsOneHashPerSetBit) {
  CompactRange range;
  for (int n = 0; n < 11; ++n) range.Append(LeafHash(std::to_string(n)));
  auto copy = CompactRange::FromFrontier(11, range.frontier());
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->Root(), range.Root());
  EXPECT_EQ(CompactRange::FromFrontier(12, range.frontier()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loopgate::merkle
