#include "policy/policy.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/line_reader.h"
#include "consent/consent_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/scratch_state.h"

namespace loopgate::policy {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A small catalog exercising every check of routing.md section 3. Sinks in catalog order:
// support_cases, mail, lake, analytics_rows, warehouse, safety_db.
constexpr std::string_view kCatalog = R"yaml(
format: loopgate.catalog/v1
name: policy-test
purposes:
  support: {}
  marketing: {promotional: true}
  analytics: {}
  research: {}
  safety: {}
classes:
  ident: {level: phi}
  op: {level: non_phi}
sinks:
  support_cases:
    purpose: support
    max_level: phi
    consent_required_for: [patient]
  mail:
    purpose: marketing
    max_level: phi
    consent_required_for: [patient, hcp]
    channel: email
  lake:
    purpose: analytics
    granularity: aggregate
    max_level: phi
    consent_required_for: [patient]
    jurisdictions: ["US-*", "CA-QC"]
  analytics_rows:
    purpose: analytics
    granularity: individual
    max_level: phi
    consent_required_for: [patient]
  warehouse:
    purpose: research
    max_level: phi
    consent_required_for: [patient]
  safety_db:
    purpose: safety
    max_level: phi
event_types:
  patient.milestone:
    sources: [hub, ehr_b]
    subject: {type: patient, field: patient_id}
    purposes: [support, marketing, analytics, research, safety]
    fields:
      patient_id: {type: string, class: ident, required: true}
      tag: {type: string, class: op}
      program: {type: string, class: op}
      count: {type: integer, class: op}
      flag: {type: boolean, class: op}
  ehr.therapy:
    sources: [ehr_a, ehr_b, ehr_c, ehr_d, ehr_e, ehr_f, ehr_g]
    subject: {type: patient, field: patient_mrn}
    purposes: [analytics, research]
    requires_agreement: true
    fields:
      patient_mrn: {type: string, class: ident, required: true}
      tag: {type: string, class: op}
  account.training:
    sources: [portal]
    subject: {type: account, field: account_id}
    purposes: [support, marketing]
    fields:
      account_id: {type: string, class: op, required: true}
  hcp.engaged:
    sources: [web]
    subject: {type: hcp, field: hcp_id}
    purposes: [marketing]
    fields:
      hcp_id: {type: string, class: op, required: true}
      tag: {type: string, class: op}
rules:
  - id: r-glob
    event_types: ["patient.*"]
    fields: {tag: t-glob}
  - id: r-sink
    sinks: [support_cases]
    fields: {tag: t-sink}
  - id: r-source
    sources: [ehr_b]
    fields: {tag: t-source}
  - id: r-subject
    subject_types: [hcp]
    fields: {tag: t-subject}
  - id: r-in
    fields: {tag: {in: [t-in-1, t-in-2]}}
  - id: r-order-a
    sinks: [support_cases]
    fields: {tag: t-order}
  - id: r-order-b
    fields: {tag: t-order}
  - id: r-two
    fields: {tag: t-two, program: p-1}
  - id: r-count
    fields: {count: 7}
  - id: r-flag
    fields: {flag: true}
)yaml";

// Agreements held by every test (formats.md "Agreement records").
constexpr std::string_view kAgreements =
    // ehr_a: individual, analytics and research.
    R"({"agreement_id":"dsa-a","institution":"a","source_systems":["ehr_a"],)"
    R"("allowed_purposes":["analytics","research"],"granularity":"individual",)"
    R"("effective_from":"2026-01-01T00:00:00Z","expires_at":null,)"
    R"("recorded_at":"2026-01-01T00:00:00Z"})"
    "\n"
    // ehr_b: aggregate only, analytics only.
    R"({"agreement_id":"dsa-b","institution":"b","source_systems":["ehr_b"],)"
    R"("allowed_purposes":["analytics"],"granularity":"aggregate_only",)"
    R"("effective_from":"2026-01-01T00:00:00Z","expires_at":null,)"
    R"("recorded_at":"2026-01-01T00:00:00Z"})"
    "\n"
    // ehr_c: none. ehr_d: expires 2026-03-01.
    R"({"agreement_id":"dsa-d","institution":"d","source_systems":["ehr_d"],)"
    R"("allowed_purposes":["analytics","research"],"granularity":"individual",)"
    R"("effective_from":"2026-01-01T00:00:00Z","expires_at":"2026-03-01T00:00:00Z",)"
    R"("recorded_at":"2026-01-01T00:00:00Z"})"
    "\n"
    // ehr_e: effective only from 2026-05-01.
    R"({"agreement_id":"dsa-e","institution":"e","source_systems":["ehr_e"],)"
    R"("allowed_purposes":["analytics","research"],"granularity":"individual",)"
    R"("effective_from":"2026-05-01T00:00:00Z","expires_at":null,)"
    R"("recorded_at":"2026-01-01T00:00:00Z"})"
    "\n"
    // ehr_f: analytics until a version recorded 2026-07-15 switches it to research.
    R"({"agreement_id":"dsa-f","institution":"f","source_systems":["ehr_f"],)"
    R"("allowed_purposes":["analytics"],"granularity":"individual",)"
    R"("effective_from":"2026-01-01T00:00:00Z","expires_at":null,)"
    R"("recorded_at":"2026-01-01T00:00:00Z"})"
    "\n"
    R"({"agreement_id":"dsa-f","institution":"f","source_systems":["ehr_f"],)"
    R"("allowed_purposes":["research"],"granularity":"individual",)"
    R"("effective_from":"2026-01-01T00:00:00Z","expires_at":null,)"
    R"("recorded_at":"2026-07-15T00:00:00Z"})"
    "\n"
    // ehr_g: one aggregate-only and one individual agreement for analytics.
    R"({"agreement_id":"dsa-g1","institution":"g","source_systems":["ehr_g"],)"
    R"("allowed_purposes":["analytics"],"granularity":"aggregate_only",)"
    R"("effective_from":"2026-01-01T00:00:00Z","expires_at":null,)"
    R"("recorded_at":"2026-01-01T00:00:00Z"})"
    "\n"
    R"({"agreement_id":"dsa-g2","institution":"g","source_systems":["ehr_g"],)"
    R"("allowed_purposes":["analytics"],"granularity":"individual",)"
    R"("effective_from":"2026-01-01T00:00:00Z","expires_at":null,)"
    R"("recorded_at":"2026-01-01T00:00:00Z"})"
    "\n";

