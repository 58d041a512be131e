// The study report page and the result reader, on the fixtures in testdata/ (a randomized study
// in differential-privacy mode with suppressed territories, a pre/post study, a study where
// everything is suppressed) and on variants of them edited in the tests.

#include "report/study_html.h"

#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "common/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "report/study_result.h"

namespace loopgate::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(LOOPGATE_SOURCE_DIR) + "/src/report/testdata/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `text` with the first `from` after the first `anchor` replaced by `to`.
std::string ReplaceAfter(std::string text, const std::string& anchor, const std::string& from,
                         const std::string& to) {
  const size_t a = text.find(anchor);
  EXPECT_NE(a, std::string::npos) << anchor;
  const size_t f = text.find(from, a);
  EXPECT_NE(f, std::string::npos) << from;
  if (a == std::string::npos || f == std::string::npos) return text;
  return text.replace(f, from.size(), to);
}

std::string Render(const std::string& json) {
  auto html = RenderStudyHtml(json);
  EXPECT_TRUE(html.ok()) << html.status();
  return html.ok() ? *html : std::string();
}

// The part of `html` from `begin` up to the next `end` (both must be present).
std::string Between(const std::string& html, const std::string& begin, const std::string& end) {
  const size_t b = html.find(begin);
  EXPECT_NE(b, std::string::npos) << begin;
  if (b == std::string::npos) return "";
  const size_t e = html.find(end, b + begin.size());
  EXPECT_NE(e, std::string::npos) << end;
  return html.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

// What a reader sees of `html`: the text between tags (attributes and coordinates dropped).
std::string VisibleText(const std::string& html) {
  std::string out;
  bool in_tag = false;
  for (char c : html) {
    if (c == '<') {
      in_tag = true;
      out.push_back(' ');
    } else if (c == '>') {
      in_tag = false;
    } else if (!in_tag) {
      out.push_back(c);
    }
  }
  return out;
}

TEST(StudyHtml, EverySectionIsPresent) {
  const std::string json = Fixture("randomized_dp.json");
  auto r = ParseStudyResult(json);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string html = Render(json);
  for (const char* id : {"answer", "lift", "time", "attribution", "privacy", "governance", "run"}) {
    EXPECT_THAT(html, HasSubstr(std::string("<section") + (std::string(id) == "answer"
                                                               ? " class=\"answer\" id=\"answer\""
                                                               : std::string(" id=\"") + id + "\"")))
        << id;
  }
  EXPECT_THAT(html, HasSubstr(common::EscapeHtml(r->question)));
  EXPECT_THAT(html, HasSubstr(common::EscapeHtml(r->answer)));
  EXPECT_THAT(html, HasSubstr(common::EscapeHtml(r->caveat)));
  // Lift chart (SVG, with a zero line), time-to-outcome curves, attribution per model.
  EXPECT_THAT(html, HasSubstr("class=\"zero\""));
  EXPECT_THAT(html, HasSubstr("median "));
  for (const char* name : {"First touch", "Last touch", "Linear", "Time decay",
                           "Position (40/20/40)", "Markov 1", "Markov 2", "Shapley",
                           "Markov removal effects", "Base conversion probability"}) {
    EXPECT_THAT(html, HasSubstr(name));
  }
  for (const auto& ch : r->channels) EXPECT_THAT(html, HasSubstr("<b>" + ch + "</b>"));
  // Privacy and governance figures from the file, formatted for people.
  EXPECT_THAT(html, HasSubstr("k = 11"));
  EXPECT_THAT(html, HasSubstr("ε = 0.5"));
  EXPECT_THAT(html, HasSubstr("ε = 1.5"));
  EXPECT_THAT(html, HasSubstr("1,718 of 1,850"));  // consent coverage
  EXPECT_THAT(html, HasSubstr(common::EscapeHtml(r->minimized_share.note)));
  // Run facts.
  EXPECT_THAT(html, HasSubstr(r->file_sha256));
  EXPECT_THAT(html, HasSubstr("seq 2,460,001"));
  EXPECT_THAT(html, HasSubstr("1,284,512"));
  EXPECT_THAT(html, HasSubstr("2026-11-24 10:00 UTC"));
}

TEST(StudyHtml, NumbersAreFormattedForPeople) {
  const std::string html = Render(Fixture("randomized_dp.json"));
  // overall absolute_lift {"estimate": 0.1511, "ci": [0.1057, 0.1957]}, rates 0.5308 / 0.3797
  EXPECT_THAT(html, HasSubstr("+15.1 pts"));
  EXPECT_THAT(html, HasSubstr("+10.6 to +19.6 points"));
  EXPECT_THAT(html, HasSubstr("53.1%"));
  EXPECT_THAT(html, HasSubstr("38.0%"));
  EXPECT_THAT(html, HasSubstr("&lt; 0.001"));
  EXPECT_THAT(html, HasSubstr("491 of 925 HCPs"));
}

TEST(StudyHtml, HostileTextIsEscapedEverywhere) {
  std::string json = Fixture("randomized_dp.json");
  json = ReplaceAfter(json, "\"title\"", "Oncology launch: therapy starts",
                      "<script>alert(1)</script> & co");
  json = ReplaceAfter(json, "\"question\"", "Did the launch",
                      "\\\"><img src=x onerror=alert(2)> Did the launch");
  json = ReplaceAfter(json, "\"answer\"", "Exposed oncologists", "</p><iframe src=//x></iframe>");
  json = ReplaceAfter(json, "\"cells\"", "terr-nyc", "<svg onload=alert(3)>");
  json = ReplaceAfter(json, "\"channels\": [", "\"email\"", "\"</td><script>x()</script>\"");
  json = ReplaceAfter(json, "\"by\": \"alice\"", "alice", "'al' onmouseover='x'");
  const std::string html = Render(json);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<iframe")));
  EXPECT_THAT(html, Not(HasSubstr("<svg onload")));
  EXPECT_THAT(html, Not(HasSubstr("'al'")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
  EXPECT_THAT(html, HasSubstr("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
  EXPECT_THAT(html, HasSubstr("&lt;svg onload=alert(3)&gt;"));
  EXPECT_THAT(html, HasSubstr("&lt;/td&gt;&lt;script&gt;x()&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("&#39;al&#39; onmouseover=&#39;x&#39;"));
}

TEST(StudyHtml, LoadsNothingFromTheNetwork) {
  for (const char* f : {"randomized_dp.json", "pre_post.json", "all_suppressed.json"}) {
    const std::string html = Render(Fixture(f));
    EXPECT_THAT(html, HasSubstr("<meta http-equiv=\"Content-Security-Policy\" "
                                "content=\"default-src 'none';"))
        << f;
    for (const char* ref : {"http://", "https://", "src=", "href=", "@import", "<script", "<link",
                            "<img", "<iframe", "<object", "<embed", "@font-face", "//"}) {
      // "//" catches protocol-relative URLs; the page has no comments or URLs at all.
      EXPECT_THAT(html, Not(HasSubstr(ref))) << f << ": " << ref;
    }
    // The only url() is the hatch pattern defined in the page itself.
    const std::regex url(R"(url\((?!#hatch\)))");
    EXPECT_FALSE(std::regex_search(html, url)) << f;
  }
}

TEST(StudyHtml, SuppressedCellsAreNeverPrintedAsNumbers) {
  const std::string html = Render(Fixture("randomized_dp.json"));
  // terr-sfo is primary-suppressed, terr-atl complementary: their rows in the table and in the
  // chart say so and show no digit but k's.
  for (const char* cell : {"terr-sfo", "terr-atl"}) {
    const std::string row = Between(html, std::string("<tr><td>") + cell, "</tr>");
    EXPECT_THAT(row, HasSubstr("suppressed (")) << cell;
    std::string text = VisibleText(row);
    text = std::regex_replace(text, std::regex("fewer than 11"), "");
    EXPECT_FALSE(std::regex_search(text, std::regex("[0-9]"))) << cell << ": " << text;
    const std::string chart_row =
        Between(html, std::string(">") + cell + "</text>", "\n");
    EXPECT_THAT(chart_row, HasSubstr("suppressed")) << cell;
    text = std::regex_replace(VisibleText(chart_row), std::regex("fewer than 11"), "");
    EXPECT_FALSE(std::regex_search(text, std::regex("[0-9]"))) << cell << ": " << text;
  }
  EXPECT_THAT(html, HasSubstr("suppressed (fewer than 11)"));
  EXPECT_THAT(html, HasSubstr("suppressed (complementary: would reveal a small cell)"));
}

TEST(StudyHtml, AStudyWithEverythingSuppressedShowsNoFigures) {
  const std::string html = Render(Fixture("all_suppressed.json"));
  // The headline tiles, the lift table, the time table and the two suppressed governance cards
  // carry no number except k.
  const std::string kpis = Between(html, "<div class=\"kpis\">", "<h3>The figures</h3>");
  EXPECT_THAT(kpis, HasSubstr("No cell has a released rate to chart."));
  const std::string table = Between(html, "<h3>The figures</h3>", "</table>");
  const std::string time = Between(html, "<section id=\"time\">", "</section>");
  const std::string consent = Between(html, "Consent coverage</div>", "<div class=\"n\">");
  const std::string revocation = Between(html, "Revocation / opt-out rate</div>", "<div class=\"n\">");
  for (const std::string* part : {&kpis, &table, &time, &consent, &revocation}) {
    std::string text = VisibleText(*part);
    ASSERT_FALSE(text.empty());
    EXPECT_THAT(text, HasSubstr("suppressed"));
    // "95%" names the interval and "50%" the median in headings; 11 is k.
    text = std::regex_replace(text, std::regex("fewer than 11|95%|50%"), "");
    EXPECT_FALSE(std::regex_search(text, std::regex("[0-9]"))) << text;
  }
  EXPECT_THAT(html, HasSubstr("No attribution was released"));
  EXPECT_THAT(html, HasSubstr("Withheld channels (fewer than 11 units touched them): webinar, email"));
  // The failed match rate was released (3 of 911).
  EXPECT_THAT(html, HasSubstr("3 of 911"));
}

TEST(StudyHtml, PrePostIsLabelledWeakerEvidence) {
  const std::string pre_post = Render(Fixture("pre_post.json"));
  const std::string answer = Between(pre_post, "<section class=\"answer weak\"", "</section>");
  EXPECT_THAT(answer, HasSubstr("Weaker evidence: pre/post, no holdout"));
  EXPECT_THAT(answer, HasSubstr("changes over time are not separated from the effect of exposure"));
  EXPECT_THAT(Between(pre_post, "<section id=\"lift\">", "</section>"),
              HasSubstr("<p class=\"warnline\"><b>Weaker evidence.</b>"));
  EXPECT_THAT(pre_post, HasSubstr("Before (pre)"));
  EXPECT_THAT(pre_post, HasSubstr("After (post)"));
  EXPECT_THAT(pre_post, Not(HasSubstr("Holdout")));
  EXPECT_THAT(pre_post, HasSubstr("suppression only"));

  const std::string randomized = Render(Fixture("randomized_dp.json"));
  EXPECT_THAT(randomized, Not(HasSubstr("Weaker evidence")));
  EXPECT_THAT(randomized, HasSubstr("<span class=\"badge\">Randomized holdout</span>"));
}

TEST(StudyHtml, RenderingIsDeterministic) {
  const std::string json = Fixture("randomized_dp.json");
  EXPECT_EQ(Render(json), Render(json));
}

// ---- The reader fails closed and names the member ------------------------------------------

std::string Error(const std::string& json) {
  auto r = ParseStudyResult(json);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(RenderStudyHtml(json).ok());
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(StudyResult, AMissingMemberIsNamed) {
  const std::string json = Fixture("randomized_dp.json");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"privacy\"", "\"suppress_zero\": false,", "")),
            "study result: privacy.suppress_zero: missing");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"terr-bos\"", "\"p_value\"", "\"p\"")),
            "study result: lift.by[0].cells[1].p_value: missing");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"groups\"", "\"curve\"", "\"points\"")),
            "study result: time_to_outcome.groups[0].curve: missing");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"consent_coverage\"", "\"note\"", "\"notes\"")),
            "study result: governance.consent_coverage.note: missing");
}

