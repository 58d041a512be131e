#pragma once
// RFC 6962 section 2.1 hashing for the ledger's Merkle tree (docs/ledger-format.md section 9):
// a leaf is SHA-256(0x00 || leaf data), an interior node SHA-256(0x01 || left || right), and the
// empty tree's root is SHA-256 of the empty string. The ledger decides what an entry's leaf data
// is (ledger::EntryHash); this module takes leaf hashes as given.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/crypto.h"

namespace loopgate::merkle {

// A SHA-256 value: a leaf hash, a node hash or a root.
using Hash = crypto::Digest;
inline constexpr size_t kHashSize = 32;

// SHA-256(0x00 || data): the leaf hash of `data` (a v2 ledger entry's exact bytes, for one).
Hash LeafHash(std::string_view entry);

// SHA-256(0x01 || left || right).
Hash NodeHash(const Hash& left, const Hash& right);

// SHA-256(""): the root of the tree with no leaves.
const Hash& EmptyRoot();

// The hash's 32 bytes, viewed in place.
inline std::string_view AsBytes(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

// From exactly 32 bytes; nullopt for any other length.
std::optional<Hash> HashFromBytes(std::string_view bytes);

// Lowercase hex (64 digits).
std::string HashHex(const Hash& h);

// From exactly 64 lowercase hex digits (the only form Loopgate writes); nullopt otherwise.
std::optional<Hash> HashFromHex(std::string_view hex);

}  // namespace loopgate::merkle