constexpr std::string_view kAsOf = "2026-06-30T00:00:00Z";
constexpr std::string_view kEventTime = "2026-04-01T00:00:00Z";

using consent::test_support::T;

// A consent record line for this file's catalog, whose support purpose is "support".
struct Consent : consent::test_support::ConsentLine {
  Consent() { purpose = "support"; }
};

// Flat-envelope events. `payload` and `envelope` are extra members, each starting with ','.
std::string PatientEvent(std::string_view patient, std::string_view payload = "",
                         std::string_view envelope = "", std::string_view time = kEventTime,
                         std::string_view source = "hub") {
  return std::string("{\"event_id\":\"e-1\",\"event_type\":\"patient.milestone\",") +
         "\"source_system\":\"" + std::string(source) + "\",\"timestamp\":\"" + std::string(time) +
         "\"" + std::string(envelope) + ",\"payload\":{\"patient_id\":\"" + std::string(patient) +
         "\"" + std::string(payload) + "}}";
}

std::string EhrEvent(std::string_view source, std::string_view time = kEventTime,
                     std::string_view payload = "", std::string_view envelope = "") {
  return std::string("{\"event_id\":\"e-2\",\"event_type\":\"ehr.therapy\",\"source_system\":\"") +
         std::string(source) + "\",\"timestamp\":\"" + std::string(time) + "\"" +
         std::string(envelope) + ",\"payload\":{\"patient_mrn\":\"mrn-1\"" + std::string(payload) +
         "}}";
}

std::string HcpEvent(std::string_view payload = "") {
  return "{\"event_id\":\"e-3\",\"event_type\":\"hcp.engaged\",\"source_system\":\"web\","
         "\"timestamp\":\"" +
         std::string(kEventTime) + "\",\"payload\":{\"hcp_id\":\"hcp-1\"" + std::string(payload) +
         "}}";
}

struct Result {
  bool allowed = false;
  std::string reason;              // ReasonText: "" when allowed.
  std::vector<std::string> cited;  // Consent ids the decision rests on.
  std::string subject;  // SubjectId of the event.
};

class PolicyTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(scratch_.Open("policy"));
    root_ = scratch_.root;
    auto catalog = catalog::LoadString(kCatalog, "policy-test.yaml");
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = std::move(*catalog);
    db_ = std::move(scratch_.db);
    Import(consent::RegistryKind::kAgreements, std::string(kAgreements));
  }
  void TearDown() override {
    db_.reset();
    scratch_.Close();
  }

  void Import(consent::RegistryKind kind, const std::string& text) {
    const std::string path = root_ + "/import" + std::to_string(imports_++) + ".ndjson";
    std::ofstream(path, std::ios::binary) << text;
    auto report = consent::Import(*db_, kind, path);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ(report->rejected, 0) << (report->errors.empty() ? "" : report->errors[0]);
  }

  void Grant(const std::vector<Consent>& consents) {
    std::string text;
    for (const auto& c : consents) text += c.Json() + "\n";
    Import(consent::RegistryKind::kConsents, text);
  }

  // Consents that let ehr.therapy for mrn-1 through every consent check.
  void GrantEhrConsents() {
    Consent analytics, research;
    analytics.id = "c-mrn-a";
    analytics.subject_id = "mrn-1";
    analytics.purpose = "analytics";
    analytics.extra = ",\"jurisdiction\":\"US-MA\"";
    research = analytics;
    research.id = "c-mrn-r";
    research.purpose = "research";
    Grant({analytics, research});
  }

  // Runs `line` through intake and decides candidate sink `sink` as of `as_of`.
  Result Decide(const std::string& line, std::string_view sink, std::string_view as_of = kAsOf) {
    Result result;
    // Intake reads up to kLinePadding bytes past the line.
    std::string buffer = line;
    buffer.append(common::kLinePadding, '\0');
    event::Intake intake(*catalog_);
    event::Event ev;
    event::Rejection rejection;
    if (!intake.Process(std::string_view(buffer.data(), line.size()), &ev, &rejection)) {
      ADD_FAILURE() << "intake quarantined the test event ("
                    << event::QuarantineReasonName(rejection.reason) << ": " << rejection.detail
                    << "): " << line;
      return result;
    }
    const common::Instant at = T(as_of);
    consent::ConsentView consents(*db_, at);
    auto agreements = consent::AgreementView::Load(*db_, at);
    EXPECT_TRUE(agreements.ok()) << agreements.status();
    if (!agreements.ok()) return result;
    Engine engine(*catalog_, consents, *agreements, at);
    const catalog::EventType& type = *ev.type_def;
    for (size_t c = 0; c < type.candidate_sinks.size(); ++c) {
      if (catalog_->sinks[type.candidate_sinks[c]].id != sink) continue;
      Decision d;
      const absl::Status s = engine.Decide(ev, c, &d);
      EXPECT_TRUE(s.ok()) << s;
      result.allowed = d.allowed;
      result.reason = d.ReasonText(*catalog_);
      std::string scratch;
      result.subject = std::string(SubjectId(ev, &scratch));
      for (const auto* r : d.cited) result.cited.push_back(r->consent_id);
      if (!d.allowed) {
        EXPECT_THAT(result.cited, IsEmpty()) << "a denial cites no consent";
      }
      return result;
    }
    ADD_FAILURE() << sink << " is not a candidate for " << type.id;
    return result;
  }

  std::string Reason(const std::string& line, std::string_view sink,
                     std::string_view as_of = kAsOf) {
    Result r = Decide(line, sink, as_of);
    return r.allowed ? "allow" : r.reason;
  }

  store::test_support::ScratchState scratch_;
  std::string root_;
  int imports_ = 0;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<store::Database> db_;
};

