// Each kind of ledger damage is caught by `loopgate ledger verify`, which exits non-zero and
// names the first bad entry. The damage is done with SQLite directly, as an attacker with
// access to the state file would.

#include <sqlite3.h>

#include <string>

#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

class LedgerTamper : public ::testing::Test {
 protected:
  void SetUp() override {
    Result r = RunLoopgate(ReferenceRunArgs(dir_ / "state", dir_ / "out"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Result ok = RunLoopgate({"ledger", "verify", "--state", dir_ / "state"});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    ASSERT_NE(ok.out.find("51 entries"), std::string::npos) << ok.out;
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "state/state.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  // Runs verify and returns its stderr, asserting it failed.
  std::string VerifyFails() {
    Result r = RunLoopgate({"ledger", "verify", "--state", dir_ / "state"});
    EXPECT_NE(r.exit_code, 0) << r.out;
    return r.err;
  }

  TempDir dir_;
};

TEST_F(LedgerTamper, ModifiedEntryIsNamed) {
  Sql("UPDATE ledger SET entry = replace(entry, '\"reason\":\"no_consent\"', "
      "'\"reason\":null') WHERE seq = (SELECT min(seq) FROM ledger WHERE entry LIKE "
      "'%\"reason\":\"no_consent\"%')");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("was modified"), std::string::npos) << err;
}

TEST_F(LedgerTamper, ModifiedEntryWithRecomputedHashBreaksTheNextLink) {
  // An attacker who also recomputes the edited entry's own hash is caught by the next entry,
  // whose prev_hash still names the original.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "state/state.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT entry FROM ledger WHERE seq = 10", -1, &q, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  std::string entry(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)));
  sqlite3_finalize(q);
  const size_t at = entry.find("\"line\":");
  ASSERT_NE(at, std::string::npos);
  entry.insert(at + 7, "9");  // A different input line number: still canonical JSON.
  const std::string hash = crypto::ToHex(crypto::Sha256(entry));
  ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE ledger SET entry = ?, hash = ? WHERE seq = 10", -1,
                               &q, nullptr),
            SQLITE_OK);
  sqlite3_bind_text(q, 1, entry.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(q, 2, hash.c_str(), -1, SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(q), SQLITE_DONE);
  sqlite3_finalize(q);
  sqlite3_close(db);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 11"), std::string::npos) << err;
  EXPECT_NE(err.find("does not link"), std::string::npos) << err;
}

TEST_F(LedgerTamper, DeletedMiddleEntryIsNamed) {
  Sql("DELETE FROM ledger WHERE seq = 7");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 7"), std::string::npos) << err;
  EXPECT_NE(err.find("missing"), std::string::npos) << err;
}

TEST_F(LedgerTamper, DeletedLastEntryIsNamed) {
  Sql("DELETE FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 51"), std::string::npos) << err;
  EXPECT_NE(err.find("deleted"), std::string::npos) << err;
}

TEST_F(LedgerTamper, InsertedEntryIsNamed) {
  // Make room after entry 5 and slip a copy of entry 5 in.
  Sql("UPDATE ledger SET seq = seq + 1000 WHERE seq > 5; "
      "UPDATE ledger SET seq = seq - 999 WHERE seq > 1000; "
      "INSERT INTO ledger (seq, event_id, entry, hash) "
      "SELECT 6, event_id, entry, hash FROM ledger WHERE seq = 5;");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 6"), std::string::npos) << err;
}

TEST_F(LedgerTamper, ReorderedEntriesAreNamed) {
  Sql("UPDATE ledger SET seq = -1 WHERE seq = 12; "
      "UPDATE ledger SET seq = 12 WHERE seq = 13; "
      "UPDATE ledger SET seq = 13 WHERE seq = -1;");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 12"), std::string::npos) << err;
}

TEST_F(LedgerTamper, AppendedForgedEntryIsNamed) {
  Sql("INSERT INTO ledger (seq, event_id, entry, hash) "
      "SELECT 52, event_id, entry, hash FROM ledger WHERE seq = 51");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 52"), std::string::npos) << err;
}

}  // namespace
}  // namespace loopgate::testing
