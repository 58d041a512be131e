#include "merkle/verifier.h"

#include <bit>
#include <cstring>

#include "common/strings.h"
#include "common/text.h"
#include "crypto/crypto.h"

namespace loopgate::merkle {
namespace {

using common::StrCat;

// SHA-256(0x01 || left || right) over byte strings already checked to be 32 bytes.
std::string Node(std::string_view left, std::string_view right) {
  char buf[1 + 2 * kHashSize];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), kHashSize);
  std::memcpy(buf + 1 + kHashSize, right.data(), kHashSize);
  return std::string(AsBytes(crypto::Sha256(std::string_view(buf, sizeof(buf)))));
}

std::string Hex(std::string_view bytes) { return common::HexEncode(bytes); }

absl::Status CheckLength(std::string_view what, std::string_view h) {
  if (h.size() != kHashSize) {
    return absl::InvalidArgumentError(
        StrCat(what, " is ", h.size(), " bytes; a SHA-256 hash is 32"));
  }
  return absl::OkStatus();
}

absl::Status CheckProofHashes(std::string_view kind, absl::Span<const std::string_view> proof) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (proof[i].size() != kHashSize) {
      return absl::InvalidArgumentError(StrCat(kind, " proof hash ", i, " (counting from 0) is ",
                                               proof[i].size(), " bytes; a SHA-256 hash is 32"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string_view> Views(absl::Span<const Hash> proof) {
  std::vector<std::string_view> views;
  views.reserve(proof.size());
  for (const Hash& h : proof) views.push_back(AsBytes(h));
  return views;
}

// RFC 9162 2.1.3.2 / 2.1.4.2: "right-shift fn and sn equally until LSB(fn) is set or fn is 0".
void ShiftToSetBit(uint64_t& fn, uint64_t& sn) {
  while ((fn & 1) == 0 && fn != 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

}  // namespace

size_t InclusionProofLength(uint64_t index, uint64_t tree_size) {
  // Below the level where the paths to `index` and to the last leaf part, every level has a
  // sibling; above it, only the levels where `index` is a right child do.
  const int inner = std::bit_width(index ^ (tree_size - 1));
  return static_cast<size_t>(inner + std::popcount(inner < 64 ? index >> inner : 0));
}

size_t ConsistencyProofLength(uint64_t old_size, uint64_t new_size) {
  if (old_size == new_size) return 0;
  // The path of the old tree's last perfect subtree (level countr_zero(old_size)), plus that
  // subtree's own hash unless it is the whole old tree.
  const int shift = std::countr_zero(old_size);
  const uint64_t index = old_size - 1;
  const int inner = std::bit_width(index ^ (new_size - 1));
  const int border = std::popcount(inner < 64 ? index >> inner : 0);
  const bool power_of_two = (old_size & (old_size - 1)) == 0;
  return static_cast<size_t>(inner - shift + border + (power_of_two ? 0 : 1));
}

absl::Status VerifyInclusion(std::string_view leaf_hash, uint64_t index, uint64_t tree_size,
                             absl::Span<const std::string_view> proof, std::string_view root) {
  if (index >= tree_size) {
    return absl::InvalidArgumentError(
        StrCat("leaf index ", index, " is not in a tree of ", tree_size, " leaves"));
  }
  if (absl::Status s = CheckLength("the leaf hash", leaf_hash); !s.ok()) return s;
  if (absl::Status s = CheckLength("the root hash", root); !s.ok()) return s;
  if (absl::Status s = CheckProofHashes("inclusion", proof); !s.ok()) return s;
  const size_t want = InclusionProofLength(index, tree_size);
  if (proof.size() != want) {
    return absl::InvalidArgumentError(StrCat("the inclusion proof for leaf ", index,
                                             " in a tree of ", tree_size, " leaves has ",
                                             proof.size(), " hashes; it must have ", want));
  }
  // RFC 9162 section 2.1.3.2, step by step.
  uint64_t fn = index;
  uint64_t sn = tree_size - 1;
  std::string r(leaf_hash);
  for (std::string_view p : proof) {
    if (sn == 0) {
      return absl::InvalidArgumentError("the inclusion proof is longer than the path to the root");
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = Node(p, r);
      ShiftToSetBit(fn, sn);
    } else {
      r = Node(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError("the inclusion proof is shorter than the path to the root");
  }
  if (r != root) {
    return absl::DataLossError(StrCat("the inclusion proof for leaf ", index, " in a tree of ",
                                      tree_size, " leaves leads to root ", Hex(r),
                                      ", not to the root given, ", Hex(root)));
  }
  return absl::OkStatus();
}

absl::Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t tree_size,
                             absl::Span<const Hash> proof, const Hash& root) {
  const std::vector<std::string_view> views = Views(proof);
  return VerifyInclusion(AsBytes(leaf_hash), index, tree_size, views, AsBytes(root));
}

absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size, std::string_view old_root,
                               std::string_view new_root,
                               absl::Span<const std::string_view> proof) {
  if (new_size < old_size) {
    return absl::InvalidArgumentError(
        StrCat("the new tree size ", new_size, " is smaller than the old one, ", old_size));
  }
  if (old_size == new_size) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(StrCat("the tree sizes are equal (", old_size,
                                               "), so the consistency proof must be empty; it has ",
                                               proof.size(), " hashes"));
    }
    if (old_root != new_root) {
      return absl::DataLossError(StrCat("the tree sizes are equal (", old_size,
                                        ") but the roots differ: ", Hex(old_root), " and ",
                                        Hex(new_root)));
    }
    if (old_size == 0 && old_root != AsBytes(EmptyRoot())) {
      return absl::DataLossError(StrCat("the root of the empty tree is ", HashHex(EmptyRoot()),
                                        " (SHA-256 of nothing), not ", Hex(old_root)));
    }
    return absl::OkStatus();
  }
  if (old_size == 0) {
    return absl::InvalidArgumentError(
        "a consistency proof needs an old tree size of at least 1: every tree extends the empty "
        "tree, so there is nothing to prove");
  }
  if (absl::Status s = CheckLength("the old root hash", old_root); !s.ok()) return s;
  if (absl::Status s = CheckLength("the new root hash", new_root); !s.ok()) return s;
  if (absl::Status s = CheckProofHashes("consistency", proof); !s.ok()) return s;
  const size_t want = ConsistencyProofLength(old_size, new_size);
  if (proof.size() != want) {
    return absl::InvalidArgumentError(StrCat("the consistency proof from ", old_size, " to ",
                                             new_size, " leaves has ", proof.size(),
                                             " hashes; it must have ", want));
  }
  // RFC 9162 section 2.1.4.2, step by step.
  std::vector<std::string_view> path;
  path.reserve(proof.size() + 1);
  if ((old_size & (old_size - 1)) == 0) {
    path.push_back(old_root);  // Step 2: first is an exact power of 2.
  }
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {  // Step 4.
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr(path[0]);
  std::string sr(path[0]);
  for (size_t i = 1; i < path.size(); ++i) {
    const std::string_view c = path[i];
    if (sn == 0) {
      return absl::InvalidArgumentError(
          "the consistency proof is longer than the path to the new root");
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = Node(c, fr);
      sr = Node(c, sr);
      ShiftToSetBit(fn, sn);
    } else {
      sr = Node(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(
        "the consistency proof is shorter than the path to the new root");
  }
  if (fr != old_root) {
    return absl::DataLossError(StrCat("the consistency proof from ", old_size, " to ", new_size,
                                      " leaves leads to old root ", Hex(fr),
                                      ", not to the old root given, ", Hex(old_root)));
  }
  if (sr != new_root) {
    return absl::DataLossError(StrCat("the consistency proof from ", old_size, " to ", new_size,
                                      " leaves leads to new root ", Hex(sr),
                                      ", not to the new root given, ", Hex(new_root)));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                               const Hash& new_root, absl::Span<const Hash> proof) {
  const std::vector<std::string_view> views = Views(proof);
  return VerifyConsistency(old_size, new_size, AsBytes(old_root), AsBytes(new_root), views);
}

}  // namespace loopgate::merkle