// ---- Section 2: candidates ----

TEST_F(PolicyTest, CandidatesAreTheSinksOfPermittedPurposesInCatalogOrder) {
  auto ids = [&](std::string_view type) {
    std::vector<std::string> out;
    for (uint32_t si : catalog_->FindEventType(type)->candidate_sinks) {
      out.push_back(catalog_->sinks[si].id);
    }
    return out;
  };
  EXPECT_THAT(ids("patient.milestone"), ElementsAre("support_cases", "mail", "lake",
                                                    "analytics_rows", "warehouse", "safety_db"));
  EXPECT_THAT(ids("ehr.therapy"), ElementsAre("lake", "analytics_rows", "warehouse"));
  EXPECT_THAT(ids("hcp.engaged"), ElementsAre("mail"));
  EXPECT_THAT(ids("account.training"), ElementsAre("support_cases", "mail"));
}

// ---- Step 1: deny rules ----

TEST_F(PolicyTest, RuleEventTypeGlob) {
  const std::string ev = PatientEvent("pt-1", ",\"tag\":\"t-glob\"");
  EXPECT_EQ(Reason(ev, "support_cases"), "rule:r-glob");
  EXPECT_EQ(Reason(ev, "safety_db"), "rule:r-glob");  // No sink condition: every sink.
  // ehr.therapy does not match "patient.*".
  GrantEhrConsents();
  EXPECT_EQ(Reason(EhrEvent("ehr_a", kEventTime, ",\"tag\":\"t-glob\""), "analytics_rows"),
            "allow");
}

TEST_F(PolicyTest, RuleSinkCondition) {
  const std::string ev = PatientEvent("pt-1", ",\"tag\":\"t-sink\"");
  EXPECT_EQ(Reason(ev, "support_cases"), "rule:r-sink");
  EXPECT_EQ(Reason(ev, "safety_db"), "allow");
}

TEST_F(PolicyTest, RuleSourceCondition) {
  EXPECT_EQ(
      Reason(PatientEvent("pt-1", ",\"tag\":\"t-source\"", "", kEventTime, "ehr_b"), "safety_db"),
      "rule:r-source");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-source\""), "safety_db"), "allow");
}

TEST_F(PolicyTest, RuleSubjectTypeCondition) {
  Consent hcp;
  hcp.subject_type = "hcp";
  hcp.subject_id = "hcp-1";
  hcp.purpose = "marketing";
  Grant({hcp});
  EXPECT_EQ(Reason(HcpEvent(",\"tag\":\"t-subject\""), "mail"), "rule:r-subject");
  EXPECT_EQ(Reason(HcpEvent(",\"tag\":\"other\""), "mail"), "allow");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-subject\""), "safety_db"), "allow");
}

TEST_F(PolicyTest, RuleFieldInSet) {
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-in-1\""), "safety_db"), "rule:r-in");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-in-2\""), "safety_db"), "rule:r-in");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-in-3\""), "safety_db"), "allow");
}

TEST_F(PolicyTest, RulesApplyInDeclaredOrder) {
  const std::string ev = PatientEvent("pt-1", ",\"tag\":\"t-order\"");
  EXPECT_EQ(Reason(ev, "support_cases"), "rule:r-order-a");
  EXPECT_EQ(Reason(ev, "safety_db"), "rule:r-order-b");
}

TEST_F(PolicyTest, RuleNeedsEveryConditionAndAnAbsentFieldDoesNotHold) {
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-two\",\"program\":\"p-1\""), "safety_db"),
            "rule:r-two");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-two\",\"program\":\"p-2\""), "safety_db"),
            "allow");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-two\""), "safety_db"), "allow");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-two\",\"program\":null"), "safety_db"),
            "allow");
  // ehr.therapy has no field 'program': the rule can never hold for it.
  GrantEhrConsents();
  EXPECT_EQ(Reason(EhrEvent("ehr_a", kEventTime, ",\"tag\":\"t-two\""), "analytics_rows"), "allow");
}

TEST_F(PolicyTest, RuleFieldValuesCompareByDeclaredType) {
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"count\":7"), "safety_db"), "rule:r-count");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"count\":8"), "safety_db"), "allow");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"flag\":true"), "safety_db"), "rule:r-flag");
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"flag\":false"), "safety_db"), "allow");
}

