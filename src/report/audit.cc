#include "report/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/status.h"
#include "common/strings.h"

namespace loopgate::report {
namespace {

constexpr size_t kChunk = 1 << 16;
constexpr size_t kNoFile = std::numeric_limits<size_t>::max();

// Streams a file's lines as SHA-256 digests ("sha256:<hex>" of each line without its newline),
// hashing as it reads, so a line of any length costs one fixed buffer. A last line without a
// newline is still a line.
class LineDigests {
 public:
  ~LineDigests() {
    if (fd_ >= 0) ::close(fd_);
  }

  // False when the file does not exist.
  absl::StatusOr<bool> Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      if (errno == ENOENT) return false;
      return absl::InternalError(common::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    buf_ = std::make_unique<char[]>(kChunk);
    return true;
  }

  // The next line's digest and the offset where it starts; false at the end.
  absl::StatusOr<bool> Next(std::string* digest, int64_t* offset) {
    *offset = consumed_;
    bool any = false;
    while (true) {
      if (pos_ == end_) {
        if (eof_) {
          if (!any) return false;
          Finish(digest);
          return true;
        }
        const ssize_t n = ::read(fd_, buf_.get(), kChunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          return absl::InternalError(common::StrCat("reading ", path_, " failed: ",
                                                    std::strerror(errno)));
        }
        pos_ = 0;
        end_ = static_cast<size_t>(n);
        eof_ = n == 0;
        continue;
      }
      const char* start = buf_.get() + pos_;
      const void* nl = std::memchr(start, '\n', end_ - pos_);
      const size_t take = nl == nullptr ? end_ - pos_ : static_cast<const char*>(nl) - start;
      hasher_.Update(std::string_view(start, take));
      consumed_ += static_cast<int64_t>(take);
      pos_ += take;
      any = true;
      if (nl != nullptr) {
        ++pos_;
        ++consumed_;
        Finish(digest);
        return true;
      }
    }
  }

  int64_t consumed() const { return consumed_; }

 private:
  void Finish(std::string* digest) {
    digest->assign("sha256:");
    digest->append(crypto::ToHex(hasher_.Finish()));
  }

  std::string path_;
  int fd_ = -1;
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  int64_t consumed_ = 0;
  crypto::Sha256Hasher hasher_;
};

// The matching tables of files that disagreed with their allows: `l` the allows, `d` the
// lines, then `ul` and `ud` those left unmatched by digest, to be paired up by position.
constexpr std::string_view kScratchSchema = R"sql(
CREATE TABLE l (file INTEGER, ordinal INTEGER, seq INTEGER, sink TEXT, digest TEXT);
CREATE TABLE d (file INTEGER, line INTEGER, offset INTEGER, digest TEXT);
CREATE TABLE ul (file INTEGER, ordinal INTEGER, seq INTEGER, sink TEXT,
                 PRIMARY KEY (file, ordinal)) WITHOUT ROWID;
CREATE TABLE ud (file INTEGER, line INTEGER, offset INTEGER,
                 PRIMARY KEY (file, line)) WITHOUT ROWID;
)sql";

}  // namespace

std::string_view GapKindName(GapKind kind) {
  switch (kind) {
    case GapKind::kMissingLine: return "missing_line";
    case GapKind::kUnrecordedLine: return "unrecorded_line";
    case GapKind::kUncommittedLine: return "uncommitted_line";
    case GapKind::kModifiedLine: return "modified_line";
    case GapKind::kUnmappedAllow: return "unmapped_allow";
  }
  return "missing_line";
}

struct Reconciler::File {
  LineDigests reader;
  bool opened = false;
  int64_t ordinal = 0;  // Allows seen so far: the line number each one should be at.
  bool diverged = false;
  bool has_open = false;
  Gap open;  // The run of gaps being extended.
  int64_t open_ordinal = 0;
};

