#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "common/strings.h"

namespace loopgate::store {
namespace {

// Process-wide SQLite settings, applied once before the first connection opens. Memory
// statistics off: with them on, every sqlite3_malloc takes a global mutex, which cost about 2%
// of a run's CPU (docs/performance.md section 15).
void ConfigureSqliteOnce() {
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // SQLITE_MISUSE if already initialized: harmless.
    return true;
  }();
  (void)configured;
}

absl::Status SqlError(sqlite3* db, std::string_view what) {
  return absl::InternalError(common::StrCat("state store: ", what, ": ", sqlite3_errmsg(db)));
}

// Version 4 of the state schema (docs/state.md); the ledger (since v3) and the seen ids (since
// v4) are kept in files under <state>/ledger/ and <state>/seen/.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consents (
  seq INTEGER PRIMARY KEY,            -- import order: the tie-break for equal recorded_at
  digest BLOB NOT NULL UNIQUE,        -- SHA-256 of the record's RFC 8785 form
  consent_id TEXT NOT NULL,
  subject_type TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  status TEXT NOT NULL,
  effective_from TEXT NOT NULL, effective_s INTEGER NOT NULL, effective_ns INTEGER NOT NULL,
  expires_at TEXT, expires_s INTEGER, expires_ns INTEGER,
  channel TEXT,
  jurisdiction TEXT,
  recorded_at TEXT NOT NULL, recorded_s INTEGER NOT NULL, recorded_ns INTEGER NOT NULL,
  record TEXT NOT NULL                -- the whole record, RFC 8785
);
CREATE INDEX IF NOT EXISTS consents_by_subject ON consents (subject_type, subject_id, purpose);
CREATE INDEX IF NOT EXISTS consents_by_id ON consents (consent_id);
CREATE TABLE IF NOT EXISTS agreements (
  seq INTEGER PRIMARY KEY,
  digest BLOB NOT NULL UNIQUE,
  agreement_id TEXT NOT NULL,
  recorded_s INTEGER NOT NULL, recorded_ns INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policies (
  id INTEGER PRIMARY KEY,
  version TEXT NOT NULL UNIQUE        -- a catalog's policy version, "sha256:<hex>"
);
CREATE TABLE IF NOT EXISTS quarantine_index (event_id TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS quarantined (
  digest BLOB PRIMARY KEY,            -- SHA-256 of the raw input line
  seq INTEGER NOT NULL                -- its quarantine entry in the ledger
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS quarantine_by_event ON quarantine_index (event_id);
CREATE TABLE IF NOT EXISTS outputs (path TEXT PRIMARY KEY, committed INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY,
  started_at TEXT NOT NULL,
  as_of TEXT NOT NULL,
  policy_version TEXT NOT NULL,
  finished_at TEXT,
  summary TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (  -- signed checkpoints of the ledger's Merkle tree
  id INTEGER PRIMARY KEY,
  tree_size INTEGER NOT NULL,
  text TEXT NOT NULL                      -- loopgate.checkpoint/v1, signed (ledger-format.md 9.6)
);
CREATE TABLE IF NOT EXISTS signing_keys (  -- public keys that signed checkpoints
  key_id TEXT PRIMARY KEY,                 -- sha256:<hex> of the raw public key
  public_pem TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_sinks (  -- each run's sinks: purpose and where it wrote
  run_id INTEGER NOT NULL,
  sink TEXT NOT NULL,
  purpose TEXT NOT NULL,
  out_dir TEXT NOT NULL,              -- the run's --out, absolute and normalized
  output TEXT NOT NULL,               -- the sink output's key: the file's absolute path
  PRIMARY KEY (run_id, sink)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS privacy_budget (
  study TEXT PRIMARY KEY,             -- a measurement study's name
  total_nano INTEGER NOT NULL CHECK (total_nano > 0),  -- its epsilon budget, in units of 1e-9
  spent_nano INTEGER NOT NULL DEFAULT 0 CHECK (spent_nano >= 0 AND spent_nano <= total_nano)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS privacy_spends (
  seq INTEGER PRIMARY KEY,            -- spend order
  study TEXT NOT NULL,
  epsilon_nano INTEGER NOT NULL CHECK (epsilon_nano > 0),
  label TEXT NOT NULL,                -- what it was spent on, as the caller named it
  spent_at TEXT NOT NULL              -- RFC 3339, from the caller's clock
);
CREATE INDEX IF NOT EXISTS privacy_spends_by_study ON privacy_spends (study, seq);
CREATE TABLE IF NOT EXISTS releases (  -- measurement releases' ledger entries (ledger::AppendRelease)
  release_id TEXT PRIMARY KEY,        -- the entry's event_id
  seq INTEGER NOT NULL,               -- its ledger seq
  study TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS releases_by_study ON releases (study, seq);
)sql";

}  // namespace

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::BindBlob(int index, const void* data, size_t size) {
  sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(db_, "statement failed");
}

absl::Status Statement::Run() {
  auto r = Step();
  Reset();
  return r.ok() ? absl::OkStatus() : r.status();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view Statement::Text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return p == nullptr ? std::string_view()
                      : std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string_view Statement::Blob(int column) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return p == nullptr ? std::string_view()
                      : std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int Statement::Type(int column) const { return sqlite3_column_type(stmt_, column); }

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(common::StrCat("cannot create state directory ", dir, ": ",
                                            ec.message()));
  }
  sqlite3* raw = nullptr;
  const std::string path = dir + "/state.db";
  ConfigureSqliteOnce();
  if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                              SQLITE_OPEN_NOMUTEX,  // One thread per Database.
                      nullptr) !=
      SQLITE_OK) {
    absl::Status s = absl::InternalError(common::StrCat("cannot open ", path, ": ",
                                                      raw ? sqlite3_errmsg(raw) : "out of memory"));
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<Database> db(new Database(raw, dir));
  sqlite3_busy_timeout(raw, 10000);
  // WAL with synchronous=NORMAL survives any process crash; after a power loss the newest
  // batches may roll back, which the router redoes (sink files are cut back to the committed
  // positions stored here), so nothing is lost or doubled either way. The page cache is 16 MiB:
  // the ledger and the seen ids live in files, a run reads the consent registry once, and a
  // larger cache only filled with pages of the quarantine keys as a run went on, so peak RSS
  // grew with the input (docs/performance.md section 19).
  auto s = db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;");
  if (!s.ok()) return s;
  s = db->Migrate();
  if (!s.ok()) return s;
  return db;
}

absl::StatusOr<std::unique_ptr<Database>> Database::OpenScratch() {
  sqlite3* raw = nullptr;
  // An empty file name: a private database in a temporary file that SQLite deletes on close.
  ConfigureSqliteOnce();
  if (sqlite3_open_v2("", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    absl::Status s = absl::InternalError(common::StrCat(
        "cannot open a scratch database: ", raw ? sqlite3_errmsg(raw) : "out of memory"));
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<Database> db(new Database(raw, ""));
  // Its pages and sorts spill to temporary files beyond a small cache: memory stays bounded.
  auto s = db->Exec("PRAGMA cache_size=-8192; PRAGMA temp_store=FILE; PRAGMA synchronous=OFF; "
                    "PRAGMA journal_mode=OFF;");
  if (!s.ok()) return s;
  return db;
}

absl::StatusOr<std::unique_ptr<Database>> Database::OpenExisting(const std::string& dir) {
  const std::string path = dir + "/state.db";
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(common::StrCat("no Loopgate state in ", dir, " (", path,
                                            " does not exist)"));
  }
  return Open(dir);
}

absl::StatusOr<std::unique_ptr<Database>> Database::OpenReadOnly(const std::string& dir) {
  const std::string path = dir + "/state.db";
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(
        common::StrCat("no Loopgate state in ", dir, " (", path, " does not exist)"));
  }
  // Read-write without CREATE, then query_only: a read-only open of a WAL database would leave
  // -wal and -shm files behind (it may not remove them), while a reader that can write them
  // removes them on close like any other connection.
  sqlite3* raw = nullptr;
  ConfigureSqliteOnce();
  if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    absl::Status s = absl::InternalError(
        common::StrCat("cannot open ", path, ": ", raw ? sqlite3_errmsg(raw) : "out of memory"));
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<Database> db(new Database(raw, dir));
  sqlite3_busy_timeout(raw, 10000);
  if (auto s = db->Exec("PRAGMA query_only=1; PRAGMA temp_store=MEMORY;"); !s.ok()) return s;
  // The schema is checked, never created: a file without it is not a state of this version.
  auto has_meta = db->Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!has_meta.ok()) return has_meta.status();
  auto found = has_meta->Step();
  if (!found.ok()) return found.status();
  std::optional<std::string> schema;
  if (*found) {
    auto meta = db->GetMeta("schema");
    if (!meta.ok()) return meta.status();
    schema = std::move(*meta);
  }
  // A v4 state is read as it is; the next read-write open renames it (kV4SchemaName).
  if (!schema ||
      (*schema != kSchemaName && *schema != kPreviousSchemaName && *schema != kV4SchemaName)) {
    return absl::FailedPreconditionError(common::StrCat("state in ", dir, " has schema ",
                                                        schema ? *schema : std::string("(none)"),
                                                        "; this build reads ", kSchemaName));
  }
  return db;
}

absl::StatusOr<std::unique_ptr<Database>> Database::OpenInMemory() {
  sqlite3* raw = nullptr;
  ConfigureSqliteOnce();
  if (sqlite3_open_v2(":memory:", &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    return absl::InternalError("cannot open an in-memory database");
  }
  std::unique_ptr<Database> db(new Database(raw, ":memory:"));
  // Temporary tables and sorts stay in memory too: nothing is written anywhere.
  if (auto s = db->Exec("PRAGMA temp_store=MEMORY;"); !s.ok()) return s;
  if (auto s = db->Migrate(); !s.ok()) return s;
  return db;
}

// close_v2: a Statement that outlives its Database still finalizes safely, and the connection
// is freed then, instead of staying open (sqlite3_close refuses to close with statements left).
Database::~Database() { sqlite3_close_v2(db_); }

absl::Status Database::Migrate() {
  // The meta table first: a state of another version is refused before anything is created.
  auto s = Exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) "
                "WITHOUT ROWID");
  if (!s.ok()) return s;
  auto existing = GetMeta("schema");
  if (!existing.ok()) return existing.status();
  if (existing->has_value() && **existing != kSchemaName && **existing != kPreviousSchemaName &&
      **existing != kV4SchemaName) {
    return absl::FailedPreconditionError(common::StrCat(
        "state in ", dir_, " has schema ", **existing, "; this build reads ", kSchemaName,
        ". Route into a new state directory (there is no migration from earlier layouts)"));
  }
  s = Exec(kSchema);
  if (!s.ok()) return s;
  // A v3 state keeps its `seen` table until a run migrates it (src/seen). Columns added
  // within v3: a state made before them gains them (NULL).
  auto has_seen = Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seen'");
  if (!has_seen.ok()) return has_seen.status();
  auto seen_table = has_seen->Step();
  if (!seen_table.ok()) return seen_table.status();
  auto has_subject = Prepare("SELECT 1 FROM pragma_table_info('seen') WHERE name = 'subject'");
  if (!has_subject.ok()) return has_subject.status();
  auto found = has_subject->Step();
  if (!found.ok()) return found.status();
  if (*seen_table && !*found) {
    s = Exec("ALTER TABLE seen ADD COLUMN subject BLOB");
    if (!s.ok()) return s;
  }
  auto schema = GetMeta("schema");
  if (!schema.ok()) return schema.status();
  if (!schema->has_value()) return SetMeta("schema", kSchemaName);
  if (**schema == kV4SchemaName) return SetMeta("schema", kSchemaName);
  if (**schema != kSchemaName && **schema != kPreviousSchemaName) {
    return absl::FailedPreconditionError(common::StrCat(
        "state in ", dir_, " has schema ", **schema, "; this build reads ", kSchemaName));
  }
  return absl::OkStatus();
}

absl::Status Database::Exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status s = absl::InternalError(common::StrCat("state store: ", err ? err : "error"));
    sqlite3_free(err);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare failed");
  }
  return Statement(db_, stmt);
}

absl::Status Database::Begin() { return Exec("BEGIN IMMEDIATE"); }
absl::Status Database::Commit() { return Exec("COMMIT"); }
absl::Status Database::Rollback() { return Exec("ROLLBACK"); }

absl::StatusOr<std::optional<std::string>> Database::GetMeta(std::string_view key) {
  auto stmt = Prepare("SELECT value FROM meta WHERE key = ?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, key);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(stmt->Text(0)));
}

absl::Status Database::SetMeta(std::string_view key, std::string_view value) {
  auto stmt = Prepare("INSERT INTO meta (key, value) VALUES (?, ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, key).Bind(2, value);
  return stmt->Run();
}

absl::StatusOr<std::unique_ptr<DirLock>> DirLock::Acquire(const std::string& dir) {
  const std::string path = dir + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(common::StrCat("cannot open ", path));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(common::StrCat(
        "another loopgate process is using the state in ", dir, "; wait for it to finish"));
  }
  return std::unique_ptr<DirLock>(new DirLock(fd));
}

DirLock::~DirLock() { ::close(fd_); }

}  // namespace loopgate::store
