#include "consent/consent.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/rng.h"
#include "common/time.h"
#include "consent/consent_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/scratch_state.h"

namespace loopgate::consent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using test_support::ConsentLine;
using test_support::T;

struct AgreementLine {
  std::string id = "dsa-1";
  std::string sources = "[\"ehr_a\"]";
  std::string purposes = "[\"aggregate_analytics\"]";
  std::string granularity = "individual";
  std::string effective_from = "2026-01-01T00:00:00Z";
  std::string expires_at = "null";
  std::string recorded_at = "2026-01-01T00:00:00Z";

  std::string Json() const {
    return "{\"agreement_id\":\"" + id +
           "\",\"institution\":\"inst\",\"source_systems\":" + sources +
           ",\"allowed_purposes\":" + purposes + ",\"granularity\":\"" + granularity +
           "\",\"effective_from\":\"" + effective_from + "\",\"expires_at\":" + expires_at +
           ",\"recorded_at\":\"" + recorded_at + "\"}";
  }
};

class ConsentTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(scratch_.Open("consent"));
    root_ = scratch_.root;
    db_ = std::move(scratch_.db);
  }
  void TearDown() override {
    db_.reset();
    scratch_.Close();
  }

  std::string WriteFile(const std::string& text) {
    const std::string path = root_ + "/input" + std::to_string(files_++) + ".ndjson";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  ImportReport MustImport(RegistryKind kind, const std::string& text) {
    auto report = Import(*db_, kind, WriteFile(text));
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : ImportReport{};
  }

  ImportReport ImportConsents(const std::vector<ConsentLine>& lines) {
    std::string text;
    for (const auto& l : lines) text += l.Json() + "\n";
    return MustImport(RegistryKind::kConsents, text);
  }

  ImportReport ImportAgreements(const std::vector<AgreementLine>& lines) {
    std::string text;
    for (const auto& l : lines) text += l.Json() + "\n";
    return MustImport(RegistryKind::kAgreements, text);
  }

  int64_t Count(const std::string& table) {
    auto q = db_->Prepare("SELECT count(*) FROM " + table);
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return -1;
    auto row = q->Step();
    EXPECT_TRUE(row.ok() && *row);
    return q->Int(0);
  }

  // The answer of a view reading per subject, checked against a view that preloads the whole
  // registry: every test of Current() holds for both ways of reading.
  std::vector<ConsentRecord> Current(common::Instant as_of, std::string_view subject_type,
                                     std::string_view subject_id, std::string_view purpose) {
    ConsentView view(*db_, as_of);
    auto current = view.Current(subject_type, subject_id, purpose);
    EXPECT_TRUE(current.ok()) << current.status();
    ConsentView preloaded(*db_, as_of, kNoLimit);
    auto loaded = preloaded.Current(subject_type, subject_id, purpose);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_TRUE(preloaded.preloaded());
    if (!current.ok() || !loaded.ok()) return {};
    EXPECT_EQ(Describe(**loaded), Describe(**current));
    return **current;
  }

  static constexpr int64_t kNoLimit = int64_t{1} << 40;

  // Every member of the records, as text, for comparing two answers.
  static std::string Describe(const std::vector<ConsentRecord>& records) {
    std::string out;
    for (const ConsentRecord& r : records) {
      out += r.consent_id + (r.status == ConsentStatus::kGranted ? " granted " : " revoked ") +
             common::FormatRfc3339(r.effective_from) + " " +
             (r.expires_at ? common::FormatRfc3339(*r.expires_at) : "-") + " " +
             r.channel.value_or("-") + " " + r.jurisdiction.value_or("-") + " " +
             common::FormatRfc3339(r.recorded_at) + " " + r.recorded_at_text + " " +
             std::to_string(r.seq) + "\n";
    }
    return out;
  }

  static std::vector<std::string> Ids(const std::vector<ConsentRecord>& records) {
    std::vector<std::string> ids;
    for (const auto& r : records) ids.push_back(r.consent_id);
    return ids;
  }

  store::test_support::ScratchState scratch_;
  std::string root_;
  int files_ = 0;
  std::unique_ptr<store::Database> db_;
};

