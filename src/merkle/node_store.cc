#include "merkle/node_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/strings.h"

namespace loopgate::merkle {
namespace {

using common::StrCat;

constexpr std::string_view kFormatLine = "loopgate.merkle-nodes/v1\n";
constexpr size_t kFlushBytes = 64 * 1024;  // Per level; the leaf level fills it first.

// Nodes a tree of `tree_size` leaves has at `level`.
uint64_t NodesAt(uint64_t tree_size, int level) {
  return level < kMaxLevels ? tree_size >> level : 0;
}

absl::Status NotStored(int level, uint64_t index, uint64_t count) {
  return absl::OutOfRangeError(StrCat("Merkle node (level ", level, ", index ", index,
                                      ") is not stored; level ", level, " holds ", count,
                                      " nodes"));
}

absl::Status IoError(std::string_view what, const std::string& path) {
  return absl::InternalError(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

std::string LevelPath(const std::string& dir, int level) {
  char name[16];
  std::snprintf(name, sizeof(name), "/level-%02d", level);
  return dir + name;
}

}  // namespace

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

uint64_t MemoryNodeStore::size() const { return levels_.empty() ? 0 : levels_[0].size(); }

absl::StatusOr<Hash> MemoryNodeStore::Get(int level, uint64_t index) const {
  const uint64_t count =
      level >= 0 && static_cast<size_t>(level) < levels_.size() ? levels_[level].size() : 0;
  if (index >= count) {
    return NotStored(level, index, count);
  }
  return levels_[level][index];
}

absl::Status MemoryNodeStore::Add(const Node& node) {
  if (node.level < 0 || node.level >= kMaxLevels) {
    return absl::InvalidArgumentError(StrCat("no Merkle level ", node.level));
  }
  if (levels_.size() <= static_cast<size_t>(node.level)) {
    levels_.resize(node.level + 1);
  }
  std::vector<Hash>& level = levels_[node.level];
  if (node.index != level.size()) {
    return absl::FailedPreconditionError(StrCat("node store level ", node.level,
                                                " expects index ", level.size(), " next, not ",
                                                node.index));
  }
  level.push_back(node.hash);
  return absl::OkStatus();
}

absl::Status MemoryNodeStore::Truncate(uint64_t tree_size) {
  for (int level = 0; level < kMaxLevels; ++level) {
    const uint64_t have = static_cast<size_t>(level) < levels_.size() ? levels_[level].size() : 0;
    if (have < NodesAt(tree_size, level)) {
      return absl::DataLossError(StrCat("the node store holds ", have, " nodes at level ", level,
                                        "; a tree of ", tree_size, " leaves needs ",
                                        NodesAt(tree_size, level)));
    }
  }
  for (size_t level = 0; level < levels_.size(); ++level) {
    levels_[level].resize(NodesAt(tree_size, static_cast<int>(level)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FileNodeStore>> FileNodeStore::Open(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string format_path = dir + "/FORMAT";
  if (!fs::exists(format_path, ec)) {
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
      return absl::InvalidArgumentError(
          StrCat(dir, " is not a Merkle node store (it has files but no FORMAT)"));
    }
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(StrCat("cannot create ", dir, ": ", ec.message()));
    }
    const int fd = ::open(format_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("cannot create", format_path);
    const bool ok = ::write(fd, kFormatLine.data(), kFormatLine.size()) ==
                        static_cast<ssize_t>(kFormatLine.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return IoError("cannot write", format_path);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
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
  std::unique_ptr<FileNodeStore> store(new FileNodeStore(dir));
  for (int level = 0; level < kMaxLevels; ++level) {
    const std::string path = LevelPath(dir, level);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      return IoError("cannot open", path);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return IoError("cannot stat", path);
    }
    // A torn last record is ignored; the next write goes over it.
    store->levels_[level].fd = fd;
    store->levels_[level].written = static_cast<uint64_t>(st.st_size) / kHashSize;
  }
  return store;
}

FileNodeStore::~FileNodeStore() {
  for (int level = 0; level < kMaxLevels; ++level) {
    (void)Flush(level);  // Best effort: durability is what Sync() is for.
    if (levels_[level].fd >= 0) ::close(levels_[level].fd);
  }
}

uint64_t FileNodeStore::Count(int level) const {
  return levels_[level].written + levels_[level].pending.size() / kHashSize;
}

uint64_t FileNodeStore::size() const { return Count(0); }

absl::StatusOr<Hash> FileNodeStore::Get(int level, uint64_t index) const {
  if (level < 0 || level >= kMaxLevels) {
    return NotStored(level, index, 0);
  }
  const Level& l = levels_[level];
  if (index >= Count(level)) {
    return NotStored(level, index, Count(level));
  }
  Hash h;
  if (index >= l.written) {
    std::memcpy(h.data(), l.pending.data() + (index - l.written) * kHashSize, kHashSize);
    return h;
  }
  size_t got = 0;
  while (got < kHashSize) {
    const ssize_t n = ::pread(l.fd, h.data() + got, kHashSize - got,
                              static_cast<off_t>(index * kHashSize + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DataLossError(StrCat("cannot read Merkle node (level ", level, ", index ",
                                        index, ") from ", LevelPath(dir_, level),
                                        n < 0 ? StrCat(": ", std::strerror(errno))
                                              : std::string(": the file is shorter")));
    }
    got += static_cast<size_t>(n);
  }
  return h;
}

absl::Status FileNodeStore::Add(const Node& node) {
  if (node.level < 0 || node.level >= kMaxLevels) {
    return absl::InvalidArgumentError(StrCat("no Merkle level ", node.level));
  }
  Level& l = levels_[node.level];
  if (node.index != Count(node.level)) {
    return absl::FailedPreconditionError(StrCat("node store level ", node.level,
                                                " expects index ", Count(node.level),
                                                " next, not ", node.index));
  }
  l.pending.append(AsBytes(node.hash));
  if (l.pending.size() >= kFlushBytes) {
    return Flush(node.level);
  }
  return absl::OkStatus();
}

absl::Status FileNodeStore::Flush(int level) {
  Level& l = levels_[level];
  if (l.pending.empty()) {
    return absl::OkStatus();
  }
  const std::string path = LevelPath(dir_, level);
  if (l.fd < 0) {
    l.fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l.fd < 0) return IoError("cannot create", path);
    dir_dirty_ = true;
  }
  size_t done = 0;
  while (done < l.pending.size()) {
    const ssize_t n = ::pwrite(l.fd, l.pending.data() + done, l.pending.size() - done,
                               static_cast<off_t>(l.written * kHashSize + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Keep what did not reach the file; whole records that did are counted as written.
      const size_t whole = done / kHashSize * kHashSize;
      l.written += whole / kHashSize;
      l.pending.erase(0, whole);
      return IoError("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  l.written += l.pending.size() / kHashSize;
  l.pending.clear();
  l.dirty = true;
  return absl::OkStatus();
}

absl::Status FileNodeStore::Truncate(uint64_t tree_size) {
  for (int level = 0; level < kMaxLevels; ++level) {
    if (Count(level) < NodesAt(tree_size, level)) {
      return absl::DataLossError(StrCat("the node store in ", dir_, " holds ", Count(level),
                                        " nodes at level ", level, "; a tree of ", tree_size,
                                        " leaves needs ", NodesAt(tree_size, level)));
    }
  }
  for (int level = 0; level < kMaxLevels; ++level) {
    Level& l = levels_[level];
    const uint64_t want = NodesAt(tree_size, level);
    if (want < l.written || (l.fd >= 0 && want == l.written)) {
      // Also cuts a torn record after the last whole one.
      if (::ftruncate(l.fd, static_cast<off_t>(want * kHashSize)) != 0) {
        return IoError("cannot truncate", LevelPath(dir_, level));
      }
      l.written = want;
      l.pending.clear();
      l.dirty = true;
    } else {
      l.pending.resize((want - l.written) * kHashSize);
    }
  }
  return absl::OkStatus();
}

absl::Status FileNodeStore::Sync() {
  for (int level = 0; level < kMaxLevels; ++level) {
    if (absl::Status s = Flush(level); !s.ok()) return s;
    Level& l = levels_[level];
    if (l.dirty) {
      if (::fdatasync(l.fd) != 0) return IoError("cannot sync", LevelPath(dir_, level));
      l.dirty = false;
    }
  }
  if (dir_dirty_) {
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return IoError("cannot open", dir_);
    const bool ok = ::fsync(dfd) == 0;
    ::close(dfd);
    if (!ok) return IoError("cannot sync", dir_);
    dir_dirty_ = false;
  }
  return absl::OkStatus();
}

}  // namespace loopgate::merkle