Reconciler::Reconciler(size_t max_gaps) : max_gaps_(max_gaps) {}
Reconciler::~Reconciler() = default;
Reconciler::Reconciler(Reconciler&&) noexcept = default;
Reconciler& Reconciler::operator=(Reconciler&&) noexcept = default;

size_t Reconciler::AddFile(const std::string& path, std::string_view sink,
                           std::optional<int64_t> committed) {
  for (size_t i = 0; i < files_.size(); ++i) {
    if (files_[i].path != path) continue;
    auto& sinks = files_[i].sinks;
    if (std::find(sinks.begin(), sinks.end(), sink) == sinks.end()) sinks.emplace_back(sink);
    return i;
  }
  FileAudit a;
  a.path = path;
  a.sinks.emplace_back(sink);
  a.committed = committed;
  files_.push_back(std::move(a));
  state_.push_back(std::make_unique<File>());
  return files_.size() - 1;
}

void Reconciler::Keep(Gap gap) {
  ++total_gaps_;
  if (kept_.size() < max_gaps_) kept_.emplace_back(kNoFile, std::move(gap));
}

void Reconciler::CloseGap(size_t file) {
  File& f = *state_[file];
  if (!f.has_open) return;
  f.has_open = false;
  ++total_gaps_;
  if (kept_.size() < max_gaps_) kept_.emplace_back(file, std::move(f.open));
}

void Reconciler::AddGap(size_t file, Gap gap, int64_t ordinal) {
  File& f = *state_[file];
  if (f.has_open && f.open.kind == gap.kind && f.open.sink == gap.sink) {
    const bool next_line = gap.line_first == f.open.line_last + 1;
    const bool next_allow = ordinal == f.open_ordinal + 1;
    const bool extends = gap.kind == GapKind::kMissingLine    ? next_allow
                         : gap.kind == GapKind::kModifiedLine ? next_line && next_allow
                                                              : next_line;
    if (extends) {
      if (gap.line_last != 0) f.open.line_last = gap.line_last;
      if (gap.seq_last != 0) f.open.seq_last = gap.seq_last;
      f.open.count += gap.count;
      f.open_ordinal = ordinal;
      return;
    }
  }
  CloseGap(file);
  f.open = std::move(gap);
  f.open_ordinal = ordinal;
  f.has_open = true;
}

absl::Status Reconciler::EnsureScratch() {
  if (scratch_) return absl::OkStatus();
  ASSIGN_OR_RETURN(scratch_, store::Database::OpenScratch());
  RETURN_IF_ERROR(scratch_->Exec(kScratchSchema));
  RETURN_IF_ERROR(scratch_->Exec("BEGIN"));
  ASSIGN_OR_RETURN(insert_allow_, scratch_->Prepare("INSERT INTO l VALUES (?, ?, ?, ?, ?)"));
  ASSIGN_OR_RETURN(insert_line_, scratch_->Prepare("INSERT INTO d VALUES (?, ?, ?, ?)"));
  return absl::OkStatus();
}

absl::Status Reconciler::OnAllow(size_t file, int64_t seq, std::string_view sink,
                                 std::string_view delivered) {
  File& f = *state_[file];
  FileAudit& a = files_[file];
  ++a.allows;
  const int64_t ordinal = ++f.ordinal;
  if (f.diverged) {
    insert_allow_.Bind(1, static_cast<int64_t>(file)).Bind(2, ordinal).Bind(3, seq).Bind(4, sink)
        .Bind(5, delivered);
    return insert_allow_.Run();
  }
  if (!f.opened) {
    f.opened = true;
    ASSIGN_OR_RETURN(a.exists, f.reader.Open(a.path));
  }
  std::string digest;
  int64_t offset = 0;
  bool more = false;
  if (a.exists) {
    ASSIGN_OR_RETURN(more, f.reader.Next(&digest, &offset));
  }
  if (!more) {
    ++a.missing;
    AddGap(file, Gap{GapKind::kMissingLine, std::string(sink), a.path, 0, 0, seq, seq, 1}, ordinal);
    return absl::OkStatus();
  }
  ++a.lines;
  if (digest == delivered) {
    ++a.matched;
    return absl::OkStatus();
  }
  // The first disagreement: from here on this file is matched by digest in the scratch
  // database, whatever was inserted, deleted or changed.
  RETURN_IF_ERROR(EnsureScratch());
  f.diverged = true;
  insert_allow_.Bind(1, static_cast<int64_t>(file)).Bind(2, ordinal).Bind(3, seq).Bind(4, sink)
      .Bind(5, delivered);
  RETURN_IF_ERROR(insert_allow_.Run());
  insert_line_.Bind(1, static_cast<int64_t>(file)).Bind(2, a.lines).Bind(3, offset)
      .Bind(4, digest);
  return insert_line_.Run();
}

