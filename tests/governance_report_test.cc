// `loopgate report governance` through the real binary on the reference scenario. Every figure
// is checked against a count made here, independently, from the scenario's expected.ndjson
// (decisions per line), events.ndjson (subjects), consents.ndjson (revocations) and the
// catalog (each sink's purpose and consent requirement). Then the sink files are tampered
// with: each gap is reported by file, line and ledger seq, and the command exits 1.

#include <sys/file.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;

const std::vector<std::string> kSinks = {"crm", "marketing_automation", "support_cases",
                                         "analytics_lake", "research_warehouse", "safety_db"};

bool IsConsentReason(std::string_view r) {
  return r == "no_consent" || r == "consent_revoked" || r == "consent_expired" ||
         r == "consent_channel" || r == "jurisdiction";
}

// The figures, as counted from the scenario's own files.
struct Expected {
  int64_t accepted = 0, routed = 0, blocked = 0, no_candidate = 0, quarantined = 0, entries = 0;
  std::map<std::string, int64_t> quarantine_reasons;
  std::map<std::pair<std::string, std::string>, int64_t> denials;  // (reason, sink)
  struct Coverage {
    std::map<std::string, int> subjects;  // "type\0id" -> 2 valid, 1 checked, 0 not checked
    int64_t allows_citing = 0, consent_denials = 0;
  };
  std::map<std::string, Coverage> coverage;  // By purpose.
  int64_t revoked_versions = 0, revocation_denials = 0, revocation_events = 0,
          revocation_blocked = 0;
  std::set<std::string> revoked_consents;
  std::map<std::string, int64_t> allows;  // By sink.
};

Expected Count() {
  Expected x;
  auto catalog = catalog::LoadFile(SourceDir() + "/examples/reference/catalog.yaml");
  EXPECT_TRUE(catalog.ok()) << catalog.status();
  if (!catalog.ok()) return x;
  const auto expected = ReadLines(ReferenceDir() + "/expected.ndjson");
  const auto events = ReadLines(ReferenceDir() + "/events.ndjson");
  simdjson::dom::parser parser, event_parser;
  for (const auto& text : expected) {
    element e = parser.parse(text);
    std::string_view reason;
    if (e["quarantine"].get_string().get(reason) == simdjson::SUCCESS) {
      ++x.quarantined;
      ++x.entries;
      ++x.quarantine_reasons[std::string(reason)];
      continue;
    }
    simdjson::dom::object decisions;
    if (e["decisions"].get_object().get(decisions) != simdjson::SUCCESS) continue;  // Duplicate.
    ++x.accepted;
    const catalog::EventType* type = (*catalog)->FindEventType(std::string_view(e["type"]));
    EXPECT_NE(type, nullptr);
    if (type == nullptr) continue;
    // The subject, from the input line: payload (flat), data (CloudEvents), or a flat attribute.
    const int64_t line = int64_t(e["line"]);
    element input = event_parser.parse(events[static_cast<size_t>(line - 1)]);
    const std::string& field = type->fields[type->subject_field].name;
    std::string_view subject;
    if (input["payload"][field].get_string().get(subject) != simdjson::SUCCESS &&
        input["data"][field].get_string().get(subject) != simdjson::SUCCESS) {
      if (input[field].get_string().get(subject) != simdjson::SUCCESS) subject = {};
    }
    bool any_allow = false, any_revoked = false;
    if (decisions.size() == 0) ++x.no_candidate;
    for (auto [sink_id, d] : decisions) {
      ++x.entries;
      const catalog::Sink& sink = (*catalog)->sinks[(*catalog)->FindSink(sink_id)];
      const std::string& purpose = (*catalog)->purposes[sink.purpose].id;
      const bool needs_consent = sink.RequiresConsentFor(type->subject_type);
      const bool allow = std::string_view(d["decision"]) == "allow";
      int state = 0;
      if (allow) {
        any_allow = true;
        ++x.allows[std::string(sink_id)];
        if (simdjson::dom::array(d["consent_ids"]).size() > 0) ++x.coverage[purpose].allows_citing;
        state = 2;
      } else {
        const std::string r{std::string_view(d["reason"])};
        ++x.denials[{r, std::string(sink_id)}];
        if (IsConsentReason(r)) {
          ++x.coverage[purpose].consent_denials;
          state = 1;
        }
        if (r == "consent_revoked") {
          ++x.revocation_denials;
          any_revoked = true;
        }
      }
      if (needs_consent && !subject.empty()) {
        int& s = x.coverage[purpose].subjects[type->subject_type + '\0' + std::string(subject)];
        s = std::max(s, state);
      }
    }
    ++(any_allow ? x.routed : x.blocked);
    if (any_revoked) {
      ++x.revocation_events;
      if (!any_allow) ++x.revocation_blocked;
    }
  }
  for (const auto& text : ReadLines(ReferenceDir() + "/consents.ndjson")) {
    element c = parser.parse(text);
    if (std::string_view(c["status"]) == "revoked") {
      ++x.revoked_versions;
      x.revoked_consents.insert(std::string(std::string_view(c["consent_id"])));
    }
  }
  return x;
}

