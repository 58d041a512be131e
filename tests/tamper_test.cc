// Each kind of ledger damage is caught by `loopgate ledger verify`, which exits non-zero and
// names the first bad entry. The damage is done to the files directly, as an attacker with
// write access to the state directory would (docs/state.md): ledger/rows.log holds one line per
// event, ledger/rows.idx a (first seq, offset) record per line, ledger/hashes 32 bytes per entry,
// and the state's meta table the committed lengths.

#include <sqlite3.h>

#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ledger/entry_hash_testonly.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

// One stored row: a line of ledger/rows.log and the hashes of its entries.
struct StoredRow {
  int64_t first = 0;
  int64_t count = 0;
  std::string line;    // "[seq,policy,...]" without the newline.
  std::string hashes;  // 32 raw bytes per entry.
};

void PutU64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

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
    rows_ = ReadRows();
    ASSERT_FALSE(rows_.empty());
  }

  std::string File(const std::string& name) { return dir_ / ("state/ledger/" + name); }

  // The rows as the files hold them; each row's entry count from the row index.
  std::vector<StoredRow> ReadRows() {
    std::vector<StoredRow> rows;
    const std::string text = ReadFile(File("rows.log"));
    const std::string index = ReadFile(File("rows.idx"));
    const std::string hashes = ReadFile(File("hashes"));
    const size_t n = index.size() / 16;
    for (size_t i = 0; i < n; ++i) {
      StoredRow row;
      row.first = static_cast<int64_t>(GetU64(index.data() + 16 * i));
      const int64_t next =
          i + 1 < n ? static_cast<int64_t>(GetU64(index.data() + 16 * (i + 1))) : 52;
      row.count = next - row.first;
      const size_t offset = GetU64(index.data() + 16 * i + 8);
      row.line = text.substr(offset, text.find('\n', offset) - offset);
      row.hashes = hashes.substr(static_cast<size_t>(row.first - 1) * 32,
                                 static_cast<size_t>(row.count) * 32);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  // Writes the rows back as a careful attacker would: each line renumbered to the row's
  // `first`, a consistent row index, and the committed row count and length in the state.
  void WriteRows(const std::vector<StoredRow>& rows) {
    std::string text, index, hashes;
    for (const StoredRow& r : rows) {
      PutU64(static_cast<uint64_t>(r.first), &index);
      PutU64(text.size(), &index);
      text += "[" + std::to_string(r.first) + r.line.substr(r.line.find(',')) + "\n";
      hashes += r.hashes;
    }
    WriteFile(File("rows.log"), text);
    WriteFile(File("rows.idx"), index);
    WriteFile(File("hashes"), hashes);
    Sql("UPDATE meta SET value = '" + std::to_string(rows.size()) + "' WHERE key = 'ledger_rows';"
        "UPDATE meta SET value = '" + std::to_string(text.size()) +
        "' WHERE key = 'ledger_bytes';");
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

  // The index of the first row holding more than one entry.
  size_t MultiEntryRow() const {
    for (size_t i = 0; i < rows_.size(); ++i) {
      if (rows_[i].count > 1) return i;
    }
    ADD_FAILURE() << "the reference ledger has no multi-entry row";
    return 0;
  }

  TempDir dir_;
  std::vector<std::string> export_;
  std::vector<StoredRow> rows_;
};

TEST_F(LedgerTamper, ModifiedEntryIsNamed) {
  // Turn the first no_consent denial into a rule denial. Its seq is found in the export.
  size_t k = 0;
  while (k < export_.size() && export_[k].find("\"reason\":\"no_consent\"") == std::string::npos) {
    ++k;
  }
  ASSERT_LT(k, export_.size());
  const int64_t seq = static_cast<int64_t>(k) + 1;
  std::vector<StoredRow> rows = rows_;
  bool edited = false;
  for (StoredRow& r : rows) {
    if (seq >= r.first && seq < r.first + r.count) {
      const size_t at = r.line.find("\"no_consent\"");
      ASSERT_NE(at, std::string::npos) << r.line;
      r.line.replace(at, 12, "\"rule:x\"");
      edited = true;
    }
  }
  ASSERT_TRUE(edited);
  WriteRows(rows);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(seq) + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("was modified"), std::string::npos) << err;
}

TEST_F(LedgerTamper, ModifiedEntryWithRecomputedHashIsCaughtAtTheNextEntry) {
  // An attacker who also recomputes the edited entry's hash (by the documented rule, from the
  // entry as the export shows it) is caught at the next entry, which was hashed after the
  // original.
  std::vector<StoredRow> rows = rows_;
  StoredRow& row = rows[MultiEntryRow()];
  std::string entry = export_[static_cast<size_t>(row.first - 1)];
  entry = entry.substr(0, entry.rfind(",\"hash\":")) + "}";
  const size_t at = entry.find("\"decision\":\"");
  ASSERT_NE(at, std::string::npos);
  const std::string_view allow_text = "\"decision\":\"allow\"";
  const bool allow = entry.compare(at, allow_text.size(), allow_text) == 0;
  entry.replace(at, allow ? 18 : 17, allow ? "\"decision\":\"deny\"" : "\"decision\":\"allow\"");
  const std::string d = ledger::testonly::DocumentedEntryHash(entry);
  ASSERT_EQ(d.size(), 32u) << entry;
  // Only the row's first entry changes: its decision is the first one in the line.
  const std::string from = allow ? "\"allow\"" : "\"deny\"";
  const std::string to = allow ? "\"deny\"" : "\"allow\"";
  const size_t in_line = row.line.find(from);
  ASSERT_NE(in_line, std::string::npos);
  row.line.replace(in_line, from.size(), to);
  row.hashes.replace(0, d.size(), d);
  WriteRows(rows);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(row.first + 1) + ":"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("does not link to entry " + std::to_string(row.first)), std::string::npos)
      << err;
}

