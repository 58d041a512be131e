// The worked example of docs/measurement.md section 7. The test checks that the document shows
// this code and the report it prints, so the two cannot drift apart.

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "analytics/accumulator.h"
#include "analytics/lift.h"
#include "analytics/suppression.h"
#include "gtest/gtest.h"

namespace loopgate {
namespace {

std::string Percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100 * x);
  return buf;
}

// --- example begin ---
std::string ExampleReport() {
  // One dimension; units de-duplicated by the hash of their token (the default).
  analytics::AccumulatorOptions options;
  options.dimensions = {"segment"};
  analytics::LiftAccumulator study = analytics::LiftAccumulator::Create(options).value();

  // Rows as a reader of the analytics sink produces them: 6,000 units, about 3 in 16 in the
  // randomized holdout, each unit's row sent twice (the duplicate is folded into one unit).
  for (uint64_t unit = 1; unit <= 6000; ++unit) {
    const uint64_t hash = unit * 0x9e3779b97f4a7c15ULL;  // Stands in for the token's hash.
    const analytics::Arm arm =
        (hash >> 60) < 3 ? analytics::Arm::kHoldout : analytics::Arm::kExposed;
    const bool outcome = (hash >> 32) % 100 < (arm == analytics::Arm::kHoldout ? 10 : 13);
    const std::string_view segment[] = {unit % 700 == 3         ? "vip"
                                        : (hash >> 20) % 3 == 0 ? "new"
                                                                : "returning"};
    for (int copy = 0; copy < 2; ++copy) {
      if (!study.Add(hash, arm, outcome, segment).ok()) return "error";
    }
  }

  // Suppress small cells (k = 11), then compute rates and lift from released counts only.
  analytics::ReleasedLiftTable table =
      analytics::ReleaseLiftTable(study.Cells(), analytics::Evidence::kRandomizedHoldout).value();

  std::string out = std::string(analytics::EvidenceCaveat(table.evidence)) + "\n";
  auto print = [&out](std::string_view name, const analytics::ReleasedLiftRow& row) {
    out += std::string(name) + ": exposed " + analytics::FormatReleased(row.exposed_outcomes) +
           "/" + analytics::FormatReleased(row.exposed_units) + ", holdout " +
           analytics::FormatReleased(row.holdout_outcomes) + "/" +
           analytics::FormatReleased(row.holdout_units);
    if (!row.lift) {
      out += ", lift suppressed\n";
      return;
    }
    const analytics::DifferenceEstimate& d = row.lift->absolute_lift;
    out += ", lift " + Percent(d.difference) + " [" + Percent(d.ci.lower) + ", " +
           Percent(d.ci.upper) + "], p = " + std::to_string(row.lift->test.p_value) + "\n";
  };
  for (const analytics::ReleasedLiftRow& row : table.rows) print(row.dimension_values[0], row);
  print("total", table.total);
  return out;
}
// --- example end ---

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text of the fenced block that follows `marker` in `doc`.
std::string BlockAfter(const std::string& doc, std::string_view marker) {
  size_t at = doc.find(marker);
  if (at == std::string::npos) return "";
  at = doc.find("```", at);
  if (at == std::string::npos) return "";
  at = doc.find('\n', at) + 1;
  const size_t end = doc.find("```", at);
  return end == std::string::npos ? "" : doc.substr(at, end - at);
}

TEST(MeasurementDoc, ExampleRunsAndPrintsWhatTheDocShows) {
  const std::string doc = Slurp(LOOPGATE_SOURCE_DIR "/docs/measurement.md");
  const std::string source = Slurp(LOOPGATE_SOURCE_DIR "/src/analytics/example_test.cc");
  ASSERT_FALSE(doc.empty());
  const std::string code = BlockAfter(doc, "<!-- example: code -->");
  const std::string output = BlockAfter(doc, "<!-- example: output -->");
  ASSERT_FALSE(code.empty());
  const size_t begin = source.find("// --- example begin ---\n");
  const size_t end = source.find("// --- example end ---");
  ASSERT_NE(begin, std::string::npos);
  EXPECT_EQ(code, source.substr(begin + 25, end - begin - 25));
  const std::string report = ExampleReport();
  EXPECT_EQ(report, output);
  // And the report does what it claims: the small segment is withheld, whole.
  EXPECT_NE(report.find("vip: exposed suppressed/suppressed"), std::string::npos) << report;
}

}  // namespace
}  // namespace loopgate
