#include "lint/lint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace loopgate::lint {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kTestdata = std::string(LOOPGATE_SOURCE_DIR) + "/src/lint/testdata";
const std::string kReference =
    std::string(LOOPGATE_SOURCE_DIR) + "/examples/reference/catalog.yaml";
const std::string kReferenceKeys =
    std::string(LOOPGATE_SHARED_DIR) + "/scenarios/reference/keys.json";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

transform::KeyStore LoadKeys(const std::string& path) {
  auto keys = transform::KeyStore::LoadFile(path);
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? std::move(*keys) : transform::KeyStore();
}

// "line:column: severity: message [check]" for each finding, the way testdata files write them.
std::vector<std::string> Lines(const Report& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings) {
    std::string text = f.ToText();
    out.push_back(text.substr(r.file.size() + 1));
  }
  return out;
}

std::vector<std::string> Checks(const Report& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings) out.push_back(f.check);
  return out;
}

Report Lint(std::string_view yaml, const Options& options = {}) {
  return LintString(yaml, "t.yaml", options);
}

// Each file under testdata states the findings it must produce, in order, as
// "# expect: LINE:COLUMN: SEVERITY: MESSAGE [CHECK]" lines ("KEYS" stands for the keys path).
TEST(LintTestdata, EachBrokenCatalogReportsExactlyItsFindings) {
  const std::string keys_path = kTestdata + "/keys.json";
  transform::KeyStore keys = LoadKeys(keys_path);
  Options options;
  options.keys = &keys;
  options.keys_path = keys_path;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kTestdata)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    std::vector<std::string> expected;
    std::istringstream text(ReadFile(path));
    for (std::string line; std::getline(text, line);) {
      if (line.rfind("# expect: ", 0) != 0) continue;
      std::string want = line.substr(10);
      if (auto at = want.find("KEYS"); at != std::string::npos) want.replace(at, 4, keys_path);
      expected.push_back(want);
    }
    auto report = LintFile(path, options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(Lines(*report), expected);
  }
  EXPECT_GE(files, 20);
}

TEST(LintReference, CleanWithItsKeys) {
  transform::KeyStore keys = LoadKeys(kReferenceKeys);
  Options options;
  options.keys = &keys;
  options.keys_path = kReferenceKeys;
  auto r = LintFile(kReference, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->loaded);
  EXPECT_THAT(Lines(*r), IsEmpty());
  EXPECT_EQ(r->policy_version,
            "sha256:dfc2a7fa515c92f532171f920a53cdbfb3f471802f9144f69eede6e56f965715");
}

TEST(LintReference, WithoutKeysEachTokenizingSinkIsAWarningAtItsTokenDomain) {
  auto r = LintFile(kReference, Options{});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->findings.size(), 3u);
  EXPECT_EQ(r->errors(), 0);
  EXPECT_EQ(r->warnings(), 3);
  // The lines of the three token_domain keys in the file.
  std::vector<uint32_t> lines;
  std::istringstream text(ReadFile(kReference));
  uint32_t n = 0;
  for (std::string line; std::getline(text, line);) {
    ++n;
    if (line.find("    token_domain: ") == 0) lines.push_back(n);
  }
  ASSERT_EQ(lines.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const Finding& f = r->findings[i];
    EXPECT_EQ(f.check, kTokenizeWithoutKey);
    EXPECT_EQ(f.severity, Severity::kWarning);
    EXPECT_EQ(f.line, lines[i]);
    EXPECT_EQ(f.column, 19u);
    EXPECT_THAT(f.message, HasSubstr("keys were not given (--keys)"));
  }
  EXPECT_THAT(r->findings[0].message, HasSubstr("'marketing'"));
}

TEST(LintReference, TokenDomainsSharingASecretAreAnErrorAtTheSecondDomainsSinks) {
  const std::string secret = "00112233445566778899aabbccddeeff";
  auto keys = transform::KeyStore::LoadString(
      R"({"marketing": {"key_id": "m", "secret_hex": ")" + secret +
          R"("}, "analytics": {"key_id": "a", "secret_hex": "ffeeddccbbaa99887766554433221100"},)"
          R"( "research": {"key_id": "r", "secret_hex": ")" + secret + R"("}})",
      "shared-keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  Options options;
  options.keys = &*keys;
  options.keys_path = "shared-keys.json";
  auto r = LintFile(kReference, options);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->findings.size(), 1u) << ::testing::PrintToString(Lines(*r));
  const Finding& f = r->findings[0];
  EXPECT_EQ(f.check, kTokenDomainsShareKey);
  EXPECT_EQ(f.severity, Severity::kError);
  EXPECT_EQ(f.column, 19u);  // At the sink's `token_domain: research`.
  EXPECT_THAT(f.message, HasSubstr("token domain 'research'"));
  EXPECT_THAT(f.message, HasSubstr("token domain 'marketing'"));
  EXPECT_THAT(f.message, Not(HasSubstr(secret)));
  EXPECT_EQ(r->errors(), 1);
}