TEST_F(LedgerTamper, DeletedMiddleRowIsNamed) {
  std::vector<StoredRow> rows = rows_;
  const int64_t seq = rows[3].first;
  rows.erase(rows.begin() + 3);
  WriteRows(rows);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(seq) + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("missing (deleted)"), std::string::npos) << err;
}

TEST_F(LedgerTamper, DeletedLastRowIsNamed) {
  std::vector<StoredRow> rows = rows_;
  const int64_t seq = rows.back().first;
  rows.pop_back();
  WriteRows(rows);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(seq) + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("deleted"), std::string::npos) << err;
}

TEST_F(LedgerTamper, TruncatedFilesAreNamed) {
  // Cutting the files back (as a crude attacker or a bad restore would) without touching the
  // committed lengths.
  const std::string text = ReadFile(File("rows.log"));
  WriteFile(File("rows.log"), text.substr(0, text.size() / 2));
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("deleted"), std::string::npos) << err;
}

TEST_F(LedgerTamper, InsertedRowIsNamed) {
  // Slip a copy of a row in after it, renumbering everything after.
  std::vector<StoredRow> rows = rows_;
  const size_t i = MultiEntryRow();
  StoredRow copy = rows[i];
  const int64_t at = copy.first + copy.count;
  for (size_t k = i + 1; k < rows.size(); ++k) rows[k].first += copy.count;
  copy.first = at;
  rows.insert(rows.begin() + static_cast<std::ptrdiff_t>(i) + 1, copy);
  WriteRows(rows);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(at) + ":"), std::string::npos) << err;
}

TEST_F(LedgerTamper, SwappedRowsAreNamed) {
  // Two adjacent one-entry rows trade places.
  std::vector<StoredRow> rows = rows_;
  size_t i = 0;
  while (i + 1 < rows.size() && !(rows[i].count == 1 && rows[i + 1].count == 1)) ++i;
  ASSERT_LT(i + 1, rows.size());
  std::swap(rows[i].line, rows[i + 1].line);
  std::swap(rows[i].hashes, rows[i + 1].hashes);
  WriteRows(rows);
  const std::string err = VerifyFails();
  EXPECT_NE(err.find("first bad entry is " + std::to_string(rows[i].first) + ":"),
            std::string::npos)
      << err;
}

TEST_F(LedgerTamper, AppendedRowIsNotPartOfTheLedgerUntilCommittedThenTheHeadNamesIt) {
  // A copy of the last row appended after it: past the committed end it is not part of the
  // ledger (verify says so); raising the committed lengths to include it is caught.
  std::vector<StoredRow> rows = rows_;
  StoredRow copy = rows.back();
  copy.first = 52;
  copy.count = 1;
  copy.hashes = copy.hashes.substr(0, 32);
  const std::string text = ReadFile(File("rows.log"));
  WriteFile(File("rows.log"), text + "[52" + copy.line.substr(copy.line.find(',')) + "\n");
  WriteFile(File("hashes"), ReadFile(File("hashes")) + copy.hashes);
  Result r = RunLoopgate({"ledger", "verify", "--state", dir_ / "state"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("51 entries"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("past the committed end"), std::string::npos) << r.out;

  rows.push_back(copy);
  WriteRows(rows);
  Sql("UPDATE meta SET value = '52' WHERE key = 'ledger_size'");
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
