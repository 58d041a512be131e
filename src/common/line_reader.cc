#include "common/line_reader.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"

namespace loopgate::common {
namespace {
constexpr size_t kChunk = 1 << 20;
}

LineReader::LineReader(int fd, size_t max_line_bytes, int idle_ms)
    : fd_(fd),
      max_line_(max_line_bytes),
      capacity_(max_line_bytes + 1 + kChunk),
      buf_(new char[capacity_ + kLinePadding]),
      idle_ms_(idle_ms) {
  std::memset(buf_.get() + capacity_, 0, kLinePadding);
}

absl::StatusOr<size_t> LineReader::Fill() {
  if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    scan_ -= begin_;
    begin_ = 0;
  }
  while (true) {
    if (idle_ms_ >= 0) {
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, idle_ms_);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) {
        return absl::InternalError(std::string("waiting for input failed: ") +
                                   std::strerror(errno));
      }
      if (ready == 0) {
        idle_ = true;  // Nothing arrived in time; the caller may try again.
        return size_t{0};
      }
    }
    const ssize_t n = ::read(fd_, buf_.get() + end_, capacity_ - end_);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return absl::InternalError(std::string("reading input failed: ") + std::strerror(errno));
    }
    if (n == 0) {
      eof_ = true;
    }
    end_ += static_cast<size_t>(n);
    bytes_read_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }
}

absl::StatusOr<bool> LineReader::Next(Line* line) {
  idle_ = false;
  while (true) {
    const char* base = buf_.get();
    const void* nl = scan_ < end_ ? std::memchr(base + scan_, '\n', end_ - scan_) : nullptr;
    if (nl != nullptr) {
      const size_t pos = static_cast<size_t>(static_cast<const char*>(nl) - base);
      const size_t length = pos - begin_;
      const bool oversized = length > max_line_;
      *line = Line{oversized ? std::string_view() : std::string_view(base + begin_, length),
                   ++line_number_, oversized, length};
      begin_ = scan_ = pos + 1;
      return true;
    }
    scan_ = end_;
    if (end_ - begin_ > max_line_) {
      // Oversized: drop what we hold and keep dropping until the newline.
      uint64_t length = end_ - begin_;
      begin_ = end_ = scan_ = 0;
      while (true) {
        if (eof_) {
          break;
        }
        auto n = Fill();
        if (!n.ok()) {
          return n.status();
        }
        idle_ = false;  // Still inside an oversized line: keep discarding until its end.
        const void* found = std::memchr(buf_.get(), '\n', end_);
        if (found != nullptr) {
          const size_t pos = static_cast<size_t>(static_cast<const char*>(found) - buf_.get());
          length += pos;
          begin_ = scan_ = pos + 1;
          break;
        }
        length += end_;
        begin_ = end_ = scan_ = 0;
      }
      *line = Line{std::string_view(), ++line_number_, true, length};
      return true;
    }
    if (eof_) {
      if (end_ > begin_) {
        *line = Line{std::string_view(buf_.get() + begin_, end_ - begin_), ++line_number_, false,
                     end_ - begin_};
        begin_ = scan_ = end_;
        return true;
      }
      return false;
    }
    auto n = Fill();
    if (!n.ok()) {
      return n.status();
    }
    if (idle_) {
      return false;
    }
  }
}

}  // namespace loopgate::common