TEST_F(PolicyTest, RuleComesBeforeRecipientsAgreementsAndConsent) {
  // No consent, and the producer excludes support_cases: the rule is still the reason.
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-sink\"", ",\"allowed_recipients\":[]"),
                   "support_cases"),
            "rule:r-sink");
  // ehr_b's agreement does not allow safety: the rule comes first.
  EXPECT_EQ(Reason(PatientEvent("pt-1", ",\"tag\":\"t-source\"", ",\"allowed_recipients\":[]",
                                kEventTime, "ehr_b"),
                   "safety_db"),
            "rule:r-source");
}

// ---- Step 2: producer restriction ----

TEST_F(PolicyTest, AllowedRecipientsNarrow) {
  Consent support, marketing;
  marketing.id = "c-2";
  marketing.purpose = "marketing";
  Grant({support, marketing});
  const std::string ev = PatientEvent("pt-1", "", ",\"allowed_recipients\":[\"support_cases\"]");
  EXPECT_EQ(Reason(ev, "support_cases"), "allow");
  EXPECT_EQ(Reason(ev, "mail"), "not_in_allowed_recipients");
  // Even a sink that needs no consent is left out.
  EXPECT_EQ(Reason(ev, "safety_db"), "not_in_allowed_recipients");
  // Without the declaration, both are allowed.
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "mail"), "allow");
}

TEST_F(PolicyTest, EmptyAllowedRecipientsDeniesEverySink) {
  EXPECT_EQ(Reason(PatientEvent("pt-1", "", ",\"allowed_recipients\":[]"), "safety_db"),
            "not_in_allowed_recipients");
}

TEST_F(PolicyTest, AllowedRecipientsNeverWiden) {
  const std::string ev =
      PatientEvent("pt-1", "", ",\"allowed_recipients\":[\"support_cases\",\"mail\"]");
  EXPECT_EQ(Reason(ev, "support_cases"), "no_consent");
}

TEST_F(PolicyTest, ConsentScopeNeverGrants) {
  const std::string ev = PatientEvent("pt-1", "", ",\"consent_scope\":[\"support\"]");
  EXPECT_EQ(Reason(ev, "support_cases"), "no_consent");
}

TEST_F(PolicyTest, RecipientsComeBeforeAgreements) {
  const std::string ev =
      EhrEvent("ehr_c", kEventTime, "", ",\"allowed_recipients\":[\"warehouse\"]");
  EXPECT_EQ(Reason(ev, "lake"), "not_in_allowed_recipients");
  EXPECT_EQ(Reason(ev, "warehouse"), "no_agreement");
}

// ---- Step 3: institution agreements ----

TEST_F(PolicyTest, NoAgreementOnlyWhenTheTypeRequiresOne) {
  GrantEhrConsents();
  EXPECT_EQ(Reason(EhrEvent("ehr_c"), "lake"), "no_agreement");
  EXPECT_EQ(Reason(EhrEvent("ehr_c"), "warehouse"), "no_agreement");
  // patient.milestone requires none, and 'hub' has none: on to consent.
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "no_consent");
  Grant({Consent{}});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "allow");
}

TEST_F(PolicyTest, AgreementCheckedBeforeConsent) {
  // No consent at all for mrn-1: the agreement reason comes first.
  EXPECT_EQ(Reason(EhrEvent("ehr_c"), "lake"), "no_agreement");
  EXPECT_EQ(Reason(EhrEvent("ehr_b"), "warehouse"), "agreement_purpose");
  EXPECT_EQ(Reason(EhrEvent("ehr_b"), "analytics_rows"), "agreement_aggregate_only");
  EXPECT_EQ(Reason(EhrEvent("ehr_a"), "analytics_rows"), "no_consent");
}

TEST_F(PolicyTest, AgreementPurpose) {
  GrantEhrConsents();
  EXPECT_EQ(Reason(EhrEvent("ehr_b"), "warehouse"), "agreement_purpose");
  // A covering agreement applies even when the type does not require one.
  Grant({Consent{}});
  EXPECT_EQ(Reason(PatientEvent("pt-1", "", "", kEventTime, "ehr_b"), "support_cases"),
            "agreement_purpose");
  EXPECT_EQ(Reason(PatientEvent("pt-1", "", "", kEventTime, "ehr_b"), "safety_db"),
            "agreement_purpose");
}

TEST_F(PolicyTest, AggregateOnlyAgreementServesAggregateSinksOnly) {
  GrantEhrConsents();
  EXPECT_EQ(Reason(EhrEvent("ehr_b"), "analytics_rows"), "agreement_aggregate_only");
  const Result lake = Decide(EhrEvent("ehr_b"), "lake");
  EXPECT_TRUE(lake.allowed) << lake.reason;
  EXPECT_THAT(lake.cited, ElementsAre("c-mrn-a"));
}

TEST_F(PolicyTest, IndividualAgreementAllowsIndividualSinks) {
  GrantEhrConsents();
  EXPECT_EQ(Reason(EhrEvent("ehr_a"), "analytics_rows"), "allow");
  EXPECT_EQ(Reason(EhrEvent("ehr_a"), "warehouse"), "allow");
  EXPECT_EQ(Reason(EhrEvent("ehr_a"), "lake"), "allow");
  // One aggregate-only and one individual agreement for the purpose: individual is allowed.
  EXPECT_EQ(Reason(EhrEvent("ehr_g"), "analytics_rows"), "allow");
}

