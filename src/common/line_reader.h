#pragma once
// Streams newline-delimited records from a file descriptor with bounded memory.

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"

namespace loopgate::common {

// One input line. `text` excludes the newline and stays valid until the next call to Next().
// At least kLinePadding readable bytes follow `text.end()` in memory, so parsers that read
// ahead (simdjson) need no copy.
struct Line {
  std::string_view text;
  uint64_t number = 0;     // 1-based line number in the input.
  bool oversized = false;  // The line exceeded the cap; `text` is empty and it was skipped.
  uint64_t length = 0;     // Length in bytes of the original line (also when oversized).
};

inline constexpr size_t kLinePadding = 64;

// Reads lines of at most `max_line_bytes` bytes. A longer line is never held in memory: it is
// skipped up to its newline and reported with `oversized` set. Memory is O(max_line_bytes).
// Not thread-safe. Does not own `fd`.
class LineReader {
 public:
  // With `idle_ms` >= 0, Next() also returns (false, with idle() set) when no input has arrived
  // for that long, so a caller streaming from a pipe can act on what it has; it may then call
  // Next() again. A regular file is never idle.
  LineReader(int fd, size_t max_line_bytes, int idle_ms = -1);

  // The next line; `false` at end of input, or when idle() (see above). Errors: read(2)/poll(2).
  absl::StatusOr<bool> Next(Line* line);

  // True when the last Next() returned false because the input was idle, not at its end.
  bool idle() const { return idle_; }

  // Bytes consumed so far (for progress reporting).
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  absl::StatusOr<size_t> Fill();

  int fd_;
  size_t max_line_;
  size_t capacity_;
  std::unique_ptr<char[]> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t scan_ = 0;  // Where to resume the newline search.
  bool eof_ = false;
  int idle_ms_ = -1;
  bool idle_ = false;
  uint64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;
};

}  // namespace loopgate::common
