#include "catalog/catalog.h"

#include "common/time.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loopgate::catalog {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kReferencePath =
    std::string(LOOPGATE_SOURCE_DIR) + "/examples/reference/catalog.yaml";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A small catalog that exercises every section; error tests edit one line of it.
constexpr std::string_view kBase = R"(format: loopgate.catalog/v1
name: base
purposes:
  p1: {description: first}
  p2: {promotional: true}
classes:
  c_low: {level: non_phi}
  c_high: {level: phi}
event_types:
  t.one:
    sources: [src_a, src_b]
    subject: {type: person, field: pid}
    purposes: [p1, p2]
    fields:
      pid: {type: string, class: c_high, required: true}
      n: {type: integer, class: c_low}
      kind: {type: enum, values: [a, b], class: c_low}
sinks:
  s1:
    purpose: p1
    max_level: non_phi
  s2:
    purpose: p2
    max_level: phi
    token_domain: d
    actions: {c_high: tokenize}
rules:
  - id: r1
    sinks: [s1]
    fields: {n: 5}
  - id: r2
    fields: {kind: {in: [a, b]}}
)";

// `text` with the only occurrence of `from` replaced by `to`.
std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  const size_t pos = text.find(from);
  EXPECT_NE(pos, std::string_view::npos) << "test bug: '" << from << "' not in the text";
  EXPECT_EQ(text.find(from, pos + 1), std::string_view::npos)
      << "test bug: '" << from << "' is not unique";
  if (pos == std::string_view::npos) return std::string(text);
  std::string out(text);
  out.replace(pos, from.size(), to);
  return out;
}

// "test.yaml:LINE:COLUMN" (1-based) of the `occurrence`-th appearance of `token` in `text`:
// where an error about that token must point.
std::string At(std::string_view text, std::string_view token, int occurrence = 1) {
  size_t pos = std::string_view::npos;
  size_t from = 0;
  for (int i = 0; i < occurrence; ++i) {
    pos = text.find(token, from);
    if (pos == std::string_view::npos) {
      ADD_FAILURE() << "test bug: '" << token << "' occurs fewer than " << occurrence << " times";
      return "<missing>";
    }
    from = pos + 1;
  }
  const size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + pos, '\n'));
  const size_t line_start = text.rfind('\n', pos == 0 ? 0 : pos - 1);
  const size_t column = line_start == std::string_view::npos ? pos + 1 : pos - line_start;
  return "test.yaml:" + std::to_string(line) + ":" + std::to_string(column);
}

// The error message of loading `yaml`, which must fail with InvalidArgument.
std::string LoadError(const std::string& yaml, OutputValidator validate = nullptr) {
  auto c = LoadString(yaml, "test.yaml", validate);
  EXPECT_FALSE(c.ok()) << "expected the catalog to be rejected:\n" << yaml;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

std::string PolicyVersion(const std::string& yaml) {
  auto c = LoadString(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? (*c)->policy_version : "";
}

std::vector<std::string> CandidateSinkIds(const Catalog& c, std::string_view type) {
  std::vector<std::string> ids;
  const EventType* t = c.FindEventType(type);
  EXPECT_NE(t, nullptr) << type;
  if (t == nullptr) return ids;
  for (uint32_t si : t->candidate_sinks) ids.push_back(c.sinks[si].id);
  return ids;
}

// Rule ids compiled for (type, sink), in check order.
std::vector<std::string> CompiledRuleIds(const Catalog& c, std::string_view type,
                                         std::string_view sink) {
  std::vector<std::string> ids;
  const EventType* t = c.FindEventType(type);
  EXPECT_NE(t, nullptr) << type;
  if (t == nullptr) return ids;
  EXPECT_EQ(t->candidate_sinks.size(), t->candidate_rules.size());
  for (size_t i = 0; i < t->candidate_sinks.size(); ++i) {
    if (c.sinks[t->candidate_sinks[i]].id != sink) continue;
    for (const auto& cr : t->candidate_rules[i]) ids.push_back(c.rules[cr.rule_index].id);
    return ids;
  }
  ADD_FAILURE() << "sink '" << sink << "' is not a candidate for '" << type << "'";
  return ids;
}

// ---------------------------------------------------------------------------------------------
// The reference catalog.

class ReferenceCatalogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = LoadFile(kReferencePath);
    ASSERT_TRUE(c.ok()) << c.status();
    catalog_ = c->release();
  }
  static void TearDownTestSuite() {
    delete catalog_;
    catalog_ = nullptr;
  }
  static const Catalog* catalog_;
};
const Catalog* ReferenceCatalogTest::catalog_ = nullptr;

TEST_F(ReferenceCatalogTest, LoadsEverySection) {
  const Catalog& c = *catalog_;
  EXPECT_EQ(c.name, "reference");
  EXPECT_EQ(c.path, kReferencePath);
  EXPECT_EQ(c.purposes.size(), 6u);
  EXPECT_EQ(c.classes.size(), 8u);
  EXPECT_EQ(c.event_types.size(), 5u);
  EXPECT_EQ(c.sinks.size(), 6u);
  ASSERT_EQ(c.rules.size(), 2u);
  EXPECT_EQ(c.rules[0].id, "no-contact-accounts");
  EXPECT_EQ(c.rules[1].id, "pediatric-program-exclusion");
}

