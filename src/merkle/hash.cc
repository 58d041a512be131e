#include "merkle/hash.h"

#include <cstring>

#include "common/text.h"

namespace loopgate::merkle {

Hash LeafHash(std::string_view entry) {
  // One hasher per thread: the entry is fed after the prefix byte, never copied.
  thread_local crypto::Sha256Hasher hasher;
  static constexpr char kLeafPrefix = 0x00;
  hasher.Update(std::string_view(&kLeafPrefix, 1));
  hasher.Update(entry);
  return hasher.Finish();
}

Hash NodeHash(const Hash& left, const Hash& right) {
  char buf[1 + 2 * kHashSize];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), kHashSize);
  std::memcpy(buf + 1 + kHashSize, right.data(), kHashSize);
  return crypto::Sha256(std::string_view(buf, sizeof(buf)));
}

const Hash& EmptyRoot() {
  static const Hash empty = crypto::Sha256("");
  return empty;
}

std::optional<Hash> HashFromBytes(std::string_view bytes) {
  if (bytes.size() != kHashSize) {
    return std::nullopt;
  }
  Hash h;
  std::memcpy(h.data(), bytes.data(), kHashSize);
  return h;
}

std::string HashHex(const Hash& h) { return crypto::ToHex(h); }

std::optional<Hash> HashFromHex(std::string_view hex) {
  if (hex.size() != 2 * kHashSize) {
    return std::nullopt;
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
  }
  return HashFromBytes(*common::HexDecode(hex));
}

}  // namespace loopgate::merkle
