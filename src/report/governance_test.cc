// The governance report on states written by the real router (router::Run), for a small
// catalog whose every figure can be counted by hand (see kEvents).

#include "report/governance.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "consent/consent.h"
#include "consent/consent_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "json/json.h"
#include "ledger/ledger.h"
#include "router/router.h"
#include "seen/seen.h"
#include "sink/sink.h"
#include "store/scratch_state.h"

namespace loopgate::report {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Two consent-requiring sinks (care, analytics); `note` permits only a purpose no sink serves.
constexpr std::string_view kCatalog = R"yaml(
format: loopgate.catalog/v1
name: report-test
purposes:
  care: {}
  analytics: {}
  archive: {}
classes:
  ident: {level: phi}
  op: {level: non_phi}
event_types:
  visit:
    sources: [clinic]
    subject: {type: patient, field: patient_id}
    purposes: [care, analytics]
    fields:
      patient_id: {type: string, class: ident}
      tag: {type: string, class: op}
  note:
    sources: [clinic]
    subject: {type: patient, field: patient_id}
    purposes: [archive]
    fields:
      patient_id: {type: string, class: ident, required: true}
sinks:
  care_team:
    purpose: care
    max_level: phi
    consent_required_for: [patient]
  lake:
    purpose: analytics
    max_level: phi
    consent_required_for: [patient]
rules:
  - id: no-test
    sinks: [lake]
    fields: {tag: test}
)yaml";

std::string Visit(std::string_view id, std::string_view payload) {
  return std::string("{\"event_id\":\"") + std::string(id) +
         "\",\"event_type\":\"visit\",\"source_system\":\"clinic\","
         "\"timestamp\":\"2026-04-01T00:00:00Z\",\"payload\":{" + std::string(payload) + "}}";
}

// What each line does (care_team, lake):
//   e1 p1            allow (c-p1-care), allow (c-p1-lake)        routed
//   e2 p2            consent_revoked, no_consent                 blocked
//   e3 p3 tag test   no_consent, rule:no-test (not checked)      blocked
//   e4 p1            allow, allow                                routed (p1 counted once)
//   e5 no subject    no_consent, no_consent                      blocked, nobody to count
//   e6 note p1       no candidate sink                           blocked, no ledger entry
//   malformed line   quarantine malformed_json
//   e1 again         duplicate: not counted
//   e9 p4 tag test   no_consent, rule:no-test                    blocked
const std::vector<std::string>& Events() {
  static const std::vector<std::string> events = {
      Visit("e1", "\"patient_id\":\"p1\""),
      Visit("e2", "\"patient_id\":\"p2\""),
      Visit("e3", "\"patient_id\":\"p3\",\"tag\":\"test\""),
      Visit("e4", "\"patient_id\":\"p1\""),
      Visit("e5", ""),
      "{\"event_id\":\"e6\",\"event_type\":\"note\",\"source_system\":\"clinic\","
      "\"timestamp\":\"2026-04-01T00:00:00Z\",\"payload\":{\"patient_id\":\"p1\"}}",
      "{not json",
      Visit("e1", "\"patient_id\":\"p1\""),
      Visit("e9", "\"patient_id\":\"p4\",\"tag\":\"test\""),
  };
  return events;
}

std::string Consents() {
  consent::test_support::ConsentLine c;
  std::string out;
  auto add = [&](std::string id, std::string subject, std::string purpose,
                 std::string status = "granted", std::string recorded = "2026-01-01T00:00:05Z") {
    c.id = std::move(id);
    c.subject_id = std::move(subject);
    c.purpose = std::move(purpose);
    c.status = std::move(status);
    c.recorded_at = std::move(recorded);
    out += c.Json() + "\n";
  };
  add("c-p1-care", "p1", "care");
  add("c-p1-lake", "p1", "analytics");
  add("c-p2-care", "p2", "care");
  add("c-p2-care", "p2", "care", "revoked", "2026-02-01T00:00:00Z");
  return out;
}

class GovernanceTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(scratch_.Open("governance"));
    auto catalog = catalog::LoadString(kCatalog, "report-test.yaml", &sink::ValidateOutput);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = std::move(*catalog);
    const std::string consents = scratch_.root + "/consents.ndjson";
    std::ofstream(consents) << Consents();
    auto imported = consent::Import(*scratch_.db, consent::RegistryKind::kConsents, consents);
    ASSERT_TRUE(imported.ok()) << imported.status();
    ASSERT_EQ(imported->rejected, 0);
  }
  void TearDown() override { scratch_.Close(); }

  void Route(const std::vector<std::string>& lines, const std::string& out) {
    const std::string events = scratch_.root + "/events" + std::to_string(runs_++) + ".ndjson";
    std::ofstream f(events);
    for (const auto& l : lines) f << l << "\n";
    f.close();
    router::Options options;
    options.events_path = events;
    options.out_dir = out;
    options.as_of = consent::test_support::T("2026-06-30T00:00:00Z");
    options.as_of_text = "2026-06-30T00:00:00Z";
    auto summary = router::Run(*catalog_, keys_, *scratch_.db, options);
    ASSERT_TRUE(summary.ok()) << summary.status();
  }

  GovernanceReport Report(GovernanceOptions options = {}) {
    auto r = Governance(*scratch_.db, options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : GovernanceReport{};
  }

  std::string Out() const { return scratch_.root + "/out"; }

  store::test_support::ScratchState scratch_;
  std::unique_ptr<catalog::Catalog> catalog_;
  transform::KeyStore keys_;
  int runs_ = 0;
};

TEST_F(GovernanceTest, EventFigures) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const GovernanceReport r = Report();
  EXPECT_EQ(r.runs, 1);
  EXPECT_EQ(r.runs_unfinished, 0);
  EXPECT_TRUE(r.ledger_verifies) << r.ledger_problem;
  EXPECT_EQ(r.ledger_entries, 13);  // Six visits with two sinks each, one quarantine.
  EXPECT_EQ(r.accepted, 7);
  EXPECT_EQ(r.routed, 2);
  EXPECT_EQ(r.blocked_denied, 4);
  EXPECT_EQ(r.blocked_no_candidate, 1);
  EXPECT_EQ(r.blocked(), 5);
  EXPECT_EQ(r.quarantined, 1);
  EXPECT_EQ(r.records(), 8);
  EXPECT_EQ(r.quarantine_reasons, (std::map<std::string, int64_t>{{"malformed_json", 1}}));
}

TEST_F(GovernanceTest, ConsentCoveragePerPurpose) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const GovernanceReport r = Report();
  ASSERT_EQ(r.coverage.size(), 2u);
  const PurposeCoverage& analytics = r.coverage[0];
  EXPECT_EQ(analytics.purpose, "analytics");
  EXPECT_EQ(analytics.subjects_seen, 4);             // p1, p2, p3, p4.
  EXPECT_EQ(analytics.subjects_with_consent, 1);     // p1.
  EXPECT_EQ(analytics.subjects_without_consent, 1);  // p2 (no analytics consent).
  EXPECT_EQ(analytics.subjects_not_checked, 2);      // p3, p4: the rule came first.
  EXPECT_EQ(analytics.allows_citing_consent, 2);     // e1, e4.
  EXPECT_EQ(analytics.consent_denials, 2);           // e2, e5.
  EXPECT_DOUBLE_EQ(analytics.coverage(), 0.25);
  const PurposeCoverage& care = r.coverage[1];
  EXPECT_EQ(care.purpose, "care");
  EXPECT_EQ(care.subjects_seen, 4);
  EXPECT_EQ(care.subjects_with_consent, 1);
  EXPECT_EQ(care.subjects_without_consent, 3);  // p2 revoked, p3 and p4 none.
  EXPECT_EQ(care.subjects_not_checked, 0);
  EXPECT_EQ(care.allows_citing_consent, 2);
  EXPECT_EQ(care.consent_denials, 4);  // e2, e3, e5, e9.
}

TEST_F(GovernanceTest, ASubjectCountsOnceAcrossRunsAndKeepsItsBestState) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  // p3 again, without the rule's tag: its analytics consent is now checked (none found).
  ASSERT_NO_FATAL_FAILURE(Route({Visit("e10", "\"patient_id\":\"p3\"")}, Out()));
  const GovernanceReport r = Report();
  EXPECT_EQ(r.runs, 2);
  ASSERT_EQ(r.coverage.size(), 2u);
  EXPECT_EQ(r.coverage[0].subjects_seen, 4);
  EXPECT_EQ(r.coverage[0].subjects_without_consent, 2);
  EXPECT_EQ(r.coverage[0].subjects_not_checked, 1);
  EXPECT_EQ(r.coverage[1].subjects_seen, 4);
}

TEST_F(GovernanceTest, DenialsByReasonAndSink) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const GovernanceReport r = Report();
  std::vector<std::string> got;
  for (const auto& d : r.denials) got.push_back(d.reason + " " + d.sink + " " + std::to_string(d.count));
  EXPECT_THAT(got, ElementsAre("consent_revoked care_team 1", "no_consent care_team 3",
                               "no_consent lake 2", "rule:no-test lake 2"));
}

TEST_F(GovernanceTest, Revocations) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const GovernanceReport r = Report();
  EXPECT_EQ(r.revoked_versions, 1);
  EXPECT_EQ(r.revoked_consents, 1);
  EXPECT_EQ(r.revocation_denials, 1);
  EXPECT_EQ(r.revocation_events, 1);
  EXPECT_EQ(r.revocation_blocked, 1);
}

