// docs/ledger-format.md, checked against the real binary. Section 7's Python recipe is taken
// from the document at test time (the block between its `verify_export.py begin` and `end`
// marker comments) and run with python3 on exports of the reference run: intact, tampered, and
// rewritten as a loopgate.ledger/v1 export, as a v2 export and as v2 entries followed by v3 ones
// (a ledger begun by an earlier build). Sections 5 and 6's Python snippets are run too. The
// document's example entries, rows and heads must be what the reference run really produces.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "ledger/entry_hash_testonly.h"
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

// `text` (an entry without "hash") as an export line with `hash`.
std::string WithHash(const std::string& text, const std::string& hash) {
  return text.substr(0, text.size() - 1) + ",\"hash\":\"" + hash + "\"}";
}

// The RFC 6962 leaf hash of the text: the v2 rule, in hex.
std::string V2Hash(const std::string& text) {
  return crypto::ToHex(crypto::Sha256(std::string(1, '\0') + text));
}

// The export's entries rewritten as version `v`, with `prev_hash` re-chained from `prev` and each
// hash recomputed by that version's rule (v1: SHA-256 of the text; v2: its leaf hash; v3:
// section 5's rule, as entry_hash_testonly computes it). `prev` ends as the last hash.
std::vector<std::string> Rewritten(const std::vector<std::string>& lines, int v,
                                   std::string* prev) {
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    std::string text = EntryText(line);
    const size_t link = text.find("\"prev_hash\":\"");
    const size_t version = text.rfind(",\"v\":3}");
    EXPECT_NE(link, std::string::npos) << text;
    EXPECT_EQ(version, text.size() - 7) << text;
    if (link == std::string::npos || version != text.size() - 7) return {};
    text.replace(link + 13, 64, *prev);
    text.replace(text.size() - 2, 1, std::to_string(v));
    *prev = v == 1   ? crypto::ToHex(crypto::Sha256(text))
            : v == 2 ? V2Hash(text)
                     : ledger::testonly::DocumentedEntryHashHex(text);
    EXPECT_EQ(prev->size(), 64u) << text;
    out.push_back(WithHash(text, *prev));
  }
  return out;
}

// The ```python fence that follows `after` in the document, without the fence lines.
std::string PythonBlockAfter(const std::string& doc, std::string_view after) {
  const size_t at = doc.find(after);
  if (at == std::string::npos) return "";
  const size_t open = doc.find("```python\n", at);
  if (open == std::string::npos) return "";
  const size_t body = open + std::string_view("```python\n").size();
  const size_t close = doc.find("\n```\n", body);
  return close == std::string::npos ? "" : doc.substr(body, close - body + 1);
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
  EXPECT_EQ(r.out, "ok: 51 entries of loopgate.ledger/v3, head " + head_ + "\n") << r.err;
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

  // An entry edited with its hash recomputed by the v3 rule: the entry itself passes, but the
  // next line no longer links.
  std::vector<std::string> rehashed = export_;
  std::string text = EntryText(rehashed[4]);
  const size_t at = text.find("\"line\":");
  ASSERT_NE(at, std::string::npos);
  text.insert(at + 7, "9");
  const std::string hash = ledger::testonly::DocumentedEntryHashHex(text);
  ASSERT_EQ(hash.size(), 64u) << text;
  ASSERT_NE(hash, HashOf(export_[4]));
  rehashed[4] = WithHash(text, hash);
  ExpectFailsAtLine(Recipe(rehashed), 6);
  // With the chain mended after it too (every later hash recomputed), the export verifies: the
  // recipe checks the chain, not where it ends (section 6, "Limits").
  std::string prev = hash;
  const std::vector<std::string> rest(export_.begin() + 5, export_.end());
  std::vector<std::string> mended(rehashed.begin(), rehashed.begin() + 5);
  for (std::string& l : Rewritten(rest, 3, &prev)) mended.push_back(std::move(l));
  Result r = Recipe(mended);
  EXPECT_EQ(r.out, "ok: 51 entries of loopgate.ledger/v3, head " + prev + "\n") << r.err;
  EXPECT_NE(prev, head_);
}

