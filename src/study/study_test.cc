// The study file parser (study.h): a valid file, the documented example, and each error with its
// line and column.

#include "study/study.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace loopgate::study {
namespace {

constexpr const char* kValid = R"(format: loopgate.study/v1
id: s1
title: T
question: Q?
design: randomized_holdout
unit: hcp
window: {from: "2026-01-01T00:00:00Z", to: "2026-03-01T00:00:00Z"}
reference:
  hcp_master: {file: hcp.csv, key: hcp_id}
population:
  table: hcp_master
  assignment: {column: arm, exposed: treatment, holdout: holdout}
exposure:
  event_type: hcp.content.engaged
  where: {asset_id: [a1, a2]}
  link: {field: hcp_id, to: hcp_master}
outcome:
  event_type: ehr.therapy.started
  where: {therapy_code: rx-1}
  link: {field: prescriber_npi, to: hcp_master.npi}
dimensions: [territory]
)";

TEST(StudyParse, ValidFile) {
  auto s = ParseStudy(kValid, "/studies/s1.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->id, "s1");
  EXPECT_EQ(s->design, Design::kRandomizedHoldout);
  EXPECT_EQ(s->unit, Unit::kHcp);
  EXPECT_EQ(s->sink, "analytics_lake");
  EXPECT_EQ(s->references[0].file, "/studies/hcp.csv");  // Resolved against the study's folder.
  EXPECT_EQ(s->exposure.where[0].values.size(), 2u);
  EXPECT_EQ(s->outcome.link.column, "npi");
  EXPECT_EQ(s->exposure.link.column, "hcp_id");  // Defaults to the table's key.
  EXPECT_EQ(s->privacy.k, 11);
  EXPECT_EQ(s->ExposureText(), "hcp.content.engaged with asset_id in [a1, a2]");
  EXPECT_EQ(s->file_sha256.size(), 64u);
}

// Replaces the first occurrence of `from` in kValid with `to`, parses, and returns the error.
std::string ErrorOf(const std::string& from, const std::string& to) {
  std::string text = kValid;
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  auto s = ParseStudy(text, "s.yaml");
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : std::string(s.status().message());
}

TEST(StudyParse, EachErrorNamesItsLine) {
  EXPECT_EQ(ErrorOf("format: loopgate.study/v1", "format: loopgate.study/v9"),
            "s.yaml:1:9: format must be loopgate.study/v1");
  EXPECT_EQ(ErrorOf("design: randomized_holdout", "design: coin_flip"),
            "s.yaml:5:9: design must be randomized_holdout or pre_post");
  EXPECT_EQ(ErrorOf("unit: hcp", "unit: planet"),
            "s.yaml:6:7: unit must be hcp, account, patient_token or cohort");
  EXPECT_EQ(ErrorOf("to: \"2026-03-01T00:00:00Z\"", "to: \"2025-03-01T00:00:00Z\""),
            "s.yaml:7:44: window.to must be after window.from");
  EXPECT_EQ(ErrorOf("to: \"2026-03-01T00:00:00Z\"", "to: \"March\""),
            "s.yaml:7:44: window.to must be an RFC 3339 date-time such as 2026-02-02T00:00:00Z");
  EXPECT_EQ(ErrorOf("  table: hcp_master\n", "  table: hcps\n"),
            "s.yaml:11:10: no reference table named 'hcps'");
  EXPECT_EQ(ErrorOf("link: {field: prescriber_npi, to: hcp_master.npi}",
                    "link: {field: prescriber_npi, to: npi_table.npi}"),
            "s.yaml:20:37: no reference table named 'npi_table'");
  EXPECT_EQ(ErrorOf("  where: {therapy_code: rx-1}", "  wher: {therapy_code: rx-1}"),
            "s.yaml:19:3: unknown key 'wher' in outcome (allowed: event_type, where, link, "
            "within_days)");
  EXPECT_EQ(ErrorOf("dimensions: [territory]", "dimensions: [month]"),
            "s.yaml:21:14: dimension month is the month of the index event: add index");
  EXPECT_EQ(ErrorOf("dimensions: [territory]", "privacy: {k: 0}"),
            "s.yaml:21:14: privacy.k must be a number from 1 to 1000000");
  EXPECT_EQ(ErrorOf("unit: hcp", "unit: patient_token"),
            "s.yaml:1:1: unit patient_token needs an index event (its first occurrence in the "
            "window defines the population)");
  EXPECT_EQ(ErrorOf("  assignment: {column: arm, exposed: treatment, holdout: holdout}\n", ""),
            "s.yaml:11:3: population.assignment must be a mapping");
  EXPECT_EQ(ErrorOf("dimensions: [territory]",
                    "privacy: {differential_privacy: {epsilon: 2, budget: 1}}"),
            "s.yaml:21:43: privacy.differential_privacy.epsilon exceeds its budget");
  EXPECT_EQ(ErrorOf("title: T", "title: [T"), "s.yaml:4:9: end of sequence flow not found");
}

TEST(StudyParse, HashSplitAndPrePost) {
  std::string text = kValid;
  text.replace(text.find("{column: arm, exposed: treatment, holdout: holdout}"),
               std::string("{column: arm, exposed: treatment, holdout: holdout}").size(),
               "{hash_salt: s-2026, holdout_share: 0.2}");
  auto s = ParseStudy(text, "s.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->assignment.kind, Assignment::Kind::kHash);
  EXPECT_EQ(s->assignment.salt, "s-2026");
  EXPECT_DOUBLE_EQ(s->assignment.holdout_share, 0.2);

  std::string pp = kValid;
  pp.replace(pp.find("randomized_holdout"), 18, "pre_post");
  pp.replace(pp.find("  assignment: {column: arm, exposed: treatment, holdout: holdout}\n"),
             std::string("  assignment: {column: arm, exposed: treatment, holdout: holdout}\n").size(),
             "");
  auto no_pre = ParseStudy(pp, "s.yaml");
  ASSERT_FALSE(no_pre.ok());
  EXPECT_NE(no_pre.status().message().find("pre_from"), std::string::npos);
  const std::string old_to = "to: \"2026-03-01T00:00:00Z\"}";
  pp.replace(pp.find(old_to), old_to.size(),
             "to: \"2026-03-01T00:00:00Z\", pre_from: \"2025-11-01T00:00:00Z\", pre_to: "
             "\"2026-01-01T00:00:00Z\"}");
  auto ok = ParseStudy(pp, "s.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->design, Design::kPrePost);

  // With an index event the period before would have no outcomes by construction: refused.
  const std::string with_index = pp + R"(index:
  event_type: hcp.content.engaged
  link: {field: hcp_id, to: hcp_master}
)";
  auto indexed = ParseStudy(with_index, "s.yaml");
  ASSERT_FALSE(indexed.ok());
  EXPECT_NE(indexed.status().message().find("design pre_post cannot use an index event"),
            std::string::npos)
      << indexed.status();
}

// The full example of docs/study.md section 2 parses as printed.
TEST(StudyParse, DocumentedExampleParses) {
  std::ifstream in(std::string(LOOPGATE_SOURCE_DIR) + "/docs/study.md");
  ASSERT_TRUE(in);
  std::stringstream b;
  b << in.rdbuf();
  const std::string doc = b.str();
  const std::string marker = "<!-- example: study -->\n```yaml\n";
  const size_t at = doc.find(marker);
  ASSERT_NE(at, std::string::npos);
  const size_t begin = at + marker.size();
  const size_t end = doc.find("```", begin);
  auto s = ParseStudy(doc.substr(begin, end - begin), "/demo/world/studies/example.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->unit, Unit::kPatientToken);
  EXPECT_TRUE(s->has_index);
  EXPECT_EQ(s->outcome_within, 34 * 86400);
  EXPECT_TRUE(s->attribution.enabled);
  EXPECT_EQ(s->references.size(), 2u);
}

}  // namespace
}  // namespace loopgate::study