TEST_F(GovernanceTest, AuditCompleteOnAnIntactRun) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const GovernanceReport r = Report();
  EXPECT_TRUE(r.audit_complete());
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[0].path, fs::absolute(Out() + "/care_team.ndjson").lexically_normal());
  EXPECT_THAT(r.files[0].sinks, ElementsAre("care_team"));
  EXPECT_EQ(r.files[0].lines, 2);
  EXPECT_EQ(r.files[0].matched, 2);
  EXPECT_EQ(r.files[1].matched, 2);
  EXPECT_EQ(r.files[0].committed, r.files[0].bytes);
}

TEST_F(GovernanceTest, AMovedOutDirIsFoundWithOutDir) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  fs::rename(Out(), scratch_.root + "/moved");
  GovernanceReport r = Report();
  EXPECT_FALSE(r.audit_complete());
  EXPECT_EQ(r.total_gaps, 2);  // Both files absent: their allows are missing.
  GovernanceOptions options;
  options.out_dir = scratch_.root + "/moved";
  r = Report(options);
  EXPECT_TRUE(r.audit_complete());
  EXPECT_EQ(r.files[1].path, fs::absolute(scratch_.root + "/moved/lake.ndjson").lexically_normal());
}

TEST_F(GovernanceTest, RunsWithoutRecordedOutputsNeedOutDir) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  ASSERT_TRUE(scratch_.db->Exec("DELETE FROM run_sinks").ok());  // As a state from before them.
  GovernanceReport r = Report();
  EXPECT_EQ(r.unmapped_allows, 4);
  EXPECT_FALSE(r.audit_complete());
  ASSERT_FALSE(r.gaps.empty());
  EXPECT_EQ(r.gaps[0].kind, GapKind::kUnmappedAllow);
  GovernanceOptions options;
  options.out_dir = Out();
  r = Report(options);
  EXPECT_EQ(r.unmapped_allows, 0);
  EXPECT_TRUE(r.audit_complete());
  EXPECT_EQ(r.files.size(), 2u);
}

TEST_F(GovernanceTest, ATamperedLedgerIsReportedNotHidden) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  // The first no_consent denial in ledger/rows.log becomes consent_expired.
  const std::string rows_log = scratch_.db->dir() + "/ledger/rows.log";
  std::string rows;
  {
    std::ifstream in(rows_log, std::ios::binary);
    rows.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t at = rows.find("\"no_consent\"");
  ASSERT_NE(at, std::string::npos);
  rows.replace(at, 12, "\"consent_expired\"");
  std::ofstream(rows_log, std::ios::binary | std::ios::trunc) << rows;
  const GovernanceReport r = Report();
  EXPECT_FALSE(r.ledger_verifies);
  EXPECT_THAT(r.ledger_problem, HasSubstr("was modified"));
  EXPECT_FALSE(r.ok());
}

TEST_F(GovernanceTest, JsonIsOneObjectWithTheDocumentedSections) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const std::string text = Report().ToJson();
  json::StrictParser parser;
  std::string canonical;
  auto root = parser.ParseCopy(text, &canonical);
  ASSERT_TRUE(root.ok()) << root.status() << "\n" << text;
  std::string_view format;
  ASSERT_EQ((*root)["format"].get_string().get(format), simdjson::SUCCESS);
  EXPECT_EQ(format, kGovernanceFormat);
  for (const char* key : {"state", "runs", "ledger", "events", "consent_coverage", "denials",
                          "revocations", "audit"}) {
    EXPECT_EQ((*root)[key].error(), simdjson::SUCCESS) << key;
  }
  double rate = 0;
  ASSERT_EQ((*root)["events"]["blocked"]["rate"].get_double().get(rate), simdjson::SUCCESS);
  EXPECT_NEAR(rate, 5.0 / 7.0, 1e-4);
}

TEST_F(GovernanceTest, TextHasEverySection) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const std::string text = Report().ToText();
  for (const char* section : {"events", "consent coverage by purpose", "denials by reason and sink",
                              "revocations", "audit completeness: complete"}) {
    EXPECT_THAT(text, HasSubstr(section));
  }
  EXPECT_THAT(text, HasSubstr("71.4%"));  // Blocked: 5 of 7 accepted.
}

