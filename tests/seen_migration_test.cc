// A loopgate.state/v3 state, with its seen ids in the SQLite table `seen` as the earlier build
// wrote them, is migrated by the next `loopgate run` (docs/state.md section 8): nothing is
// routed twice, and the reports read from it are the same as from a state that never changed
// format.

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;

struct Row {
  std::string id, digest, subject;
  int64_t first_seq = 0;
};

uint64_t Le(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// The records of seen/records.log, decoded as docs/state.md section 7 lays them out.
std::vector<Row> ReadRecords(const std::string& path) {
  const std::string b = ReadFile(path);
  std::vector<Row> rows;
  for (size_t at = 0; at < b.size();) {
    EXPECT_EQ(static_cast<uint8_t>(b[at]), 0xA5) << "at byte " << at;
    if (static_cast<uint8_t>(b[at]) != 0xA5) break;
    const size_t n = Le(b, at + 1, 4), m = Le(b, at + 5, 2);
    Row r;
    r.id = b.substr(at + 7, n);
    r.digest = b.substr(at + 7 + n, 32);
    r.first_seq = static_cast<int64_t>(Le(b, at + 7 + n + 32, 8));
    r.subject = b.substr(at + 7 + n + 40, m);
    rows.push_back(r);
    at += 7 + n + 40 + m;
  }
  return rows;
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
}

// Rewrites a v4 state as the v3 build left it: the ids in the `seen` table (its v3 schema),
// no seen/ directory, no seen_* keys, schema loopgate.state/v3.
void MakeV3(const std::string& state) {
  const std::vector<Row> rows = ReadRecords(state + "/seen/records.log");
  ASSERT_GT(rows.size(), 10u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((state + "/state.db").c_str(), &db), SQLITE_OK);
  Exec(db, "BEGIN");
  Exec(db,
       "CREATE TABLE seen (id TEXT PRIMARY KEY, digest BLOB NOT NULL, first_seq INTEGER NOT "
       "NULL, subject BLOB) WITHOUT ROWID");
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO seen VALUES (?, ?, ?, ?)", -1, &q, nullptr),
            SQLITE_OK);
  for (const Row& r : rows) {
    sqlite3_bind_text(q, 1, r.id.data(), static_cast<int>(r.id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(q, 2, r.digest.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, r.first_seq);
    if (r.subject.empty()) {
      sqlite3_bind_null(q, 4);
    } else {
      sqlite3_bind_blob(q, 4, r.subject.data(), static_cast<int>(r.subject.size()),
                        SQLITE_TRANSIENT);
    }
    ASSERT_EQ(sqlite3_step(q), SQLITE_DONE);
    sqlite3_reset(q);
  }
  sqlite3_finalize(q);
  Exec(db, "DELETE FROM meta WHERE key LIKE 'seen\\_%' ESCAPE '\\'");
  Exec(db, "UPDATE meta SET value = 'loopgate.state/v3' WHERE key = 'schema'");
  Exec(db, "COMMIT");
  sqlite3_close(db);
  fs::remove_all(state + "/seen");
}

std::string Meta(const std::string& state, const std::string& key) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((state + "/state.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &q, nullptr);
  sqlite3_bind_text(q, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  std::string v =
      sqlite3_step(q) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(q, 0)) : "";
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

TEST(SeenMigration, AV3StateIsMigratedByTheNextRunAndKeepsItsIds) {
  TempDir dir;
  const std::string v3 = dir / "v3-state", control = dir / "control-state";
  ASSERT_EQ(RunLoopgate(ReferenceRunArgs(v3, dir / "out")).exit_code, 0);
  fs::copy(v3, control, fs::copy_options::recursive);
  MakeV3(v3);
  EXPECT_EQ(Meta(v3, "schema"), "loopgate.state/v3");

  // Before the migration: the ledger reads as before; explain asks for a run.
  EXPECT_EQ(RunLoopgate({"ledger", "verify", "--state", v3}).exit_code, 0);
  Result early = RunLoopgate({"explain", "--state", v3, "evt-0003"});
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.err.find("loopgate.state/v3"), std::string::npos) << early.err;
  EXPECT_NE(early.err.find("migrates it"), std::string::npos) << early.err;

  // The next run migrates, then finds every id it had accepted: nothing is routed again.
  auto args = ReferenceRunArgs(v3, dir / "out");
  args.push_back("--json");
  Result again = RunLoopgate(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("\"routed\":0,\"blocked\":0,\"quarantined\":10,\"duplicates\":20,"),
            std::string::npos)
      << again.out;
  EXPECT_EQ(Meta(v3, "schema"), "loopgate.state/v5");
  EXPECT_TRUE(fs::exists(v3 + "/seen/records.log"));

  // The same run on the state that was never converted: the same outcome and reports.
  auto control_args = ReferenceRunArgs(control, dir / "out");
  control_args.push_back("--json");
  Result control_again = RunLoopgate(control_args);
  ASSERT_EQ(control_again.exit_code, 0) << control_again.err;
  for (const char* id : {"evt-0003", "evt-0007", "evt-0012"}) {
    Result a = RunLoopgate({"explain", "--state", v3, id, "--json"});
    Result b = RunLoopgate({"explain", "--state", control, id, "--json"});
    EXPECT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(a.out, b.out) << id;
  }
  Result report = RunLoopgate({"report", "governance", "--state", v3, "--json"});
  Result control_report = RunLoopgate({"report", "governance", "--state", control, "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  // Equal but for the state directory the report names.
  std::string expected = control_report.out;
  expected.replace(expected.find(control), control.size(), v3);
  EXPECT_EQ(report.out, expected);
  EXPECT_EQ(RunLoopgate({"ledger", "verify", "--state", v3}).exit_code, 0);
}

}  // namespace
}  // namespace loopgate::testing
