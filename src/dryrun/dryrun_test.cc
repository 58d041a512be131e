#include "dryrun/dryrun.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "consent/consent_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace loopgate::dryrun {
namespace {

namespace fs = std::filesystem;
using consent::test_support::ConsentLine;
using consent::test_support::T;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Sinks in catalog order: care (support, needs consent), lake (analytics, non_phi).
constexpr std::string_view kCatalog = R"yaml(
format: loopgate.catalog/v1
name: dryrun-test
purposes:
  support: {}
  analytics: {}
classes:
  ident: {level: phi}
  op: {level: non_phi}
event_types:
  visit:
    sources: [app]
    subject: {type: patient, field: patient_id}
    purposes: [support, analytics]
    fields:
      patient_id: {type: string, class: ident, required: true}
      program: {type: string, class: op}
sinks:
  care:
    purpose: support
    max_level: phi
    consent_required_for: [patient]
  lake:
    purpose: analytics
    max_level: non_phi
)yaml";

std::string Event(std::string_view id, std::string_view patient, std::string_view program,
                  std::string_view extra = "") {
  return "{\"event_id\":\"" + std::string(id) +
         "\",\"event_type\":\"visit\",\"source_system\":\"app\",\"timestamp\":"
         "\"2026-03-01T00:00:00Z\",\"payload\":{\"patient_id\":\"" +
         std::string(patient) + "\",\"program\":\"" + std::string(program) + "\"" +
         std::string(extra) + "}}";
}

ConsentLine Consent(std::string id, std::string subject, std::string purpose) {
  ConsentLine c;
  c.id = std::move(id);
  c.subject_id = std::move(subject);
  c.purpose = std::move(purpose);
  return c;
}