class GovernanceReport : public ::testing::Test {
 protected:
  void SetUp() override {
    Result r = RunLoopgate(ReferenceRunArgs(state(), out()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The ledger seq of each sink's allows, in order: what line k of its file should be.
    Result exported = RunLoopgate({"ledger", "export", "--state", state()});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    std::stringstream ss(exported.out);
    simdjson::dom::parser parser;
    for (std::string line; std::getline(ss, line);) {
      element e = parser.parse(line);
      if (std::string_view(e["decision"]) != "allow") continue;
      allow_seqs_[std::string(std::string_view(e["sink"]))].push_back(int64_t(e["seq"]));
    }
  }

  std::string state() const { return dir_ / "state"; }
  std::string out() const { return dir_ / "out"; }
  std::string file(const std::string& sink) const { return out() + "/" + sink + ".ndjson"; }

  Result Report(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"report", "governance", "--state", state(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunLoopgate(args);
  }

  // The report's gaps as "kind sink line_first-line_last seq_first-seq_last count"; 0 for null.
  static std::vector<std::string> Gaps(element report) {
    std::vector<std::string> out;
    for (element g : simdjson::dom::array(report["audit"]["gaps"])) {
      auto num = [&](const char* k) {
        int64_t v = 0;
        return g[k].get_int64().get(v) == simdjson::SUCCESS ? v : int64_t{0};
      };
      out.push_back(std::string(std::string_view(g["kind"])) + " " +
                    std::string(std::string_view(g["sink"])) + " " +
                    std::to_string(num("line_first")) + "-" + std::to_string(num("line_last")) +
                    " " + std::to_string(num("seq_first")) + "-" +
                    std::to_string(num("seq_last")) + " " + std::to_string(num("count")));
    }
    return out;
  }

  static std::string Gap(const std::string& kind, const std::string& sink, int64_t line,
                         int64_t seq) {
    return kind + " " + sink + " " + std::to_string(line) + "-" + std::to_string(line) + " " +
           std::to_string(seq) + "-" + std::to_string(seq) + " 1";
  }

  void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    WriteFile(path, text);
  }

  TempDir dir_;
  std::map<std::string, std::vector<int64_t>> allow_seqs_;
  simdjson::dom::parser parser_;
};

TEST_F(GovernanceReport, EveryFigureMatchesAnIndependentCountOfTheScenario) {
  const Expected x = Count();
  ASSERT_EQ(x.accepted, 18);  // The scenario as its README describes it.
  Result r = Report();
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  element j = parser_.parse(r.out);
  EXPECT_EQ(std::string_view(j["format"]), "loopgate.governance-report/v1");
  EXPECT_EQ(int64_t(j["runs"]), 1);
  EXPECT_EQ(int64_t(j["ledger"]["entries"]), x.entries);
  EXPECT_TRUE(bool(j["ledger"]["verifies"]));

  element ev = j["events"];
  EXPECT_EQ(int64_t(ev["accepted"]), x.accepted);
  EXPECT_EQ(int64_t(ev["routed"]), x.routed);
  EXPECT_EQ(int64_t(ev["blocked"]["count"]), x.blocked);
  EXPECT_EQ(int64_t(ev["blocked"]["of"]), x.accepted);
  EXPECT_NEAR(double(ev["blocked"]["rate"]), double(x.blocked) / double(x.accepted), 5e-5);
  EXPECT_EQ(int64_t(ev["blocked"]["no_candidate"]), x.no_candidate);
  EXPECT_EQ(int64_t(ev["quarantined"]["count"]), x.quarantined);
  EXPECT_EQ(int64_t(ev["quarantined"]["of"]), x.accepted + x.quarantined);
  std::map<std::string, int64_t> reasons;
  for (auto [reason, v] : simdjson::dom::object(ev["quarantined"]["by_reason"])) {
    reasons[std::string(reason)] = int64_t(v["count"]);
    EXPECT_NEAR(double(v["rate"]), double(int64_t(v["count"])) / double(x.accepted + x.quarantined),
                5e-5);
  }
  EXPECT_EQ(reasons, x.quarantine_reasons);

  std::map<std::pair<std::string, std::string>, int64_t> denials;
  for (element d : simdjson::dom::array(j["denials"])) {
    denials[{std::string(std::string_view(d["reason"])), std::string(std::string_view(d["sink"]))}] =
        int64_t(d["count"]);
  }
  EXPECT_EQ(denials, x.denials);

  std::set<std::string> purposes;
  for (element c : simdjson::dom::array(j["consent_coverage"])) {
    const std::string purpose{std::string_view(c["purpose"])};
    purposes.insert(purpose);
    ASSERT_TRUE(x.coverage.count(purpose)) << purpose;
    const Expected::Coverage& want = x.coverage.at(purpose);
    int64_t with = 0, without = 0, unchecked = 0;
    for (const auto& [subject, s] : want.subjects) ++(s == 2 ? with : s == 1 ? without : unchecked);
    const int64_t seen = static_cast<int64_t>(want.subjects.size());
    EXPECT_EQ(int64_t(c["subjects_seen"]), seen) << purpose;
    EXPECT_EQ(int64_t(c["with_consent"]), with) << purpose;
    EXPECT_EQ(int64_t(c["without_consent"]), without) << purpose;
    EXPECT_EQ(int64_t(c["not_checked"]), unchecked) << purpose;
    EXPECT_NEAR(double(c["coverage"]), seen ? double(with) / double(seen) : 0.0, 5e-5) << purpose;
    EXPECT_EQ(int64_t(c["allows_citing_consent"]), want.allows_citing) << purpose;
    EXPECT_EQ(int64_t(c["consent_denials"]), want.consent_denials) << purpose;
  }
  std::set<std::string> want_purposes;
  for (const auto& [p, c] : x.coverage) {
    if (!c.subjects.empty() || c.allows_citing || c.consent_denials) want_purposes.insert(p);
  }
  EXPECT_EQ(purposes, want_purposes);

  element rev = j["revocations"];
  EXPECT_EQ(int64_t(rev["versions_recorded"]), x.revoked_versions);
  EXPECT_EQ(int64_t(rev["consents"]), static_cast<int64_t>(x.revoked_consents.size()));
  EXPECT_EQ(int64_t(rev["denials"]), x.revocation_denials);
  EXPECT_EQ(int64_t(rev["events_stopped"]), x.revocation_events);
  EXPECT_EQ(int64_t(rev["events_blocked"]), x.revocation_blocked);

  element audit = j["audit"];
  EXPECT_TRUE(bool(audit["complete"]));
  EXPECT_EQ(int64_t(audit["gaps_total"]), 0);
  std::map<std::string, int64_t> matched;
  for (element f : simdjson::dom::array(audit["files"])) {
    const std::string sink{std::string_view(simdjson::dom::array(f["sinks"]).at(0))};
    EXPECT_EQ(std::string_view(f["path"]), fs::absolute(file(sink)).lexically_normal().string());
    EXPECT_EQ(int64_t(f["lines"]), int64_t(f["allows"])) << sink;
    EXPECT_EQ(int64_t(f["bytes"]), int64_t(f["committed"])) << sink;
    matched[sink] = int64_t(f["matched"]);
  }
  for (const auto& sink : kSinks) EXPECT_EQ(matched[sink], x.allows.at(sink)) << sink;
}

TEST_F(GovernanceReport, TextReportForPeople) {
  Result r = RunLoopgate({"report", "governance", "--state", state()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"events", "blocked", "38.9%", "consent coverage by purpose",
                        "hcp_commercial_engagement", "denials by reason and sink (24 in all)",
                        "consent_revoked", "revocations", "audit completeness: complete"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
}

TEST_F(GovernanceReport, ReportHoldsNoPayloadValues) {
  // Every string the sinks received (names, ids, tokens, narrative) stays out of the report.
  std::set<std::string> values;
  simdjson::dom::parser parser;
  for (const auto& sink : kSinks) {
    for (const auto& line : ReadLines(file(sink))) {
      element e = parser.parse(line);
      for (auto [k, v] : simdjson::dom::object(e["data"])) {
        std::string_view s;
        if (v.get_string().get(s) == simdjson::SUCCESS && s.size() >= 5) values.emplace(s);
      }
    }
  }
  ASSERT_GT(values.size(), 20u);
  for (bool json : {false, true}) {
    std::vector<std::string> args = {"report", "governance", "--state", state()};
    if (json) args.push_back("--json");
    Result r = RunLoopgate(args);
    for (const auto& v : values) EXPECT_EQ(r.out.find(v), std::string::npos) << v;
  }
}

TEST_F(GovernanceReport, DeletedLineIsReportedWithItsLedgerSeq) {
  auto lines = ReadLines(file("analytics_lake"));
  ASSERT_GE(lines.size(), 4u);
  lines.erase(lines.begin() + 2);  // Line 3: the third allow to analytics_lake.
  WriteLines(file("analytics_lake"), lines);
  Result r = Report();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("the audit is incomplete: 1 gap"), std::string::npos) << r.err;
  element j = parser_.parse(r.out);
  EXPECT_FALSE(bool(j["audit"]["complete"]));
  EXPECT_EQ(Gaps(j), std::vector<std::string>{Gap("missing_line", "analytics_lake", 0,
                                                   allow_seqs_["analytics_lake"][2])});
}

TEST_F(GovernanceReport, ForgedLineIsReportedAtItsLineNumber) {
  auto lines = ReadLines(file("crm"));
  const std::string forged =
      R"({"id":"evt-9999","type":"hcp.content.engaged","source":"web_portal","time":"2026-04-01T00:00:00Z","data":{"hcp_id":"hcp-777"}})";
  lines.insert(lines.begin() + 1, forged);  // Line 2.
  WriteLines(file("crm"), lines);
  Result r = Report();
  EXPECT_EQ(r.exit_code, 1);
  element j = parser_.parse(r.out);
  EXPECT_EQ(Gaps(j), std::vector<std::string>{Gap("unrecorded_line", "crm", 2, 0)});
  EXPECT_EQ(r.out.find("hcp-777"), std::string::npos);  // Never the line's content.
  EXPECT_EQ(r.out.find("evt-9999"), std::string::npos);
}

TEST_F(GovernanceReport, LineAppendedAfterTheLastCommitIsReportedAsUncommitted) {
  WriteFile(file("safety_db"), ReadFile(file("safety_db")) + "{\"id\":\"x\"}\n");
  Result r = Report();
  EXPECT_EQ(r.exit_code, 1);
  element j = parser_.parse(r.out);
  EXPECT_EQ(Gaps(j), std::vector<std::string>{Gap("uncommitted_line", "safety_db", 2, 0)});
}

TEST_F(GovernanceReport, ChangedByteIsReportedAsAModifiedLine) {
  std::string text = ReadFile(file("support_cases"));
  const size_t at = text.find("Maria");
  ASSERT_NE(at, std::string::npos);
  text[at] = 'N';
  WriteFile(file("support_cases"), text);
  Result r = Report();
  EXPECT_EQ(r.exit_code, 1);
  element j = parser_.parse(r.out);
  EXPECT_EQ(Gaps(j), std::vector<std::string>{Gap("modified_line", "support_cases", 1,
                                                  allow_seqs_["support_cases"][0])});
  EXPECT_EQ(r.out.find("Naria"), std::string::npos);
}

TEST_F(GovernanceReport, EveryDamageInEveryFileIsListed) {
  auto lake = ReadLines(file("analytics_lake"));
  lake.pop_back();  // The last allow's line.
  WriteLines(file("analytics_lake"), lake);
  auto crm = ReadLines(file("crm"));
  crm.insert(crm.begin(), "{}");
  WriteLines(file("crm"), crm);
  fs::remove(file("research_warehouse"));
  Result r = Report();
  EXPECT_EQ(r.exit_code, 1);
  element j = parser_.parse(r.out);
  EXPECT_EQ(int64_t(j["audit"]["gaps_total"]), 3);
  const std::vector<std::string> gaps = Gaps(j);
  const std::set<std::string> got(gaps.begin(), gaps.end());
  EXPECT_EQ(got, (std::set<std::string>{
                     Gap("missing_line", "analytics_lake", 0, allow_seqs_["analytics_lake"].back()),
                     Gap("unrecorded_line", "crm", 1, 0),
                     Gap("missing_line", "research_warehouse", 0,
                         allow_seqs_["research_warehouse"][0])}));
  // The text report lists them too, by sink, file and line or seq.
  Result text = RunLoopgate({"report", "governance", "--state", state()});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find("INCOMPLETE, 3 gaps"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("crm.ndjson  line 1: no ledger allow records it"), std::string::npos)
      << text.out;
}

TEST_F(GovernanceReport, MovedOutDirIsFoundWithOut) {
  fs::rename(out(), dir_ / "elsewhere");
  Result lost = Report();
  EXPECT_EQ(lost.exit_code, 1);  // Every allow's line is missing where the run wrote it.
  Result found = Report({"--out", dir_ / "elsewhere"});
  EXPECT_EQ(found.exit_code, 0) << found.err << found.out;
}

TEST_F(GovernanceReport, MaxGapsLimitsTheListNotTheCount) {
  fs::remove(file("analytics_lake"));
  fs::remove(file("crm"));
  Result r = Report({"--max-gaps", "1"});
  EXPECT_EQ(r.exit_code, 1);
  element j = parser_.parse(r.out);
  EXPECT_EQ(simdjson::dom::array(j["audit"]["gaps"]).size(), 1u);
  EXPECT_EQ(int64_t(j["audit"]["gaps_total"]), 2);
  EXPECT_EQ(int64_t(j["audit"]["gaps_not_listed"]), 1);
}

TEST_F(GovernanceReport, TamperedLedgerFailsTheReport) {
  // Entry 6 (line 3, crm, consent_revoked) edited in ledger/rows.log, as in
  // docs/ledger-format.md.
  std::string rows = ReadFile(state() + "/ledger/rows.log");
  const size_t at = rows.find("\"consent_revoked\"");
  ASSERT_NE(at, std::string::npos);
  rows.replace(at, 17, "\"no_consent\"");
  WriteFile(state() + "/ledger/rows.log", rows);
  Result r = Report();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the ledger does not verify: entry 6 was modified"), std::string::npos)
      << r.err;
  element j = parser_.parse(r.out);
  EXPECT_FALSE(bool(j["ledger"]["verifies"]));
  EXPECT_TRUE(bool(j["audit"]["complete"]));  // The files still match what the rows say.
}

TEST_F(GovernanceReport, RefusesWhileAnotherProcessHoldsTheState) {
  const int fd = ::open((state() + "/lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  Result r = Report();
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("another loopgate process is using the state"), std::string::npos) << r.err;
}

TEST_F(GovernanceReport, NoStateAndUsageErrors) {
  Result none = RunLoopgate({"report", "governance", "--state", dir_ / "nothing"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no Loopgate state in"), std::string::npos) << none.err;
  EXPECT_FALSE(fs::exists(dir_ / "nothing"));
  EXPECT_EQ(RunLoopgate({"report"}).exit_code, 2);
  EXPECT_EQ(RunLoopgate({"report", "governance"}).exit_code, 2);
}

}  // namespace
}  // namespace loopgate::testing