TEST_F(PolicyTest, ExpiredAgreementIsIgnored) {
  GrantEhrConsents();
  // Expired before the event.
  EXPECT_EQ(Reason(EhrEvent("ehr_d", "2026-04-01T00:00:00Z"), "analytics_rows"), "no_agreement");
  // In force at the event, expired by as_of.
  EXPECT_EQ(Reason(EhrEvent("ehr_d", "2026-02-01T00:00:00Z"), "analytics_rows"), "no_agreement");
  // In force at both.
  EXPECT_EQ(
      Reason(EhrEvent("ehr_d", "2026-02-01T00:00:00Z"), "analytics_rows", "2026-02-15T00:00:00Z"),
      "allow");
  // expires_at must be later than the event time; equal is expired.
  EXPECT_EQ(
      Reason(EhrEvent("ehr_d", "2026-03-01T00:00:00Z"), "analytics_rows", "2026-02-15T00:00:00Z"),
      "no_agreement");
}

TEST_F(PolicyTest, AgreementNotYetEffectiveAtEventTimeIsIgnored) {
  GrantEhrConsents();
  EXPECT_EQ(Reason(EhrEvent("ehr_e", "2026-04-30T23:59:59Z"), "analytics_rows"), "no_agreement");
  EXPECT_EQ(Reason(EhrEvent("ehr_e", "2026-05-01T00:00:00Z"), "analytics_rows"), "allow");
  EXPECT_EQ(Reason(EhrEvent("ehr_e", "2026-05-02T00:00:00Z"), "warehouse"), "allow");
}

TEST_F(PolicyTest, AgreementCurrentVersionAsOf) {
  GrantEhrConsents();
  // As of June, dsa-f allows analytics only.
  EXPECT_EQ(Reason(EhrEvent("ehr_f"), "analytics_rows"), "allow");
  EXPECT_EQ(Reason(EhrEvent("ehr_f"), "warehouse"), "agreement_purpose");
  // The version recorded 2026-07-15 allows research only.
  EXPECT_EQ(Reason(EhrEvent("ehr_f"), "analytics_rows", "2026-08-01T00:00:00Z"),
            "agreement_purpose");
  EXPECT_EQ(Reason(EhrEvent("ehr_f"), "warehouse", "2026-08-01T00:00:00Z"), "allow");
}

// ---- Step 4: consent ----

TEST_F(PolicyTest, NoConsentWithoutARecordForSubjectTypeIdAndPurpose) {
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "no_consent");
  Consent other_purpose, other_subject, other_type;
  other_purpose.purpose = "research";
  other_subject.id = "c-2";
  other_subject.subject_id = "pt-2";
  other_type.id = "c-3";
  other_type.subject_type = "hcp";
  Grant({other_purpose, other_subject, other_type});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "no_consent");
  EXPECT_EQ(Reason(PatientEvent("pt-2"), "support_cases"), "allow");
}

TEST_F(PolicyTest, ConsentRevokedEvenWhenRecordedAfterTheEvent) {
  Consent grant, revoke;
  revoke.status = "revoked";
  revoke.recorded_at = "2026-05-01T00:00:00Z";  // After the event (April), before as_of.
  Grant({grant, revoke});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "consent_revoked");
  // As of before the revocation was recorded, it is not yet known.
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases", "2026-04-15T00:00:00Z"), "allow");
}

TEST_F(PolicyTest, RevocationRecordedAfterAsOfIsNotYetKnown) {
  Consent grant, revoke;
  revoke.status = "revoked";
  revoke.recorded_at = "2026-07-01T00:00:00Z";
  Grant({grant, revoke});
  const Result r = Decide(PatientEvent("pt-1"), "support_cases");
  EXPECT_TRUE(r.allowed) << r.reason;
  EXPECT_THAT(r.cited, ElementsAre("c-1"));
}

TEST_F(PolicyTest, ConsentRevokedOnlyWhenEveryCurrentRecordIsRevoked) {
  Consent one, one_revoked, two;
  one_revoked.status = "revoked";
  one_revoked.recorded_at = "2026-02-01T00:00:00Z";
  two.id = "c-2";
  Grant({one, one_revoked, two});
  const Result r = Decide(PatientEvent("pt-1"), "support_cases");
  EXPECT_TRUE(r.allowed) << r.reason;
  EXPECT_THAT(r.cited, ElementsAre("c-2"));
}

TEST_F(PolicyTest, PartlyRevokedAndTheRestNotYetEffectiveIsNoConsent) {
  Consent revoked, later;
  revoked.status = "revoked";
  later.id = "c-2";
  later.effective_from = "2026-05-01T00:00:00Z";
  Grant({revoked, later});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "no_consent");
}

TEST_F(PolicyTest, GrantedOnlyAfterTheEventTimeIsNoConsent) {
  Consent c;
  c.effective_from = "2026-05-01T00:00:00Z";
  Grant({c});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "no_consent");
  // effective_from equal to the event time is in effect.
  EXPECT_EQ(Reason(PatientEvent("pt-1", "", "", "2026-05-01T00:00:00Z"), "support_cases"), "allow");
}

TEST_F(PolicyTest, EventTimeIsComparedAsAnInstant) {
  Consent c;
  c.effective_from = "2026-03-01T00:00:00Z";
  Grant({c});
  // 2026-02-28T23:30:00Z: before the consent took effect.
  EXPECT_EQ(Reason(PatientEvent("pt-1", "", "", "2026-03-01T00:30:00+01:00"), "support_cases"),
            "no_consent");
  // 2026-03-01T00:30:00Z.
  EXPECT_EQ(Reason(PatientEvent("pt-1", "", "", "2026-03-01T01:30:00+01:00"), "support_cases"),
            "allow");
}

TEST_F(PolicyTest, GrantRecordedAfterAsOfIsNotYetKnown) {
  Consent c;
  c.recorded_at = "2026-07-01T00:00:00Z";
  Grant({c});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "no_consent");
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases", "2026-07-01T00:00:00Z"), "allow");
}

