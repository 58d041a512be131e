// Each kind of ledger damage is caught by `loopgate ledger verify`, which exits non-zero and
// names the first bad entry. The damage is done with SQLite directly, as an attacker with
// write access to the state file would. Storage is one row per event (docs/state.md): rows
// hold the event's entries, starting at the row's seq, and one 32-byte hash per entry.

#include <sqlite3.h>

#include <sstream>
#include <string>
#include <vector>

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
    Result exported = RunLoopgate({"ledger", "export", "--state", dir_ / "state"});
    std::stringstream ss(exported.out);
    for (std::string line; std::getline(ss, line);) export_.push_back(line);
    ASSERT_EQ(export_.size(), 51u);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "state/state.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    sqlite3_prepare_v2(db, "SELECT seq, length(hashes) / 32 FROM ledger ORDER BY seq", -1, &q,
                       nullptr);
    while (sqlite3_step(q) == SQLITE_ROW) {
      rows_.push_back({sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1)});
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "state/state.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << "\n" << sql;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  // Runs verify and returns its stderr, asserting it failed.
  std::string VerifyFails() {
    Result r = RunLoopgate({"ledger", "verify", "--state", dir_ / "state"});
    EXPECT_NE(r.exit_code, 0) << r.out;
    return r.err;
  }

  // The first row holding more than one entry.
  std::pair<int64_t, int64_t> MultiEntryRow() const {
    for (const auto& row : rows_) {
      if (row.second > 1) return row;
    }
    ADD_FAILURE() << "the reference ledger has no multi-entry row";
    return rows_.front();
  }

  TempDir dir_;
  std::vector<std::string> export_;
  std::vector<std::pair<int64_t, int64_t>> rows_;  // (first seq, entries)
};

TEST_F(LedgerTamper, ModifiedEntryIsNamed) {
  // Turn the first no_consent denial into a rule denial. Its seq is found in the export.
  size_t k = 0;
  while (k < export_.size() && export_[k].find("\"reason\":\"no_consent\"") == std::string::npos) {
    ++k;
  }
  ASSERT_LT(k, export_.size());
  const int64_t seq = static_cast<int64_t>(k) + 1;
  Sql("UPDATE ledger SET body = replace(body, '\"no_consent\"', '\"rule:x\"') WHERE seq = "
      "(SELECT max(seq) FROM ledger WHERE seq <= " + std::to_string(seq) + ")");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(seq) + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("was modified"), std::string::npos) << err;
}

TEST_F(LedgerTamper, ModifiedEntryWithRecomputedHashIsCaughtAtTheNextEntry) {
  // An attacker who also recomputes the edited entry's hash (from the canonical entry, as the
  // export shows it) is caught at the next entry, which was hashed after the original.
  const auto [first, count] = MultiEntryRow();
  std::string entry = export_[static_cast<size_t>(first - 1)];
  entry = entry.substr(0, entry.rfind(",\"hash\":")) + "}";
  const size_t at = entry.find("\"decision\":\"");
  ASSERT_NE(at, std::string::npos);
  const std::string_view allow_text = "\"decision\":\"allow\"";
  const bool allow = entry.compare(at, allow_text.size(), allow_text) == 0;
  entry.replace(at, allow ? 18 : 17, allow ? "\"decision\":\"deny\"" : "\"decision\":\"allow\"");
  const crypto::Digest d = crypto::Sha256(entry);
  const std::string seq = std::to_string(first);
  // Only the row's first entry changes: its decision is the first one in the body.
  const std::string from = allow ? "'\"allow\"'" : "'\"deny\"'";
  const std::string to = allow ? "'\"deny\"'" : "'\"allow\"'";
  Sql("UPDATE ledger SET body = substr(body, 1, instr(body, " + from + ") - 1) || " + to +
      " || substr(body, instr(body, " + from + ") + length(" + from + ")) WHERE seq = " + seq);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "state/state.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT hashes FROM ledger WHERE seq = ?", -1, &q, nullptr);
  sqlite3_bind_int64(q, 1, first);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  std::string hashes(static_cast<const char*>(sqlite3_column_blob(q, 0)),
                     static_cast<size_t>(sqlite3_column_bytes(q, 0)));
  sqlite3_finalize(q);
  hashes.replace(0, d.size(), reinterpret_cast<const char*>(d.data()), d.size());
  sqlite3_prepare_v2(db, "UPDATE ledger SET hashes = ? WHERE seq = ?", -1, &q, nullptr);
  sqlite3_bind_blob(q, 1, hashes.data(), static_cast<int>(hashes.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(q, 2, first);
  ASSERT_EQ(sqlite3_step(q), SQLITE_DONE);
  sqlite3_finalize(q);
  sqlite3_close(db);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(first + 1) + ":"), std::string::npos)
      << err;
  EXPECT_NE(err.find("does not link to entry " + seq), std::string::npos) << err;
}

TEST_F(LedgerTamper, DeletedMiddleRowIsNamed) {
  const int64_t seq = rows_[3].first;
  Sql("DELETE FROM ledger WHERE seq = " + std::to_string(seq));
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(seq) + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("missing (deleted)"), std::string::npos) << err;
}

TEST_F(LedgerTamper, DeletedLastRowIsNamed) {
  const int64_t seq = rows_.back().first;
  Sql("DELETE FROM ledger WHERE seq = " + std::to_string(seq));
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(seq) + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("deleted"), std::string::npos) << err;
}

TEST_F(LedgerTamper, InsertedRowIsNamed) {
  // Make room after a row and slip in a copy of it, renumbering everything after.
  const auto [first, count] = MultiEntryRow();
  const std::string s = std::to_string(first), c = std::to_string(count);
  Sql("UPDATE ledger SET seq = seq + 100000 WHERE seq > " + s + "; " +
      "INSERT INTO ledger (seq, policy, body, hashes) SELECT " + s + " + " + c +
      ", policy, body, hashes FROM ledger WHERE seq = " + s + "; " +
      "UPDATE ledger SET seq = seq - 100000 + " + c + " WHERE seq > 100000;");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(first + count) + ":"),
            std::string::npos)
      << err;
}

TEST_F(LedgerTamper, SwappedRowsAreNamed) {
  // Two adjacent one-entry rows trade places.
  size_t i = 0;
  while (i + 1 < rows_.size() && !(rows_[i].second == 1 && rows_[i + 1].second == 1)) ++i;
  ASSERT_LT(i + 1, rows_.size());
  const std::string a = std::to_string(rows_[i].first), b = std::to_string(rows_[i + 1].first);
  Sql("UPDATE ledger SET seq = -1 WHERE seq = " + a + "; UPDATE ledger SET seq = " + a +
      " WHERE seq = " + b + "; UPDATE ledger SET seq = " + b + " WHERE seq = -1;");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + a + ":"), std::string::npos) << err;
}

TEST_F(LedgerTamper, AppendedForgedRowIsNamed) {
  Sql("INSERT INTO ledger (seq, policy, body, hashes) SELECT 52, policy, body, "
      "substr(hashes, 1, 32) FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 52:"), std::string::npos) << err;
}

TEST_F(LedgerTamper, ChangedPolicyVersionIsNamed) {
  // Claiming another policy for the decisions breaks the very first entry.
  Sql("UPDATE policies SET version = 'sha256:" + std::string(64, 'a') + "'");
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is 1:"), std::string::npos) << err;
}

}  // namespace
}  // namespace loopgate::testing