// The example record of formats.md, verbatim.
constexpr std::string_view kFormatsExample =
    R"({"consent_id": "c-100", "subject_type": "patient", "subject_id": "pt-001", )"
    R"("purpose": "patient_support", "status": "granted", )"
    R"("effective_from": "2026-01-01T00:00:00Z", )"
    R"("expires_at": "2027-01-01T00:00:00Z", "channel": null, "jurisdiction": "US-MA", )"
    R"("notice_version": "psp-notice-v3", "capture_channel": "web_form", )"
    R"("source_system": "consent_portal", "recorded_at": "2026-01-01T00:00:05Z"})";

TEST_F(ConsentTest, ImportLoadsGoodConsents) {
  ConsentLine second;
  second.id = "c-2";
  second.extra = ",\"channel\":\"email\"";
  const ImportReport r = MustImport(RegistryKind::kConsents,
                                    std::string(kFormatsExample) + "\n" + second.Json() + "\n");
  EXPECT_EQ(r.records, 2);
  EXPECT_EQ(r.added, 2);
  EXPECT_EQ(r.unchanged, 0);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(Count("consents"), 2);

  const auto v = Current(T("2026-06-30T00:00:00Z"), "patient", "pt-001", "patient_support");
  ASSERT_EQ(v.size(), 1u);
  const ConsentRecord& c = v[0];
  EXPECT_EQ(c.consent_id, "c-100");
  EXPECT_EQ(c.status, ConsentStatus::kGranted);
  EXPECT_EQ(c.effective_from, T("2026-01-01T00:00:00Z"));
  ASSERT_TRUE(c.expires_at.has_value());
  EXPECT_EQ(*c.expires_at, T("2027-01-01T00:00:00Z"));
  EXPECT_FALSE(c.channel.has_value());  // null is absent
  ASSERT_TRUE(c.jurisdiction.has_value());
  EXPECT_EQ(*c.jurisdiction, "US-MA");
  EXPECT_EQ(c.recorded_at, T("2026-01-01T00:00:05Z"));
  EXPECT_EQ(c.recorded_at_text, "2026-01-01T00:00:05Z");

  const auto w = Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].consent_id, "c-2");
  ASSERT_TRUE(w[0].channel.has_value());
  EXPECT_EQ(*w[0].channel, "email");
  EXPECT_FALSE(w[0].expires_at.has_value());
  EXPECT_FALSE(w[0].jurisdiction.has_value());
}

TEST_F(ConsentTest, ImportingTheSameFileTwiceAddsNothing) {
  ConsentLine a, b, c;
  b.id = "c-2";
  c.id = "c-1";
  c.status = "revoked";
  c.recorded_at = "2026-02-01T00:00:00Z";
  std::string text = a.Json() + "\n" + b.Json() + "\n" + c.Json() + "\n";
  const std::string path = WriteFile(text);
  auto first = Import(*db_, RegistryKind::kConsents, path);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->added, 3);
  auto second = Import(*db_, RegistryKind::kConsents, path);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->records, 3);
  EXPECT_EQ(second->added, 0);
  EXPECT_EQ(second->unchanged, 3);
  EXPECT_EQ(second->rejected, 0);
  EXPECT_EQ(Count("consents"), 3);
}

TEST_F(ConsentTest, ReimportWithOtherKeyOrderAndSpacingIsUnchanged) {
  ConsentLine a;
  EXPECT_EQ(ImportConsents({a}).added, 1);
  // The same record, members reordered and spaced: identical under RFC 8785.
  const std::string reordered =
      "{ \"recorded_at\" : \"2026-01-01T00:00:05Z\", \"status\":\"granted\", "
      "\"purpose\":\"patient_support\", \"subject_id\":\"pt-1\", \"subject_type\":\"patient\", "
      "\"effective_from\":\"2026-01-01T00:00:00Z\", \"consent_id\":\"c-1\" }\n";
  const ImportReport r = MustImport(RegistryKind::kConsents, reordered);
  EXPECT_EQ(r.added, 0);
  EXPECT_EQ(r.unchanged, 1);
  EXPECT_EQ(Count("consents"), 1);
}