TEST(LintFile, MissingFileIsNotFound) {
  auto r = LintFile("/nonexistent/loopgate/catalog.yaml", Options{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

// ---- The loader's messages ----

TEST(FromLoaderMessage, ReadsThePositionAfterThePath) {
  Finding f = FromLoaderMessage("a:b.yaml", "a:b.yaml:12:3: sink 's': unknown purpose 'p'");
  EXPECT_EQ(f.file, "a:b.yaml");
  EXPECT_EQ(f.line, 12u);
  EXPECT_EQ(f.column, 3u);
  EXPECT_EQ(f.message, "sink 's': unknown purpose 'p'");
  EXPECT_EQ(f.check, kUnknownReference);
  EXPECT_EQ(f.severity, Severity::kError);
  EXPECT_EQ(f.ToText(), "a:b.yaml:12:3: error: sink 's': unknown purpose 'p' [unknown-reference]");
}

TEST(FromLoaderMessage, WithoutAPositionTheWholeTextIsTheMessage) {
  Finding f = FromLoaderMessage("c.yaml", "c.yaml: cannot open the catalog file");
  EXPECT_EQ(f.line, 0u);
  EXPECT_EQ(f.message, "cannot open the catalog file");
  EXPECT_EQ(f.ToText(), "c.yaml: error: cannot open the catalog file [catalog]");
  Finding g = FromLoaderMessage("c.yaml", "something else");
  EXPECT_EQ(g.line, 0u);
  EXPECT_EQ(g.message, "something else");
}

TEST(FromLoaderMessage, EachKindOfMessageHasItsCheck) {
  const std::vector<std::pair<std::string, std::string_view>> cases = {
      {"event type 't': unknown purpose 'p'", kUnknownReference},
      {"sink 's': unknown purpose 'p'", kUnknownReference},
      {"event type 't': field 'f': unknown class 'c'", kUnknownReference},
      {"sink 's': actions name unknown class 'c'", kUnknownReference},
      {"event type 't': subject field 'f' is not one of its fields", kUnknownReference},
      {"sink 's' tokenizes class 'c' but names no token_domain to take the key from",
       kTokenizeWithoutTokenDomain},
      {"sink 's': consent_required_for names subject type 'x' that no event type has (subject "
       "types: patient)",
       kConsentUnknownSubjectType},
      {"rule 'r': unknown sink 's'", kRuleNeverMatches},
      {"rule 'r': value 'v' can never equal field 'f' of event type 't' (declared enum)",
       kRuleNeverMatches},
      {"rule 'r': no event type declares field 'f'", kRuleNeverMatches},
      {"rule 'r': event type pattern 'g' matches no event type", kRuleNeverMatches},
      {"rule 'r': no event type accepts source 's'", kRuleNeverMatches},
      {"rule 'r': no event type has subject type 't'", kRuleNeverMatches},
      {"unknown key 'k' in sink 's' (allowed: purpose)", kCatalog},
      {"rule id 'r' is used twice", kCatalog},
      {"level 'x' is not one of non_phi, pseudonymous, phi", kCatalog},
  };
  for (const auto& [message, check] : cases) {
    EXPECT_EQ(FromLoaderMessage("x.yaml", "x.yaml:1:1: " + message).check, check) << message;
  }
}

// ---- Checks on the compiled catalog ----

// One type with two sources and three fields, three sinks of one purpose; tests add rules.
constexpr std::string_view kRulesBase = R"(format: loopgate.catalog/v1
purposes: {care: {}}
classes: {c: {level: non_phi}}
sinks:
  s1: {purpose: care, max_level: non_phi}
  s2: {purpose: care, max_level: non_phi}
event_types:
  t:
    sources: [a, b]
    subject: {type: person, field: id}
    purposes: [care]
    fields:
      id: {type: string, class: c}
      at: {type: datetime, class: c}
      site: {type: string, class: c}
rules:
)";

std::vector<std::string> RuleFindings(std::string_view rules) {
  const Report r = Lint(std::string(kRulesBase) + std::string(rules));
  EXPECT_TRUE(r.loaded) << (r.findings.empty() ? "" : r.findings[0].ToText());
  std::vector<std::string> out;
  for (const auto& f : r.findings) out.push_back(f.check + " " + std::to_string(f.line));
  return out;
}

TEST(LintRules, ShadowedNeedsEverySourceOfTheLaterRuleCovered) {
  // Line 17 is the first rule, 18 the second.
  EXPECT_THAT(RuleFindings("  - {id: r1, sources: [a]}\n  - {id: r2, sources: [a]}\n"),
              ElementsAre("rule-shadowed 18"));
  // r2 also matches source b, which r1 leaves out.
  EXPECT_THAT(RuleFindings("  - {id: r1, sources: [a], fields: {site: x}}\n"
                           "  - {id: r2, fields: {site: x}}\n"),
              IsEmpty());
  // r1 names both sources the type accepts: it matches every event, like no condition.
  EXPECT_THAT(RuleFindings("  - {id: r1, sources: [a, b], fields: {site: x}}\n"
                           "  - {id: r2, fields: {site: x}}\n"),
              ElementsAre("rule-shadowed 18"));
}

TEST(LintRules, ShadowedComparesValuesByTheFieldsType) {
  // The same instant written with two offsets.
  EXPECT_THAT(RuleFindings("  - {id: r1, fields: {at: '2026-04-01T12:00:00+02:00'}}\n"
                           "  - {id: r2, fields: {at: '2026-04-01T10:00:00Z'}}\n"),
              ElementsAre("rule-shadowed 18"));
  EXPECT_THAT(RuleFindings("  - {id: r1, fields: {at: '2026-04-01T12:00:00Z'}}\n"
                           "  - {id: r2, fields: {at: '2026-04-01T10:00:00Z'}}\n"),
              IsEmpty());
}

TEST(LintRules, ShadowedNeedsTheLaterValuesWithinTheEarlierOnes) {
  EXPECT_THAT(RuleFindings("  - {id: r1, fields: {site: {in: [x, y]}}}\n"
                           "  - {id: r2, fields: {site: x}}\n"),
              ElementsAre("rule-shadowed 18"));
  EXPECT_THAT(RuleFindings("  - {id: r1, fields: {site: x}}\n"
                           "  - {id: r2, fields: {site: {in: [x, y]}}}\n"),
              IsEmpty());
  // More conditions on the earlier rule: it matches fewer events.
  EXPECT_THAT(RuleFindings("  - {id: r1, fields: {site: x, id: p}}\n"
                           "  - {id: r2, fields: {site: x}}\n"),
              IsEmpty());
}

TEST(LintRules, ShadowedPairByPairByDifferentEarlierRules) {
  EXPECT_THAT(RuleFindings("  - {id: r1, sinks: [s1]}\n  - {id: r2, sinks: [s1, s2]}\n"),
              // r1 closes s1 to t; r2 denies s2 too, so it is not shadowed, and s2 is closed.
              ElementsAre("sink-unreachable 5", "sink-unreachable 6", "type-reaches-no-sink 8"));
  const Report r = Lint(std::string(kRulesBase) +
                        "  - {id: r1, sinks: [s1], fields: {site: x}}\n"
                        "  - {id: r2, sinks: [s2], fields: {site: x}}\n"
                        "  - {id: r3, fields: {site: x}}\n");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].check, kRuleShadowed);
  EXPECT_EQ(r.findings[0].line, 19u);
  EXPECT_THAT(r.findings[0].message, HasSubstr("('r1' (line 17), 'r2' (line 18))"));
}

