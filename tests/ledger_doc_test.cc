// docs/ledger-format.md, checked against the real binary. Section 7's Python recipe is taken
// from the document at test time (the block between its `verify_export.py begin` and `end`
// marker comments) and run with python3 on exports of the reference run: intact, tampered, and
// rewritten as a loopgate.ledger/v1 export. The document's example entries, rows and heads must
// be what the reference run really produces.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

constexpr std::string_view kBegin = "<!-- verify_export.py begin";
constexpr std::string_view kEnd = "<!-- verify_export.py end -->";

std::string Doc() { return ReadFile(SourceDir() + "/docs/ledger-format.md"); }

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  return text;
}

// The recipe: the ```python fence between the markers, without the fence lines. Empty when the
// markers or the fence are missing.
std::string RecipeFromDoc(const std::string& doc) {
  const size_t begin = doc.find(kBegin);
  const size_t end = doc.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin) return "";
  const size_t open = doc.find("\n```python\n", begin);
  if (open == std::string::npos || open > end) return "";
  const size_t body = open + std::string_view("\n```python\n").size();
  const size_t close = doc.rfind("\n```", end);
  if (close == std::string::npos || close < body) return "";
  return doc.substr(body, close - body + 1);
}

// An export line without its "hash": the canonical entry.
std::string EntryText(const std::string& line) {
  const size_t at = line.rfind(",\"hash\":\"");
  return at == std::string::npos ? line : line.substr(0, at) + "}";
}

std::string HashOf(const std::string& line) {
  const size_t at = line.rfind(",\"hash\":\"");
  return at == std::string::npos ? "" : line.substr(at + 9, 64);
}

class LedgerDocRecipe : public ::testing::Test {
 protected:
  void SetUp() override {
    Result run = RunLoopgate(ReferenceRunArgs(dir_ / "state", dir_ / "out"));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    Result verify = RunLoopgate({"ledger", "verify", "--state", dir_ / "state"});
    ASSERT_EQ(verify.exit_code, 0) << verify.err;
    verify_out_ = verify.out;
    const size_t at = verify.out.find(", head ");
    ASSERT_NE(at, std::string::npos) << verify.out;
    head_ = verify.out.substr(at + 7, 64);
    Result exported = RunLoopgate({"ledger", "export", "--state", dir_ / "state"});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    export_ = SplitLines(exported.out);
    ASSERT_EQ(export_.size(), 51u);
    ASSERT_EQ(HashOf(export_.back()), head_);
    const std::string recipe = RecipeFromDoc(Doc());
    ASSERT_FALSE(recipe.empty()) << "no ```python block between the verify_export.py markers in "
                                    "docs/ledger-format.md";
    ASSERT_NE(recipe.find("hashlib"), std::string::npos);
    script_ = dir_ / "verify_export.py";
    WriteFile(script_, recipe);
  }

  // Runs the recipe on `lines` written as an export file.
  Result Recipe(const std::vector<std::string>& lines) {
    const std::string path = dir_ / ("export-" + std::to_string(files_++) + ".ndjson");
    WriteFile(path, JoinLines(lines));
    Result r = RunPython(script_, path);
    EXPECT_NE(r.exit_code, 127) << "python3 is not on PATH (it must be installed to run this test)";
    return r;
  }

  // Asserts the recipe rejected the export at line `n`.
  void ExpectFailsAtLine(const Result& r, size_t n) {
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.out.rfind("FAILED: line " + std::to_string(n) + ":", 0), 0u) << r.out << r.err;
  }

  TempDir dir_;
  std::string verify_out_, head_, script_;
  std::vector<std::string> export_;
  int files_ = 0;
};

TEST_F(LedgerDocRecipe, IntactExportVerifiesWithTheHeadLedgerVerifyPrints) {
  Result r = Recipe(export_);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "ok: 51 entries of loopgate.ledger/v2, head " + head_ + "\n") << r.err;
}

TEST_F(LedgerDocRecipe, EditedEntryFailsNamingItsLine) {
  // The first, a middle and the last entry, each with its run number changed.
  for (size_t n : {size_t{1}, size_t{26}, size_t{51}}) {
    std::vector<std::string> lines = export_;
    const size_t at = lines[n - 1].find("\"run\":1,");
    ASSERT_NE(at, std::string::npos) << lines[n - 1];
    lines[n - 1].replace(at, 8, "\"run\":2,");
    SCOPED_TRACE("line " + std::to_string(n));
    ExpectFailsAtLine(Recipe(lines), n);
  }
  // A reason changed, as in section 7's example: the first line that has that reason.
  std::vector<std::string> lines = export_;
  size_t n = 0;
  while (n < lines.size() && lines[n].find("\"reason\":\"consent_revoked\"") == std::string::npos) {
    ++n;
  }
  ASSERT_LT(n, lines.size());
  lines[n].replace(lines[n].find("\"consent_revoked\""), 17, "\"no_consent\"");
  ExpectFailsAtLine(Recipe(lines), n + 1);
}

TEST_F(LedgerDocRecipe, DeletedSwappedOrRehashedLinesFailNamingTheLine) {
  std::vector<std::string> deleted = export_;
  deleted.erase(deleted.begin() + 9);
  ExpectFailsAtLine(Recipe(deleted), 10);

  std::vector<std::string> swapped = export_;
  std::swap(swapped[19], swapped[20]);
  ExpectFailsAtLine(Recipe(swapped), 20);

  // An entry edited with its hash recomputed as v2 prescribes: the next line no longer links.
  std::vector<std::string> rehashed = export_;
  std::string text = EntryText(rehashed[4]);
  const size_t at = text.find("\"line\":");
  ASSERT_NE(at, std::string::npos);
  text.insert(at + 7, "9");
  const std::string hash = crypto::ToHex(crypto::Sha256(std::string(1, '\0') + text));
  rehashed[4] = text.substr(0, text.size() - 1) + ",\"hash\":\"" + hash + "\"}";
  ExpectFailsAtLine(Recipe(rehashed), 6);
}

