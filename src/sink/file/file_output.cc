#include "sink/file/file_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"

namespace loopgate::sink::file {
namespace {

class FileOutput : public Output {
 public:
  FileOutput(std::string path, bool fsync) : path_(std::move(path)), fsync_(fsync) {}
  ~FileOutput() override {
    if (fd_ >= 0) ::close(fd_);
  }

  const std::string& key() const override { return path_; }

  absl::Status Recover(std::optional<int64_t> committed) override {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
    struct stat st;
    const bool exists = ::stat(path_.c_str(), &st) == 0;
    if (committed && exists && st.st_size < *committed) {
      return absl::DataLossError(common::StrCat(
          path_, " holds ", st.st_size, " bytes but ", *committed,
          " were committed to it; it was truncated or replaced outside Loopgate. Restore it, or "
          "move it away to start a new file"));
    }
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      return absl::InternalError(common::StrCat("cannot open ", path_, ": ", std::strerror(errno)));
    }
    if (!exists) {
      // Make the new file's directory entry durable too, or a power loss could lose the file
      // and the next run would take it for one consumed downstream.
      const std::string dir = std::filesystem::path(path_).parent_path().string();
      const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
      }
    }
    // Never committed: append after whatever the file already holds (the router records that
    // position before writing). Committed but missing: consumed downstream, start from zero.
    // Longer than committed: the tail is from a batch that never committed; cut it.
    int64_t keep = 0;
    if (!committed) {
      keep = exists ? st.st_size : 0;
    } else if (exists) {
      keep = *committed;
    }
    if (exists && st.st_size > keep && ::ftruncate(fd_, keep) != 0) {
      return absl::InternalError(common::StrCat("cannot truncate ", path_, ": ",
                                              std::strerror(errno)));
    }
    if (::lseek(fd_, keep, SEEK_SET) < 0) {
      return absl::InternalError(common::StrCat("cannot seek in ", path_));
    }
    position_ = keep;
    return absl::OkStatus();
  }

  void Append(std::string_view line) override {
    staged_.append(line);
    staged_.push_back('\n');
  }

  FlushStatus Flush(std::string* error) override {
    size_t done = 0;
    while (done < staged_.size()) {
      const ssize_t n = ::write(fd_, staged_.data() + done, staged_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *error = common::StrCat("writing ", path_, " failed: ", std::strerror(errno));
        return FlushStatus::kFailed;
      }
      done += static_cast<size_t>(n);
    }
    if (!staged_.empty() && fsync_ && ::fdatasync(fd_) != 0) {
      *error = common::StrCat("syncing ", path_, " failed: ", std::strerror(errno));
      return FlushStatus::kFailed;
    }
    position_ += static_cast<int64_t>(staged_.size());
    staged_.clear();
    return FlushStatus::kDelivered;
  }

  int64_t Position() const override { return position_; }

 private:
  std::string path_;
  bool fsync_;
  int fd_ = -1;
  int64_t position_ = 0;
  std::string staged_;
};

absl::StatusOr<std::unique_ptr<Output>> Create(const catalog::SinkOutput& config,
                                               const OutputContext& context) {
  const sink::Plugin plugin = Plugin();
  std::string path = OptionValue(config, plugin, "path");
  if (path.empty()) path = context.name + ".ndjson";
  if (path.front() != '/') path = context.out_dir + "/" + path;
  return OpenFile(std::filesystem::absolute(path).lexically_normal().string(),
                  OptionValue(config, plugin, "fsync") != "false");
}

}  // namespace

std::unique_ptr<Output> OpenFile(std::string path, bool fsync) {
  return std::make_unique<FileOutput>(std::move(path), fsync);
}

sink::Plugin Plugin() {
  return sink::Plugin{
      "file",
      "Appends one JSON line per delivered event to a file.",
      {
          {"path", "string", "",
           "File to append to; relative paths are under --out. Default: <sink>.ndjson"},
          {"fsync", "bool", "true",
           "Sync the file to disk before each batch commits (turn off only for scratch runs)"},
      },
      &Create,
  };
}

}  // namespace loopgate::sink::file