TEST_F(ReferenceCatalogTest, ClassesCarryTheirLevels) {
  const Catalog& c = *catalog_;
  auto level = [&](std::string_view id) {
    const int i = c.FindClass(id);
    EXPECT_GE(i, 0) << id;
    return i < 0 ? Level::kNonPhi : c.classes[static_cast<size_t>(i)].level;
  };
  EXPECT_EQ(level("operational"), Level::kNonPhi);
  EXPECT_EQ(level("hcp_identifier"), Level::kNonPhi);
  EXPECT_EQ(level("health_info"), Level::kPseudonymous);
  EXPECT_EQ(level("patient_identifier"), Level::kPhi);
  EXPECT_EQ(level("free_text"), Level::kPhi);
  EXPECT_EQ(c.FindClass("no_such_class"), -1);
}

TEST_F(ReferenceCatalogTest, EventTypeFieldsSubjectAndFlags) {
  const EventType* t = catalog_->FindEventType("hcp.content.engaged");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->sources, (std::vector<std::string>{"web_portal", "email_platform"}));
  EXPECT_EQ(t->subject_type, "hcp");
  EXPECT_EQ(t->fields[t->subject_field].name, "hcp_id");
  EXPECT_FALSE(t->requires_agreement);
  const int channel = t->FindField("channel");
  ASSERT_GE(channel, 0);
  const Field& f = t->fields[static_cast<size_t>(channel)];
  EXPECT_EQ(f.type, FieldType::kEnum);
  EXPECT_TRUE(f.required);
  EXPECT_EQ(f.enum_values, (std::vector<std::string>{"email", "web", "rep"}));
  const int duration = t->FindField("duration_s");
  ASSERT_GE(duration, 0);
  EXPECT_EQ(t->fields[static_cast<size_t>(duration)].type, FieldType::kInteger);
  EXPECT_FALSE(t->fields[static_cast<size_t>(duration)].required);
  EXPECT_EQ(t->FindField("no_such_field"), -1);

  const EventType* ehr = catalog_->FindEventType("ehr.therapy.started");
  ASSERT_NE(ehr, nullptr);
  EXPECT_TRUE(ehr->requires_agreement);
  EXPECT_EQ(catalog_->FindEventType("hcp.sample.requested"), nullptr);
}

TEST_F(ReferenceCatalogTest, SinksCarryLevelsActionsAndConsent) {
  const Catalog& c = *catalog_;
  const int mi = c.FindSink("marketing_automation");
  ASSERT_GE(mi, 0);
  const Sink& m = c.sinks[static_cast<size_t>(mi)];
  EXPECT_EQ(c.purposes[m.purpose].id, "promotional_marketing");
  EXPECT_EQ(m.max_level, Level::kPseudonymous);
  EXPECT_EQ(m.channel, "email");
  EXPECT_EQ(m.jurisdictions, (std::vector<std::string>{"US-*"}));
  EXPECT_EQ(m.token_domain, "marketing");
  EXPECT_TRUE(m.RequiresConsentFor("hcp"));
  EXPECT_TRUE(m.RequiresConsentFor("patient"));
  EXPECT_FALSE(m.RequiresConsentFor("account"));
  ASSERT_EQ(m.actions.size(), c.classes.size());
  EXPECT_EQ(m.actions[static_cast<size_t>(c.FindClass("hcp_identifier"))], Action::kTokenize);
  EXPECT_EQ(m.actions[static_cast<size_t>(c.FindClass("health_info"))], Action::kDrop);
  EXPECT_EQ(m.actions[static_cast<size_t>(c.FindClass("operational"))], std::nullopt);

  // research_warehouse reuses analytics_lake's actions through a YAML alias.
  const Sink& a = c.sinks[static_cast<size_t>(c.FindSink("analytics_lake"))];
  const Sink& r = c.sinks[static_cast<size_t>(c.FindSink("research_warehouse"))];
  EXPECT_EQ(a.actions, r.actions);
  EXPECT_EQ(a.actions[static_cast<size_t>(c.FindClass("patient_date"))], Action::kGeneralize);

  const Sink& safety = c.sinks[static_cast<size_t>(c.FindSink("safety_db"))];
  EXPECT_TRUE(safety.consent_required_for.empty());
  EXPECT_EQ(safety.max_level, Level::kPhi);
  EXPECT_EQ(safety.token_domain, std::nullopt);
}

TEST_F(ReferenceCatalogTest, CandidateSinksAreInCatalogOrder) {
  const Catalog& c = *catalog_;
  EXPECT_EQ(CandidateSinkIds(c, "hcp.content.engaged"),
            (std::vector<std::string>{"crm", "marketing_automation", "analytics_lake"}));
  EXPECT_EQ(CandidateSinkIds(c, "account.education.completed"),
            (std::vector<std::string>{"crm", "analytics_lake"}));
  EXPECT_EQ(CandidateSinkIds(c, "patient.support.milestone"),
            (std::vector<std::string>{"support_cases", "analytics_lake"}));
  EXPECT_EQ(CandidateSinkIds(c, "ehr.therapy.started"),
            (std::vector<std::string>{"analytics_lake", "research_warehouse"}));
  EXPECT_EQ(CandidateSinkIds(c, "safety.adverse_event.reported"),
            (std::vector<std::string>{"safety_db"}));
}

