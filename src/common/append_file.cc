#include "common/append_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"

namespace loopgate::common {

absl::StatusOr<std::unique_ptr<AppendFile>> AppendFile::Open(std::string path,
                                                             int64_t committed) {
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && committed > 0) {
    return absl::DataLossError(common::StrCat(path, " is missing but ", committed,
                                              " bytes of it were committed"));
  }
  if (exists && st.st_size < committed) {
    return absl::DataLossError(common::StrCat(path, " holds ", st.st_size, " bytes but ",
                                              committed, " were committed to it (truncated "
                                              "outside Loopgate)"));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::InternalError(StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<AppendFile> f(new AppendFile(path, fd, committed));
  if (!exists) {
    // The new file's directory entry must be durable before anything in it is committed.
    const std::string dir = std::filesystem::path(path).parent_path().string();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  if (exists && st.st_size > committed && ::ftruncate(fd, committed) != 0) {
    return absl::InternalError(StrCat("cannot truncate ", path, ": ", std::strerror(errno)));
  }
  if (::lseek(fd, committed, SEEK_SET) < 0) {
    return absl::InternalError(StrCat("cannot seek in ", path, ": ", std::strerror(errno)));
  }
  return f;
}

AppendFile::~AppendFile() { ::close(fd_); }

absl::Status AppendFile::Flush() {
  if (staged_.empty()) return absl::OkStatus();
  size_t done = 0;
  while (done < staged_.size()) {
    const ssize_t n = ::pwrite(fd_, staged_.data() + done, staged_.size() - done,
                               position_ + static_cast<int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(StrCat("writing ", path_, " failed: ", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return absl::InternalError(StrCat("syncing ", path_, " failed: ", std::strerror(errno)));
  }
  position_ += static_cast<int64_t>(staged_.size());
  staged_.clear();
  return absl::OkStatus();
}

absl::Status ReadAt(int fd, int64_t offset, size_t size, std::string_view what, std::string* out) {
  out->resize(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out->data() + done, size - done,
                              offset + static_cast<int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(StrCat("reading ", what, " failed: ", std::strerror(errno)));
    if (n == 0) {
      return absl::DataLossError(StrCat(what, " ends at byte ", offset + static_cast<int64_t>(done),
                                        ", before its committed length"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace loopgate::common
