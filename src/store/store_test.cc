#include "store/store.h"

#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace loopgate::store {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class StoreTest : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    root_ = testing::TempDir() + "/loopgate_store_" + info->test_suite_name() + "_" + info->name() +
            "_" + std::to_string(::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<Database> MustOpen(const std::string& dir) {
    auto db = Database::Open(dir);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? std::move(*db) : nullptr;
  }

  std::set<std::string> Tables(Database& db) {
    std::set<std::string> names;
    auto q = db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table'");
    EXPECT_TRUE(q.ok()) << q.status();
    if (!q.ok()) return names;
    while (true) {
      auto row = q->Step();
      EXPECT_TRUE(row.ok()) << row.status();
      if (!row.ok() || !*row) break;
      names.emplace(q->Text(0));
    }
    return names;
  }

  std::string root_;
};

TEST_F(StoreTest, OpenCreatesDirectoryAndSchema) {
  const std::string dir = root_ + "/nested/state";
  ASSERT_FALSE(fs::exists(dir));
  auto db = MustOpen(dir);
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(fs::exists(dir + "/state.db"));
  EXPECT_EQ(db->dir(), dir);

  auto schema = db->GetMeta("schema");
  ASSERT_TRUE(schema.ok()) << schema.status();
  ASSERT_TRUE(schema->has_value());
  EXPECT_EQ(**schema, kSchemaName);

  const std::set<std::string> tables = Tables(*db);
  for (const char* want : {"meta", "consents", "agreements", "policies",
                           "quarantine_index", "quarantined", "outputs", "runs", "run_sinks",
                           "checkpoints", "signing_keys", "privacy_budget", "privacy_spends"}) {
    EXPECT_TRUE(tables.count(want)) << "missing table " << want;
  }
  // The ledger's entries and the seen ids live in files under <state>/ledger/ and
  // <state>/seen/ (src/seen), not in the database.
  EXPECT_FALSE(tables.count("ledger"));
  EXPECT_FALSE(tables.count("seen"));
}

TEST_F(StoreTest, AV3StateOpensAsItIsAndGainsTheSubjectColumn) {
  const std::string dir = root_ + "/old";
  {
    auto db = MustOpen(dir);
    ASSERT_NE(db, nullptr);
    // As a v3 state written before the subject column existed; the seen store's writer
    // migrates it (src/seen), the store itself only opens it.
    ASSERT_TRUE(db->SetMeta("schema", kPreviousSchemaName).ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE seen (id TEXT PRIMARY KEY, digest BLOB "
                         "NOT NULL, first_seq INTEGER NOT NULL) WITHOUT ROWID; "
                         "INSERT INTO seen VALUES ('e-1', x'00', 1);").ok());
  }
  auto db = MustOpen(dir);
  ASSERT_NE(db, nullptr);
  auto schema = db->GetMeta("schema");
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ(**schema, kPreviousSchemaName);
  {
    auto q = db->Prepare("SELECT id, subject FROM seen");
    ASSERT_TRUE(q.ok()) << q.status();
    ASSERT_TRUE(*q->Step());
    EXPECT_EQ(q->Text(0), "e-1");
    EXPECT_TRUE(q->IsNull(1));
  }  // The statement is finalized before its connection closes.
  db.reset();
  auto read_only = Database::OpenReadOnly(dir);
  EXPECT_TRUE(read_only.ok()) << read_only.status();
}

TEST_F(StoreTest, AV4StateIsRenamedV5WhenOpenedForWritingAndReadAsItIsOtherwise) {
  const std::string dir = root_ + "/v4";
  {
    auto db = MustOpen(dir);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->SetMeta("schema", kV4SchemaName).ok());
    ASSERT_TRUE(db->SetMeta("answer", "42").ok());
  }
  {
    auto read_only = Database::OpenReadOnly(dir);
    ASSERT_TRUE(read_only.ok()) << read_only.status();
    auto schema = (*read_only)->GetMeta("schema");
    ASSERT_TRUE(schema.ok() && schema->has_value());
    EXPECT_EQ(**schema, kV4SchemaName);
  }
  auto db = MustOpen(dir);
  ASSERT_NE(db, nullptr);
  auto schema = db->GetMeta("schema");
  ASSERT_TRUE(schema.ok() && schema->has_value());
  EXPECT_EQ(**schema, kSchemaName);
  EXPECT_EQ(kSchemaName, "loopgate.state/v5");
  auto answer = db->GetMeta("answer");
  ASSERT_TRUE(answer.ok() && answer->has_value());
  EXPECT_EQ(**answer, "42");
}

TEST_F(StoreTest, AStateOfAnotherVersionIsRefusedNamingIt) {
  const std::string dir = root_ + "/v6";
  {
    auto db = MustOpen(dir);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->SetMeta("schema", "loopgate.state/v6").ok());
  }
  auto db = Database::Open(dir);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(db.status().message()).find("loopgate.state/v6"), std::string::npos);
  auto read_only = Database::OpenReadOnly(dir);
  EXPECT_EQ(read_only.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, ScratchDatabaseIsEmptyPrivateAndUsable) {
  auto a = Database::OpenScratch();
  auto b = Database::OpenScratch();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(Tables(**a).empty());  // No state schema.
  EXPECT_EQ((*a)->dir(), "");
  ASSERT_TRUE((*a)->Exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);").ok());
  EXPECT_TRUE(Tables(**b).empty());  // Each is its own database.
  auto q = (*a)->Prepare("SELECT sum(x) FROM t");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Int(0), 3);
}