TEST_F(ReferenceCatalogTest, RulesCompileOntoTheirTypeSinkPairs) {
  const Catalog& c = *catalog_;
  using Ids = std::vector<std::string>;
  // no-contact-accounts: sink crm, field account_id (declared by these two types only).
  EXPECT_EQ(CompiledRuleIds(c, "hcp.content.engaged", "crm"), Ids{"no-contact-accounts"});
  EXPECT_EQ(CompiledRuleIds(c, "account.education.completed", "crm"), Ids{"no-contact-accounts"});
  EXPECT_EQ(CompiledRuleIds(c, "hcp.content.engaged", "marketing_automation"), Ids{});
  EXPECT_EQ(CompiledRuleIds(c, "hcp.content.engaged", "analytics_lake"), Ids{});
  // pediatric-program-exclusion: analytics and research sinks, field program_id, which only
  // patient.support.milestone declares.
  EXPECT_EQ(CompiledRuleIds(c, "patient.support.milestone", "analytics_lake"),
            Ids{"pediatric-program-exclusion"});
  EXPECT_EQ(CompiledRuleIds(c, "patient.support.milestone", "support_cases"), Ids{});
  EXPECT_EQ(CompiledRuleIds(c, "ehr.therapy.started", "analytics_lake"), Ids{});
  EXPECT_EQ(CompiledRuleIds(c, "ehr.therapy.started", "research_warehouse"), Ids{});
  EXPECT_EQ(CompiledRuleIds(c, "safety.adverse_event.reported", "safety_db"), Ids{});
}

TEST_F(ReferenceCatalogTest, CompiledRuleConditionsPointAtTheField) {
  const EventType* t = catalog_->FindEventType("hcp.content.engaged");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(catalog_->sinks[t->candidate_sinks[0]].id, "crm");
  ASSERT_EQ(t->candidate_rules[0].size(), 1u);
  const CompiledRule& cr = t->candidate_rules[0][0];
  EXPECT_TRUE(cr.sources.empty());
  ASSERT_EQ(cr.fields.size(), 1u);
  EXPECT_EQ(cr.fields[0].field_index, static_cast<uint32_t>(t->FindField("account_id")));
  ASSERT_EQ(cr.fields[0].values.size(), 1u);
  EXPECT_EQ(cr.fields[0].values[0].text, "acct_nocontact_01");
}

TEST_F(ReferenceCatalogTest, PolicyVersionIsSha256OfToJson) {
  const std::string& v = catalog_->policy_version;
  ASSERT_THAT(v, StartsWith("sha256:"));
  const std::string hex = v.substr(7);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_TRUE(std::all_of(hex.begin(), hex.end(), [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
  })) << v;
}

TEST_F(ReferenceCatalogTest, LoadFileAndLoadStringAgree) {
  auto from_string = LoadString(ReadFile(kReferencePath), kReferencePath);
  ASSERT_TRUE(from_string.ok()) << from_string.status();
  EXPECT_EQ((*from_string)->policy_version, catalog_->policy_version);
  EXPECT_EQ((*from_string)->ToJson(), catalog_->ToJson());
}

TEST(CatalogLoadFileTest, MissingFileIsNotFound) {
  auto c = LoadFile("/nonexistent/loopgate/catalog.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/loopgate/catalog.yaml"));
}

// ---------------------------------------------------------------------------------------------
// Compilation on a small catalog.