TEST_F(LedgerDocRecipe, V3HashesCoverEveryMember) {
  // A v3 entry's hash names the members it covers; a member added to an entry leaves that hash
  // unchanged, so the recipe refuses an entry whose members are not exactly an entry's.
  std::vector<std::string> added = export_;
  const std::string text = EntryText(added[4]);
  const std::string extra = text.substr(0, text.size() - 1) + ",\"x\":1}";
  ASSERT_EQ(ledger::testonly::DocumentedEntryHashHex(extra), HashOf(export_[4]));
  added[4] = WithHash(extra, HashOf(export_[4]));
  ExpectFailsAtLine(Recipe(added), 5);
  std::vector<std::string> removed = export_;
  const size_t detail = removed[4].find("\"detail\":null,");
  ASSERT_NE(detail, std::string::npos);
  removed[4].erase(detail, 14);
  ExpectFailsAtLine(Recipe(removed), 5);
  // v3 entries hashed by the v2 rule, chained correctly otherwise, fail at the first.
  std::vector<std::string> v2_hashed;
  std::string prev(64, '0');
  for (const std::string& line : export_) {
    std::string t = EntryText(line);
    t.replace(t.find("\"prev_hash\":\"") + 13, 64, prev);
    prev = V2Hash(t);
    v2_hashed.push_back(WithHash(t, prev));
  }
  ExpectFailsAtLine(Recipe(v2_hashed), 1);
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
  std::string prev(64, '0');
  const std::vector<std::string> v1 = Rewritten(export_, 1, &prev);
  ASSERT_EQ(v1.size(), 51u);
  Result ok = Recipe(v1);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(ok.out, "ok: 51 entries of loopgate.ledger/v1, head " + prev + "\n");
  EXPECT_NE(prev, head_);

  // The version picks the hash: v3 entries relabelled as v1 fail at once.
  std::vector<std::string> relabelled = export_;
  for (std::string& line : relabelled) {
    const size_t v = line.rfind(",\"v\":3,");
    ASSERT_NE(v, std::string::npos);
    line.replace(v + 5, 1, "1");
  }
  ExpectFailsAtLine(Recipe(relabelled), 1);

  // v1 is never mixed with another version: v1 lines followed by v3 lines, linked, are rejected
  // where v3 begins.
  std::vector<std::string> mixed(v1.begin(), v1.begin() + 3);
  std::string link = HashOf(v1[2]);
  const std::vector<std::string> rest(export_.begin() + 3, export_.end());
  for (std::string& l : Rewritten(rest, 3, &link)) mixed.push_back(std::move(l));
  Result r = Recipe(mixed);
  ExpectFailsAtLine(r, 4);
  EXPECT_NE(r.out.find("a v3 entry after a v1 entry"), std::string::npos) << r.out;
}

TEST_F(LedgerDocRecipe, V2ExportsAndV2ExportsThatGoOnInV3Verify) {
  // A ledger begun by an earlier build: its v2 entries (hashed as SHA-256(0x00 || text)), then
  // the v3 entries this build appended, linked to them.
  std::string prev(64, '0');
  const std::vector<std::string> all_v2 = Rewritten(export_, 2, &prev);
  ASSERT_EQ(all_v2.size(), 51u);
  Result v2 = Recipe(all_v2);
  EXPECT_EQ(v2.exit_code, 0) << v2.out << v2.err;
  EXPECT_EQ(v2.out, "ok: 51 entries of loopgate.ledger/v2, head " + prev + "\n");

  prev = std::string(64, '0');
  const std::vector<std::string> first(export_.begin(), export_.begin() + 20);
  const std::vector<std::string> rest(export_.begin() + 20, export_.end());
  std::vector<std::string> mixed = Rewritten(first, 2, &prev);
  const std::string v2_head = prev;
  for (std::string& l : Rewritten(rest, 3, &prev)) mixed.push_back(std::move(l));
  ASSERT_EQ(mixed.size(), 51u);
  ASSERT_NE(mixed[20].find("\"prev_hash\":\"" + v2_head + "\""), std::string::npos);
  Result ok = Recipe(mixed);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  // The version printed is the last entry's.
  EXPECT_EQ(ok.out, "ok: 51 entries of loopgate.ledger/v3, head " + prev + "\n");
  EXPECT_NE(prev, head_);

  // Each part is checked by its own rule: an edit in either part fails at its line.
  for (size_t n : {size_t{7}, size_t{30}}) {
    std::vector<std::string> edited = mixed;
    const size_t at = edited[n - 1].find("\"run\":1,");
    ASSERT_NE(at, std::string::npos);
    edited[n - 1].replace(at, 8, "\"run\":2,");
    SCOPED_TRACE("line " + std::to_string(n));
    ExpectFailsAtLine(Recipe(edited), n);
  }

  // Never v3 then v2: the same entries the other way round, linked, fail where v2 begins.
  prev = std::string(64, '0');
  std::vector<std::string> backwards = Rewritten(first, 3, &prev);
  for (std::string& l : Rewritten(rest, 2, &prev)) backwards.push_back(std::move(l));
  ASSERT_EQ(backwards.size(), 51u);
  Result r = Recipe(backwards);
  ExpectFailsAtLine(r, 21);
  EXPECT_NE(r.out.find("a v2 entry after a v3 entry"), std::string::npos) << r.out;
  // The first 20 of them alone, all v3, verify: only the order was wrong.
  const std::vector<std::string> head_part(backwards.begin(), backwards.begin() + 20);
  EXPECT_EQ(Recipe(head_part).exit_code, 0);
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
    } else if (line.rfind("merkle root ", 0) == 0) {
      ++heads_seen;
      EXPECT_EQ(line, SplitLines(verify_out_).at(1));
    } else if (line.rfind("ok: 51 entries of loopgate.ledger/", 0) == 0) {
      ++heads_seen;
      EXPECT_EQ(line + "\n", recipe.out);
    } else if (line.find("ledger: 51 new entries, head ") != std::string::npos) {
      ++heads_seen;
      EXPECT_NE(line.find("head " + head_.substr(0, 8) + "…"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(entries_seen, 4);  // Three entries in section 3, one export line in section 5.
  EXPECT_GE(rows_seen, 1);
  EXPECT_GE(heads_seen, 6);
}

// Section 5's Python for the v3 hash, run on every entry of the export: it gives each entry's
// hash.
TEST_F(LedgerDocRecipe, SectionFivePythonComputesEveryEntrysHash) {
  const std::string snippet = PythonBlockAfter(Doc(), "In Python, with `e` an exported entry");
  ASSERT_NE(snippet.find("def c(value)"), std::string::npos) << snippet;
  const std::string exported = dir_ / "export.ndjson";
  WriteFile(exported, JoinLines(export_));
  const std::string harness = dir_ / "section5.py";
  WriteFile(harness, "import hashlib, json, sys\nsnippet = " + std::string("r'''") + snippet +
                         "'''\nn = 0\nfor line in open(sys.argv[1], encoding='utf-8'):\n"
                         "    e = json.loads(line)\n    stored = e.pop('hash')\n"
                         "    g = {'hashlib': hashlib, 'json': json, 'e': e}\n"
                         "    exec(snippet, g)\n"
                         "    if g['v3'] != stored:\n        print('differs at', e['seq'])\n"
                         "        sys.exit(1)\n    n += 1\nprint(n)\n");
  Result r = RunPython(harness, exported);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "51\n") << r.err;
  // And on an edited entry it gives another hash (the harness then stops at it).
  std::vector<std::string> edited = export_;
  edited[5].replace(edited[5].find("\"consent_revoked\""), 17, "\"no_consent\"");
  WriteFile(exported, JoinLines(edited));
  r = RunPython(harness, exported);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "differs at 6\n") << r.err;
}

