#pragma once
// An append-only file whose committed length is recorded elsewhere (in the state store), for
// data that must survive a crash exactly: bytes are staged in memory, made durable by Flush(),
// and a reopened file is cut back to its committed length, discarding a batch that never
// committed. Unlike a sink's output, a file shorter than its committed length is never
// "consumed downstream": it is data loss.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loopgate::common {

class AppendFile {
 public:
  // Opens `path` for appending after its first `committed` bytes, creating it (and syncing its
  // directory) when it is missing and `committed` is 0; a longer file is cut back to
  // `committed`. Errors: DataLoss when the file is missing or shorter than `committed`,
  // Internal for I/O.
  static absl::StatusOr<std::unique_ptr<AppendFile>> Open(std::string path, int64_t committed);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // Stages bytes; not durable until Flush().
  void Append(std::string_view bytes) { staged_.append(bytes); }
  // Writes the staged bytes and fdatasyncs. Errors: Internal, naming the file. On error the
  // staged bytes are kept and position() is unchanged.
  absl::Status Flush();

  // The durable length after the last Flush().
  int64_t position() const { return position_; }
  // position() plus the staged bytes: where the next Append lands.
  int64_t end() const { return position_ + static_cast<int64_t>(staged_.size()); }
  // The staged bytes, which land at position(); valid until the next Append or Flush.
  std::string_view staged() const { return staged_; }
  const std::string& path() const { return path_; }

 private:
  AppendFile(std::string path, int fd, int64_t position)
      : path_(std::move(path)), fd_(fd), position_(position) {}

  std::string path_;
  int fd_;
  int64_t position_;
  std::string staged_;
};

// Reads `size` bytes at `offset` of the open file `fd` into `out`. Errors: DataLoss when the
// file ends first (naming `what`), Internal for I/O.
absl::Status ReadAt(int fd, int64_t offset, size_t size, std::string_view what, std::string* out);

}  // namespace loopgate::common
