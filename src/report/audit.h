#pragma once
// Audit completeness (docs/governance-report.md section 6): every line of every sink file must
// be accounted for by a ledger allow whose `delivered` digest is that line's SHA-256, and every
// ledger allow must have its line. The reconciler is fed the ledger's allows in ledger order,
// reads each file alongside, and lists every gap by file, line number and ledger seq, never by
// content.
//
// Memory is flat in the number of lines: while a file agrees line for line with its allows
// (the normal case, since the router appends in ledger order) nothing is kept. From a file's
// first disagreement on, its remaining allows and lines go to a scratch database on disk
// (store::Database::OpenScratch) and are matched there by digest. Not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/crypto.h"
#include "store/store.h"

namespace loopgate::report {

// What kind of gap, as the report names it.
enum class GapKind : uint8_t {
  kMissingLine,      // A ledger allow whose delivered line is not in the file.
  kUnrecordedLine,   // A line no ledger allow records (forged, copied, or written outside).
  kUncommittedLine,  // As unrecorded, but beyond the file's committed position: left by a run
                     // that stopped before committing its batch (the next run cuts it off).
  kModifiedLine,     // A line where an allow's line should be, differing from it: both
                     // unmatched, at the same position.
  kUnmappedAllow,    // An allow of a run that recorded no output for its sink (a state written
                     // before runs recorded their outputs): it cannot be reconciled.
};
std::string_view GapKindName(GapKind kind);

// One gap, or a run of consecutive gaps of one kind in one file. Line numbers are 1-based in
// the file; seqs are ledger seqs. Fields a kind has no use for are 0.
struct Gap {
  GapKind kind = GapKind::kMissingLine;
  std::string sink;  // The allow's sink; for lines, the sinks that write the file.
  std::string path;  // Empty for kUnmappedAllow.
  int64_t line_first = 0, line_last = 0;
  int64_t seq_first = 0, seq_last = 0;
  int64_t count = 0;  // Lines or allows covered.
};

// One reconciled file.
struct FileAudit {
  std::string path;
  std::vector<std::string> sinks;  // The sinks whose allows say they wrote to it.
  bool exists = false;
  std::optional<int64_t> committed;  // Committed bytes in the state, when recorded.
  int64_t bytes = 0;                 // Its size as read.
  int64_t lines = 0;
  int64_t allows = 0;     // Ledger allows delivered to it.
  int64_t matched = 0;    // Lines matched with an allow.
  int64_t missing = 0;    // Allows without their line (kMissingLine, and kModifiedLine).
  int64_t unrecorded = 0; // Lines without an allow (kUnrecorded/kUncommitted/kModifiedLine).
  int64_t modified = 0;   // Of those, pairs reported as kModifiedLine.
};

class Reconciler {
 public:
  // Keeps at most `max_gaps` gap records (each a run of consecutive gaps); the counts in
  // FileAudit and total_gaps() always cover every gap.
  explicit Reconciler(size_t max_gaps);
  ~Reconciler();
  Reconciler(Reconciler&&) noexcept;
  Reconciler& operator=(Reconciler&&) noexcept;

  // Registers a file (an absolute path) written by `sink`; returns its index. The same path
  // again returns the same index. `committed`: its committed position in the state, if known.
  size_t AddFile(const std::string& path, std::string_view sink, std::optional<int64_t> committed);

  // One ledger allow delivered to file `file`, in ledger order. `delivered` is the entry's
  // "sha256:<hex>". Errors: reading the file (Internal), the scratch database.
  absl::Status OnAllow(size_t file, int64_t seq, std::string_view sink,
                       std::string_view delivered);

  // An allow that cannot be reconciled because its run recorded no output for its sink.
  void OnUnmappedAllow(int64_t seq, std::string_view sink);

  // Reads what remains of every file and settles the files that disagreed. Call once, after
  // the last OnAllow.
  absl::Status Finish();

  const std::vector<FileAudit>& files() const { return files_; }
  // The gap records kept, by file in registration order, then in file order.
  const std::vector<Gap>& gaps() const { return gaps_; }
  int64_t total_gaps() const { return total_gaps_; }  // Records, listed or not.
  int64_t unmapped_allows() const { return unmapped_; }

 private:
  struct File;
  absl::Status EnsureScratch();
  absl::Status Settle(size_t file);
  void AddGap(size_t file, Gap gap, int64_t ordinal);
  void CloseGap(size_t file);
  void Keep(Gap gap);

  size_t max_gaps_;
  std::vector<FileAudit> files_;
  std::vector<std::unique_ptr<File>> state_;
  std::vector<std::pair<size_t, Gap>> kept_;  // Gap records kept so far, with their file.
  std::vector<Gap> gaps_;                      // kept_, ordered, once finished.
  int64_t total_gaps_ = 0;
  int64_t unmapped_ = 0;
  std::unique_ptr<store::Database> scratch_;
  store::Statement insert_allow_, insert_line_;
  Gap unmapped_gap_;
};

}  // namespace loopgate::report
