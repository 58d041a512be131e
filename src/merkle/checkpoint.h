#pragma once
// Signed checkpoints, `loopgate.checkpoint/v1` (docs/ledger-format.md section 9.6): a statement
// "the ledger had this many entries and this Merkle root, at this time, under this policy",
// signed with the operator's Ed25519 key.
//
// The signed bytes are the checkpoint's *body*, ASCII text of exactly six lines, each ending in
// a line feed, in this order:
//
//   loopgate.checkpoint/v1
//   tree_size <decimal, no leading zeros>
//   root_hash <64 lowercase hex digits>
//   time <RFC 3339 UTC, as common::FormatRfc3339 writes it: YYYY-MM-DDTHH:MM:SS[.fffffffff]Z>
//   policy_version <1-128 characters of [A-Za-z0-9_.:-]>
//   key_id sha256:<64 lowercase hex digits: SHA-256 of the raw Ed25519 public key>
//
// The *signed checkpoint text* is the body, an empty line, and one signature line:
//
//   <body>\n
//   signature <base64 of the 64-byte Ed25519 signature of the body>\n
//
// Only that exact form is accepted: anything else (a missing or extra line, CRLF, a value out of
// its form) is rejected, so each checkpoint has exactly one text.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/time.h"
#include "crypto/ed25519.h"
#include "merkle/hash.h"

namespace loopgate::merkle {

inline constexpr std::string_view kCheckpointFormat = "loopgate.checkpoint/v1";

struct Checkpoint {
  uint64_t tree_size = 0;
  Hash root{};
  common::Instant time;
  std::string policy_version;
  std::string key_id;  // "sha256:<hex>" of the signing key; set by SignCheckpoint.

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

struct SignedCheckpoint {
  Checkpoint checkpoint;
  std::string body;       // The exact signed bytes.
  std::string signature;  // 64 bytes.

  // The signed checkpoint text (see above).
  std::string Text() const;
};

// The body of `c`. Errors: InvalidArgument for a policy version out of its form.
absl::StatusOr<std::string> CheckpointBody(const Checkpoint& c);

// Signs `c` with `key`, setting its key_id to the key's.
absl::StatusOr<SignedCheckpoint> SignCheckpoint(Checkpoint c, const crypto::Ed25519PrivateKey& key);

// Parses a signed checkpoint text without checking the signature. Errors: InvalidArgument
// naming the line that is wrong.
absl::StatusOr<SignedCheckpoint> ParseSignedCheckpoint(std::string_view text);

// Parses `text` and checks that it was signed by `key`: its key_id must be the key's, and the
// signature must verify over the body. Errors: InvalidArgument when it does not parse; DataLoss
// when it names another key or the signature does not verify (altered or forged).
absl::StatusOr<SignedCheckpoint> VerifySignedCheckpoint(std::string_view text,
                                                        const crypto::Ed25519PublicKey& key);

}  // namespace loopgate::merkle
