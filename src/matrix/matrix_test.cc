#include "matrix/matrix.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loopgate::matrix {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kReference =
    std::string(LOOPGATE_SOURCE_DIR) + "/examples/reference/catalog.yaml";

std::unique_ptr<catalog::Catalog> Load(std::string_view yaml) {
  auto c = catalog::LoadString(yaml, "m.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

class ReferenceMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = catalog::LoadFile(kReference);
    ASSERT_TRUE(c.ok()) << c.status();
    catalog_ = std::move(*c);
    matrix_ = Build(*catalog_);
  }
  // The cell of `field` of event type `type` at `sink`.
  std::string Cell(std::string_view type, std::string_view field, std::string_view sink) {
    const auto ti = static_cast<size_t>(std::find_if(catalog_->event_types.begin(),
                                                     catalog_->event_types.end(),
                                                     [&](const auto& t) { return t.id == type; }) -
                                        catalog_->event_types.begin());
    const auto& t = catalog_->event_types[ti];
    return CellText(matrix_, matrix_.routes[ti][static_cast<size_t>(catalog_->FindSink(sink))],
                    static_cast<size_t>(t.FindField(field)));
  }
  std::unique_ptr<catalog::Catalog> catalog_;
  Matrix matrix_;
};

TEST_F(ReferenceMatrixTest, CellsSayTheFormEachSinkReceives) {
  EXPECT_EQ(Cell("patient.support.milestone", "patient_id", "analytics_lake"), "token");
  EXPECT_EQ(Cell("patient.support.milestone", "patient_id", "support_cases"), "kept");
  EXPECT_EQ(Cell("patient.support.milestone", "first_name", "analytics_lake"), "dropped (action)");
  EXPECT_EQ(Cell("patient.support.milestone", "birth_date", "analytics_lake"), "year");
  EXPECT_EQ(Cell("patient.support.milestone", "zip", "analytics_lake"), "ZIP3 (by value)");
  EXPECT_EQ(Cell("hcp.content.engaged", "hcp_id", "marketing_automation"), "token");
  EXPECT_EQ(Cell("hcp.content.engaged", "hcp_id", "crm"), "kept");
  EXPECT_EQ(Cell("ehr.therapy.started", "patient_mrn", "research_warehouse"), "token");
  // Not a candidate: the type does not list the sink's purpose.
  EXPECT_EQ(Cell("patient.support.milestone", "patient_id", "crm"), "-");
  EXPECT_EQ(Cell("safety.adverse_event.reported", "narrative", "analytics_lake"), "-");
  EXPECT_EQ(Cell("safety.adverse_event.reported", "narrative", "safety_db"), "kept");
}

TEST_F(ReferenceMatrixTest, RoutesAreTheCandidatesWithTheRoutersPlans) {
  for (size_t ti = 0; ti < catalog_->event_types.size(); ++ti) {
    const auto& t = catalog_->event_types[ti];
    ASSERT_EQ(matrix_.routes[ti].size(), catalog_->sinks.size());
    size_t candidates = 0;
    for (const Route& r : matrix_.routes[ti]) {
      const bool listed = std::find(t.candidate_sinks.begin(), t.candidate_sinks.end(), r.sink) !=
                          t.candidate_sinks.end();
      EXPECT_EQ(r.candidate, listed) << t.id << " " << catalog_->sinks[r.sink].id;
      if (!r.candidate) continue;
      ++candidates;
      ASSERT_EQ(r.fields.size(), t.fields.size());
      for (size_t fi = 0; fi < t.fields.size(); ++fi) {
        const auto plan = transform::PlanField(*catalog_, catalog_->sinks[r.sink], t.fields[fi]);
        EXPECT_EQ(r.fields[fi].form, plan.form);
        EXPECT_EQ(r.fields[fi].drop, plan.drop);
      }
    }
    EXPECT_EQ(candidates, t.candidate_sinks.size());
  }
}