TEST(CatalogCompileTest, BaseCatalogLoads) {
  auto c = LoadString(std::string(kBase), "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(CandidateSinkIds(**c, "t.one"), (std::vector<std::string>{"s1", "s2"}));
}

// "test.yaml:LINE:COLUMN" of a position the loader recorded.
std::string Where(const SourcePos& pos) {
  return "test.yaml:" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

TEST(CatalogCompileTest, RecordsWhereEachThingIsWritten) {
  auto c = LoadString(std::string(kBase), "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const Catalog& cat = **c;
  EXPECT_EQ(Where(cat.purposes[cat.FindPurpose("p2")].pos), At(kBase, "p2: {promotional"));
  EXPECT_EQ(Where(cat.classes[cat.FindClass("c_high")].pos), At(kBase, "c_high: {level"));
  const EventType* t = cat.FindEventType("t.one");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Where(t->pos), At(kBase, "t.one:"));
  EXPECT_EQ(Where(t->fields[static_cast<size_t>(t->FindField("kind"))].pos),
            At(kBase, "kind: {"));
  const Sink& s2 = cat.sinks[cat.FindSink("s2")];
  EXPECT_EQ(Where(s2.pos), At(kBase, "s2:"));
  EXPECT_EQ(Where(s2.token_domain_pos), At(kBase, "d\n"));
  EXPECT_EQ(cat.sinks[cat.FindSink("s1")].token_domain_pos.line, 0u);
  ASSERT_EQ(cat.rules.size(), 2u);
  EXPECT_EQ(Where(cat.rules[0].pos), At(kBase, "id: r1"));
  EXPECT_EQ(Where(cat.rules[1].pos), At(kBase, "id: r2"));
}

TEST(CatalogCompileTest, PositionsDoNotChangeThePolicyVersion) {
  EXPECT_EQ(PolicyVersion(std::string(kBase)),
            PolicyVersion("\n\n# moved down\n" + std::string(kBase)));
}

TEST(CatalogCompileTest, RulesKeepDeclaredOrderAndTypedValues) {
  auto c = LoadString(std::string(kBase), "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(CompiledRuleIds(**c, "t.one", "s1"), (std::vector<std::string>{"r1", "r2"}));
  EXPECT_EQ(CompiledRuleIds(**c, "t.one", "s2"), (std::vector<std::string>{"r2"}));

  const EventType& t = (*c)->event_types[0];
  const CompiledRule& r1 = t.candidate_rules[0][0];
  ASSERT_EQ(r1.fields.size(), 1u);
  EXPECT_EQ(r1.fields[0].field_index, static_cast<uint32_t>(t.FindField("n")));
  ASSERT_EQ(r1.fields[0].values.size(), 1u);
  EXPECT_EQ(r1.fields[0].values[0].number, 5.0);
  const CompiledRule& r2 = t.candidate_rules[1][0];
  ASSERT_EQ(r2.fields.size(), 1u);
  EXPECT_EQ(r2.fields[0].field_index, static_cast<uint32_t>(t.FindField("kind")));
  ASSERT_EQ(r2.fields[0].values.size(), 2u);
  EXPECT_EQ(r2.fields[0].values[0].text, "a");
  EXPECT_EQ(r2.fields[0].values[1].text, "b");
}

TEST(CatalogCompileTest, RulesSettleTypeSourceAndSubjectConditions) {
  const std::string yaml = R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes: {c: {level: non_phi}}
event_types:
  hcp.view:
    sources: [web]
    subject: {type: hcp, field: id}
    purposes: [p]
    fields: {id: {type: string, class: c, required: true}}
  patient.visit:
    sources: [ehr, portal]
    subject: {type: patient, field: id}
    purposes: [p]
    fields: {id: {type: string, class: c, required: true}}
sinks:
  s: {purpose: p, max_level: non_phi}
rules:
  - {id: hcp-glob, event_types: ["hcp.*"]}
  - {id: from-ehr, sources: [ehr]}
  - {id: patients, subject_types: [patient]}
)";
  auto c = LoadString(yaml, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(CompiledRuleIds(**c, "hcp.view", "s"), (std::vector<std::string>{"hcp-glob"}));
  EXPECT_EQ(CompiledRuleIds(**c, "patient.visit", "s"),
            (std::vector<std::string>{"from-ehr", "patients"}));
  // A source condition stays on the compiled rule: the type also accepts "portal".
  const EventType* t = (*c)->FindEventType("patient.visit");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->candidate_rules[0][0].sources, (std::vector<std::string>{"ehr"}));
}

// Names that only mean something if an event type has them: a misspelling would fail open, so
// each is reported, but as a warning (a catalog may name what no event type uses yet).
TEST(CatalogCompileTest, ReferencesNoEventTypeHasAreWarnings) {
  const std::string yaml = R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes: {c: {level: non_phi}}
event_types:
  hcp.view:
    sources: [web]
    subject: {type: hcp, field: id}
    purposes: [p]
    fields: {id: {type: string, class: c, required: true}}
sinks:
  s: {purpose: p, max_level: non_phi, consent_required_for: [hpc]}
rules:
  - {id: from-mobile, sources: [mobile]}
  - {id: typo-subject, subject_types: [patinet]}
  - {id: no-type, event_types: [nothing.*]}
)";
  // The catalog loads (nothing can match these), and each finding is reported where it is.
  auto c = LoadString(yaml, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  std::string message;
  for (const auto& w : (*c)->warnings) message += w + "\n";
  EXPECT_THAT(message, HasSubstr("test.yaml:11:61: sink 's': consent_required_for names subject "
                                 "type 'hpc' that no event type has (subject types: hcp)"));
  EXPECT_THAT(message, HasSubstr("test.yaml:13:32: rule 'from-mobile': no event type accepts "
                                 "source 'mobile'"));
  EXPECT_THAT(message, HasSubstr("rule 'typo-subject': no event type has subject type 'patinet'"));
  EXPECT_THAT(message, HasSubstr("rule 'no-type': event type pattern 'nothing.*' matches no "
                                 "event type"));
}

TEST(CatalogCompileTest, RuleValuesMustBeWrittenAsTheirFieldType) {
  const std::string base = R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes: {c: {level: non_phi}}
event_types:
  t:
    sources: [web]
    subject: {type: hcp, field: id}
    purposes: [p]
    fields:
      id: {type: string, class: c, required: true}
      n: {type: integer, class: c}
      x: {type: number, class: c}
      d: {type: date, class: c}
      at: {type: datetime, class: c}
sinks:
  s: {purpose: p, max_level: non_phi}
rules:
  - {id: r, fields: {FIELD: VALUE}}
)";
  auto load = [&](const std::string& field, const std::string& value) {
    std::string yaml = Replace(base, "FIELD", field);
    return LoadString(Replace(yaml, "VALUE", value), "test.yaml");
  };
  EXPECT_TRUE(load("n", "16").ok());
  EXPECT_FALSE(load("n", "0x10").ok());
  EXPECT_FALSE(load("n", "1.5").ok());
  EXPECT_FALSE(load("x", "inf").ok());
  EXPECT_TRUE(load("x", "-2.5e3").ok());
  EXPECT_TRUE(load("d", "2026-02-28").ok());
  EXPECT_FALSE(load("d", "2026-02-30").ok());
  EXPECT_TRUE(load("at", "'2026-04-01T12:00:00+02:00'").ok());
  EXPECT_FALSE(load("at", "yesterday").ok());
  // A datetime condition holds by instant, whatever the offset it is written with.
  auto c = load("at", "'2026-04-01T12:00:00+02:00'");
  ASSERT_TRUE(c.ok());
  const auto* t = (*c)->FindEventType("t");
  const auto expected = common::ParseRfc3339("2026-04-01T10:00:00Z");
  EXPECT_EQ(t->candidate_rules[0][0].fields[0].values[0].instant, *expected);
}

TEST(CatalogCompileTest, TypeWithoutMatchingPurposeHasNoCandidates) {
  const std::string yaml = Replace(kBase, "purposes: [p1, p2]", "purposes: []");
  auto c = LoadString(yaml, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(CandidateSinkIds(**c, "t.one").empty());
}

// ---------------------------------------------------------------------------------------------
// policy_version.

TEST(PolicyVersionTest, UnchangedByCommentsWhitespaceStyleAndKeyOrder) {
  const std::string base = PolicyVersion(std::string(kBase));
  ASSERT_THAT(base, StartsWith("sha256:"));
  // The same meaning: comments, blank lines, block instead of flow style, other indentation,
  // quoted scalars and attribute keys in another order.
  const std::string restyled = R"(# A comment at the top.
name: base
format: "loopgate.catalog/v1"

purposes:
    p1:
        description: first    # trailing comment
    p2: {promotional: true}
classes:
    c_low:
        level: non_phi
    c_high: {level: 'phi'}
event_types:
    t.one:
        fields:
            pid: {required: true, class: c_high, type: string}
            n: {class: c_low, type: integer}
            kind:
                values:
                  - a
                  - b
                class: c_low
                type: enum
        purposes: [p1, p2]
        subject: {field: pid, type: person}
        sources:
          - src_a
          - src_b
sinks:
    s1: {max_level: non_phi, purpose: p1}
    s2:
        actions:
            c_high: tokenize
        token_domain: d
        max_level: phi
        purpose: p2
rules:
    - fields: {n: 5}
      sinks: [s1]
      id: r1

    - id: r2
      fields:
        kind:
          in: [a, b]
)";
  EXPECT_EQ(PolicyVersion(restyled), base);
}

TEST(PolicyVersionTest, UnchangedWhenSetsAreReordered) {
  // Purposes, classes, fields and every string list are sets: their order means nothing.
  const std::string base = PolicyVersion(std::string(kBase));
  std::string reordered = Replace(kBase, "  p1: {description: first}\n  p2: {promotional: true}\n",
                                  "  p2: {promotional: true}\n  p1: {description: first}\n");
  reordered = Replace(reordered, "  c_low: {level: non_phi}\n  c_high: {level: phi}\n",
                      "  c_high: {level: phi}\n  c_low: {level: non_phi}\n");
  reordered = Replace(reordered, "sources: [src_a, src_b]", "sources: [src_b, src_a]");
  reordered = Replace(reordered, "purposes: [p1, p2]", "purposes: [p2, p1]");
  reordered = Replace(reordered, "values: [a, b]", "values: [b, a]");
  reordered = Replace(reordered,
                      "      n: {type: integer, class: c_low}\n"
                      "      kind: {type: enum, values: [b, a], class: c_low}\n",
                      "      kind: {type: enum, values: [b, a], class: c_low}\n"
                      "      n: {type: integer, class: c_low}\n");
  ASSERT_NE(reordered, std::string(kBase));
  EXPECT_EQ(PolicyVersion(reordered), base);
}

TEST(PolicyVersionTest, ChangesWhenSinksAreReordered) {
  // Sinks are decided, and their ledger entries written, in file order.
  const std::string swapped = Replace(
      kBase,
      "  s1:\n    purpose: p1\n    max_level: non_phi\n",
      "");
  const size_t rules = swapped.find("rules:");
  std::string moved = swapped;
  moved.insert(rules, "  s1:\n    purpose: p1\n    max_level: non_phi\n");
  ASSERT_NE(moved, std::string(kBase));
  EXPECT_NE(PolicyVersion(moved), PolicyVersion(std::string(kBase)));
}

TEST(PolicyVersionTest, UnchangedByDescriptions) {
  EXPECT_EQ(PolicyVersion(Replace(kBase, "{description: first}", "{description: other words}")),
            PolicyVersion(std::string(kBase)));
}

TEST(PolicyVersionTest, ChangesWithALevel) {
  EXPECT_NE(
      PolicyVersion(Replace(kBase, "c_low: {level: non_phi}", "c_low: {level: pseudonymous}")),
      PolicyVersion(std::string(kBase)));
  EXPECT_NE(PolicyVersion(Replace(kBase, "max_level: phi", "max_level: pseudonymous")),
            PolicyVersion(std::string(kBase)));
}

TEST(PolicyVersionTest, ChangesWithAnAction) {
  EXPECT_NE(PolicyVersion(Replace(kBase, "{c_high: tokenize}", "{c_high: mask}")),
            PolicyVersion(std::string(kBase)));
  EXPECT_NE(PolicyVersion(Replace(kBase, "{c_high: tokenize}", "{c_high: tokenize, c_low: drop}")),
            PolicyVersion(std::string(kBase)));
}

TEST(PolicyVersionTest, ChangesWithRuleOrder) {
  const std::string swapped = Replace(kBase,
                                      "  - id: r1\n    sinks: [s1]\n    fields: {n: 5}\n"
                                      "  - id: r2\n    fields: {kind: {in: [a, b]}}\n",
                                      "  - id: r2\n    fields: {kind: {in: [a, b]}}\n"
                                      "  - id: r1\n    sinks: [s1]\n    fields: {n: 5}\n");
  EXPECT_NE(PolicyVersion(swapped), PolicyVersion(std::string(kBase)));
}

TEST(PolicyVersionTest, ChangesWithOtherMeanings) {
  const std::string base = PolicyVersion(std::string(kBase));
  EXPECT_NE(PolicyVersion(Replace(kBase, "fields: {n: 5}", "fields: {n: 6}")), base);
  EXPECT_NE(PolicyVersion(Replace(kBase, "sources: [src_a, src_b]", "sources: [src_a]")), base);
  EXPECT_NE(PolicyVersion(Replace(kBase, "n: {type: integer, class: c_low}",
                                  "n: {type: integer, class: c_low, required: true}")),
            base);
  EXPECT_NE(PolicyVersion(Replace(kBase, "values: [a, b]", "values: [a, b, c]")), base);
  EXPECT_NE(PolicyVersion(Replace(kBase, "p2: {promotional: true}", "p2: {}")), base);
  EXPECT_NE(PolicyVersion(Replace(kBase, "token_domain: d", "token_domain: e")), base);
  // Sink order is the decision order.
  EXPECT_NE(PolicyVersion(Replace(kBase,
                                  "  s1:\n    purpose: p1\n    max_level: non_phi\n"
                                  "  s2:\n    purpose: p2\n    max_level: phi\n"
                                  "    token_domain: d\n    actions: {c_high: tokenize}\n",
                                  "  s2:\n    purpose: p2\n    max_level: phi\n"
                                  "    token_domain: d\n    actions: {c_high: tokenize}\n"
                                  "  s1:\n    purpose: p1\n    max_level: non_phi\n")),
            base);
}

// ---------------------------------------------------------------------------------------------
// Errors: every one as `path:line:column: message`.

TEST(CatalogErrorTest, YamlSyntaxErrorHasPosition) {
  const std::string yaml = Replace(kBase, "  c_high: {level: phi}", "  c_high: {level: phi]");
  // The first ']' in the text is the stray one.
  EXPECT_EQ(LoadError(yaml), At(yaml, "]") + ": illegal flow end");
}

TEST(CatalogErrorTest, EmptyDocument) {
  EXPECT_THAT(LoadError(""), StartsWith("test.yaml:1:1: a catalog must be a YAML mapping"));
}

TEST(CatalogErrorTest, UnknownKeyIsReportedWhereItIs) {
  const std::string yaml = Replace(kBase, "max_level: non_phi", "max_levle: non_phi");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "max_levle") + ": unknown key 'max_levle' in sink 's1'"));
}