void Reconciler::OnUnmappedAllow(int64_t seq, std::string_view sink) {
  ++unmapped_;
  if (unmapped_gap_.count > 0 && unmapped_gap_.sink == sink) {
    unmapped_gap_.seq_last = seq;
    ++unmapped_gap_.count;
    return;
  }
  if (unmapped_gap_.count > 0) Keep(std::move(unmapped_gap_));
  unmapped_gap_ = Gap{GapKind::kUnmappedAllow, std::string(sink), "", 0, 0, seq, seq, 1};
}

absl::Status Reconciler::Finish() {
  for (size_t i = 0; i < files_.size(); ++i) {
    File& f = *state_[i];
    FileAudit& a = files_[i];
    if (!f.opened) {
      f.opened = true;
      ASSIGN_OR_RETURN(a.exists, f.reader.Open(a.path));
    }
    if (!a.exists) continue;
    std::string digest;
    int64_t offset = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool more, f.reader.Next(&digest, &offset));
      if (!more) break;
      ++a.lines;
      if (f.diverged) {
        insert_line_.Bind(1, static_cast<int64_t>(i)).Bind(2, a.lines).Bind(3, offset)
            .Bind(4, digest);
        RETURN_IF_ERROR(insert_line_.Run());
        continue;
      }
      ++a.unrecorded;
      const GapKind kind = a.committed && offset >= *a.committed ? GapKind::kUncommittedLine
                                                                 : GapKind::kUnrecordedLine;
      AddGap(i, Gap{kind, common::StrJoin(a.sinks, ","), a.path, a.lines, a.lines, 0, 0, 1}, 0);
    }
    a.bytes = f.reader.consumed();
  }
  if (scratch_) {
    RETURN_IF_ERROR(scratch_->Exec("COMMIT"));
    RETURN_IF_ERROR(scratch_->Exec("CREATE INDEX l_by_digest ON l (file, digest, ordinal); "
                                   "CREATE INDEX d_by_digest ON d (file, digest, line);"));
    for (size_t i = 0; i < files_.size(); ++i) {
      if (state_[i]->diverged) RETURN_IF_ERROR(Settle(i));
    }
  }
  for (size_t i = 0; i < files_.size(); ++i) CloseGap(i);
  if (unmapped_gap_.count > 0) Keep(std::move(unmapped_gap_));
  unmapped_gap_ = Gap();
  std::stable_sort(kept_.begin(), kept_.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  gaps_.clear();
  for (auto& [file, gap] : kept_) gaps_.push_back(std::move(gap));
  kept_.clear();
  return absl::OkStatus();
}