TEST_F(ReferenceMatrixTest, ConditionsNameRulesAgreementsAndConsent) {
  const size_t ehr = 3, milestone = 2, account = 0;
  ASSERT_EQ(catalog_->event_types[ehr].id, "ehr.therapy.started");
  ASSERT_EQ(catalog_->event_types[milestone].id, "patient.support.milestone");
  const Route& lake =
      matrix_.routes[ehr][static_cast<size_t>(catalog_->FindSink("analytics_lake"))];
  EXPECT_THAT(AgreementText(matrix_, lake), HasSubstr("required"));
  EXPECT_THAT(ConsentText(matrix_, ehr, lake),
              HasSubstr("patient's consent to 'aggregate_analytics', jurisdiction US-*"));
  const Route& m_lake =
      matrix_.routes[milestone][static_cast<size_t>(catalog_->FindSink("analytics_lake"))];
  EXPECT_EQ(RulesText(matrix_, m_lake), "denied when 'pediatric-program-exclusion' matches");
  EXPECT_THAT(AgreementText(matrix_, m_lake), HasSubstr("if the source has agreements in force"));
  const Route& crm = matrix_.routes[account][static_cast<size_t>(catalog_->FindSink("crm"))];
  EXPECT_EQ(ConsentText(matrix_, account, crm), "not required");  // Accounts give no consent.
}

TEST_F(ReferenceMatrixTest, MarkdownHasOneRowPerFieldAndOneColumnPerSink) {
  const std::string md = RenderMarkdown(matrix_);
  EXPECT_THAT(md, HasSubstr(catalog_->policy_version));
  size_t fields = 0;
  for (const auto& t : catalog_->event_types) fields += t.fields.size();
  size_t rows = 0;
  size_t pos = 0;
  while ((pos = md.find("\n| ", pos)) != std::string::npos) {
    ++pos;
    const size_t end = md.find('\n', pos);
    const std::string line = md.substr(pos, end - pos);
    if (line.rfind("| account.", 0) == 0 || line.rfind("| hcp.", 0) == 0 ||
        line.rfind("| patient.", 0) == 0 || line.rfind("| ehr.", 0) == 0 ||
        line.rfind("| safety.", 0) == 0) {
      // Field rows have 7 fixed columns and one per sink; condition rows have 6.
      if (std::count(line.begin(), line.end(), '|') == 7 + 6 + 1) ++rows;
    }
  }
  EXPECT_EQ(rows, fields);
  EXPECT_EQ(RenderMarkdown(matrix_), md);  // Deterministic.
}

TEST_F(ReferenceMatrixTest, CsvHasOneRowPerFieldAndSink) {
  const std::string csv = RenderCsv(matrix_);
  size_t fields = 0;
  for (const auto& t : catalog_->event_types) fields += t.fields.size();
  EXPECT_EQ(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')),
            1 + fields * catalog_->sinks.size());
  EXPECT_THAT(csv, HasSubstr("patient.support.milestone,patient_id,string,patient_identifier,phi,"
                             "true,support_hub,analytics_lake,aggregate_analytics,true,,token,"
                             "false,,pseudonymous,pediatric-program-exclusion,"));
}

// Names that a browser, a Markdown renderer or a spreadsheet would interpret.
constexpr std::string_view kHostile = R"yaml(format: loopgate.catalog/v1
name: "<b>bold</b> & co"
purposes:
  "<script>alert(1)</script>": {description: "<img src=x onerror=alert(2)>"}
classes: {"c|d": {level: non_phi, description: "=HYPERLINK(\"http://evil\")"}}
event_types:
  "t<i>":
    sources: ["s,\"q\""]
    subject: {type: person, field: "a'b"}
    purposes: ["<script>alert(1)</script>"]
    fields:
      "a'b": {type: string, class: "c|d"}
      "_x*y`[z]": {type: string, class: "c|d"}
      "=1+2": {type: string, class: "c|d"}
sinks:
  out: {purpose: "<script>alert(1)</script>", max_level: non_phi}
)yaml";