TEST(CatalogErrorTest, MissingAttributePointsAtTheMappingThatLacksIt) {
  const std::string yaml = Replace(kBase, "    max_level: non_phi\n", "");
  EXPECT_EQ(LoadError(yaml), At(yaml, "purpose: p1") + ": sink 's1': max_level is required");
}

TEST(CatalogErrorTest, UnknownTopLevelKey) {
  const std::string yaml = Replace(kBase, "name: base", "nmae: base");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "nmae") + ": unknown key 'nmae' in the catalog"));
}

TEST(CatalogErrorTest, DuplicateFieldKey) {
  const std::string yaml =
      Replace(kBase, "      n: {type: integer, class: c_low}\n",
              "      n: {type: integer, class: c_low}\n      n: {type: string, class: c_low}\n");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "n: {type: string") + ": duplicate key 'n'"));
}

TEST(CatalogErrorTest, DuplicateSinkId) {
  const std::string yaml = Replace(kBase, "  s2:\n", "  s1:\n");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "s1:", 2) + ": duplicate key 's1' in sinks"));
}

TEST(CatalogErrorTest, DuplicateAttributeKey) {
  // A repeated attribute must not silently pick one of the two values.
  const std::string yaml =
      Replace(kBase, "    max_level: non_phi\n", "    max_level: non_phi\n    max_level: phi\n");
  EXPECT_EQ(LoadError(yaml),
            At(yaml, "max_level: phi\n  s2") + ": duplicate key 'max_level' in sink 's1'");
}