// Replaces the first `from` in `text`, failing the test when it is not there.
std::string Edit(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

class DryRunTest : public testing::Test {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    root_ =
        testing::TempDir() + "/loopgate_dryrun_" + info->name() + "_" + std::to_string(::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    auto db = store::Database::OpenInMemory();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Write(const std::string& name, const std::vector<std::string>& lines) {
    const std::string path = root_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    for (const auto& l : lines) out << l << "\n";
    return path;
  }

  void ImportConsents(const std::vector<ConsentLine>& lines) {
    std::vector<std::string> text;
    for (const auto& l : lines) text.push_back(l.Json());
    auto report = consent::Import(*db_, consent::RegistryKind::kConsents,
                                  Write("consents" + std::to_string(files_++), text));
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ(report->rejected, 0);
  }

  std::unique_ptr<catalog::Catalog> Load(std::string_view yaml, const std::string& name) {
    auto c = catalog::LoadString(yaml, name);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  Report MustDiff(std::string_view old_yaml, std::string_view new_yaml,
                  const std::vector<std::string>& events, size_t examples = 3) {
    auto old_catalog = Load(old_yaml, "old.yaml");
    auto new_catalog = Load(new_yaml, "new.yaml");
    if (old_catalog == nullptr || new_catalog == nullptr) return {};
    Options options;
    options.events_path = Write("events.ndjson", events);
    options.as_of = T("2026-06-30T00:00:00Z");
    options.as_of_text = "2026-06-30T00:00:00Z";
    options.examples = examples;
    auto report = Diff(*old_catalog, *new_catalog, keys_, *db_, options);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : Report{};
  }

  static std::vector<std::string> Ids(const Group& g) {
    std::vector<std::string> ids;
    for (const auto& e : g.examples) ids.push_back(e.id);
    return ids;
  }

  std::string root_;
  int files_ = 0;
  std::unique_ptr<store::Database> db_;
  transform::KeyStore keys_;
};

TEST_F(DryRunTest, TheSameCatalogChangesNothing) {
  ImportConsents({Consent("c-1", "p-1", "support")});
  const Report r = MustDiff(kCatalog, kCatalog,
                            {Event("v-1", "p-1", "a"), Event("v-2", "p-2", "a"), "not json"});
  EXPECT_FALSE(r.changed());
  EXPECT_EQ(r.events_read, 3);
  EXPECT_EQ(r.accepted_old, 2);
  EXPECT_EQ(r.accepted_new, 2);
  EXPECT_EQ(r.quarantined_old, 1);
  EXPECT_EQ(r.decisions_compared, 4);   // Two events, two candidate sinks each.
  EXPECT_EQ(r.deliveries_compared, 3);  // care allowed for p-1 only; lake for both.
  EXPECT_EQ(r.old_version, r.new_version);
  EXPECT_THAT(r.decision_changes, IsEmpty());
  EXPECT_THAT(r.intake_changes, IsEmpty());
  EXPECT_THAT(r.delivery_changes, IsEmpty());
}

TEST_F(DryRunTest, AnAddedDenyRuleIsGroupedWithCountsAndAtMostNExamples) {
  const std::string with_rule = std::string(kCatalog) +
                                "rules:\n  - id: no-b\n    sinks: [lake]\n"
                                "    fields: {program: b}\n";
  const Report r = MustDiff(kCatalog, with_rule,
                            {Event("v-1", "p-1", "a"), Event("v-2", "p-1", "b"),
                             Event("v-3", "p-2", "b"), Event("v-4", "p-3", "b")},
                            2);
  EXPECT_TRUE(r.changed());
  EXPECT_NE(r.old_version, r.new_version);
  EXPECT_EQ(r.decisions_compared, 8);
  EXPECT_EQ(r.decisions_changed, 3);
  EXPECT_EQ(r.events_changed, 3);
  ASSERT_EQ(r.decision_changes.size(), 1u);
  const Group& g = r.decision_changes[0];
  EXPECT_EQ(g.type, "visit");
  EXPECT_EQ(g.sink, "lake");
  EXPECT_EQ(g.from, "allow");
  EXPECT_EQ(g.to, "deny:rule:no-b");
  EXPECT_EQ(g.count, 3);
  EXPECT_THAT(Ids(g), ElementsAre("v-2", "v-3"));  // The first two, in input order.
  EXPECT_EQ(g.examples[0].line, 2u);
}

TEST_F(DryRunTest, ARemovedPurposeMakesTheSinkNoCandidate) {
  const std::string narrower =
      Edit(std::string(kCatalog), "purposes: [support, analytics]", "purposes: [support]");
  const Report r = MustDiff(kCatalog, narrower, {Event("v-1", "p-1", "a")});
  ASSERT_EQ(r.decision_changes.size(), 1u);
  EXPECT_EQ(r.decision_changes[0].sink, "lake");
  EXPECT_EQ(r.decision_changes[0].from, "allow");
  EXPECT_EQ(r.decision_changes[0].to, "not_candidate");
  EXPECT_THAT(r.sinks_only_old, IsEmpty());
}

TEST_F(DryRunTest, ARemovedSinkIsListedAndItsDecisionsGoToNoSink) {
  const std::string without_lake =
      Edit(std::string(kCatalog), "  lake:\n    purpose: analytics\n    max_level: non_phi\n", "");
  const Report r = MustDiff(kCatalog, without_lake, {Event("v-1", "p-1", "a")});
  EXPECT_THAT(r.sinks_only_old, ElementsAre("lake"));
  EXPECT_THAT(r.sinks_only_new, IsEmpty());
  ASSERT_EQ(r.decision_changes.size(), 1u);
  EXPECT_EQ(r.decision_changes[0].from, "allow");
  EXPECT_EQ(r.decision_changes[0].to, "no_sink");

  // And the other way round: a sink only the new catalog has.
  const Report back = MustDiff(without_lake, kCatalog, {Event("v-1", "p-1", "a")});
  EXPECT_THAT(back.sinks_only_new, ElementsAre("lake"));
  ASSERT_EQ(back.decision_changes.size(), 1u);
  EXPECT_EQ(back.decision_changes[0].from, "no_sink");
  EXPECT_EQ(back.decision_changes[0].to, "allow");
}

TEST_F(DryRunTest, AConsentRequirementUsesTheRegistriesAsOf) {
  ConsentLine known = Consent("c-1", "p-1", "analytics");
  ConsentLine later = Consent("c-2", "p-2", "analytics");
  later.recorded_at = "2026-07-01T00:00:00Z";  // After as_of: not yet known.
  ImportConsents({known, later});
  const std::string needs_consent =
      Edit(std::string(kCatalog), "    max_level: non_phi\n",
           "    max_level: non_phi\n    consent_required_for: [patient]\n");
  const Report r =
      MustDiff(kCatalog, needs_consent, {Event("v-1", "p-1", "a"), Event("v-2", "p-2", "a")});
  ASSERT_EQ(r.decision_changes.size(), 1u);
  EXPECT_EQ(r.decision_changes[0].from, "allow");
  EXPECT_EQ(r.decision_changes[0].to, "deny:no_consent");
  EXPECT_THAT(Ids(r.decision_changes[0]), ElementsAre("v-2"));
}

TEST_F(DryRunTest, IntakeChangesBothWaysAndIdentityPerSide) {
  // The new catalog no longer declares `program`, and declares `note`.
  const std::string fields = Edit(std::string(kCatalog), "program: {type: string, class: op}",
                                  "note: {type: string, class: op}");
  const Report r = MustDiff(
      kCatalog, fields,
      {Event("v-1", "p-1", "a"),
       "{\"event_id\":\"v-2\",\"event_type\":\"visit\",\"source_system\":\"app\",\"timestamp\":"
       "\"2026-03-01T00:00:00Z\",\"payload\":{\"patient_id\":\"p-1\",\"note\":\"n\"}}",
       // Same id as line 1, other content: id_conflict under old (line 1 was accepted there),
       // accepted under new (line 1 was quarantined there, so v-1 was never seen).
       "{\"event_id\":\"v-1\",\"event_type\":\"visit\",\"source_system\":\"app\",\"timestamp\":"
       "\"2026-03-01T00:00:00Z\",\"payload\":{\"patient_id\":\"p-1\"}}"});
  EXPECT_EQ(r.intake_changed, 3);
  EXPECT_EQ(r.decisions_compared, 0);
  ASSERT_EQ(r.intake_changes.size(), 3u);
  // Ordered by (type, from, to).
  EXPECT_EQ(r.intake_changes[0].from, "accepted");
  EXPECT_EQ(r.intake_changes[0].to, "quarantine:unknown_field");
  EXPECT_THAT(Ids(r.intake_changes[0]), ElementsAre("v-1"));
  EXPECT_EQ(r.intake_changes[1].from, "quarantine:id_conflict");
  EXPECT_EQ(r.intake_changes[1].to, "accepted");
  EXPECT_EQ(r.intake_changes[1].examples[0].line, 3u);
  EXPECT_EQ(r.intake_changes[2].from, "quarantine:unknown_field");
  EXPECT_EQ(r.intake_changes[2].to, "accepted");
  EXPECT_THAT(Ids(r.intake_changes[2]), ElementsAre("v-2"));
  for (const auto& g : r.intake_changes) EXPECT_EQ(g.type, "visit");
}

TEST_F(DryRunTest, ADuplicateIsDecidedOnce) {
  const std::string with_rule = std::string(kCatalog) +
                                "rules:\n  - id: no-a\n    sinks: [lake]\n"
                                "    fields: {program: a}\n";
  const Report r =
      MustDiff(kCatalog, with_rule, {Event("v-1", "p-1", "a"), Event("v-1", "p-1", "a")});
  EXPECT_EQ(r.duplicates_old, 1);
  EXPECT_EQ(r.duplicates_new, 1);
  ASSERT_EQ(r.decision_changes.size(), 1u);
  EXPECT_EQ(r.decision_changes[0].count, 1);
}

TEST_F(DryRunTest, ChangedTransformsAreDeliveryChanges) {
  ImportConsents({Consent("c-1", "p-1", "support")});
  const std::string masked = Edit(std::string(kCatalog), "    max_level: phi\n",
                                  "    max_level: phi\n    actions: {op: drop}\n");
  const Report r = MustDiff(kCatalog, masked, {Event("v-1", "p-1", "a")});
  EXPECT_EQ(r.decisions_changed, 0);
  EXPECT_EQ(r.deliveries_compared, 2);
  EXPECT_EQ(r.deliveries_changed, 1);
  ASSERT_EQ(r.delivery_changes.size(), 1u);
  EXPECT_EQ(r.delivery_changes[0].sink, "care");
  EXPECT_EQ(r.delivery_changes[0].from, "");
  EXPECT_EQ(r.delivery_changes[0].to, "program=drop");
  EXPECT_TRUE(r.changed());
}

TEST_F(DryRunTest, TheJsonReportParsesAndCarriesTheGroups) {
  const std::string with_rule = std::string(kCatalog) +
                                "rules:\n  - id: no-b\n    sinks: [lake]\n"
                                "    fields: {program: b}\n";
  const Report r = MustDiff(kCatalog, with_rule, {"not json", Event("v-2", "p-1", "b")});
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string json = r.ToJson();
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(doc["format"]), "loopgate.policy-diff/v1");
  EXPECT_EQ(std::string_view(doc["old"]["policy_version"]), r.old_version);
  EXPECT_EQ(std::string_view(doc["new"]["catalog"]), "new.yaml");
  EXPECT_EQ(int64_t(doc["decisions"]["changed"]), 1);
  EXPECT_TRUE(bool(doc["changed"]));
  simdjson::dom::element g = doc["decisions"]["groups"].at(0);
  EXPECT_EQ(std::string_view(g["to"]), "deny:rule:no-b");
  EXPECT_EQ(std::string_view(g["examples"].at(0)["id"]), "v-2");
  EXPECT_EQ(int64_t(g["examples"].at(0)["line"]), 2);

  const std::string text = r.ToText();
  EXPECT_NE(text.find("visit       lake  allow  deny:rule:no-b  1      v-2"), std::string::npos)
      << text;
}

TEST_F(DryRunTest, AMissingEventsFileIsNotFound) {
  auto c = Load(kCatalog, "c.yaml");
  ASSERT_NE(c, nullptr);
  Options options;
  options.events_path = root_ + "/missing.ndjson";
  auto r = Diff(*c, *c, keys_, *db_, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace loopgate::dryrun
