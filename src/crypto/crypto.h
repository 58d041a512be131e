#pragma once
// SHA-256 and keyed HMAC-SHA256 on OpenSSL's SHA-256. Key material stays inside
// HmacSha256: no accessor returns it.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loopgate::crypto {

using Digest = std::array<uint8_t, 32>;

// SHA-256 of `data`.
Digest Sha256(std::string_view data);

// Incremental SHA-256 for data fed in pieces.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view data);
  Digest Finish();  // Resets the hasher for reuse.
  // Takes `prefix`'s state: what it has absorbed so far. A prefix shared by many messages is
  // hashed once and each message resumes from it.
  void Resume(const Sha256Hasher& prefix);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lowercase hex of a digest.
std::string ToHex(const Digest& d);
// Appends the 64 lowercase hex digits of `d` to `out`.
void AppendHex(const Digest& d, std::string* out);

// `n` bytes from OpenSSL's random generator (a CSPRNG). Errors: Internal when it fails.
absl::StatusOr<std::string> RandomBytes(size_t n);

// HMAC-SHA256 with a fixed key. The inner and outer keyed states are computed once, so each
// Mac() costs two context copies and the hashing of the message (RFC 2104).
// Thread-safe: Mac() copies the keyed states onto its own stack.
class HmacSha256 {
 public:
  // Errors: InvalidArgument for an empty key.
  static absl::StatusOr<std::unique_ptr<HmacSha256>> Create(std::string_view key);
  ~HmacSha256();

  Digest Mac(std::string_view message) const;

 private:
  HmacSha256();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loopgate::crypto