TEST(MatrixEscaping, HtmlEscapesEveryNameAndIsSelfContained) {
  auto c = Load(kHostile);
  ASSERT_NE(c, nullptr);
  const std::string html = RenderHtml(Build(*c));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<b>")));
  EXPECT_THAT(html, Not(HasSubstr("<i>")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("a&#39;b"));
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;bold&lt;/b&gt; &amp; co"));
  // Nothing loaded from elsewhere and nothing run.
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("src=\"")));
  EXPECT_THAT(html, Not(HasSubstr("href")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
}

TEST(MatrixEscaping, MarkdownCellsCannotBreakTheTable) {
  auto c = Load(kHostile);
  ASSERT_NE(c, nullptr);
  const std::string md = RenderMarkdown(Build(*c));
  EXPECT_THAT(md, Not(HasSubstr("<script")));
  EXPECT_THAT(md, HasSubstr("c\\|d"));
  EXPECT_THAT(md, HasSubstr("\\_x\\*y\\`\\[z\\]"));
  // Every table row has as many unescaped pipes as its header.
  size_t pos = md.find("| event type | field |");
  ASSERT_NE(pos, std::string::npos);
  auto pipes = [](std::string_view line) {
    size_t n = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++n;
    }
    return n;
  };
  const size_t header_end = md.find('\n', pos);
  const size_t want = pipes(std::string_view(md).substr(pos, header_end - pos));
  for (size_t at = header_end + 1; at < md.size() && md[at] == '|';) {
    const size_t end = md.find('\n', at);
    EXPECT_EQ(pipes(std::string_view(md).substr(at, end - at)), want);
    at = end + 1;
  }
}

TEST(MatrixEscaping, EscapeFunctions) {
  EXPECT_EQ(common::EscapeHtml("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(EscapeMarkdown("patient_id"), "patient_id");  // Inside a word: literal.
  EXPECT_EQ(EscapeMarkdown("_a_"), "\\_a\\_");
  EXPECT_EQ(EscapeMarkdown("a|b\nc"), "a\\|b c");
  EXPECT_EQ(CsvCell("plain"), "plain");
  EXPECT_EQ(CsvCell("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvCell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvCell("=1+1"), "'=1+1");
  EXPECT_EQ(CsvCell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvCell("line\nbreak"), "\"line\nbreak\"");
}

TEST(MatrixEscaping, CsvQuotesAndDefusesCells) {
  auto c = Load(kHostile);
  ASSERT_NE(c, nullptr);
  const std::string csv = RenderCsv(Build(*c));
  EXPECT_THAT(csv, HasSubstr("\"s,\"\"q\"\"\""));
  EXPECT_THAT(csv, HasSubstr(",'=1+2,"));
  EXPECT_THAT(csv, Not(HasSubstr(",=")));
}

TEST(Matrix, ARuleThatDeniesEveryEventShowsNever) {
  auto c = Load(R"(format: loopgate.catalog/v1
purposes: {care: {}}
classes: {c: {level: non_phi}}
sinks:
  open: {purpose: care, max_level: non_phi}
  closed: {purpose: care, max_level: non_phi}
event_types:
  t:
    sources: [a]
    subject: {type: person, field: id}
    purposes: [care]
    fields: {id: {type: string, class: c}}
rules:
  - {id: shut, sinks: [closed]}
)");
  ASSERT_NE(c, nullptr);
  const Matrix m = Build(*c);
  EXPECT_EQ(CellText(m, m.routes[0][0], 0), "kept");
  EXPECT_EQ(CellText(m, m.routes[0][1], 0), "never (rule 'shut')");
  EXPECT_FALSE(m.routes[0][1].Reachable());
  EXPECT_EQ(RulesText(m, m.routes[0][1]), "rule 'shut' denies every event");
  // In CSV: denied_by_rule set, no form.
  EXPECT_THAT(RenderCsv(m), HasSubstr("t,id,string,c,non_phi,false,a,closed,care,true,shut,,,,,"));
}

TEST(Matrix, FormatNames) {
  EXPECT_EQ(ParseFormat("md"), Format::kMarkdown);
  EXPECT_EQ(ParseFormat("csv"), Format::kCsv);
  EXPECT_EQ(ParseFormat("html"), Format::kHtml);
  EXPECT_EQ(ParseFormat("pdf"), std::nullopt);
}

}  // namespace
}  // namespace loopgate::matrix
