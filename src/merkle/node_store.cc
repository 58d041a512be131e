#include "merkle/node_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"

namespace loopgate::merkle {
namespace {

using common::StrCat;

constexpr std::string_view kFormatLine = "loopgate.merkle-nodes/v1\n";
constexpr size_t kFlushBytes = 256 * 1024;

// Whether node (level, index) lies in a tree of at most 2^62 leaves, so that NodePosition
// cannot overflow.
constexpr int kMaxStoredLevel = 62;
bool Addressable(int level, uint64_t index) {
  return level >= 0 && level <= kMaxStoredLevel &&
         index < ((uint64_t{1} << kMaxStoredLevel) >> level);
}

// The node's position, when it is among the first `count` hashes.
bool Stored(int level, uint64_t index, uint64_t count, uint64_t* position) {
  if (!Addressable(level, index)) return false;
  *position = NodePosition(level, index);
  return *position < count;
}

absl::Status NotStored(int level, uint64_t index, uint64_t leaves) {
  return absl::OutOfRangeError(StrCat("Merkle node (level ", level, ", index ", index,
                                      ") is not stored; the store holds ", leaves, " leaves"));
}

absl::Status OutOfOrder(const Node& node, uint64_t count) {
  if (!Addressable(node.level, node.index)) {
    return absl::InvalidArgumentError(
        StrCat("no Merkle node (level ", node.level, ", index ", node.index, ")"));
  }
  return absl::FailedPreconditionError(StrCat(
      "Merkle node (level ", node.level, ", index ", node.index, ") is hash number ",
      NodePosition(node.level, node.index), " in append order, but the store holds ", count));
}

absl::Status TooFew(uint64_t count, uint64_t tree_size) {
  return absl::DataLossError(StrCat("the node store holds ", count, " hashes; a tree of ",
                                    tree_size, " leaves needs ", NodeCount(tree_size)));
}

absl::Status IoError(std::string_view what, const std::string& path) {
  return absl::InternalError(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open", dir);
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return IoError("cannot sync", dir);
  return absl::OkStatus();
}

}  // namespace

uint64_t NodeCount(uint64_t tree_size) {
  return 2 * tree_size - static_cast<uint64_t>(std::popcount(tree_size));
}

uint64_t NodePosition(int level, uint64_t index) {
  const uint64_t last_leaf = ((index + 1) << level) - 1;
  return NodeCount(last_leaf) + static_cast<uint64_t>(level);
}

uint64_t LeavesStored(uint64_t count) {
  // NodeCount is strictly increasing and NodeCount(n) >= 2n - 64, so the answer is within 33
  // of count / 2.
  uint64_t n = count / 2;
  while (n > 0 && NodeCount(n) > count) --n;
  while (NodeCount(n + 1) <= count) ++n;
  return n;
}

absl::Status AppendLeaf(CompactRange& range, NodeStore& store, const Hash& leaf_hash) {
  if (range.size() != store.size()) {
    return absl::FailedPreconditionError(StrCat("the compact range has ", range.size(),
                                                " leaves but the node store ", store.size()));
  }
  absl::Status status;
  range.Append(leaf_hash, [&](const Node& node) {
    if (status.ok()) status = store.Add(node);
  });
  return status;
}

absl::StatusOr<CompactRange> RangeFromNodes(const NodeSource& nodes, uint64_t size) {
  if (size > nodes.size()) {
    return absl::OutOfRangeError(StrCat("a compact range of ", size,
                                        " leaves was asked for, but only ", nodes.size(),
                                        " are stored"));
  }
  std::vector<Hash> frontier;
  uint64_t begin = 0;
  for (int level = kMaxLevels - 1; level >= 0; --level) {
    if (((size >> level) & 1) == 0) continue;
    auto h = nodes.Get(level, begin >> level);
    if (!h.ok()) return h.status();
    frontier.push_back(*h);
    begin += uint64_t{1} << level;
  }
  return CompactRange::FromFrontier(size, std::move(frontier));
}

absl::StatusOr<Hash> MemoryNodeStore::Get(int level, uint64_t index) const {
  uint64_t at = 0;
  if (!Stored(level, index, nodes_.size(), &at)) return NotStored(level, index, size());
  return nodes_[at];
}

absl::Status MemoryNodeStore::Add(const Node& node) {
  if (!Addressable(node.level, node.index) ||
      NodePosition(node.level, node.index) != nodes_.size()) {
    return OutOfOrder(node, nodes_.size());
  }
  nodes_.push_back(node.hash);
  return absl::OkStatus();
}

absl::Status MemoryNodeStore::Truncate(uint64_t tree_size) {
  if (nodes_.size() < NodeCount(tree_size)) return TooFew(nodes_.size(), tree_size);
  nodes_.resize(NodeCount(tree_size));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FileNodeStore>> FileNodeStore::Open(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string format_path = dir + "/FORMAT";
  std::unique_ptr<FileNodeStore> store(new FileNodeStore(dir));
  store->path_ = dir + "/nodes";
  if (!fs::exists(format_path, ec)) {
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
      return absl::InvalidArgumentError(
          StrCat(dir, " is not a Merkle node store (it has files but no FORMAT)"));
    }
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(StrCat("cannot create ", dir, ": ", ec.message()));
    }
    // The nodes file first: a directory with FORMAT always has one.
    const int nfd = ::open(store->path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (nfd < 0) return IoError("cannot create", store->path_);
    ::close(nfd);
    const int fd = ::open(format_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("cannot create", format_path);
    const bool ok = ::write(fd, kFormatLine.data(), kFormatLine.size()) ==
                        static_cast<ssize_t>(kFormatLine.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return IoError("cannot write", format_path);
    if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
  } else {
    char buf[64];
    const int fd = ::open(format_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot read", format_path);
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    ::close(fd);
    if (n < 0 || std::string_view(buf, static_cast<size_t>(n)) != kFormatLine) {
      return absl::InvalidArgumentError(
          StrCat(format_path, " does not name loopgate.merkle-nodes/v1"));
    }
  }
  store->fd_ = ::open(store->path_.c_str(), O_RDWR | O_CLOEXEC);
  if (store->fd_ < 0) return IoError("cannot open", store->path_);
  struct stat st;
  if (::fstat(store->fd_, &st) != 0) return IoError("cannot stat", store->path_);
  // A torn last record is ignored; the next write goes over it.
  store->written_ = static_cast<uint64_t>(st.st_size) / kHashSize;
  return store;
}

FileNodeStore::~FileNodeStore() {
  if (fd_ >= 0) {
    (void)Flush();  // Best effort: durability is what Sync() is for.
    ::close(fd_);
  }
}

uint64_t FileNodeStore::size() const { return LeavesStored(Count()); }

absl::StatusOr<Hash> FileNodeStore::Get(int level, uint64_t index) const {
  uint64_t at = 0;
  if (!Stored(level, index, Count(), &at)) return NotStored(level, index, size());
  Hash h;
  if (at >= written_) {
    std::memcpy(h.data(), pending_.data() + (at - written_) * kHashSize, kHashSize);
    return h;
  }
  size_t got = 0;
  while (got < kHashSize) {
    const ssize_t n =
        ::pread(fd_, h.data() + got, kHashSize - got, static_cast<off_t>(at * kHashSize + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DataLossError(StrCat(
          "cannot read Merkle node (level ", level, ", index ", index, ") from ", path_,
          n < 0 ? StrCat(": ", std::strerror(errno)) : std::string(": the file is shorter")));
    }
    got += static_cast<size_t>(n);
  }
  return h;
}

absl::Status FileNodeStore::Add(const Node& node) {
  if (!Addressable(node.level, node.index) || NodePosition(node.level, node.index) != Count()) {
    return OutOfOrder(node, Count());
  }
  pending_.append(AsBytes(node.hash));
  if (pending_.size() >= kFlushBytes) return Flush();
  return absl::OkStatus();
}

absl::Status FileNodeStore::Flush() {
  size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::pwrite(fd_, pending_.data() + done, pending_.size() - done,
                               static_cast<off_t>(written_ * kHashSize + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Whole records that reached the file count as written; the rest stays pending.
      const size_t whole = done / kHashSize * kHashSize;
      written_ += whole / kHashSize;
      pending_.erase(0, whole);
      dirty_ = true;
      return IoError("cannot write", path_);
    }
    done += static_cast<size_t>(n);
  }
  if (done > 0) dirty_ = true;
  written_ += pending_.size() / kHashSize;
  pending_.clear();
  return absl::OkStatus();
}

absl::Status FileNodeStore::Truncate(uint64_t tree_size) {
  const uint64_t want = NodeCount(tree_size);
  if (Count() < want) return TooFew(Count(), tree_size);
  if (want <= written_) {
    // Also cuts a torn record after the last whole one.
    if (::ftruncate(fd_, static_cast<off_t>(want * kHashSize)) != 0) {
      return IoError("cannot truncate", path_);
    }
    written_ = want;
    pending_.clear();
    dirty_ = true;
  } else {
    pending_.resize((want - written_) * kHashSize);
  }
  return absl::OkStatus();
}

absl::Status FileNodeStore::Sync() {
  if (absl::Status s = Flush(); !s.ok()) return s;
  if (dirty_) {
    if (::fdatasync(fd_) != 0) return IoError("cannot sync", path_);
    dirty_ = false;
  }
  return absl::OkStatus();
}

}  // namespace loopgate::merkle