TEST_F(PolicyTest, ConsentExpiredByEventTime) {
  Consent c;
  c.extra = ",\"expires_at\":\"2026-03-01T00:00:00Z\"";
  Grant({c});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "consent_expired");
  // Expiring exactly at the event time is expired.
  EXPECT_EQ(Reason(PatientEvent("pt-1", "", "", "2026-03-01T00:00:00Z"), "support_cases",
                   "2026-03-01T00:00:00Z"),
            "consent_expired");
}

TEST_F(PolicyTest, ConsentExpiredByAsOf) {
  Consent c;
  c.extra = ",\"expires_at\":\"2026-05-01T00:00:00Z\"";
  Grant({c});
  // In force at the event (April), expired by as_of (June).
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "consent_expired");
  // As of before it expired: allowed.
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases", "2026-04-15T00:00:00Z"), "allow");
}

TEST_F(PolicyTest, ConsentExpiringAfterAsOfAllows) {
  Consent c;
  c.extra = ",\"expires_at\":\"2027-01-01T00:00:00Z\"";
  Grant({c});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "allow");
}

TEST_F(PolicyTest, ConsentChannel) {
  Consent sms;
  sms.purpose = "marketing";
  sms.extra = ",\"channel\":\"sms\"";
  Grant({sms});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "mail"), "consent_channel");

  Consent sms_support = sms;
  sms_support.id = "c-s";
  sms_support.purpose = "support";
  Grant({sms_support});
  // support_cases names no channel: a channel-scoped consent still counts.
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "support_cases"), "allow");
}

TEST_F(PolicyTest, ConsentWithThatChannelOrNoneMatches) {
  Consent email, any;
  email.purpose = "marketing";
  email.subject_id = "pt-email";
  email.extra = ",\"channel\":\"email\"";
  any.id = "c-2";
  any.purpose = "marketing";
  any.subject_id = "pt-any";
  any.extra = ",\"channel\":null";
  Grant({email, any});
  EXPECT_EQ(Reason(PatientEvent("pt-email"), "mail"), "allow");
  EXPECT_EQ(Reason(PatientEvent("pt-any"), "mail"), "allow");
}

TEST_F(PolicyTest, ExpiryIsCheckedBeforeChannel) {
  Consent c;
  c.purpose = "marketing";
  c.extra = ",\"channel\":\"sms\",\"expires_at\":\"2026-02-01T00:00:00Z\"";
  Grant({c});
  EXPECT_EQ(Reason(PatientEvent("pt-1"), "mail"), "consent_expired");
}

TEST_F(PolicyTest, Jurisdiction) {
  std::vector<Consent> consents;
  for (const auto& [subject, jurisdiction] :
       std::vector<std::pair<std::string, std::string>>{{"pt-ma", ",\"jurisdiction\":\"US-MA\""},
                                                        {"pt-qc", ",\"jurisdiction\":\"CA-QC\""},
                                                        {"pt-on", ",\"jurisdiction\":\"CA-ON\""},
                                                        {"pt-us", ",\"jurisdiction\":\"US\""},
                                                        {"pt-none", ""},
                                                        {"pt-null", ",\"jurisdiction\":null"}}) {
    Consent c;
    c.id = "c-" + subject;
    c.subject_id = subject;
    c.purpose = "analytics";
    c.extra = jurisdiction;
    consents.push_back(c);
  }
  Grant(consents);
  EXPECT_EQ(Reason(PatientEvent("pt-ma"), "lake"), "allow");  // US-*
  EXPECT_EQ(Reason(PatientEvent("pt-qc"), "lake"), "allow");  // exact pattern
  EXPECT_EQ(Reason(PatientEvent("pt-on"), "lake"), "jurisdiction");
  EXPECT_EQ(Reason(PatientEvent("pt-us"), "lake"), "jurisdiction");    // "US-*" needs the dash
  EXPECT_EQ(Reason(PatientEvent("pt-none"), "lake"), "jurisdiction");  // matches none
  EXPECT_EQ(Reason(PatientEvent("pt-null"), "lake"), "jurisdiction");
  // analytics_rows names no jurisdictions: any record will do.
  EXPECT_EQ(Reason(PatientEvent("pt-none"), "analytics_rows"), "allow");
}

TEST_F(PolicyTest, AllowCitesExactlyTheConsentsLeftAfterEveryStep) {
  std::vector<Consent> consents;
  auto add = [&](std::string id, std::string extra, std::string status = "granted",
                 std::string effective_from = "2026-01-01T00:00:00Z") {
    Consent c;
    c.id = std::move(id);
    c.purpose = "analytics";
    c.status = std::move(status);
    c.effective_from = std::move(effective_from);
    c.extra = std::move(extra);
    consents.push_back(c);
  };
  add("c-f", ",\"jurisdiction\":\"US-NY\"");             // kept
  add("c-a", ",\"jurisdiction\":\"US-MA\"");             // kept
  add("c-b", "");                                        // no jurisdiction
  add("c-c", ",\"jurisdiction\":\"US-NY\"", "revoked");  // revoked
  add("c-d", ",\"jurisdiction\":\"US-CA\",\"expires_at\":\"2026-02-01T00:00:00Z\"");  // expired
  add("c-e", ",\"jurisdiction\":\"US-TX\"", "granted", "2026-05-01T00:00:00Z");       // not yet
  add("c-g", ",\"jurisdiction\":\"CA-ON\"");  // other jurisdiction
  Grant(consents);
  const Result lake = Decide(PatientEvent("pt-1"), "lake");
  ASSERT_TRUE(lake.allowed) << lake.reason;
  EXPECT_THAT(lake.cited, ElementsAre("c-a", "c-f"));  // By consent_id.

  const Result rows = Decide(PatientEvent("pt-1"), "analytics_rows");
  ASSERT_TRUE(rows.allowed) << rows.reason;
  EXPECT_THAT(rows.cited, ElementsAre("c-a", "c-b", "c-f", "c-g"));
}