TEST(LintRules, ARuleTheLoaderWarnedAboutIsReportedOnce) {
  // A field no type declares: the loader's warning, not a second "never matches".
  const Report r = Lint(std::string(kRulesBase) + "  - {id: r1, fields: {nope: x}}\n");
  EXPECT_THAT(Checks(r), ElementsAre("rule-never-matches"));
  EXPECT_THAT(r.findings[0].message, HasSubstr("no event type declares field 'nope'"));
}

TEST(LintPromotional, PhiSinkWithNoPhiFieldYetIsStillAWarning) {
  const Report r = Lint(R"(format: loopgate.catalog/v1
purposes: {ads: {promotional: true}, care: {}}
classes: {c: {level: non_phi}}
sinks:
  ads_out: {purpose: ads, max_level: phi}
  care_out: {purpose: care, max_level: phi}
event_types:
  t:
    sources: [a]
    subject: {type: person, field: id}
    purposes: [ads, care]
    fields: {id: {type: string, class: c}}
)");
  ASSERT_EQ(r.findings.size(), 1u);  // Not care_out: its purpose is not promotional.
  EXPECT_EQ(r.findings[0].check, kPromotionalPhi);
  EXPECT_EQ(r.findings[0].line, 5u);
  EXPECT_THAT(r.findings[0].message, HasSubstr("with max_level phi"));
}

