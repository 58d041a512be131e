#pragma once
// The embedded state store: one SQLite database in WAL mode inside the state directory
// (docs/state.md). Holds the consent and agreement registries, the committed lengths of the
// audit ledger's and the seen ids' files (src/ledger, src/seen), the committed positions of sink outputs, the run history and the differential-privacy
// budgets of measurement studies (src/analytics/privacy_budget.h).
//
// A Database is used by one thread at a time. Statements borrow their Database and must not
// outlive it.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loopgate::store {

// The persisted schema's name and version; Open() refuses a state of another version, except
// - kPreviousSchemaName: a v3 state opens as it is (its ids still in the `seen` table) until the
//   seen store's writer migrates it (src/seen/seen.h, docs/state.md section 8);
// - kV4SchemaName: a v4 state is a v5 state whose ledger holds only v2 entries; Open() renames
//   it, so that a build which writes only v2 entries refuses it from then on (v5 is the layout
//   of v4 plus meta.ledger_v3_from, docs/ledger-format.md section 5).
inline constexpr std::string_view kSchemaName = "loopgate.state/v5";
inline constexpr std::string_view kPreviousSchemaName = "loopgate.state/v3";
inline constexpr std::string_view kV4SchemaName = "loopgate.state/v4";

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;

  // Parameters are 1-based, as in SQLite. Bound text and blobs are copied.
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& BindBlob(int index, const void* data, size_t size);
  Statement& BindNull(int index);

  // Runs one step: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Runs to completion, for statements that return no rows.
  absl::Status Run();
  void Reset();

  // Column accessors for the current row (0-based). Views are valid until the next Step().
  std::string_view Text(int column) const;
  std::string_view Blob(int column) const;
  int64_t Int(int column) const;
  bool IsNull(int column) const;
  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL.
  int Type(int column) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens (creating when missing) `<dir>/state.db`, creating `dir` too. Errors: Internal for
  // I/O problems, FailedPrecondition for a state of another schema version.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& dir);
  // Opens an existing state (never creating one). Errors: NotFound when there is no state in
  // `dir`.
  static absl::StatusOr<std::unique_ptr<Database>> OpenExisting(const std::string& dir);
  // Opens an existing state for reading only: creates nothing, migrates nothing, and the
  // connection refuses every write (PRAGMA query_only). SQLite's own -wal and -shm files exist
  // while it is open, as for any reader, and go when the last connection closes. Takes no
  // DirLock: a run may write meanwhile, and each transaction sees one committed snapshot.
  // Errors: NotFound when there is no state in `dir`, FailedPrecondition for a state of another
  // schema version (or none), Internal for I/O.
  static absl::StatusOr<std::unique_ptr<Database>> OpenReadOnly(const std::string& dir);
  // A private in-memory database with the current schema, gone when the object dies; for dry
  // runs that must not touch any state directory. dir() is ":memory:".
  static absl::StatusOr<std::unique_ptr<Database>> OpenInMemory();
  // Opens a private, empty database in a temporary file that is deleted when it is closed: no
  // schema, no state directory. For work that must not grow with memory (sorting, joining,
  // distinct counts over millions of rows): its page cache is capped at 8 MiB and sorts spill
  // to temporary files. Errors: Internal.
  static absl::StatusOr<std::unique_ptr<Database>> OpenScratch();
  ~Database();

  absl::Status Exec(std::string_view sql);
  absl::StatusOr<Statement> Prepare(std::string_view sql);

  absl::Status Begin();  // BEGIN IMMEDIATE: takes the write lock at once.
  absl::Status Commit();
  absl::Status Rollback();

  // Small key-value settings in the meta table.
  absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view key);
  absl::Status SetMeta(std::string_view key, std::string_view value);

  sqlite3* raw() { return db_; }
  const std::string& dir() const { return dir_; }

 private:
  Database(sqlite3* db, std::string dir) : db_(db), dir_(std::move(dir)) {}
  absl::Status Migrate();

  sqlite3* db_;
  std::string dir_;
};

// An exclusive lock on a state directory for the life of the object, so two runs can never
// interleave their batches. Errors: FailedPrecondition when another process holds it.
class DirLock {
 public:
  static absl::StatusOr<std::unique_ptr<DirLock>> Acquire(const std::string& dir);
  ~DirLock();

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace loopgate::store