TEST_F(PolicyTest, SinkNotRequiringConsentForTheSubjectTypeSkipsConsent) {
  const Result r = Decide(PatientEvent("pt-1"), "safety_db");
  EXPECT_TRUE(r.allowed) << r.reason;
  EXPECT_THAT(r.cited, IsEmpty());
}

TEST_F(PolicyTest, HcpSubjectNeedsHcpConsentWhereTheSinkSaysSo) {
  EXPECT_EQ(Reason(HcpEvent(), "mail"), "no_consent");
  Consent patient_consent;  // Same purpose, wrong subject type.
  patient_consent.subject_id = "hcp-1";
  patient_consent.purpose = "marketing";
  Grant({patient_consent});
  EXPECT_EQ(Reason(HcpEvent(), "mail"), "no_consent");
  Consent hcp = patient_consent;
  hcp.id = "c-hcp";
  hcp.subject_type = "hcp";
  Grant({hcp});
  const Result r = Decide(HcpEvent(), "mail");
  EXPECT_TRUE(r.allowed) << r.reason;
  EXPECT_THAT(r.cited, ElementsAre("c-hcp"));
}

TEST_F(PolicyTest, AccountSubjectEventsNeedNoConsent) {
  const std::string ev =
      "{\"event_type\":\"account.training\",\"source_system\":\"portal\","
      "\"account_id\":\"acct-1\",\"timestamp\":\"2026-04-01T00:00:00Z\",\"payload\":{}}";
  for (const char* sink : {"support_cases", "mail"}) {
    const Result r = Decide(ev, sink);
    EXPECT_TRUE(r.allowed) << sink << ": " << r.reason;
    EXPECT_THAT(r.cited, IsEmpty());
  }
}

// ---- Requirements: the same checks, from the catalog alone ----

TEST_F(PolicyTest, RequirementsAgreeWithDecisions) {
  const catalog::EventType& type = *catalog_->FindEventType("patient.milestone");
  for (size_t c = 0; c < type.candidate_sinks.size(); ++c) {
    const std::string sink = catalog_->sinks[type.candidate_sinks[c]].id;
    SCOPED_TRACE(sink);
    const Requirements req = RequirementsFor(*catalog_, type, c);
    EXPECT_EQ(req.rules.size(), type.candidate_rules[c].size());
    EXPECT_EQ(req.denied_by_rule, -1);  // Every rule here has a field condition.
    EXPECT_FALSE(req.agreement_required);
    // No consent recorded for pt-none: denied no_consent exactly when consent is required.
    EXPECT_EQ(Reason(PatientEvent("pt-none"), sink), req.consent_required ? "no_consent" : "allow");
  }
  const catalog::EventType& ehr = *catalog_->FindEventType("ehr.therapy");
  const Requirements lake = RequirementsFor(*catalog_, ehr, 0);
  EXPECT_TRUE(lake.agreement_required);
  EXPECT_FALSE(lake.individual);  // lake is aggregate.
  EXPECT_TRUE(RequirementsFor(*catalog_, ehr, 1).individual);
  EXPECT_EQ(Reason(EhrEvent("ehr_c"), "lake"), "no_agreement");  // ehr_c has no agreement.
  const catalog::EventType& account = *catalog_->FindEventType("account.training");
  EXPECT_FALSE(RequirementsFor(*catalog_, account, 0).consent_required);
}

TEST(RequirementsTest, ARuleWithoutFieldConditionsCoveringEverySourceAlwaysDenies) {
  auto c = catalog::LoadString(R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes: {c: {level: non_phi}}
event_types:
  t:
    sources: [a, b]
    subject: {type: person, field: id}
    purposes: [p]
    fields: {id: {type: string, class: c}, f: {type: string, class: c}}
sinks:
  s1: {purpose: p, max_level: phi}
  s2: {purpose: p, max_level: phi}
  s3: {purpose: p, max_level: phi}
rules:
  - {id: only-a, sinks: [s1], sources: [a]}
  - {id: with-field, sinks: [s1, s2], fields: {f: x}}
  - {id: both, sinks: [s2], sources: [a, b]}
  - {id: all, sinks: [s1, s3]}
)", "req.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const catalog::Catalog& cat = **c;
  const catalog::EventType& t = cat.event_types[0];
  auto rule_id = [&](const Requirements& r) {
    return r.denied_by_rule < 0 ? std::string("-") : cat.rules[r.denied_by_rule].id;
  };
  const Requirements s1 = RequirementsFor(cat, t, 0);
  EXPECT_EQ(rule_id(s1), "all");  // only-a leaves source b through; with-field needs f.
  EXPECT_EQ(s1.rules.size(), 3u);
  EXPECT_EQ(rule_id(RequirementsFor(cat, t, 1)), "both");
  EXPECT_EQ(rule_id(RequirementsFor(cat, t, 2)), "all");
}