TEST(LintPromotional, TokensAndYearsAreNotPhi) {
  const Report r = Lint(R"(format: loopgate.catalog/v1
purposes: {ads: {promotional: true}}
classes: {ids: {level: phi}, dates: {level: phi}, notes: {level: phi}}
sinks:
  ads_out:
    purpose: ads
    max_level: phi
    token_domain: d
    actions: {ids: tokenize, dates: generalize, notes: drop}
event_types:
  t:
    sources: [a]
    subject: {type: person, field: id}
    purposes: [ads]
    fields:
      id: {type: string, class: ids}
      born: {type: date, class: dates}
      note: {type: string, class: notes}
)");
  // Nothing reaches at phi, but max_level phi would let a new field through; the key was not
  // checked either.
  EXPECT_THAT(Checks(r), ElementsAre("promotional-phi", "tokenize-without-key"));
  EXPECT_THAT(r.findings[0].message, HasSubstr("with max_level phi"));
}

TEST(LintReport, JsonHoldsCountsAndFindings) {
  const Report r =
      Lint(std::string(kRulesBase) + "  - {id: r1}\n  - {id: \"r\\\"2\", sinks: [s2]}\n");
  const std::string json = r.ToJson();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(root["file"]), "t.yaml");
  EXPECT_TRUE(bool(root["loaded"]));
  EXPECT_EQ(int64_t(root["errors"]), r.errors());
  EXPECT_EQ(int64_t(root["warnings"]), r.warnings());
  simdjson::dom::array findings = root["findings"];
  ASSERT_EQ(findings.size(), r.findings.size());
  size_t i = 0;
  for (simdjson::dom::element f : findings) {
    EXPECT_EQ(uint64_t(f["line"]), r.findings[i].line);
    EXPECT_EQ(uint64_t(f["column"]), r.findings[i].column);
    EXPECT_EQ(std::string_view(f["severity"]), SeverityName(r.findings[i].severity));
    EXPECT_EQ(std::string_view(f["check"]), r.findings[i].check);
    EXPECT_EQ(std::string_view(f["message"]), r.findings[i].message);
    ++i;
  }
  EXPECT_THAT(json, HasSubstr("r\\\"2"));  // Escaped, still one JSON value.
}

TEST(LintReport, UnloadableCatalogHasNullPolicyVersionAndSaysWhatDidNotRun) {
  const Report r = Lint("format: loopgate.catalog/v1\n");
  EXPECT_FALSE(r.loaded);
  EXPECT_GE(r.errors(), 4);  // The four missing sections.
  EXPECT_THAT(r.ToJson(), HasSubstr("\"policy_version\":null"));
  EXPECT_THAT(r.Summary(), HasSubstr("does not load"));
}

TEST(LintReport, FindingsAreOrderedByPosition) {
  const Report r = Lint(std::string(kRulesBase) +
                        "  - {id: r1, sinks: [s1]}\n  - {id: r2, sinks: [s1, s2]}\n");
  ASSERT_GE(r.findings.size(), 2u);
  EXPECT_TRUE(std::is_sorted(r.findings.begin(), r.findings.end(),
                             [](const Finding& a, const Finding& b) {
                               return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                             }));
}

TEST(LintReport, SummaryCountsInWords) {
  Report r;
  r.file = "f.yaml";
  r.loaded = true;
  r.policy_version = "sha256:x";
  EXPECT_EQ(r.Summary(), "f.yaml: 0 errors, 0 warnings (policy version sha256:x)");
  r.findings.push_back(Finding{"f.yaml", 1, 1, Severity::kError, "catalog", "m"});
  r.findings.push_back(Finding{"f.yaml", 2, 1, Severity::kWarning, "catalog", "m"});
  EXPECT_EQ(r.Summary(), "f.yaml: 1 error, 1 warning (policy version sha256:x)");
}

}  // namespace
}  // namespace loopgate::lint