TEST(CatalogErrorTest, DuplicateTopLevelSection) {
  const std::string yaml = std::string(kBase) + "name: again\n";
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "name: again") + ": duplicate key 'name'"));
}

TEST(CatalogErrorTest, DuplicateRuleId) {
  const std::string yaml = Replace(kBase, "- id: r2", "- id: r1");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "r1", 2) + ": rule id 'r1' is used twice"));
}

TEST(CatalogErrorTest, UnknownClassInField) {
  const std::string yaml =
      Replace(kBase, "n: {type: integer, class: c_low}", "n: {type: integer, class: c_nope}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "c_nope") + ": event type 't.one': field 'n': unknown class "
                                             "'c_nope'"));
}

TEST(CatalogErrorTest, UnknownClassInActions) {
  const std::string yaml = Replace(kBase, "{c_high: tokenize}", "{c_hihg: tokenize}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "c_hihg") + ": sink 's2': actions name unknown class 'c_hihg'"));
}

TEST(CatalogErrorTest, UnknownPurposeInSink) {
  const std::string yaml = Replace(kBase, "purpose: p1", "purpose: p9");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "p9") + ": sink 's1': unknown purpose 'p9'"));
}

TEST(CatalogErrorTest, UnknownPurposeInEventType) {
  const std::string yaml = Replace(kBase, "purposes: [p1, p2]", "purposes: [p1, p9]");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "[p1, p9]") + ": event type 't.one': unknown purpose 'p9'"));
}

