#include "merkle/compact_range.h"

#include <bit>
#include <cstring>

#include "common/strings.h"

namespace loopgate::merkle {
namespace {

constexpr char kMagic[4] = {'L', 'G', 'C', 'R'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = sizeof(kMagic) + 1 + 8;

}  // namespace

void CompactRange::Append(const Hash& leaf_hash) {
  Append(leaf_hash, [](const Node&) {});
}

void CompactRange::Append(const Hash& leaf_hash, NodeVisitor completed) {
  Node node{0, size_, leaf_hash};
  completed(node);
  // Each trailing one bit of the old size is a perfect subtree on the frontier that the new
  // node is the right sibling of: merge them, one level up each time.
  for (uint64_t bits = size_; (bits & 1) != 0; bits >>= 1) {
    node.hash = NodeHash(frontier_.back(), node.hash);
    frontier_.pop_back();
    ++node.level;
    node.index >>= 1;
    completed(node);
  }
  frontier_.push_back(node.hash);
  ++size_;
}

Hash CompactRange::Root() const {
  if (frontier_.empty()) {
    return EmptyRoot();
  }
  Hash root = frontier_.back();
  for (size_t i = frontier_.size() - 1; i-- > 0;) {
    root = NodeHash(frontier_[i], root);
  }
  return root;
}

std::string CompactRange::Serialize() const {
  std::string out(kMagic, sizeof(kMagic));
  out.push_back(static_cast<char>(kVersion));
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((size_ >> shift) & 0xff));
  }
  for (const Hash& h : frontier_) {
    out.append(AsBytes(h));
  }
  return out;
}

absl::StatusOr<CompactRange> CompactRange::Deserialize(std::string_view bytes) {
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("not a loopgate.compact-range/v1 encoding (no LGCR header)");
  }
  if (static_cast<uint8_t>(bytes[4]) != kVersion) {
    return absl::DataLossError(common::StrCat("compact range format version ",
                                              static_cast<int>(static_cast<uint8_t>(bytes[4])),
                                              " is not supported (this build reads 1)"));
  }
  uint64_t size = 0;
  for (size_t i = 5; i < kHeaderSize; ++i) {
    size = size << 8 | static_cast<uint8_t>(bytes[i]);
  }
  const size_t want = kHeaderSize + kHashSize * static_cast<size_t>(std::popcount(size));
  if (bytes.size() != want) {
    return absl::DataLossError(common::StrCat("a compact range of ", size, " leaves takes ", want,
                                              " bytes, not ", bytes.size()));
  }
  CompactRange r;
  r.size_ = size;
  for (size_t at = kHeaderSize; at < bytes.size(); at += kHashSize) {
    r.frontier_.push_back(*HashFromBytes(bytes.substr(at, kHashSize)));
  }
  return r;
}

absl::StatusOr<CompactRange> CompactRange::FromFrontier(uint64_t size, std::vector<Hash> frontier) {
  if (frontier.size() != static_cast<size_t>(std::popcount(size))) {
    return absl::InvalidArgumentError(common::StrCat("a compact range of ", size, " leaves has ",
                                                     std::popcount(size), " hashes, not ",
                                                     frontier.size()));
  }
  CompactRange r;
  r.size_ = size;
  r.frontier_ = std::move(frontier);
  return r;
}

}  // namespace loopgate::merkle