TEST(StudyResult, AWrongTypeIsNamed) {
  const std::string json = Fixture("randomized_dp.json");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"privacy\"", "\"k\": 11", "\"k\": \"11\"")),
            "study result: privacy.k: expected a count (a non-negative integer), got a string");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"overall\"", "\"units\": 925", "\"units\": 925.5")),
            "study result: lift.overall.exposed.units: expected a count (a non-negative integer)");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"study\"", "\"dimensions\": [", "\"dimensions\": [1, ")),
            "study result: study.dimensions[0]: expected a string, got a number");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"overall\"", "\"rate\": 0.5308", "\"rate\": 53.08")),
            "study result: lift.overall.exposed.rate: expected a fraction between 0 and 1");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"study\"", "\"randomized_holdout\"", "\"rct\"")),
            "study result: study.design: expected one of \"randomized_holdout\", \"pre_post\"");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"models\"", "\"first_touch\"", "\"u_shaped\"")),
            "study result: attribution.models[0].model: expected one of \"first_touch\", "
            "\"last_touch\", \"linear\", \"time_decay\", \"position_based\", \"markov_1\", "
            "\"markov_2\", \"markov_3\", \"shapley\"");
}

TEST(StudyResult, ASuppressedFigureCarryingNumbersIsRefused) {
  const std::string json = Fixture("randomized_dp.json");
  // terr-sfo (cells[3]) is suppressed; a count left in it must not reach a page.
  EXPECT_EQ(Error(ReplaceAfter(json, "\"terr-sfo\"", "\"units\": null", "\"units\": 9")),
            "study result: lift.by[0].cells[3].exposed.units: must be null when the figure is "
            "suppressed");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"terr-sfo\"", "\"p_value\": null", "\"p_value\": 0.2")),
            "study result: lift.by[0].cells[3].p_value: must be null in a suppressed cell");
  const std::string all = Fixture("all_suppressed.json");
  EXPECT_EQ(Error(ReplaceAfter(all, "\"consent_coverage\"", "\"numerator\": null",
                               "\"numerator\": 4")),
            "study result: governance.consent_coverage.numerator: must be null when the figure "
            "is suppressed");
  EXPECT_EQ(Error(ReplaceAfter(all, "\"groups\"", "\"curve\": []",
                               "\"curve\": [{\"t\": 0, \"survival\": 1, \"at_risk\": 4}]")),
            "study result: time_to_outcome.groups[0].curve: must be empty when the group is "
            "suppressed");
  // And the other way round: a released figure without its numbers.
  EXPECT_EQ(Error(ReplaceAfter(json, "\"overall\"", "\"units\": 925", "\"units\": null")),
            "study result: lift.overall.exposed.units: is null but the figure is not suppressed");
}

