#include "merkle/hash.h"

#include <string>

#include "gtest/gtest.h"

namespace loopgate::merkle {
namespace {

using std::string_literals::operator""s;

TEST(HashTest, EmptyRootIsSha256OfNothing) {
  // FIPS 180-2: SHA-256("").
  EXPECT_EQ(HashHex(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(HashTest, LeafAndNodeHashesCarryTheirPrefixes) {
  // RFC 6962 reference roots (../shared/corpora/merkle-rfc6962-vectors/reference_roots.json,
  // from transparency-dev/merkle): the tree of the one leaf "" has root SHA-256(0x00) ...
  const Hash leaf_empty = LeafHash("");
  EXPECT_EQ(HashHex(leaf_empty),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  // ... and the tree of the leaves "" and 0x00 has root SHA-256(0x01 || SHA-256(0x00) ||
  // SHA-256(0x00 0x00)).
  const Hash leaf_00 = LeafHash("\x00"s);
  EXPECT_EQ(HashHex(NodeHash(leaf_empty, leaf_00)),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
  // Leaf and node hashing differ even over the same bytes (the second-preimage defence).
  EXPECT_NE(LeafHash(std::string(AsBytes(leaf_empty)) + std::string(AsBytes(leaf_00))),
            NodeHash(leaf_empty, leaf_00));
  // The per-thread hasher carries nothing from one call to the next.
  EXPECT_EQ(LeafHash(""), leaf_empty);
}

TEST(HashTest, HexAndBytesConversionsAreStrict) {
  const Hash h = LeafHash("abc");
  EXPECT_EQ(HashFromHex(HashHex(h)), h);
  EXPECT_EQ(HashFromBytes(AsBytes(h)), h);
  std::string upper = HashHex(h);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(HashFromHex(upper), std::nullopt);
  EXPECT_EQ(HashFromHex(HashHex(h).substr(2)), std::nullopt);
  EXPECT_EQ(HashFromHex(HashHex(h) + "00"), std::nullopt);
  EXPECT_EQ(HashFromBytes(std::string(31, 'x')), std::nullopt);
  EXPECT_EQ(HashFromBytes(std::string(33, 'x')), std::nullopt);
}

}  // namespace
}  // namespace loopgate::merkle