TEST_F(LedgerDocRecipe, ExportOfATamperedStateFailsWhereLedgerVerifyDoes) {
  // Section 6's walkthrough: an edit of ledger/rows.log.
  const std::string rows_path = dir_ / "state/ledger/rows.log";
  std::string rows = ReadFile(rows_path);
  const size_t at = rows.find("\"consent_revoked\"");
  ASSERT_NE(at, std::string::npos);
  rows.replace(at, 17, "\"no_consent\"");
  WriteFile(rows_path, rows);
  Result verify = RunLoopgate({"ledger", "verify", "--state", dir_ / "state"});
  ASSERT_EQ(verify.exit_code, 1) << verify.out;
  const std::string prefix = "first bad entry is ";
  const size_t p = verify.err.find(prefix);
  ASSERT_NE(p, std::string::npos) << verify.err;
  const size_t bad = std::stoul(verify.err.substr(p + prefix.size()));
  Result exported = RunLoopgate({"ledger", "export", "--state", dir_ / "state"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  ExpectFailsAtLine(Recipe(SplitLines(exported.out)), bad);
}

TEST_F(LedgerDocRecipe, V1ExportsVerifyByTheirVersion) {
  // The same entries as an older build exported them: "v":1, each hash the plain SHA-256.
  std::vector<std::string> v1;
  std::string prev(64, '0');
  for (const std::string& line : export_) {
    std::string text = EntryText(line);
    const size_t link = text.find("\"prev_hash\":\"");
    ASSERT_NE(link, std::string::npos);
    text.replace(link + 13, 64, prev);
    ASSERT_EQ(text.substr(text.size() - 7), ",\"v\":2}");
    text.replace(text.size() - 2, 1, "1");
    prev = crypto::ToHex(crypto::Sha256(text));
    v1.push_back(text.substr(0, text.size() - 1) + ",\"hash\":\"" + prev + "\"}");
  }
  Result ok = Recipe(v1);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(ok.out, "ok: 51 entries of loopgate.ledger/v1, head " + prev + "\n");
  EXPECT_NE(prev, head_);

  // The version picks the hash: v2 entries relabelled as v1 fail at once.
  std::vector<std::string> relabelled = export_;
  for (std::string& line : relabelled) {
    const size_t v = line.rfind(",\"v\":2,");
    ASSERT_NE(v, std::string::npos);
    line.replace(v + 5, 1, "1");
  }
  ExpectFailsAtLine(Recipe(relabelled), 1);

  // One version throughout: v1 lines followed by v2 lines are rejected where v2 begins.
  std::vector<std::string> mixed(v1.begin(), v1.begin() + 3);
  mixed.insert(mixed.end(), export_.begin() + 3, export_.end());
  ExpectFailsAtLine(Recipe(mixed), 4);
}

TEST_F(LedgerDocRecipe, DocumentedExamplesAreTheReferenceRunsOwn) {
  // Section 10's examples are of releases appended after the reference run; release_cli_test
  // checks them.
  const std::string full = Doc();
  const std::string doc = full.substr(0, full.find("\n## 10. Measurement releases"));
  std::set<std::string> entries;
  for (const std::string& line : export_) entries.insert(EntryText(line));
  const std::vector<std::string> rows = ReadLines(dir_ / "state/ledger/rows.log");
  const std::set<std::string> row_set(rows.begin(), rows.end());
  const Result recipe = Recipe(export_);
  int entries_seen = 0, rows_seen = 0, heads_seen = 0;
  for (const std::string& line : SplitLines(doc)) {
    if (line.rfind("{\"consent_ids\":", 0) == 0) {
      ++entries_seen;
      const size_t dots = line.find("...");
      if (dots == std::string::npos) {
        EXPECT_TRUE(entries.count(line)) << "not an entry of the reference run:\n" << line;
        continue;
      }
      // An elided export line: some real line starts and ends as it does.
      const std::string head = line.substr(0, dots), tail = line.substr(dots + 3);
      bool found = false;
      for (const std::string& e : export_) {
        found |= e.size() >= head.size() + tail.size() && e.rfind(head, 0) == 0 &&
                 e.compare(e.size() - tail.size(), tail.size(), tail) == 0;
      }
      EXPECT_TRUE(found) << "no export line of the reference run matches:\n" << line;
    } else if (line.size() > 2 && line[0] == '[' && std::isdigit(static_cast<unsigned char>(line[1]))) {
      ++rows_seen;
      EXPECT_TRUE(row_set.count(line)) << "not a line of the reference run's rows.log:\n" << line;
    } else if (line.rfind("ledger verifies: 51 entries", 0) == 0) {
      ++heads_seen;
      EXPECT_EQ(line + "\n", verify_out_.substr(0, verify_out_.find('\n') + 1));
    } else if (line.rfind("ok: 51 entries of loopgate.ledger/v2", 0) == 0) {
      ++heads_seen;
      EXPECT_EQ(line + "\n", recipe.out);
    }
  }
  EXPECT_EQ(entries_seen, 4);  // Three entries in section 3, one export line in section 5.
  EXPECT_GE(rows_seen, 1);
  EXPECT_GE(heads_seen, 3);
}

}  // namespace
}  // namespace loopgate::testing
