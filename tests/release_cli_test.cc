// Measurement releases in the ledger, end to end: the reference run through the real binary,
// releases appended with ledger::AppendRelease (as `loopgate measure` will), then every command
// that reads the ledger through the binary: ledger verify, export (and the documented
// verify_export.py recipe on it), releases, explain, checkpoint, prove, check-proof, report
// governance, and another run on the same state (docs/ledger-format.md section 10).

#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "analytics/privacy_budget.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "ledger/entry_hash_testonly.h"
#include "ledger/ledger.h"
#include "simdjson.h"
#include "store/store.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

using common::StrCat;

std::string Digest(std::string_view bytes) {
  return "sha256:" + crypto::ToHex(crypto::Sha256(bytes));
}

// docs/ledger-format.md's verify_export.py, as ledger_doc_test extracts it.
std::string RecipeFromDoc() {
  const std::string doc = ReadFile(SourceDir() + "/docs/ledger-format.md");
  const size_t begin = doc.find("<!-- verify_export.py begin");
  const size_t end = doc.find("<!-- verify_export.py end -->");
  if (begin == std::string::npos || end == std::string::npos) return "";
  const size_t open = doc.find("\n```python\n", begin);
  const size_t close = doc.rfind("\n```", end);
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  const size_t body = open + std::string_view("\n```python\n").size();
  return doc.substr(body, close - body + 1);
}

class ReleaseCli : public ::testing::Test {
 protected:
  void SetUp() override {
    Result run = RunLoopgate(ReferenceRunArgs(state(), dir_ / "out"));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    // What `loopgate measure` will have: a study file and the result JSON it releases.
    study_ = "question: email lift\nunit: hcp\n";
    WriteFile(dir_ / "study.yaml", study_);
    result_ = "{\"cells\":[{\"arm\":\"exposed\",\"units\":\"suppressed\"}]}";
    WriteFile(dir_ / "result.json", result_);
  }

  std::string state() const { return dir_ / "state"; }

  // Appends a suppression release of study `study` with the API, as `loopgate measure` will.
  ledger::AppendedRelease Release(const std::string& id, const std::string& study) {
    auto db = store::Database::OpenExisting(state());
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return {};
    const std::string study_digest = Digest(study_), result_digest = Digest(result_);
    ledger::ReleaseFacts f;
    f.release_id = id;
    f.actor = "analyst@example.com";
    f.study = study;
    f.study_sha256 = study_digest;
    f.result_sha256 = result_digest;
    f.k = 11;
    f.cells_released = 6;
    f.cells_suppressed_primary = 1;
    f.cells_suppressed_complementary = 1;
    f.sink = "analytics_lake";
    f.rows_read = static_cast<int64_t>(ReadLines(dir_ / "out/analytics_lake.ndjson").size());
    f.time = "2026-07-01T09:30:00Z";
    auto r = ledger::AppendRelease(**db, f);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ledger::AppendedRelease{};
  }

  // A differential-privacy release: the spend and the entry in one transaction.
  ledger::AppendedRelease DpRelease(const std::string& id, const std::string& study) {
    auto db = store::Database::OpenExisting(state());
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return {};
    analytics::PrivacyBudget budget(**db);
    EXPECT_TRUE(budget.Open(study, 1.0).ok());
    const std::string study_digest = Digest(study_), result_digest = Digest(result_ + "noisy");
    ledger::ReleaseFacts f;
    f.release_id = id;
    f.actor = "analyst@example.com";
    f.study = study;
    f.study_sha256 = study_digest;
    f.result_sha256 = result_digest;
    f.mode = ledger::DisclosureMode::kDifferentialPrivacy;
    f.cells_released = 8;
    f.sink = "analytics_lake";
    f.rows_read = 3;
    f.time = "2026-07-02T10:00:00Z";
    ledger::ReleaseOptions options;
    options.in_transaction = [&](ledger::ReleaseFacts& facts, int64_t /*seq*/) -> absl::Status {
      auto spend = budget.Spend(facts.study, 0.25, facts.release_id, facts.time);
      if (!spend.ok()) return spend.status();
      facts.epsilon_nano = std::llround(spend->epsilon / analytics::kEpsilonUnit);
      return absl::OkStatus();
    };
    auto r = ledger::AppendRelease(**db, f, options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ledger::AppendedRelease{};
  }

  TempDir dir_;
  std::string study_, result_;
  simdjson::dom::parser parser_;
};

TEST_F(ReleaseCli, EveryLedgerCommandReadsAReleaseAndTheAuditStaysComplete) {
  const ledger::AppendedRelease rel = Release("rel-email-lift-1", "email-lift");
  ASSERT_EQ(rel.seq, 52);  // After the reference run's 51 entries.

  Result verify = RunLoopgate({"ledger", "verify", "--state", state()});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find(StrCat("ledger verifies: 52 entries, head ", rel.hash)),
            std::string::npos)
      << verify.out;

