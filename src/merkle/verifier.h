#pragma once
// Verifying RFC 6962 proofs with the algorithms of RFC 9162 section 2.1.3.2 (inclusion) and
// 2.1.4.2 (consistency). Separate from building (prover.h), and written for untrusted input:
// hashes are byte strings whose length is checked, and every failure says what did not hold.
//
// Status codes: InvalidArgument for a malformed claim (a hash that is not 32 bytes, an index
// outside the tree, a proof of the wrong length, sizes in the wrong order); DataLoss for a
// well-formed proof whose hashes do not lead to the root(s) given.
//
// Boundary cases RFC 9162 leaves open, decided as the RFC 6962 test vectors of
// transparency-dev/merkle expect (docs/ledger-format.md section 9.5):
//   - equal sizes: the proof must be empty and the roots equal (a size-0 root must also be
//     SHA-256 of the empty string); nothing is hashed, so the roots are only compared;
//   - old size 0 and new size > 0: rejected, since every tree extends the empty tree and such
//     a "proof" would prove nothing.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "merkle/hash.h"

namespace loopgate::merkle {

// OK when `proof` shows that the leaf with hash `leaf_hash` is leaf `index` of the tree of
// `tree_size` leaves whose root is `root`.
absl::Status VerifyInclusion(std::string_view leaf_hash, uint64_t index, uint64_t tree_size,
                             absl::Span<const std::string_view> proof, std::string_view root);
absl::Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t tree_size,
                             absl::Span<const Hash> proof, const Hash& root);

// OK when `proof` shows that the tree of `old_size` leaves with root `old_root` is a prefix of
// the tree of `new_size` leaves with root `new_root`.
absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size, std::string_view old_root,
                               std::string_view new_root, absl::Span<const std::string_view> proof);
absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                               const Hash& new_root, absl::Span<const Hash> proof);

// The number of hashes a valid proof has.
size_t InclusionProofLength(uint64_t index, uint64_t tree_size);      // index < tree_size
size_t ConsistencyProofLength(uint64_t old_size, uint64_t new_size);  // 0 < old <= new

}  // namespace loopgate::merkle