TEST_F(StoreTest, ReopenKeepsDataAndSchema) {
  const std::string dir = root_ + "/state";
  {
    auto db = MustOpen(dir);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->SetMeta("answer", "42").ok());
    ASSERT_TRUE(db->Exec("INSERT INTO outputs (path, committed) VALUES ('/x', 7)").ok());
  }
  auto db = MustOpen(dir);
  ASSERT_NE(db, nullptr);
  auto v = db->GetMeta("answer");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "42");
  auto schema = db->GetMeta("schema");
  ASSERT_TRUE(schema.ok() && schema->has_value());
  EXPECT_EQ(**schema, kSchemaName);
  auto q = db->Prepare("SELECT committed FROM outputs WHERE path = '/x'");
  ASSERT_TRUE(q.ok()) << q.status();
  auto row = q->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(q->Int(0), 7);
}

TEST_F(StoreTest, OtherSchemaVersionIsFailedPrecondition) {
  const std::string dir = root_ + "/state";
  {
    auto db = MustOpen(dir);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->SetMeta("schema", "loopgate.state/v0").ok());
  }
  auto db = Database::Open(dir);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition) << db.status();
  EXPECT_NE(db.status().message().find("loopgate.state/v0"), std::string_view::npos);

  auto existing = Database::OpenExisting(dir);
  ASSERT_FALSE(existing.ok());
  EXPECT_EQ(existing.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, OpenExistingOnEmptyDirIsNotFoundAndCreatesNothing) {
  const std::string dir = root_ + "/empty";
  fs::create_directories(dir);
  auto db = Database::OpenExisting(dir);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kNotFound) << db.status();
  EXPECT_FALSE(fs::exists(dir + "/state.db"));
}

TEST_F(StoreTest, OpenExistingOnMissingDirIsNotFound) {
  const std::string dir = root_ + "/does-not-exist";
  auto db = Database::OpenExisting(dir);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kNotFound) << db.status();
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(StoreTest, OpenExistingOpensACreatedState) {
  const std::string dir = root_ + "/state";
  {
    auto db = MustOpen(dir);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->SetMeta("k", "v").ok());
  }
  auto db = Database::OpenExisting(dir);
  ASSERT_TRUE(db.ok()) << db.status();
  auto v = (*db)->GetMeta("k");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "v");
}

TEST_F(StoreTest, MetaMissingKeyIsEmptyAndSetMetaOverwrites) {
  auto db = MustOpen(root_ + "/state");
  ASSERT_NE(db, nullptr);
  auto missing = db->GetMeta("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(db->SetMeta("k", "one").ok());
  ASSERT_TRUE(db->SetMeta("k", "two").ok());
  auto v = db->GetMeta("k");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "two");
}

TEST_F(StoreTest, StatementBindStepAndColumns) {
  auto db = MustOpen(root_ + "/state");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (a TEXT, b INTEGER, c BLOB, d TEXT)").ok());
  auto insert = db->Prepare("INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)");
  ASSERT_TRUE(insert.ok()) << insert.status();
  const std::string blob("\x00\x01\xff", 3);
  {
    // Bound text is copied: the source string is gone before the statement runs.
    std::string text = "hello";
    insert->Bind(1, text).Bind(2, int64_t{-9000000000}).BindBlob(3, blob.data(), blob.size());
    insert->BindNull(4);
    text.assign("XXXXX");
  }
  ASSERT_TRUE(insert->Run().ok());
  // Run() resets, so the statement can be reused with new bindings.
  insert->Bind(1, "second").Bind(2, int64_t{2}).BindNull(3).Bind(4, "d");
  ASSERT_TRUE(insert->Run().ok());

  auto q = db->Prepare("SELECT a, b, c, d FROM t ORDER BY rowid");
  ASSERT_TRUE(q.ok()) << q.status();
  auto row = q->Step();
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(*row);
  EXPECT_EQ(q->Text(0), "hello");
  EXPECT_EQ(q->Int(1), -9000000000);
  EXPECT_EQ(q->Blob(2), std::string_view(blob));
  EXPECT_FALSE(q->IsNull(0));
  EXPECT_TRUE(q->IsNull(3));

  row = q->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(q->Text(0), "second");
  EXPECT_EQ(q->Int(1), 2);
  EXPECT_TRUE(q->IsNull(2));
  EXPECT_EQ(q->Text(3), "d");

  row = q->Step();
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(*row);
}

TEST_F(StoreTest, StatementResetAllowsRebindingAQuery) {
  auto db = MustOpen(root_ + "/state");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->SetMeta("a", "1").ok());
  ASSERT_TRUE(db->SetMeta("b", "2").ok());
  auto q = db->Prepare("SELECT value FROM meta WHERE key = ?");
  ASSERT_TRUE(q.ok());
  q->Bind(1, "a");
  auto row = q->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(q->Text(0), "1");
  q->Reset();
  q->Bind(1, "b");
  row = q->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(q->Text(0), "2");
}