// SubjectId is what consent is looked up by (and what the governance report counts).
TEST_F(PolicyTest, SubjectIdIsTheSubjectFieldOfTheEventType) {
  EXPECT_EQ(Decide(PatientEvent("pt-9"), "safety_db").subject, "pt-9");
  EXPECT_EQ(Decide(HcpEvent(), "mail").subject, "hcp-1");
  const std::string account =
      "{\"event_type\":\"account.training\",\"source_system\":\"portal\","
      "\"account_id\":\"acct-1\",\"timestamp\":\"2026-04-01T00:00:00Z\",\"payload\":{}}";
  EXPECT_EQ(Decide(account, "mail").subject, "acct-1");  // A flat-envelope attribute.
}

TEST_F(PolicyTest, ReasonNamesMatchRoutingMd) {
  EXPECT_EQ(DenyReasonName(DenyReason::kNotInAllowedRecipients), "not_in_allowed_recipients");
  EXPECT_EQ(DenyReasonName(DenyReason::kNoAgreement), "no_agreement");
  EXPECT_EQ(DenyReasonName(DenyReason::kAgreementPurpose), "agreement_purpose");
  EXPECT_EQ(DenyReasonName(DenyReason::kAgreementAggregateOnly), "agreement_aggregate_only");
  EXPECT_EQ(DenyReasonName(DenyReason::kNoConsent), "no_consent");
  EXPECT_EQ(DenyReasonName(DenyReason::kConsentRevoked), "consent_revoked");
  EXPECT_EQ(DenyReasonName(DenyReason::kConsentExpired), "consent_expired");
  EXPECT_EQ(DenyReasonName(DenyReason::kConsentChannel), "consent_channel");
  EXPECT_EQ(DenyReasonName(DenyReason::kJurisdiction), "jurisdiction");
}

// Current versions for ConsentStateAt, built directly (the registry's part is tested in consent).
consent::ConsentRecord Version(std::string id, bool granted, std::string_view effective,
                               std::string_view expires = "") {
  consent::ConsentRecord r;
  r.consent_id = std::move(id);
  r.status = granted ? consent::ConsentStatus::kGranted : consent::ConsentStatus::kRevoked;
  r.effective_from = consent::test_support::T(effective);
  if (!expires.empty()) r.expires_at = consent::test_support::T(expires);
  return r;
}

TEST(ConsentStateAtTest, EachStateIsTheEnginesReasonForAnEventAtAsOf) {
  const common::Instant as_of = consent::test_support::T("2026-06-30T00:00:00Z");
  struct Case {
    std::vector<consent::ConsentRecord> current;
    ConsentState state;
    std::vector<std::string> in_force;
  };
  const std::vector<Case> cases = {
      {{}, ConsentState::kNone, {}},
      {{Version("c-1", true, "2026-01-01T00:00:00Z"), Version("c-2", true, "2026-07-01T00:00:00Z")},
       ConsentState::kGranted,
       {"c-1"}},
      {{Version("c-1", false, "2026-01-01T00:00:00Z")}, ConsentState::kRevoked, {}},
      {{Version("c-1", true, "2026-01-01T00:00:00Z", "2026-06-30T00:00:00Z")},
       ConsentState::kExpired,
       {}},  // Expiring at as_of is expired: it must be later than as_of.
      {{Version("c-1", true, "2026-07-01T00:00:00Z")}, ConsentState::kNotYetEffective, {}},
      {{Version("c-1", false, "2026-01-01T00:00:00Z"),
        Version("c-2", true, "2026-07-01T00:00:00Z")},
       ConsentState::kNotYetEffective,
       {}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const PurposeConsent got = ConsentStateAt(cases[i].current, as_of);
    EXPECT_EQ(got.state, cases[i].state) << "case " << i;
    std::vector<std::string> ids;
    for (const auto* r : got.in_force) ids.push_back(r->consent_id);
    EXPECT_EQ(ids, cases[i].in_force) << "case " << i;
    // The same checks the engine runs, with no channel or jurisdiction.
    std::vector<const consent::ConsentRecord*> cited;
    DenyReason reason = DenyReason::kRule;
    const bool allowed =
        CheckConsentVersions(cases[i].current, as_of, as_of, std::nullopt, {}, &cited, &reason);
    EXPECT_EQ(allowed, cases[i].state == ConsentState::kGranted) << "case " << i;
  }
  EXPECT_EQ(ConsentStateName(ConsentState::kNotYetEffective), "not_yet_effective");
}

TEST(CheckConsentVersionsTest, ChannelAndJurisdictionNarrowTheCitedVersions) {
  const common::Instant t = consent::test_support::T("2026-06-30T00:00:00Z");
  std::vector<consent::ConsentRecord> v = {Version("c-1", true, "2026-01-01T00:00:00Z"),
                                           Version("c-2", true, "2026-01-01T00:00:00Z"),
                                           Version("c-3", true, "2026-01-01T00:00:00Z")};
  v[0].channel = "sms";
  v[1].jurisdiction = "US-MA";
  v[2].jurisdiction = "EU-DE";
  std::vector<const consent::ConsentRecord*> cited;
  DenyReason reason = DenyReason::kRule;
  ASSERT_TRUE(CheckConsentVersions(v, t, t, std::string("email"), {"US-*"}, &cited, &reason));
  ASSERT_EQ(cited.size(), 1u);
  EXPECT_EQ(cited[0]->consent_id, "c-2");
  EXPECT_FALSE(CheckConsentVersions(v, t, t, std::nullopt, {"CA-*"}, &cited, &reason));
  EXPECT_EQ(reason, DenyReason::kJurisdiction);
  EXPECT_TRUE(cited.empty());
}

}  // namespace
}  // namespace loopgate::policy