TEST(CatalogErrorTest, BadClassLevel) {
  const std::string yaml = Replace(kBase, "{level: non_phi}", "{level: nonphi}");
  EXPECT_THAT(
      LoadError(yaml),
      HasSubstr(At(yaml, "nonphi") + ": level 'nonphi' is not one of non_phi, pseudonymous, phi"));
}

TEST(CatalogErrorTest, BadSinkMaxLevel) {
  const std::string yaml = Replace(kBase, "max_level: non_phi", "max_level: top");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "top") + ": sink 's1': max_level 'top' is not one of"));
}

TEST(CatalogErrorTest, BadAction) {
  const std::string yaml = Replace(kBase, "{c_high: tokenize}", "{c_high: encrypt}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "encrypt") + ": sink 's2': action 'encrypt' for class 'c_high'"));
}

TEST(CatalogErrorTest, BadFieldType) {
  const std::string yaml = Replace(kBase, "type: integer", "type: int");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "int,") + ": event type 't.one': field 'n': type 'int' is not "
                                           "one of"));
}

TEST(CatalogErrorTest, EnumWithoutValues) {
  const std::string yaml = Replace(kBase, "kind: {type: enum, values: [a, b], class: c_low}",
                                   "kind: {type: enum, class: c_low}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "kind:") + ": event type 't.one': field 'kind' is an enum and "
                                            "needs values"));
}

TEST(CatalogErrorTest, ValuesOnNonEnum) {
  const std::string yaml = Replace(kBase, "n: {type: integer, class: c_low}",
                                   "n: {type: integer, values: [1, 2], class: c_low}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "[1, 2]") + ": event type 't.one': field 'n': values are only for "
                                             "enum fields"));
}

TEST(CatalogErrorTest, SubjectFieldNotDeclared) {
  const std::string yaml = Replace(kBase, "field: pid}", "field: nobody}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "nobody") + ": event type 't.one': subject field 'nobody' is not "
                                             "one of its fields"));
}

TEST(CatalogErrorTest, MissingSubject) {
  const std::string yaml = Replace(kBase, "    subject: {type: person, field: pid}\n", "");
  EXPECT_EQ(LoadError(yaml), At(yaml, "t.one") +
                                 ": event type 't.one' needs subject: "
                                 "{type: ..., field: ...} (the person or "
                                 "account the event is about)");
}

TEST(CatalogErrorTest, MissingSubjectType) {
  const std::string yaml = Replace(kBase, "{type: person, field: pid}", "{field: pid}");
  EXPECT_EQ(LoadError(yaml), At(yaml, "{field: pid}") +
                                 ": event type 't.one': subject type is "
                                 "required");
}

TEST(CatalogErrorTest, TypeWithoutSources) {
  const std::string yaml = Replace(kBase, "    sources: [src_a, src_b]\n", "");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "t.one") + ": event type 't.one' needs at least one source"));
}

TEST(CatalogErrorTest, TokenizeWithoutTokenDomain) {
  const std::string yaml = Replace(kBase, "    token_domain: d\n", "");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "tokenize") + ": sink 's2' tokenizes class 'c_high' but names no "
                                               "token_domain"));
}

TEST(CatalogErrorTest, RuleNamingUnknownSink) {
  const std::string yaml = Replace(kBase, "sinks: [s1]", "sinks: [s9]");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "[s9]") + ": rule 'r1': unknown sink 's9'"));
}

TEST(CatalogErrorTest, RuleValueThatCannotEqualAnIntegerField) {
  const std::string yaml = Replace(kBase, "fields: {n: 5}", "fields: {n: abc}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "{n: abc}") + ": rule 'r1': value 'abc' can never equal field "
                                               "'n' of event type 't.one' (declared integer)"));
}

TEST(CatalogErrorTest, RuleValueOutsideTheEnum) {
  const std::string yaml = Replace(kBase, "{kind: {in: [a, b]}}", "{kind: {in: [a, z]}}");
  const std::string msg = LoadError(yaml);
  EXPECT_THAT(msg, HasSubstr(At(yaml, "{kind: {in: [a, z]}}") +
                             ": rule 'r2': value 'z' can never equal field 'kind' of event type "
                             "'t.one' (declared enum)"));
  EXPECT_THAT(msg, Not(HasSubstr("value 'a'")));
}

TEST(CatalogErrorTest, RuleValueThatCannotEqualABooleanField) {
  const std::string yaml = Replace(
      Replace(kBase, "n: {type: integer, class: c_low}", "n: {type: boolean, class: c_low}"),
      "fields: {n: 5}", "fields: {n: yes}");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "{n: yes}") + ": rule 'r1': value 'yes' can never equal field "
                                               "'n' of event type 't.one' (declared boolean)"));
}

TEST(CatalogWarningTest, RuleFieldThatNoEventTypeDeclares) {
  // Loads (the rule simply never matches) but is reported, with its position.
  const std::string yaml = Replace(kBase, "fields: {n: 5}", "fields: {nn: 5}");
  auto c = LoadString(yaml, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ((*c)->warnings.size(), 1u);
  EXPECT_EQ((*c)->warnings[0],
            At(yaml, "{nn: 5}") + ": rule 'r1': no event type declares field 'nn'");
}

TEST(CatalogErrorTest, QuarantineSinkIdIsReserved) {
  const std::string yaml = Replace(kBase, "  s2:\n", "  quarantine:\n");
  EXPECT_THAT(LoadError(yaml),
              HasSubstr(At(yaml, "quarantine") +
                        ": the sink id 'quarantine' is reserved for the quarantine output"));
}

TEST(CatalogErrorTest, SinkIdMustBeUsableAsAFileName) {
  const std::string yaml = Replace(kBase, "  s2:\n", "  ../s2:\n");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "../s2") + ": sink '../s2': a sink id must"));
}