TEST(StudyResult, DifferentialPrivacyNeedsItsEpsilons) {
  const std::string json = Fixture("randomized_dp.json");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"privacy\"", "\"epsilon_spent\": 0.5",
                               "\"epsilon_spent\": null")),
            "study result: privacy.epsilon_spent: must be a number in differential_privacy mode");
}

TEST(StudyResult, OnlyThisFormatAndStrictJson) {
  const std::string json = Fixture("randomized_dp.json");
  EXPECT_EQ(Error(ReplaceAfter(json, "\"format\"", "study-result/v1", "study-result/v2")),
            "study result: format: expected \"loopgate.study-result/v1\"");
  EXPECT_THAT(Error(json.substr(0, json.size() / 2)), HasSubstr("study result: not valid JSON"));
  EXPECT_EQ(Error("[]"), "study result: expected one JSON object");
  EXPECT_EQ(Error("{}"), "study result: format: missing");
  // A duplicate member is ambiguous: refused, not resolved either way.
  EXPECT_THAT(Error(ReplaceAfter(json, "\"privacy\"", "\"k\": 11", "\"k\": 11, \"k\": 2")),
              HasSubstr("not valid JSON"));
}

TEST(StudyResult, ErrorsDoNotRepeatValuesFromTheFile) {
  const std::string json = Fixture("randomized_dp.json");
  const std::string e =
      Error(ReplaceAfter(json, "\"study\"", "\"unit\": \"hcp\"", "\"unit\": \"NPI 1234567890\""));
  EXPECT_THAT(e, HasSubstr("study.unit"));
  EXPECT_THAT(e, Not(HasSubstr("1234567890")));
}

TEST(StudyResult, FixturesParse) {
  for (const char* f : {"randomized_dp.json", "pre_post.json", "all_suppressed.json"}) {
    auto r = ParseStudyResult(Fixture(f));
    EXPECT_TRUE(r.ok()) << f << ": " << r.status();
  }
  auto r = ParseStudyResult(Fixture("randomized_dp.json"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->by.size(), 2u);
  EXPECT_EQ(r->by[0].cells[3].exposed.suppressed, study::Suppression::kPrimary);
  EXPECT_EQ(r->by[0].cells[4].comparison.suppressed, study::Suppression::kComplementary);
  EXPECT_EQ(r->mode, study::PrivacyMode::kDifferentialPrivacy);
}

}  // namespace
}  // namespace loopgate::report