absl::Status Reconciler::Settle(size_t file) {
  FileAudit& a = files_[file];
  const int64_t id = static_cast<int64_t>(file);
  // 1. By digest: both sides sorted by digest, the k-th allow with a digest takes the k-th
  // line with it (a line copied twice is matched once).
  ASSIGN_OR_RETURN(auto allows, scratch_->Prepare("SELECT ordinal, seq, sink, digest FROM l "
                                                  "WHERE file = ? ORDER BY digest, ordinal"));
  ASSIGN_OR_RETURN(auto lines, scratch_->Prepare("SELECT line, offset, digest FROM d "
                                                 "WHERE file = ? ORDER BY digest, line"));
  ASSIGN_OR_RETURN(auto left_allow, scratch_->Prepare("INSERT INTO ul VALUES (?, ?, ?, ?)"));
  ASSIGN_OR_RETURN(auto left_line, scratch_->Prepare("INSERT INTO ud VALUES (?, ?, ?)"));
  allows.Bind(1, id);
  lines.Bind(1, id);
  ASSIGN_OR_RETURN(bool has_allow, allows.Step());
  ASSIGN_OR_RETURN(bool has_line, lines.Step());
  std::string allow_digest, line_digest;
  while (has_allow || has_line) {
    if (has_allow) allow_digest = allows.Text(3);
    if (has_line) line_digest = lines.Text(2);
    const int order = !has_allow ? 1 : !has_line ? -1 : allow_digest.compare(line_digest);
    if (order == 0) {
      ++a.matched;
      ASSIGN_OR_RETURN(has_allow, allows.Step());
      ASSIGN_OR_RETURN(has_line, lines.Step());
    } else if (order < 0) {
      left_allow.Bind(1, id).Bind(2, allows.Int(0)).Bind(3, allows.Int(1)).Bind(4, allows.Text(2));
      RETURN_IF_ERROR(left_allow.Run());
      ASSIGN_OR_RETURN(has_allow, allows.Step());
    } else {
      left_line.Bind(1, id).Bind(2, lines.Int(0)).Bind(3, lines.Int(1));
      RETURN_IF_ERROR(left_line.Run());
      ASSIGN_OR_RETURN(has_line, lines.Step());
    }
  }
  // 2. By position: an unmatched line where an unmatched allow's line should be is one
  // modified line; the rest are missing or unrecorded.
  ASSIGN_OR_RETURN(auto ua, scratch_->Prepare("SELECT ordinal, seq, sink FROM ul WHERE file = ? "
                                              "ORDER BY ordinal"));
  ASSIGN_OR_RETURN(auto ud, scratch_->Prepare("SELECT line, offset FROM ud WHERE file = ? "
                                              "ORDER BY line"));
  ua.Bind(1, id);
  ud.Bind(1, id);
  ASSIGN_OR_RETURN(has_allow, ua.Step());
  ASSIGN_OR_RETURN(has_line, ud.Step());
  const std::string sinks = common::StrJoin(a.sinks, ",");
  while (has_allow || has_line) {
    const int64_t ordinal = has_allow ? ua.Int(0) : 0;
    const int64_t line = has_line ? ud.Int(0) : 0;
    if (has_allow && has_line && ordinal == line) {
      ++a.missing;
      ++a.unrecorded;
      ++a.modified;
      AddGap(file,
             Gap{GapKind::kModifiedLine, std::string(ua.Text(2)), a.path, line, line, ua.Int(1),
                 ua.Int(1), 1},
             ordinal);
      ASSIGN_OR_RETURN(has_allow, ua.Step());
      ASSIGN_OR_RETURN(has_line, ud.Step());
    } else if (has_allow && (!has_line || ordinal < line)) {
      ++a.missing;
      AddGap(file,
             Gap{GapKind::kMissingLine, std::string(ua.Text(2)), a.path, 0, 0, ua.Int(1),
                 ua.Int(1), 1},
             ordinal);
      ASSIGN_OR_RETURN(has_allow, ua.Step());
    } else {
      ++a.unrecorded;
      const GapKind kind = a.committed && ud.Int(1) >= *a.committed ? GapKind::kUncommittedLine
                                                                    : GapKind::kUnrecordedLine;
      AddGap(file, Gap{kind, sinks, a.path, line, line, 0, 0, 1}, 0);
      ASSIGN_OR_RETURN(has_line, ud.Step());
    }
  }
  return absl::OkStatus();
}

}  // namespace loopgate::report