// Section 6's walkthrough, "An edit with a recomputed hash", as printed: the rows.log edit, then
// its Python, then verify, which names entry 7.
TEST_F(LedgerDocRecipe, SectionSixRecomputedHashWalkthrough) {
  const std::string doc = Doc();
  const size_t at = doc.find("**An edit with a recomputed hash.**");
  ASSERT_NE(at, std::string::npos);
  const size_t begin = doc.find("$ python3 - <<'END'\n", at);
  ASSERT_NE(begin, std::string::npos);
  const size_t body = begin + std::string_view("$ python3 - <<'END'\n").size();
  const size_t end = doc.find("\nEND\n", body);
  ASSERT_NE(end, std::string::npos);
  const std::string snippet = doc.substr(body, end - body + 1);
  const size_t expect_at = doc.find("$ loopgate ledger verify --state state/tampered\n", end);
  ASSERT_NE(expect_at, std::string::npos);
  const size_t expect_begin = doc.find('\n', expect_at) + 1;
  const std::string documented =
      doc.substr(expect_begin, doc.find('\n', expect_begin) - expect_begin + 1);
  ASSERT_EQ(documented.rfind("ledger does NOT verify: first bad entry is 7: ", 0), 0u)
      << documented;

  // The state and export the walkthrough names, under dir_ / "walk": a copy of the reference
  // run's state with section 6's rows.log edit, and the export made before it.
  const std::string tampered = dir_ / "tampered";
  ASSERT_EQ(std::system(("cp -r '" + dir_ / "state" + "' '" + tampered + "'").c_str()), 0);
  const std::string rows_path = tampered + "/ledger/rows.log";
  std::vector<std::string> rows = SplitLines(ReadFile(rows_path));
  bool edited = false;
  for (std::string& row : rows) {
    if (row.rfind("[6,", 0) != 0) continue;
    row.replace(row.find("\"consent_revoked\""), 17, "\"no_consent\"");
    edited = true;
  }
  ASSERT_TRUE(edited);
  WriteFile(rows_path, JoinLines(rows));
  std::filesystem::create_directories(dir_ / "walk/out");
  std::filesystem::create_directories(dir_ / "walk/state");
  std::filesystem::create_symlink(tampered, dir_ / "walk/state/tampered");
  WriteFile(dir_ / "walk/out/ledger.ndjson", JoinLines(export_));
  const std::string harness = dir_ / "walk.py";
  WriteFile(harness, "import os, sys\nos.chdir(sys.argv[1])\nexec(compile(r'''" + snippet +
                         "''', 'walkthrough', 'exec'))\n");
  Result py = RunPython(harness, dir_ / "walk");
  ASSERT_EQ(py.exit_code, 0) << py.out << py.err;
  Result verify = RunLoopgate({"ledger", "verify", "--state", tampered});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_EQ(verify.err, documented);
}

}  // namespace
}  // namespace loopgate::testing