TEST(CatalogErrorTest, UnsupportedFormat) {
  const std::string yaml = Replace(kBase, "loopgate.catalog/v1", "loopgate.catalog/v2");
  EXPECT_THAT(LoadError(yaml), HasSubstr(At(yaml, "loopgate.catalog/v2") +
                                         ": unsupported catalog format 'loopgate.catalog/v2'"));
}

TEST(CatalogErrorTest, MissingFormatAndSection) {
  const std::string yaml =
      Replace(Replace(kBase, "format: loopgate.catalog/v1\n", ""),
              "classes:\n  c_low: {level: non_phi}\n  c_high: {level: phi}\n", "");
  const std::string msg = LoadError(yaml);
  EXPECT_THAT(msg, HasSubstr("test.yaml:1:1: format is required"));
  EXPECT_THAT(msg, HasSubstr("test.yaml:1:1: section 'classes' is missing"));
}

TEST(CatalogErrorTest, NotAMapping) {
  EXPECT_THAT(LoadError("- just\n- a list\n"), HasSubstr("test.yaml:1:1: a catalog must be a "
                                                         "YAML mapping"));
}

TEST(CatalogErrorTest, SeveralErrorsAreAllReported) {
  std::string yaml = Replace(kBase, "{level: non_phi}", "{level: nonphi}");
  yaml = Replace(yaml, "n: {type: integer, class: c_low}", "n: {type: integer, class: c_nope}");
  yaml = Replace(yaml, "max_level: non_phi", "max_levle: non_phi");
  yaml = Replace(yaml, "sinks: [s1]", "sinks: [s9]");
  const std::string msg = LoadError(yaml);
  EXPECT_THAT(msg, HasSubstr(At(yaml, "nonphi") + ": level 'nonphi'"));
  EXPECT_THAT(msg, HasSubstr(At(yaml, "c_nope") + ": event type 't.one': field 'n': unknown "
                                                  "class 'c_nope'"));
  EXPECT_THAT(msg, HasSubstr(At(yaml, "max_levle") + ": unknown key 'max_levle'"));
  // The misspelt key leaves s1 without its max_level, which is reported too.
  EXPECT_THAT(msg, HasSubstr(At(yaml, "purpose: p1") + ": sink 's1': max_level is required"));
  EXPECT_THAT(msg, HasSubstr(At(yaml, "[s9]") + ": rule 'r1': unknown sink 's9'"));
  // One problem per line, each with its position, and nothing else.
  std::vector<std::string> lines;
  std::stringstream ss(msg);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  EXPECT_EQ(lines.size(), 5u) << msg;
  for (const auto& line : lines) EXPECT_THAT(line, StartsWith("test.yaml:")) << msg;
}

// ---------------------------------------------------------------------------------------------
// The output validator supplied by the sink registry.

std::string RejectKafka(const SinkOutput& output) {
  if (output.type == "kafka") return "unknown output type 'kafka' (available: file)";
  for (const auto& [key, value] : output.options) {
    if (key == "fsync" && value != "true" && value != "false") {
      return "output option 'fsync' must be true or false";
    }
  }
  return "";
}

TEST(CatalogOutputValidatorTest, MessageIsReportedAtTheOutput) {
  const std::string yaml = Replace(kBase, "    max_level: non_phi\n",
                                   "    max_level: non_phi\n    output: {type: kafka}\n");
  EXPECT_THAT(LoadError(yaml, &RejectKafka),
              HasSubstr(At(yaml, "{type: kafka}") +
                        ": sink 's1': unknown output type 'kafka' (available: file)"));
}

TEST(CatalogOutputValidatorTest, OptionsReachTheValidator) {
  const std::string yaml =
      Replace(kBase, "    max_level: non_phi\n",
              "    max_level: non_phi\n    output: {type: file, fsync: maybe}\n");
  EXPECT_THAT(LoadError(yaml, &RejectKafka),
              HasSubstr(At(yaml, "{type: file") +
                        ": sink 's1': output option 'fsync' must be true or false"));
}

TEST(CatalogOutputValidatorTest, ValidOutputLoadsWithItsOptions) {
  const std::string yaml =
      Replace(kBase, "    max_level: non_phi\n",
              "    max_level: non_phi\n    output: {type: file, fsync: true}\n");
  auto c = LoadString(yaml, "test.yaml", &RejectKafka);
  ASSERT_TRUE(c.ok()) << c.status();
  const Sink& s1 = (*c)->sinks[0];
  EXPECT_EQ(s1.output.type, "file");
  EXPECT_EQ(s1.output.options,
            (std::vector<std::pair<std::string, std::string>>{{"fsync", "true"}}));
  // Sinks without an output section get the default, which the validator also sees.
  EXPECT_EQ((*c)->sinks[1].output.type, "file");
}

TEST(CatalogOutputValidatorTest, DefaultOutputIsValidatedToo) {
  auto reject_all = [](const SinkOutput&) -> std::string { return "no outputs today"; };
  const std::string msg = LoadError(std::string(kBase), reject_all);
  EXPECT_THAT(msg, HasSubstr(": sink 's1': no outputs today"));
  EXPECT_THAT(msg, HasSubstr(": sink 's2': no outputs today"));
}

}  // namespace
}  // namespace loopgate::catalog