TEST_F(ConsentTest, BadRecordsAreRejectedWithLineNumbersAndGoodOnesLoad) {
  ConsentLine good1, good2;
  good2.id = "c-2";
  ConsentLine bad_status;
  bad_status.id = "c-3";
  bad_status.status = "maybe";
  ConsentLine bad_time;
  bad_time.id = "c-4";
  bad_time.effective_from = "2026-13-01T00:00:00Z";
  ConsentLine bad_recorded;
  bad_recorded.id = "c-5";
  bad_recorded.recorded_at = "yesterday";
  ConsentLine bad_expiry;
  bad_expiry.id = "c-6";
  bad_expiry.extra = ",\"expires_at\":\"2026-02-30T00:00:00Z\"";
  ConsentLine bad_channel;
  bad_channel.id = "c-7";
  bad_channel.extra = ",\"channel\":42";
  const std::string missing =
      R"({"consent_id":"c-8","subject_type":"patient","purpose":"patient_support",)"
      R"("status":"granted","effective_from":"2026-01-01T00:00:00Z",)"
      R"("recorded_at":"2026-01-01T00:00:05Z"})";

  const std::string text = good1.Json() + "\n" +         // line 1
                           missing + "\n" +              // line 2
                           bad_status.Json() + "\n" +    // line 3
                           bad_time.Json() + "\n" +      // line 4
                           "this is not json\n" +        // line 5
                           "[\"an\", \"array\"]\n" +     // line 6
                           "\n" +                        // line 7: blank
                           bad_recorded.Json() + "\n" +  // line 8
                           bad_expiry.Json() + "\n" +    // line 9
                           bad_channel.Json() + "\n" +   // line 10
                           good2.Json() + "\n";          // line 11
  const ImportReport r = MustImport(RegistryKind::kConsents, text);
  EXPECT_EQ(r.records, 10);
  EXPECT_EQ(r.added, 2);
  EXPECT_EQ(r.unchanged, 0);
  EXPECT_EQ(r.rejected, 8);
  ASSERT_EQ(r.errors.size(), 8u);
  EXPECT_THAT(r.errors[0], StartsWith("line 2: "));
  EXPECT_THAT(r.errors[0], HasSubstr("subject_id"));
  EXPECT_THAT(r.errors[1], StartsWith("line 3: "));
  EXPECT_THAT(r.errors[1], HasSubstr("status"));
  EXPECT_THAT(r.errors[2], StartsWith("line 4: "));
  EXPECT_THAT(r.errors[2], HasSubstr("effective_from"));
  EXPECT_THAT(r.errors[3], StartsWith("line 5: "));
  EXPECT_THAT(r.errors[4], StartsWith("line 6: "));
  EXPECT_THAT(r.errors[4], HasSubstr("not a JSON object"));
  EXPECT_THAT(r.errors[5], StartsWith("line 8: "));
  EXPECT_THAT(r.errors[5], HasSubstr("recorded_at"));
  EXPECT_THAT(r.errors[6], StartsWith("line 9: "));
  EXPECT_THAT(r.errors[6], HasSubstr("expires_at"));
  EXPECT_THAT(r.errors[7], StartsWith("line 10: "));
  EXPECT_THAT(r.errors[7], HasSubstr("channel"));
  // Errors name fields, never values.
  for (const auto& e : r.errors) {
    EXPECT_THAT(e, ::testing::Not(HasSubstr("maybe")));
    EXPECT_THAT(e, ::testing::Not(HasSubstr("yesterday")));
  }
  EXPECT_EQ(Count("consents"), 2);
  EXPECT_THAT(Ids(Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support")),
              ElementsAre("c-1", "c-2"));
}

TEST_F(ConsentTest, BlankLinesAreSkipped) {
  ConsentLine a;
  const ImportReport r = MustImport(RegistryKind::kConsents, "\n   \n" + a.Json() + "\n\t\n\r\n\n");
  EXPECT_EQ(r.records, 1);
  EXPECT_EQ(r.added, 1);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_TRUE(r.errors.empty());
}

TEST_F(ConsentTest, ImportOfMissingFileIsNotFound) {
  auto r = Import(*db_, RegistryKind::kConsents, root_ + "/no-such-file.ndjson");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ConsentTest, CurrentIsTheLatestVersionRecordedByAsOf) {
  ConsentLine v1, v2;
  v1.extra = ",\"jurisdiction\":\"US-MA\"";
  v2.recorded_at = "2026-03-01T00:00:00Z";
  v2.extra = ",\"jurisdiction\":\"US-NY\"";
  ImportConsents({v2, v1});  // Import order does not matter when recorded_at differs.

  auto before_any = Current(T("2026-01-01T00:00:04Z"), "patient", "pt-1", "patient_support");
  EXPECT_TRUE(before_any.empty());

  auto mid = Current(T("2026-02-01T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(mid.size(), 1u);
  EXPECT_EQ(mid[0].jurisdiction, "US-MA");
  EXPECT_EQ(mid[0].recorded_at_text, "2026-01-01T00:00:05Z");

  // recorded_at == as_of is known.
  auto at = Current(T("2026-03-01T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(at.size(), 1u);
  EXPECT_EQ(at[0].jurisdiction, "US-NY");

  // A version recorded one nanosecond after as_of is not yet known.
  auto just_before =
      Current(T("2026-02-28T23:59:59.999999999Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(just_before.size(), 1u);
  EXPECT_EQ(just_before[0].jurisdiction, "US-MA");
}

TEST_F(ConsentTest, ALaterVersionForAnotherPurposeStopsTheOldOne) {
  // formats.md: a later recorded_at is a new version of that consent. Its current version names
  // another purpose now, so it no longer counts for the first one.
  ConsentLine v1, v2;
  v2.purpose = "aggregate_analytics";
  v2.recorded_at = "2026-03-01T00:00:00Z";
  ImportConsents({v1, v2});
  EXPECT_THAT(Ids(Current(T("2026-02-01T00:00:00Z"), "patient", "pt-1", "patient_support")),
              ElementsAre("c-1"));
  EXPECT_TRUE(Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support").empty());
  EXPECT_THAT(Ids(Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "aggregate_analytics")),
              ElementsAre("c-1"));
}

TEST_F(ConsentTest, ALaterVersionForAnotherSubjectStopsTheOldOne) {
  ConsentLine v1, v2;
  v2.subject_id = "pt-2";
  v2.recorded_at = "2026-03-01T00:00:00Z";
  ImportConsents({v1, v2});
  EXPECT_TRUE(Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support").empty());
  EXPECT_THAT(Ids(Current(T("2026-06-30T00:00:00Z"), "patient", "pt-2", "patient_support")),
              ElementsAre("c-1"));
}

TEST_F(ConsentTest, RecordedAtIsComparedAsAnInstant) {
  ConsentLine a;
  a.recorded_at = "2026-02-01T01:00:00+02:00";  // 2026-01-31T23:00:00Z
  ImportConsents({a});
  EXPECT_TRUE(Current(T("2026-01-31T22:59:59Z"), "patient", "pt-1", "patient_support").empty());
  auto v = Current(T("2026-01-31T23:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].recorded_at_text, "2026-02-01T01:00:00+02:00");  // as written
}

TEST_F(ConsentTest, EqualRecordedAtLaterImportWins) {
  ConsentLine ma, ny;
  ma.extra = ",\"jurisdiction\":\"US-MA\"";
  ny.extra = ",\"jurisdiction\":\"US-NY\"";
  ImportConsents({ma});
  ImportConsents({ny});
  auto v = Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].jurisdiction, "US-NY");
}

TEST_F(ConsentTest, EqualRecordedAtLaterImportWinsInTheOtherOrderToo) {
  ConsentLine ma, ny;
  ma.extra = ",\"jurisdiction\":\"US-MA\"";
  ny.extra = ",\"jurisdiction\":\"US-NY\"";
  ImportConsents({ny, ma});  // Same file: the later line is the later import.
  auto v = Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].jurisdiction, "US-MA");
}

TEST_F(ConsentTest, ReimportingAnOlderIdenticalVersionDoesNotMakeItNewer) {
  ConsentLine ma, ny;
  ma.extra = ",\"jurisdiction\":\"US-MA\"";
  ny.extra = ",\"jurisdiction\":\"US-NY\"";
  ImportConsents({ma});
  ImportConsents({ny});
  EXPECT_EQ(ImportConsents({ma}).unchanged, 1);  // Changes nothing, so NY stays current.
  auto v = Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].jurisdiction, "US-NY");
}

TEST_F(ConsentTest, RevocationVersionSupersedesTheGrant) {
  ConsentLine grant, revoke;
  revoke.status = "revoked";
  revoke.recorded_at = "2026-03-01T00:00:00Z";
  ImportConsents({grant, revoke});
  auto before = Current(T("2026-02-01T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].status, ConsentStatus::kGranted);
  auto after = Current(T("2026-06-30T00:00:00Z"), "patient", "pt-1", "patient_support");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].status, ConsentStatus::kRevoked);
  EXPECT_EQ(after[0].recorded_at_text, "2026-03-01T00:00:00Z");
}

TEST_F(ConsentTest, OtherSubjectsAndPurposesAreNotMixed) {
  ConsentLine mine, other_subject, other_purpose, other_type, second_mine;
  mine.id = "c-b";
  other_subject.id = "c-x";
  other_subject.subject_id = "pt-2";
  other_purpose.id = "c-y";
  other_purpose.purpose = "research";
  other_type.id = "c-z";
  other_type.subject_type = "hcp";
  second_mine.id = "c-a";
  ImportConsents({mine, other_subject, other_purpose, other_type, second_mine});
  const common::Instant as_of = T("2026-06-30T00:00:00Z");
  // Ordered by consent_id.
  EXPECT_THAT(Ids(Current(as_of, "patient", "pt-1", "patient_support")), ElementsAre("c-a", "c-b"));
  EXPECT_THAT(Ids(Current(as_of, "patient", "pt-2", "patient_support")), ElementsAre("c-x"));
  EXPECT_THAT(Ids(Current(as_of, "patient", "pt-1", "research")), ElementsAre("c-y"));
  EXPECT_THAT(Ids(Current(as_of, "hcp", "pt-1", "patient_support")), ElementsAre("c-z"));
  EXPECT_TRUE(Current(as_of, "patient", "pt-3", "patient_support").empty());
}

TEST_F(ConsentTest, OneViewAnswersSeveralSubjects) {
  ConsentLine a, b;
  b.id = "c-2";
  b.subject_id = "pt-2";
  ImportConsents({a, b});
  ConsentView view(*db_, T("2026-06-30T00:00:00Z"));
  for (int round = 0; round < 2; ++round) {  // The second round is served from the cache.
    auto one = view.Current("patient", "pt-1", "patient_support");
    ASSERT_TRUE(one.ok());
    EXPECT_THAT(Ids(**one), ElementsAre("c-1"));
    auto two = view.Current("patient", "pt-2", "patient_support");
    ASSERT_TRUE(two.ok());
    EXPECT_THAT(Ids(**two), ElementsAre("c-2"));
  }
}

// Property: over random registries (consents moved between subjects, types and purposes by
// later versions, revoked and granted again, versions recorded at the same instant, recorded
// after as_of), a view that preloads the registry answers every (subject, purpose), known or
// not, exactly as a view that reads per subject; one view of each kind answers them all.
TEST_F(ConsentTest, PreloadedAndPerSubjectViewsAgreeOnRandomRegistries) {
  const std::vector<std::string> types = {"patient", "hcp"};
  const std::vector<std::string> ids = {"s-1", "s-2", "s-3", "s-4"};
  const std::vector<std::string> purposes = {"patient_support", "aggregate_analytics",
                                             "hcp_engagement"};
  const std::vector<std::string> times = {"2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z",
                                          "2026-02-01T01:00:00+01:00", "2026-03-01T00:00:00Z",
                                          "2026-07-01T00:00:00Z"};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    ASSERT_NO_FATAL_FAILURE(TearDown());
    ASSERT_NO_FATAL_FAILURE(SetUp());
    common::Rng rng(seed);
    std::vector<ConsentLine> lines;
    const int consents = 1 + static_cast<int>(rng.Below(12));
    for (int c = 0; c < consents; ++c) {
      const int versions = 1 + static_cast<int>(rng.Below(4));
      for (int v = 0; v < versions; ++v) {
        ConsentLine l;
        l.id = "c-" + std::to_string(c);
        l.subject_type = types[rng.Below(types.size())];
        l.subject_id = ids[rng.Below(ids.size())];
        l.purpose = purposes[rng.Below(purposes.size())];
        l.status = rng.Percent(25) ? "revoked" : "granted";
        l.recorded_at = times[rng.Below(times.size())];
        if (rng.Percent(30)) l.extra += ",\"channel\":\"email\"";
        if (rng.Percent(30)) l.extra += ",\"jurisdiction\":\"US-MA\"";
        if (rng.Percent(30)) l.extra += ",\"expires_at\":\"2026-05-01T00:00:00Z\"";
        lines.push_back(l);
      }
    }
    for (size_t i = lines.size(); i > 1; --i) std::swap(lines[i - 1], lines[rng.Below(i)]);
    ImportConsents(lines);
    for (const char* as_of : {"2025-12-31T00:00:00Z", "2026-02-01T00:00:00Z",
                              "2026-06-30T00:00:00Z", "2027-01-01T00:00:00Z"}) {
      SCOPED_TRACE(as_of);
      ConsentView per_subject(*db_, T(as_of));
      ConsentView preloaded(*db_, T(as_of), kNoLimit);
      for (const auto& type : types) {
        for (const auto& id : std::vector<std::string>{"s-1", "s-2", "s-3", "s-4", "s-9"}) {
          for (const auto& purpose : purposes) {
            // A hint only, even before the first question and for unknown pairs: the
            // answers must not change.
            per_subject.Prefetch(type, id, purpose);
            preloaded.Prefetch(type, id, purpose);
            auto a = per_subject.Current(type, id, purpose);
            auto b = preloaded.Current(type, id, purpose);
            ASSERT_TRUE(a.ok() && b.ok());
            EXPECT_EQ(Describe(**b), Describe(**a)) << type << " " << id << " " << purpose;
            per_subject.Trim();
            preloaded.Trim();
          }
        }
      }
      EXPECT_TRUE(preloaded.preloaded());
    }
  }
}

TEST_F(ConsentTest, ARegistryOverThePreloadLimitIsReadPerSubject) {
  ConsentLine a, b;
  b.id = "c-2";
  b.subject_id = "pt-2";
  ImportConsents({a, b});
  ConsentView at_limit(*db_, T("2026-06-30T00:00:00Z"), 2);
  ConsentView over_limit(*db_, T("2026-06-30T00:00:00Z"), 1);
  for (ConsentView* view : {&at_limit, &over_limit}) {
    auto two = view->Current("patient", "pt-2", "patient_support");
    ASSERT_TRUE(two.ok());
    EXPECT_THAT(Ids(**two), ElementsAre("c-2"));
  }
  EXPECT_TRUE(at_limit.preloaded());
  EXPECT_FALSE(over_limit.preloaded());
}

TEST_F(ConsentTest, AgreementsImportIdempotentlyAndRejectBadRecords) {
  AgreementLine good;
  AgreementLine bad_gran;
  bad_gran.id = "dsa-2";
  bad_gran.granularity = "sometimes";
  AgreementLine bad_sources;
  bad_sources.id = "dsa-3";
  bad_sources.sources = "\"ehr_a\"";
  AgreementLine bad_time;
  bad_time.id = "dsa-4";
  bad_time.effective_from = "2026-01-01";
  const std::string text = good.Json() + "\n" + bad_gran.Json() + "\n\n" + bad_sources.Json() +
                           "\n" + bad_time.Json() + "\n";
  const std::string path = WriteFile(text);
  auto r = Import(*db_, RegistryKind::kAgreements, path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->records, 4);
  EXPECT_EQ(r->added, 1);
  EXPECT_EQ(r->rejected, 3);
  ASSERT_EQ(r->errors.size(), 3u);
  EXPECT_THAT(r->errors[0], StartsWith("line 2: "));
  EXPECT_THAT(r->errors[0], HasSubstr("granularity"));
  EXPECT_THAT(r->errors[1], StartsWith("line 4: "));
  EXPECT_THAT(r->errors[1], HasSubstr("source_systems"));
  EXPECT_THAT(r->errors[2], StartsWith("line 5: "));
  EXPECT_THAT(r->errors[2], HasSubstr("effective_from"));

  auto again = Import(*db_, RegistryKind::kAgreements, path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 0);
  EXPECT_EQ(again->unchanged, 1);
  EXPECT_EQ(Count("agreements"), 1);
  EXPECT_EQ(Count("consents"), 0);
}

TEST_F(ConsentTest, AgreementViewHoldsTheCurrentVersionAsOf) {
  AgreementLine v1, v2;
  v2.purposes = "[\"aggregate_analytics\",\"research\"]";
  v2.granularity = "aggregate_only";
  v2.recorded_at = "2026-03-01T00:00:00Z";
  ImportAgreements({v1, v2});

  auto before = AgreementView::Load(*db_, T("2025-12-31T00:00:00Z"));
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->size(), 0u);

  auto feb = AgreementView::Load(*db_, T("2026-02-01T00:00:00Z"));
  ASSERT_TRUE(feb.ok());
  ASSERT_EQ(feb->size(), 1u);
  auto a = feb->ForSource("ehr_a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]->agreement_id, "dsa-1");
  EXPECT_EQ(a[0]->institution, "inst");
  EXPECT_THAT(a[0]->allowed_purposes, ElementsAre("aggregate_analytics"));
  EXPECT_EQ(a[0]->granularity, Granularity::kIndividual);
  EXPECT_EQ(a[0]->effective_from, T("2026-01-01T00:00:00Z"));
  EXPECT_FALSE(a[0]->expires_at.has_value());

  auto june = AgreementView::Load(*db_, T("2026-06-30T00:00:00Z"));
  ASSERT_TRUE(june.ok());
  ASSERT_EQ(june->size(), 1u);
  auto b = june->ForSource("ehr_a");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_THAT(b[0]->allowed_purposes, ElementsAre("aggregate_analytics", "research"));
  EXPECT_EQ(b[0]->granularity, Granularity::kAggregateOnly);
}

TEST_F(ConsentTest, AgreementEqualRecordedAtLaterImportWins) {
  AgreementLine first, second;
  second.purposes = "[\"research\"]";
  ImportAgreements({first});
  ImportAgreements({second});
  auto view = AgreementView::Load(*db_, T("2026-06-30T00:00:00Z"));
  ASSERT_TRUE(view.ok());
  auto a = view->ForSource("ehr_a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_THAT(a[0]->allowed_purposes, ElementsAre("research"));
}

TEST_F(ConsentTest, AgreementViewForSourceFilters) {
  AgreementLine one, two, three;
  one.sources = "[\"ehr_a\"]";
  two.id = "dsa-2";
  two.sources = "[\"ehr_b\",\"ehr_a\"]";
  two.expires_at = "\"2027-01-01T00:00:00Z\"";
  three.id = "dsa-3";
  three.sources = "[\"ehr_c\"]";
  ImportAgreements({one, two, three});
  auto view = AgreementView::Load(*db_, T("2026-06-30T00:00:00Z"));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->size(), 3u);
  auto ids = [&](std::string_view source) {
    std::vector<std::string> out;
    for (const auto* a : view->ForSource(source)) out.push_back(a->agreement_id);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_THAT(ids("ehr_a"), ElementsAre("dsa-1", "dsa-2"));
  EXPECT_THAT(ids("ehr_b"), ElementsAre("dsa-2"));
  EXPECT_THAT(ids("ehr_c"), ElementsAre("dsa-3"));
  EXPECT_TRUE(ids("ehr_d").empty());
  auto b = view->ForSource("ehr_b");
  ASSERT_EQ(b.size(), 1u);
  ASSERT_TRUE(b[0]->expires_at.has_value());
  EXPECT_EQ(*b[0]->expires_at, T("2027-01-01T00:00:00Z"));
}

TEST_F(ConsentTest, VersionsForSubjectIsTheWholeHistoryOfItsConsents) {
  ConsentLine grant, moved, other_subject, unrelated;
  grant.recorded_at = "2026-01-01T00:00:05Z";
  moved.purpose = "research";  // A later version of c-1 for another purpose.
  moved.recorded_at = "2026-03-01T00:00:00Z";
  other_subject.id = "c-2";
  other_subject.subject_id = "pt-2";
  ConsentLine later_to_other = other_subject;  // c-3 names pt-1 first, then pt-2.
  later_to_other.id = "c-3";
  later_to_other.subject_id = "pt-1";
  ConsentLine c3_moved = later_to_other;
  c3_moved.subject_id = "pt-2";
  c3_moved.recorded_at = "2026-02-01T00:00:00Z";
  unrelated.id = "c-4";
  unrelated.subject_type = "hcp";  // Same id text, another subject type.
  ImportConsents({moved, grant, other_subject, c3_moved, later_to_other, unrelated});

  auto versions = VersionsForSubject(*db_, "patient", "pt-1");
  ASSERT_TRUE(versions.ok()) << versions.status();
  std::vector<std::string> seen;
  for (const auto& v : *versions) {
    seen.push_back(v.record.consent_id + "@" + v.record.recorded_at_text + ":" + v.subject_id +
                   "/" + v.purpose);
  }
  // By consent_id, then recorded_at (not import order); c-2 never named pt-1.
  EXPECT_THAT(seen, ElementsAre("c-1@2026-01-01T00:00:05Z:pt-1/patient_support",
                                "c-1@2026-03-01T00:00:00Z:pt-1/research",
                                "c-3@2026-01-01T00:00:05Z:pt-1/patient_support",
                                "c-3@2026-02-01T00:00:00Z:pt-2/patient_support"));
  EXPECT_EQ((*versions)[0].effective_from_text, "2026-01-01T00:00:00Z");
  EXPECT_FALSE((*versions)[0].expires_at_text.has_value());
  EXPECT_THAT((*versions)[0].canonical, HasSubstr("\"consent_id\":\"c-1\""));
  EXPECT_GT((*versions)[0].record.seq, 0);  // The import order is read too.
  EXPECT_TRUE(VersionsForSubject(*db_, "patient", "pt-9")->empty());
}

TEST_F(ConsentTest, CopiedRegistriesAnswerTheSameAndLaterImportsAreNewer) {
  ConsentLine ma, ny;
  ma.extra = ",\"jurisdiction\":\"US-MA\"";
  ny.extra = ",\"jurisdiction\":\"US-NY\"";
  ImportConsents({ma});
  ImportAgreements({AgreementLine{}});
  auto copy = store::Database::OpenInMemory();
  ASSERT_TRUE(copy.ok()) << copy.status();
  ASSERT_TRUE(CopyRegistries(*db_, **copy).ok());

  const common::Instant as_of = T("2026-06-30T00:00:00Z");
  ConsentView view(**copy, as_of);
  auto current = view.Current("patient", "pt-1", "patient_support");
  ASSERT_TRUE(current.ok());
  ASSERT_EQ((*current)->size(), 1u);
  EXPECT_EQ((**current)[0].jurisdiction, "US-MA");
  auto agreements = AgreementView::Load(**copy, as_of);
  ASSERT_TRUE(agreements.ok());
  EXPECT_EQ(agreements->size(), 1u);

  // Equal recorded_at: the version imported into the copy afterwards is the newer, as it would
  // be in the original; re-importing what was copied changes nothing.
  std::string text = ny.Json() + "\n" + ma.Json() + "\n";
  auto report = Import(**copy, RegistryKind::kConsents, WriteFile(text));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->added, 1);
  EXPECT_EQ(report->unchanged, 1);
  ConsentView after(**copy, as_of);
  auto now = after.Current("patient", "pt-1", "patient_support");
  ASSERT_TRUE(now.ok());
  ASSERT_EQ((*now)->size(), 1u);
  EXPECT_EQ((**now)[0].jurisdiction, "US-NY");
  EXPECT_EQ(Count("consents"), 1);  // The original is untouched.
}

}  // namespace
}  // namespace loopgate::consent