TEST_F(StoreTest, StatementMoveTransfersOwnership) {
  auto db = MustOpen(root_ + "/state");
  ASSERT_NE(db, nullptr);
  auto q = db->Prepare("SELECT 5");
  ASSERT_TRUE(q.ok());
  Statement moved(std::move(*q));
  Statement assigned;
  assigned = std::move(moved);
  auto row = assigned.Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(assigned.Int(0), 5);
}

TEST_F(StoreTest, SqlErrorsAreInternal) {
  auto db = MustOpen(root_ + "/state");
  ASSERT_NE(db, nullptr);
  auto bad = db->Prepare("SELEKT nothing");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(db->Exec("NOT SQL AT ALL").code(), absl::StatusCode::kInternal);

  // A constraint violation surfaces from Step() / Run() as an error, not as "done".
  ASSERT_TRUE(db->Exec("INSERT INTO outputs (path, committed) VALUES ('/p', 1)").ok());
  auto dup = db->Prepare("INSERT INTO outputs (path, committed) VALUES ('/p', 2)");
  ASSERT_TRUE(dup.ok());
  auto step = dup->Step();
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.status().code(), absl::StatusCode::kInternal);
}

TEST_F(StoreTest, TransactionCommitAndRollback) {
  auto db = MustOpen(root_ + "/state");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->SetMeta("rolled", "back").ok());
  ASSERT_TRUE(db->Rollback().ok());
  auto v = db->GetMeta("rolled");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_value());

  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->SetMeta("kept", "yes").ok());
  ASSERT_TRUE(db->Commit().ok());
  db.reset();
  db = MustOpen(root_ + "/state");
  ASSERT_NE(db, nullptr);
  v = db->GetMeta("kept");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "yes");
}

TEST_F(StoreTest, DirLockExcludesASecondHolderUntilReleased) {
  const std::string dir = root_ + "/state";
  fs::create_directories(dir);
  auto first = DirLock::Acquire(dir);
  ASSERT_TRUE(first.ok()) << first.status();

  // flock() locks belong to the open file description, so a second open in this process
  // conflicts just as another process would.
  auto second = DirLock::Acquire(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();

  first->reset();
  auto third = DirLock::Acquire(dir);
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST_F(StoreTest, DirLocksOnDifferentDirsAreIndependent) {
  fs::create_directories(root_ + "/a");
  fs::create_directories(root_ + "/b");
  auto a = DirLock::Acquire(root_ + "/a");
  auto b = DirLock::Acquire(root_ + "/b");
  EXPECT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(b.ok()) << b.status();
}

TEST_F(StoreTest, OpenReadOnlyReadsAndRefusesWrites) {
  const std::string dir = root_ + "/state";
  {
    auto db = MustOpen(dir);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->SetMeta("k", "v").ok());
  }
  const auto files_before = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
  }();
  {
    auto db = Database::OpenReadOnly(dir);
    ASSERT_TRUE(db.ok()) << db.status();
    auto v = (*db)->GetMeta("k");
    ASSERT_TRUE(v.ok() && v->has_value());
    EXPECT_EQ(**v, "v");
    EXPECT_FALSE((*db)->SetMeta("k", "changed").ok());
    EXPECT_FALSE((*db)->Exec("CREATE TABLE extra (x)").ok());
  }
  std::set<std::string> files_after;
  for (const auto& e : fs::directory_iterator(dir))
    files_after.insert(e.path().filename().string());
  EXPECT_EQ(files_after, files_before);  // SQLite's -wal and -shm went with the connection.
  auto db = MustOpen(dir);
  auto v = db->GetMeta("k");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "v");
}

TEST_F(StoreTest, OpenReadOnlyCreatesNothingAndChecksTheSchema) {
  auto missing = Database::OpenReadOnly(root_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(root_ + "/nope"));

  // A SQLite file that is not a Loopgate state is refused, and not given a schema.
  fs::create_directories(root_ + "/other");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((root_ + "/other/state.db").c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  auto other = Database::OpenReadOnly(root_ + "/other");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();

  {
    auto db = MustOpen(root_ + "/old");
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->SetMeta("schema", "loopgate.state/v0").ok());
  }
  auto old = Database::OpenReadOnly(root_ + "/old");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("loopgate.state/v0"), std::string_view::npos);
}

TEST_F(StoreTest, InMemoryHasTheSchemaAndTouchesNoDirectory) {
  auto db = Database::OpenInMemory();
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->dir(), ":memory:");
  EXPECT_TRUE(Tables(**db).count("consents"));
  ASSERT_TRUE((*db)->SetMeta("k", "v").ok());
  EXPECT_FALSE(fs::exists(":memory:"));
  auto other = Database::OpenInMemory();  // Each one is private.
  ASSERT_TRUE(other.ok());
  auto v = (*other)->GetMeta("k");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_value());
}

}  // namespace
}  // namespace loopgate::store