  // The export: the release is its last line, and the documented recipe checks the chain.
  Result exported = RunLoopgate({"ledger", "export", "--state", state()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  WriteFile(dir_ / "ledger.ndjson", exported.out);
  const std::vector<std::string> lines = ReadLines(dir_ / "ledger.ndjson");
  ASSERT_EQ(lines.size(), 52u);
  simdjson::dom::element last = parser_.parse(lines.back());
  EXPECT_EQ(std::string_view(last["decision"]), "release");
  EXPECT_EQ(std::string_view(last["event_id"]), "rel-email-lift-1");
  EXPECT_EQ(std::string_view(last["sink"]), "analytics_lake");
  EXPECT_TRUE(last["reason"].is_null());
  EXPECT_EQ(std::string_view(last["delivered"]), Digest(result_));
  EXPECT_EQ(std::string_view(last["hash"]), rel.hash);
  EXPECT_EQ(int64_t(last["v"]), 3);
  EXPECT_EQ(std::string_view(last["release"]["study_sha256"]), Digest(study_));
  // Its hash is the v3 rule's with the release tuple as the decision's ninth member
  // (docs/ledger-format.md sections 5 and 10.1), as computed apart from the ledger code.
  const std::string entry = lines.back().substr(0, lines.back().rfind(",\"hash\":\"")) + "}";
  EXPECT_EQ(ledger::testonly::DocumentedEntryHashHex(entry), rel.hash);
  std::string other_actor = entry;
  other_actor.replace(other_actor.find("analyst@example.com"), 7, "someone");
  EXPECT_NE(ledger::testonly::DocumentedEntryHashHex(other_actor), rel.hash);
  const std::string recipe = RecipeFromDoc();
  ASSERT_FALSE(recipe.empty());
  WriteFile(dir_ / "verify_export.py", recipe);
  Result py = RunPython(dir_ / "verify_export.py", dir_ / "ledger.ndjson");
  ASSERT_NE(py.exit_code, 127) << "python3 is not on PATH";
  EXPECT_EQ(py.exit_code, 0) << py.out << py.err;
  EXPECT_EQ(py.out, StrCat("ok: 52 entries of loopgate.ledger/v3, head ", rel.hash, "\n"));

  // ledger releases, as JSON and as text.
  Result listed = RunLoopgate({"ledger", "releases", "--state", state(), "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const std::vector<std::string> json_lines = [&] {
    WriteFile(dir_ / "releases.ndjson", listed.out);
    return ReadLines(dir_ / "releases.ndjson");
  }();
  ASSERT_EQ(json_lines.size(), 1u) << listed.out;
  simdjson::dom::element j = parser_.parse(json_lines[0]);
  EXPECT_EQ(int64_t(j["seq"]), 52);
  EXPECT_EQ(std::string_view(j["release_id"]), "rel-email-lift-1");
  EXPECT_EQ(std::string_view(j["time"]), "2026-07-01T09:30:00Z");
  EXPECT_EQ(std::string_view(j["actor"]), "analyst@example.com");
  EXPECT_EQ(std::string_view(j["study"]), "email-lift");
  EXPECT_EQ(std::string_view(j["result_sha256"]), Digest(result_));
  EXPECT_EQ(std::string_view(j["mode"]), "suppression");
  EXPECT_TRUE(j["epsilon"].is_null());
  EXPECT_EQ(int64_t(j["cells_suppressed_complementary"]), 1);
  Result text = RunLoopgate({"ledger", "releases", "--state", state()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("#52  2026-07-01T09:30:00Z  rel-email-lift-1  study email-lift  by "
                          "analyst@example.com"),
            std::string::npos)
      << text.out;
  Result other = RunLoopgate({"ledger", "releases", "--state", state(), "--study", "other"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(other.out, "no measurement releases in the ledger for study other\n");

  // explain names what was released; --json is the entry as exported, without its hash.
  Result explain = RunLoopgate({"explain", "--state", state(), "rel-email-lift-1"});
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_NE(explain.out.find("release rel-email-lift-1 of study email-lift"), std::string::npos)
      << explain.out;
  EXPECT_NE(explain.out.find(StrCat("result ", Digest(result_))), std::string::npos)
      << explain.out;
  Result explain_json = RunLoopgate({"explain", "--state", state(), "rel-email-lift-1", "--json"});
  ASSERT_EQ(explain_json.exit_code, 0) << explain_json.err;
  EXPECT_EQ(explain_json.out, lines.back().substr(0, lines.back().rfind(",\"hash\":\"")) + "}\n");

  // A signed checkpoint covers it, and a proof of the release checks with the public key alone.
  ASSERT_EQ(RunLoopgate({"keys", "init", "--dir", dir_ / "keys"}).exit_code, 0);
  Result cp = RunLoopgate({"ledger", "checkpoint", "--state", state(), "--signing-key",
                           dir_ / "keys/ledger-signing.key"});
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  EXPECT_NE(cp.out.find("tree_size 52\n"), std::string::npos) << cp.out;
  Result prove = RunLoopgate({"ledger", "prove", "--state", state(), "rel-email-lift-1", "--out",
                              dir_ / "rel.proof.json"});
  ASSERT_EQ(prove.exit_code, 0) << prove.err;
  Result check = RunLoopgate({"ledger", "check-proof", dir_ / "rel.proof.json", "--public-key",
                              dir_ / "keys/ledger-signing.pub"});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("proof verifies: event rel-email-lift-1 has 1 ledger entry (leaf "
                           "index 51)"),
            std::string::npos)
      << check.out;

  // The governance report: the release is counted for its study, not taken for a missing line.
  Result report = RunLoopgate({"report", "governance", "--state", state(), "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.err << report.out;
  simdjson::dom::element g = parser_.parse(report.out);
  EXPECT_TRUE(bool(g["ledger"]["verifies"]));
  EXPECT_EQ(int64_t(g["ledger"]["entries"]), 52);
  EXPECT_TRUE(bool(g["audit"]["complete"]));
  EXPECT_EQ(int64_t(g["audit"]["gaps_total"]), 0);
  simdjson::dom::array releases = g["releases"];
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(std::string_view(releases.at(0)["study"]), "email-lift");
  EXPECT_EQ(int64_t(releases.at(0)["releases"]), 1);
  EXPECT_EQ(int64_t(releases.at(0)["cells_suppressed"]), 2);
  Result report_text = RunLoopgate({"report", "governance", "--state", state()});
  ASSERT_EQ(report_text.exit_code, 0) << report_text.err;
  EXPECT_NE(report_text.out.find("measurement releases (1 in all)"), std::string::npos)
      << report_text.out;
}

TEST_F(ReleaseCli, ARunAfterAReleaseAppendsAfterItAndEverythingStillHolds) {
  Release("rel-1", "email-lift");
  const ledger::AppendedRelease dp = DpRelease("rel-2", "refill-90d");
  ASSERT_EQ(dp.seq, 53);
  // The same input again over a ledger that ends in releases: the run opens the ledger
  // writer after them and commits as usual.
  Result run = RunLoopgate(ReferenceRunArgs(state(), dir_ / "out"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  Result verify = RunLoopgate({"ledger", "verify", "--state", state()});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  Result listed = RunLoopgate({"ledger", "releases", "--state", state(), "--study", "refill-90d"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("differential_privacy, epsilon 0.25"), std::string::npos)
      << listed.out;
  EXPECT_EQ(listed.out.find("rel-1"), std::string::npos) << listed.out;
  Result report = RunLoopgate({"report", "governance", "--state", state(), "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.err << report.out;
  simdjson::dom::element g = parser_.parse(report.out);
  EXPECT_TRUE(bool(g["audit"]["complete"]));
  simdjson::dom::array releases = g["releases"];
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(std::string_view(releases.at(1)["study"]), "refill-90d");
  EXPECT_EQ(int64_t(releases.at(1)["dp_releases"]), 1);
  EXPECT_EQ(int64_t(releases.at(1)["epsilon_nano"]), 250000000);
}

TEST_F(ReleaseCli, AnEditedReleaseFailsVerifyAndTheReportAtItsEntry) {
  Release("rel-email-lift-1", "email-lift");
  std::string rows = ReadFile(state() + "/ledger/rows.log");
  const size_t at = rows.find("\"analyst@example.com\"");
  ASSERT_NE(at, std::string::npos);
  rows.replace(at, 21, "\"someone@example.com\"");  // Same length: who released it, rewritten.
  WriteFile(state() + "/ledger/rows.log", rows);
  Result verify = RunLoopgate({"ledger", "verify", "--state", state()});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_NE(verify.err.find("ledger does NOT verify: first bad entry is 52: entry 52 was "
                            "modified"),
            std::string::npos)
      << verify.err;
  Result report = RunLoopgate({"report", "governance", "--state", state(), "--json"});
  EXPECT_EQ(report.exit_code, 1) << report.out;
}

// Lines of every fenced block in `text` from `from` up to the next heading of `until` (or the
// end), except ```cpp blocks, shell prompts and the generic layouts (lines with `actor,` or
// `...`).
std::vector<std::string> DocumentedLines(const std::string& text, std::string_view from,
                                         std::string_view until) {
  std::vector<std::string> out;
  const size_t begin = text.find(from);
  if (begin == std::string::npos) return out;
  const size_t end = text.find(until, begin + from.size());
  const std::string section = text.substr(begin, end == std::string::npos ? end : end - begin);
  bool in_block = false, skip = false;
  size_t start = 0;
  for (size_t nl; (nl = section.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string line = section.substr(start, nl - start);
    if (line.rfind("```", 0) == 0) {
      skip = !in_block && line == "```cpp";
      in_block = !in_block;
      continue;
    }
    if (!in_block || skip || line.empty() || line.rfind("$ ", 0) == 0 ||
        line.find("actor,") != std::string::npos || line.find("...") != std::string::npos) {
      continue;
    }
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    out.push_back(text.substr(start, nl - start));
  }
  return out;
}

// The examples of docs/ledger-format.md section 10 and governance-report.md section 6.1 are
// this test's two releases after the reference run, output for output.
TEST_F(ReleaseCli, DocumentedExamplesAreTheseReleasesOwn) {
  ASSERT_EQ(Release("rel-1", "email-lift").seq, 52);
  ASSERT_EQ(DpRelease("rel-2", "refill-90d").seq, 53);
  std::set<std::string> produced;
  auto add = [&](const std::vector<std::string>& args) {
    Result r = RunLoopgate(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (std::string& l : Lines(r.out)) produced.insert(std::move(l));
  };
  add({"ledger", "export", "--state", state()});
  add({"ledger", "releases", "--state", state()});
  add({"ledger", "releases", "--state", state(), "--json"});
  add({"explain", "--state", state(), "rel-2"});
  add({"report", "governance", "--state", state()});
  const std::vector<std::string> rows = Lines(ReadFile(state() + "/ledger/rows.log"));
  for (const std::string& l : rows) produced.insert(l);
  // A release's tuple, the T of its entry's hash (section 10.1): a release row's one tuple.
  for (const std::string& l : rows) {
    const size_t open = l.rfind(",[[");
    if (l.find("\"release\",") != std::string::npos && open != std::string::npos &&
        l.size() >= open + 5 && l.compare(l.size() - 2, 2, "]]") == 0) {
      produced.insert(l.substr(open + 2, l.size() - 2 - (open + 2)));
    }
  }

  const std::vector<std::string> ledger_doc =
      DocumentedLines(ReadFile(SourceDir() + "/docs/ledger-format.md"),
                      "\n## 10. Measurement releases", "\n## 11.");
  EXPECT_GE(ledger_doc.size(), 16u);
  for (const std::string& line : ledger_doc) {
    EXPECT_TRUE(produced.count(line)) << "not what these releases give:\n" << line;
  }
  const std::vector<std::string> report_doc =
      DocumentedLines(ReadFile(SourceDir() + "/docs/governance-report.md"),
                      "\n### 6.1 Measurement releases", "\n## 7.");
  EXPECT_EQ(report_doc.size(), 4u);
  for (const std::string& line : report_doc) {
    EXPECT_TRUE(produced.count(line)) << "not what these releases give:\n" << line;
  }
}

}  // namespace
}  // namespace loopgate::testing