TEST_F(GovernanceTest, SubjectIdsAreNotStoredInTheClear) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  // The subject column: 16 bytes of salted digest, then the bitmap of consent-requiring
  // candidates.
  auto reader = seen::Reader::Open(*scratch_.db);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> with_subject;
  ASSERT_TRUE((*reader)->ForEach([&](const seen::Record& r) -> absl::Status {
                 if (r.subject.empty()) return absl::OkStatus();
                 with_subject.push_back(r.id);
                 EXPECT_EQ(r.subject.size(), 17u);
                 EXPECT_EQ(r.subject.back(), 0b11);  // Both candidates (care_team, lake).
                 EXPECT_EQ(r.subject.find("p1"), std::string::npos);
                 return absl::OkStatus();
               }).ok());
  std::sort(with_subject.begin(), with_subject.end());
  // e5 has no subject; e6's type has no candidate sink.
  EXPECT_THAT(with_subject, ElementsAre("e1", "e2", "e3", "e4", "e9"));
}

// Release entries (docs/ledger-format.md section 10) are counted per study and leave every other
// figure, the audit above all, as it was.
TEST_F(GovernanceTest, ReleasesAreCountedPerStudyAndLeaveTheOtherFiguresAlone) {
  ASSERT_NO_FATAL_FAILURE(Route(Events(), Out()));
  const GovernanceReport before = Report();
  const std::string digest = "sha256:" + std::string(64, 'd');
  auto release = [&](std::string_view id, std::string_view study, int64_t epsilon_nano,
                     int64_t released, int64_t primary, int64_t complementary) {
    ledger::ReleaseFacts f;
    f.release_id = id;
    f.actor = "analyst";
    f.study = study;
    f.study_sha256 = digest;
    f.result_sha256 = digest;
    if (epsilon_nano > 0) {
      f.mode = ledger::DisclosureMode::kDifferentialPrivacy;
      f.epsilon_nano = epsilon_nano;
    }
    f.cells_released = released;
    f.cells_suppressed_primary = primary;
    f.cells_suppressed_complementary = complementary;
    f.sink = "care_team";
    f.time = "2026-07-01T00:00:00Z";
    auto r = ledger::AppendRelease(*scratch_.db, f);
    ASSERT_TRUE(r.ok()) << r.status();
  };
  ASSERT_NO_FATAL_FAILURE(release("rel-1", "study-a", 0, 6, 1, 2));
  ASSERT_NO_FATAL_FAILURE(release("rel-2", "study-a", 500000000, 8, 0, 0));
  ASSERT_NO_FATAL_FAILURE(release("rel-3", "study-b", 0, 3, 0, 0));
  const GovernanceReport r = Report();
  EXPECT_TRUE(r.ledger_verifies) << r.ledger_problem;
  EXPECT_EQ(r.ledger_entries, before.ledger_entries + 3);
  EXPECT_EQ(r.accepted, before.accepted);
  EXPECT_EQ(r.routed, before.routed);
  EXPECT_EQ(r.blocked_denied, before.blocked_denied);
  EXPECT_EQ(r.quarantined, before.quarantined);
  EXPECT_EQ(r.denials.size(), before.denials.size());
  EXPECT_TRUE(r.audit_complete());
  EXPECT_EQ(r.total_gaps, 0);
  ASSERT_EQ(r.files.size(), before.files.size());
  for (size_t i = 0; i < r.files.size(); ++i) {
    EXPECT_EQ(r.files[i].allows, before.files[i].allows);
    EXPECT_EQ(r.files[i].matched, before.files[i].matched);
  }
  ASSERT_EQ(r.releases.size(), 2u);
  EXPECT_EQ(r.releases[0].study, "study-a");
  EXPECT_EQ(r.releases[0].releases, 2);
  EXPECT_EQ(r.releases[0].dp_releases, 1);
  EXPECT_EQ(r.releases[0].epsilon_nano, 500000000);
  EXPECT_EQ(r.releases[0].cells_released, 14);
  EXPECT_EQ(r.releases[0].cells_suppressed, 3);
  EXPECT_EQ(r.releases[1].study, "study-b");
  EXPECT_EQ(r.releases[1].releases, 1);
  EXPECT_THAT(r.ToText(), HasSubstr("measurement releases (3 in all)"));
  EXPECT_THAT(r.ToJson(), HasSubstr("{\"study\":\"study-a\",\"releases\":2,\"dp_releases\":1,"
                                    "\"epsilon_nano\":500000000,\"cells_released\":14,"
                                    "\"cells_suppressed\":3}"));
  // A later run's events, after the releases in the ledger, are grouped and reconciled as usual.
  ASSERT_NO_FATAL_FAILURE(Route({Visit("e21", "\"patient_id\":\"p1\""),
                                 Visit("e22", "\"patient_id\":\"p2\"")},
                                Out()));
  const GovernanceReport after = Report();
  EXPECT_TRUE(after.ok()) << after.ledger_problem << after.total_gaps;
  EXPECT_EQ(after.accepted, before.accepted + 2);
  EXPECT_EQ(after.releases.size(), 2u);
}

}  // namespace
}  // namespace loopgate::report
