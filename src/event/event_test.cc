#include "event/event.h"

#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/line_reader.h"
#include "crypto/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loopgate::event {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

static_assert(common::kLinePadding >= simdjson::SIMDJSON_PADDING);

const std::string kReferenceDir = std::string(LOOPGATE_SHARED_DIR) + "/scenarios/reference";

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// One event type per declared field type, to check values type by type.
constexpr std::string_view kTypedCatalog = R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes:
  op: {level: non_phi}
  pseudo: {level: pseudonymous}
  secret: {level: phi}
event_types:
  t.typed:
    sources: [src]
    subject: {type: person, field: id}
    purposes: [p]
    fields:
      id: {type: string, class: op, required: true}
      i: {type: integer, class: op}
      x: {type: number, class: op}
      b: {type: boolean, class: op}
      d: {type: date, class: op}
      dt: {type: datetime, class: op}
      e: {type: enum, values: [red, green], class: op}
      s: {type: string, class: op}
      ps: {type: string, class: pseudo}
      phi: {type: string, class: secret}
      req: {type: string, class: op, required: true}
sinks:
  s: {purpose: p, max_level: phi}
)";

// A valid flat event of the reference catalog, with fields to vary.
constexpr std::string_view kEngaged =
    R"({"event_id": "evt-1", "event_type": "hcp.content.engaged", "source_system": "web_portal", )"
    R"("timestamp": "2026-04-01T10:15:00Z", "payload": {"hcp_id": "hcp-001", "asset_id": "a-1", )"
    R"("channel": "web"}})";

// A valid CloudEvents event of the reference catalog.
constexpr std::string_view kCloud =
    R"({"specversion": "1.0", "id": "ce-1", "type": "hcp.content.engaged", )"
    R"("source": "web_portal", "time": "2026-04-08T12:00:00+02:00", )"
    R"("data": {"hcp_id": "hcp-001", "asset_id": "a-1", "channel": "web"}})";

// `text` with the only occurrence of `from` replaced by `to`.
std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  const size_t pos = text.find(from);
  EXPECT_NE(pos, std::string_view::npos) << "test bug: '" << from << "' not in " << text;
  EXPECT_EQ(text.find(from, pos + 1), std::string_view::npos)
      << "test bug: '" << from << "' is not unique";
  if (pos == std::string_view::npos) return std::string(text);
  std::string out(text);
  out.replace(pos, from.size(), to);
  return out;
}

// A t.typed event whose payload is {"id": "x", "req": "r", <members>}.
std::string Typed(std::string_view members, std::string_view envelope_extra = "") {
  std::string line = R"({"event_id": "typed-1", "event_type": "t.typed", "source_system": "src", )"
                     R"("timestamp": "2026-04-13T14:00:00Z", )";
  line += envelope_extra;
  line += R"("payload": {"id": "x", "req": "r")";
  if (!members.empty()) {
    line += ", ";
    line += members;
  }
  line += "}}";
  return line;
}

class IntakeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ref =
        catalog::LoadFile(std::string(LOOPGATE_SOURCE_DIR) + "/examples/reference/catalog.yaml");
    ASSERT_TRUE(ref.ok()) << ref.status();
    reference_ = ref->release();
    auto typed = catalog::LoadString(kTypedCatalog, "typed.yaml");
    ASSERT_TRUE(typed.ok()) << typed.status();
    typed_ = typed->release();
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete typed_;
    reference_ = typed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(reference_, nullptr);
    ASSERT_NE(typed_, nullptr);
    reference_intake_ = std::make_unique<Intake>(*reference_);
    typed_intake_ = std::make_unique<Intake>(*typed_);
  }

  // Runs `line` through intake as the router does: the text is followed by kLinePadding
  // readable bytes. Returns "ok" or the quarantine reason's name.
  std::string Run(std::string_view line, bool typed = false) {
    buffer_.assign(line);
    buffer_.append(common::kLinePadding, ' ');
    Intake& intake = typed ? *typed_intake_ : *reference_intake_;
    ok_ = intake.Process(std::string_view(buffer_.data(), line.size()), &event_, &rejection_);
    return ok_ ? "ok" : std::string(QuarantineReasonName(rejection_.reason));
  }
  std::string RunTyped(std::string_view line) { return Run(line, true); }

  // Names of the fields intake found, in input order.
  std::vector<std::string> FieldNames() const {
    std::vector<std::string> names;
    for (const auto& f : event_.fields) names.emplace_back(f.name);
    return names;
  }

  static const catalog::Catalog* reference_;
  static const catalog::Catalog* typed_;
  std::unique_ptr<Intake> reference_intake_;
  std::unique_ptr<Intake> typed_intake_;
  std::string buffer_;
  bool ok_ = false;
  Event event_;
  Rejection rejection_;
};
const catalog::Catalog* IntakeTest::reference_ = nullptr;
const catalog::Catalog* IntakeTest::typed_ = nullptr;

// ---------------------------------------------------------------------------------------------
// The reference scenario: every line gets the intake outcome expected.ndjson records.

TEST_F(IntakeTest, ReferenceScenarioOutcomes) {
  const auto events = ReadLines(kReferenceDir + "/events.ndjson");
  const auto expected = ReadLines(kReferenceDir + "/expected.ndjson");
  ASSERT_EQ(events.size(), 30u);
  ASSERT_EQ(expected.size(), events.size());
  simdjson::dom::parser parser;
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1));
    simdjson::dom::element want;
    ASSERT_EQ(parser.parse(expected[i]).get(want), simdjson::SUCCESS);
    std::string_view want_reason = "ok";
    std::string_view reason;
    if (want["quarantine"].get_string().get(reason) == simdjson::SUCCESS &&
        reason != "id_conflict") {  // Identity is the router's check, after intake.
      want_reason = reason;
    }
    std::string_view want_id;
    if (want["id"].get_string().get(want_id) != simdjson::SUCCESS) want_id = "";

    EXPECT_EQ(Run(events[i]), want_reason);
    EXPECT_EQ(ok_ ? event_.id : rejection_.id, want_id);
    if (!ok_) {
      EXPECT_FALSE(rejection_.detail.empty());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Flat envelope.

TEST_F(IntakeTest, FlatEventIsRead) {
  ASSERT_EQ(Run(kEngaged), "ok") << rejection_.detail;
  EXPECT_EQ(event_.kind, EnvelopeKind::kFlat);
  EXPECT_EQ(event_.id, "evt-1");
  EXPECT_FALSE(event_.id_derived);
  EXPECT_EQ(event_.type, "hcp.content.engaged");
  EXPECT_EQ(event_.source, "web_portal");
  EXPECT_EQ(event_.time_text, "2026-04-01T10:15:00Z");
  EXPECT_EQ(event_.time, *common::ParseRfc3339("2026-04-01T10:15:00Z"));
  EXPECT_EQ(event_.type_def, reference_->FindEventType("hcp.content.engaged"));
  EXPECT_EQ(event_.declared_sensitivity, std::nullopt);
  EXPECT_FALSE(event_.has_allowed_recipients);
  EXPECT_THAT(FieldNames(), ElementsAre("hcp_id", "asset_id", "channel"));
  const int asset = event_.type_def->FindField("asset_id");
  const simdjson::dom::element* v = event_.Find(static_cast<uint32_t>(asset));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->get_string().value(), "a-1");
  EXPECT_EQ(event_.Find(static_cast<uint32_t>(event_.type_def->FindField("duration_s"))), nullptr);
  EXPECT_EQ(event_.sensitivity, catalog::Level::kNonPhi);
}

TEST_F(IntakeTest, CanonicalContentAndDigest) {
  const std::string line = R"({ "timestamp" : "2026-04-01T10:15:00Z", "event_type": )"
                           R"("hcp.content.engaged", "source_system": "web_portal",)"
                           R"( "payload": {"hcp_id": "h", "channel": "web", "asset_id": "a",)"
                           R"( "duration_s": 1.0e1}})";
  // RFC 8785 by hand: keys sorted, no whitespace, 1.0e1 written as 10.
  const std::string canonical =
      R"({"event_type":"hcp.content.engaged","payload":{"asset_id":"a","channel":"web",)"
      R"("duration_s":10,"hcp_id":"h"},"source_system":"web_portal",)"
      R"("timestamp":"2026-04-01T10:15:00Z"})";
  // 1.0e1 is not an integer, so this line is quarantined, but its content is still derived.
  EXPECT_EQ(Run(line), "invalid_field");
  EXPECT_EQ(rejection_.id, "sha256:" + crypto::ToHex(crypto::Sha256(canonical)));

  const std::string valid = Replace(line, "1.0e1", "10");
  ASSERT_EQ(Run(valid), "ok") << rejection_.detail;
  EXPECT_EQ(event_.canonical, canonical);
  EXPECT_EQ(event_.content_digest, crypto::Sha256(canonical));
  EXPECT_TRUE(event_.id_derived);
  EXPECT_EQ(event_.id, "sha256:" + crypto::ToHex(crypto::Sha256(canonical)));
}

TEST_F(IntakeTest, DerivedIdMatchesTheReferenceAndIgnoresKeyOrder) {
  const auto events = ReadLines(kReferenceDir + "/events.ndjson");
  ASSERT_GE(events.size(), 29u);
  // expected.ndjson line 1: the producers' event without event_id.
  const std::string want =
      "sha256:d0761909af90795cec942ec29f898fd3e6f8434f83ba6b238452cda05923963a";
  ASSERT_EQ(Run(events[0]), "ok") << rejection_.detail;
  EXPECT_TRUE(event_.id_derived);
  EXPECT_EQ(event_.id, want);
  const std::string canonical = event_.canonical;
  // Line 29 is the same event with its keys in another order.
  ASSERT_EQ(Run(events[28]), "ok") << rejection_.detail;
  EXPECT_EQ(event_.id, want);
  EXPECT_EQ(event_.canonical, canonical);
  // Any change of content changes the id.
  ASSERT_EQ(Run(Replace(events[0], "onboarding-101", "onboarding-102")), "ok");
  EXPECT_NE(event_.id, want);
}

TEST_F(IntakeTest, ProducerDeclarationsAreRead) {
  const auto events = ReadLines(kReferenceDir + "/events.ndjson");
  ASSERT_EQ(Run(events[0]), "ok") << rejection_.detail;
  EXPECT_EQ(event_.declared_sensitivity, catalog::Level::kNonPhi);
  EXPECT_THAT(event_.consent_scope, ElementsAre("hcp_commercial_engagement"));
  EXPECT_TRUE(event_.has_allowed_recipients);
  EXPECT_THAT(event_.allowed_recipients, ElementsAre("crm", "analytics_lake"));

  // An empty list is a declaration too: it narrows to no sink.
  const std::string none =
      Replace(kEngaged, R"("payload")", R"("allowed_recipients": [], "payload")");
  ASSERT_EQ(Run(none), "ok") << rejection_.detail;
  EXPECT_TRUE(event_.has_allowed_recipients);
  EXPECT_THAT(event_.allowed_recipients, IsEmpty());
}

TEST_F(IntakeTest, EnvelopeAttributesArePayloadFields) {
  const auto events = ReadLines(kReferenceDir + "/events.ndjson");
  ASSERT_EQ(Run(events[0]), "ok") << rejection_.detail;
  EXPECT_THAT(FieldNames(), ElementsAre("module_id", "completion_status", "account_id"));
  const int account = event_.type_def->FindField("account_id");
  const simdjson::dom::element* v = event_.Find(static_cast<uint32_t>(account));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->get_string().value(), "acct_7f3a9c");

  // Attributes are validated like payload fields: required, typed and declared.
  EXPECT_EQ(Run(Replace(events[0], R"("account_id": "acct_7f3a9c", )", "")), "missing_field");
  EXPECT_EQ(Run(Replace(events[0], R"("acct_7f3a9c")", "7")), "invalid_field");
  EXPECT_EQ(Run(Replace(kEngaged, R"("payload")", R"("campaign": "c", "payload")")),
            "unknown_field");
}

TEST_F(IntakeTest, AttributeThatIsAlsoAPayloadKeyIsInvalidEnvelope) {
  const std::string line = Replace(kEngaged, R"("payload": {)",
                                   R"("account_id": "a1", "payload": {"account_id": "a1", )");
  EXPECT_EQ(Run(line), "invalid_envelope");
  EXPECT_THAT(rejection_.detail, HasSubstr("'account_id'"));
  EXPECT_EQ(rejection_.id, "evt-1");
}

TEST_F(IntakeTest, FlatRequiredEnvelopeKeys) {
  EXPECT_EQ(Run(Replace(kEngaged, R"("event_type": "hcp.content.engaged", )", "")),
            "invalid_envelope");
  EXPECT_EQ(Run(Replace(kEngaged, R"("source_system": "web_portal", )", "")), "invalid_envelope");
  EXPECT_EQ(Run(Replace(kEngaged, R"("timestamp": "2026-04-01T10:15:00Z", )", "")),
            "invalid_envelope");
  EXPECT_EQ(Run(R"({"event_id": "e", "event_type": "hcp.content.engaged", )"
                R"("source_system": "web_portal", "timestamp": "2026-04-01T10:15:00Z"})"),
            "invalid_envelope");
  // Present but of the wrong shape.
  EXPECT_EQ(Run(Replace(kEngaged, R"("hcp.content.engaged")", "7")), "invalid_envelope");
  EXPECT_EQ(Run(Replace(kEngaged, R"("hcp.content.engaged")", R"("")")), "invalid_envelope");
  EXPECT_EQ(Run(Replace(kEngaged, R"("web_portal")", "null")), "invalid_envelope");
  EXPECT_EQ(Run(R"({"event_id": "e", "event_type": "hcp.content.engaged", )"
                R"("source_system": "web_portal", "timestamp": "2026-04-01T10:15:00Z", )"
                R"("payload": ["hcp_id"]})"),
            "invalid_envelope");
  EXPECT_EQ(Run(Replace(kEngaged, R"("event_id": "evt-1")", R"("event_id": 17)")),
            "invalid_envelope");
  EXPECT_EQ(Run(Replace(kEngaged, R"("event_id": "evt-1")", R"("event_id": "")")),
            "invalid_envelope");
}

TEST_F(IntakeTest, TimestampMustBeRfc3339) {
  for (std::string_view bad :
       {R"("2026-04-01 10:15:00Z")", R"("2026-04-01T10:15:00")", R"("2026-04-01")",
        R"("2026-02-30T10:15:00Z")", R"("2026-04-01T24:00:00Z")", R"(1775038500)"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(Run(Replace(kEngaged, R"("2026-04-01T10:15:00Z")", bad)), "invalid_envelope");
  }
  for (std::string_view good : {R"("2026-04-01T10:15:00.123456789Z")",
                                R"("2026-04-01T12:15:00+02:00")", R"("2026-04-01t10:15:00z")"}) {
    SCOPED_TRACE(good);
    EXPECT_EQ(Run(Replace(kEngaged, R"("2026-04-01T10:15:00Z")", good)), "ok") << rejection_.detail;
  }
  // Offsets are read as instants.
  ASSERT_EQ(Run(Replace(kEngaged, R"("2026-04-01T10:15:00Z")", R"("2026-04-01T12:15:00+02:00")")),
            "ok");
  EXPECT_EQ(event_.time, *common::ParseRfc3339("2026-04-01T10:15:00Z"));
  EXPECT_EQ(event_.time_text, "2026-04-01T12:15:00+02:00");
}

TEST_F(IntakeTest, SensitivityMustBeALevel) {
  const auto with = [](std::string_view value) {
    return Replace(kEngaged, R"("payload")",
                   std::string(R"("sensitivity": )") + std::string(value) + R"(, "payload")");
  };
  EXPECT_EQ(Run(with(R"("high")")), "invalid_envelope");
  EXPECT_EQ(Run(with(R"("PHI")")), "invalid_envelope");
  EXPECT_EQ(Run(with("2")), "invalid_envelope");
  EXPECT_EQ(Run(with("null")), "invalid_envelope");
  ASSERT_EQ(Run(with(R"("pseudonymous")")), "ok") << rejection_.detail;
  EXPECT_EQ(event_.declared_sensitivity, catalog::Level::kPseudonymous);
}

TEST_F(IntakeTest, ConsentScopeAndRecipientsMustBeArraysOfStrings) {
  for (std::string_view key : {"consent_scope", "allowed_recipients"}) {
    for (std::string_view value : {R"("crm")", R"(["crm", 1])", R"([["crm"]])", "null", "{}"}) {
      SCOPED_TRACE(std::string(key) + ": " + std::string(value));
      const std::string line =
          Replace(kEngaged, R"("payload")",
                  "\"" + std::string(key) + "\": " + std::string(value) + R"(, "payload")");
      EXPECT_EQ(Run(line), "invalid_envelope");
      EXPECT_EQ(rejection_.id, "evt-1");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CloudEvents 1.0.

TEST_F(IntakeTest, CloudEventIsRead) {
  ASSERT_EQ(Run(kCloud), "ok") << rejection_.detail;
  EXPECT_EQ(event_.kind, EnvelopeKind::kCloudEvents);
  EXPECT_EQ(event_.id, "ce-1");
  EXPECT_FALSE(event_.id_derived);
  EXPECT_EQ(event_.type, "hcp.content.engaged");
  EXPECT_EQ(event_.source, "web_portal");
  EXPECT_EQ(event_.time_text, "2026-04-08T12:00:00+02:00");
  EXPECT_EQ(event_.time, *common::ParseRfc3339("2026-04-08T10:00:00Z"));
  EXPECT_FALSE(event_.has_allowed_recipients);
  EXPECT_THAT(FieldNames(), ElementsAre("hcp_id", "asset_id", "channel"));
}

TEST_F(IntakeTest, CloudEventContextAttributesAreNotPayload) {
  const std::string line = Replace(
      kCloud, R"("data")",
      R"("subject": "hcp-001", "datacontenttype": "application/json", "dataschema": )"
      R"("https://example.com/s", "traceparent": "00-abc", "account_id": "acct_1", "data")");
  ASSERT_EQ(Run(line), "ok") << rejection_.detail;
  EXPECT_THAT(FieldNames(), ElementsAre("hcp_id", "asset_id", "channel"));
}

TEST_F(IntakeTest, CloudEventSpecversionMustBe10) {
  EXPECT_EQ(Run(Replace(kCloud, R"("1.0")", R"("0.3")")), "invalid_envelope");
  EXPECT_EQ(rejection_.id, "ce-1");
  EXPECT_EQ(Run(Replace(kCloud, R"("1.0")", "1.0")), "invalid_envelope");
  EXPECT_EQ(Run(Replace(kCloud, R"("1.0")", "null")), "invalid_envelope");
}

TEST_F(IntakeTest, CloudEventRequiredAttributes) {
  for (std::string_view attr :
       {R"("id": "ce-1", )", R"("type": "hcp.content.engaged", )", R"("source": "web_portal", )",
        R"("time": "2026-04-08T12:00:00+02:00", )"}) {
    SCOPED_TRACE(attr);
    EXPECT_EQ(Run(Replace(kCloud, attr, "")), "invalid_envelope");
  }
  EXPECT_EQ(Run(R"({"specversion": "1.0", "id": "ce-1", "type": "hcp.content.engaged", )"
                R"("source": "web_portal", "time": "2026-04-08T12:00:00+02:00"})"),
            "invalid_envelope");
  EXPECT_EQ(Run(Replace(kCloud, R"("2026-04-08T12:00:00+02:00")", R"("2026-04-08")")),
            "invalid_envelope");
  EXPECT_EQ(Run(R"({"specversion": "1.0", "id": "ce-1", "type": "hcp.content.engaged", )"
                R"("source": "web_portal", "time": "2026-04-08T12:00:00+02:00", "data": "x"})"),
            "invalid_envelope");
}

TEST_F(IntakeTest, CloudEventDataBase64IsRejected) {
  EXPECT_EQ(Run(Replace(kCloud, R"("data")", R"("data_base64": "eyJhIjoxfQ==", "data")")),
            "invalid_envelope");
  EXPECT_THAT(rejection_.detail, HasSubstr("data_base64"));
  EXPECT_EQ(rejection_.id, "ce-1");
  EXPECT_EQ(Run(R"({"specversion": "1.0", "id": "ce-1", "type": "hcp.content.engaged", )"
                R"("source": "web_portal", "time": "2026-04-08T12:00:00+02:00", )"
                R"("data_base64": "eyJhIjoxfQ=="})"),
            "invalid_envelope");
}

TEST_F(IntakeTest, CloudEventExtensions) {
  const std::string line =
      Replace(kCloud, R"("data")",
              R"("sensitivity": "pseudonymous", "consentscope": "hcp_commercial_engagement, )"
              R"(promotional_marketing", "allowedrecipients": "crm,analytics_lake", "data")");
  ASSERT_EQ(Run(line), "ok") << rejection_.detail;
  EXPECT_EQ(event_.declared_sensitivity, catalog::Level::kPseudonymous);
  EXPECT_THAT(event_.consent_scope,
              ElementsAre("hcp_commercial_engagement", "promotional_marketing"));
  EXPECT_TRUE(event_.has_allowed_recipients);
  EXPECT_THAT(event_.allowed_recipients, ElementsAre("crm", "analytics_lake"));

  EXPECT_EQ(Run(Replace(kCloud, R"("data")", R"("sensitivity": "secret", "data")")),
            "invalid_envelope");
  EXPECT_EQ(Run(Replace(kCloud, R"("data")", R"("allowedrecipients": ["crm"], "data")")),
            "invalid_envelope");
  EXPECT_EQ(Run(Replace(kCloud, R"("data")", R"("consentscope": 3, "data")")), "invalid_envelope");
}

TEST_F(IntakeTest, CloudEventFlatKeysAreNotEnvelope) {
  // With specversion the event is CloudEvents: flat envelope keys do not stand in.
  const std::string line =
      R"({"specversion": "1.0", "event_id": "e", "event_type": "hcp.content.engaged", )"
      R"("source_system": "web_portal", "timestamp": "2026-04-08T12:00:00Z", )"
      R"("payload": {"hcp_id": "h", "asset_id": "a", "channel": "web"}})";
  EXPECT_EQ(Run(line), "invalid_envelope");
  EXPECT_EQ(rejection_.id, "");
}

// ---------------------------------------------------------------------------------------------
// The order of the checks: the first failure is the reason.

TEST_F(IntakeTest, ParseComesFirst) {
  // Malformed (trailing content) and without any envelope.
  EXPECT_EQ(Run(R"({"a": 1} x)"), "malformed_json");
}

TEST_F(IntakeTest, EnvelopeBeforeType) {
  const std::string line = Replace(Replace(kEngaged, "hcp.content.engaged", "no.such.type"),
                                   "2026-04-01T10:15:00Z", "yesterday");
  EXPECT_EQ(Run(line), "invalid_envelope");
}

TEST_F(IntakeTest, TypeBeforeSource) {
  const std::string line =
      Replace(Replace(kEngaged, "hcp.content.engaged", "no.such.type"), "web_portal", "nowhere");
  EXPECT_EQ(Run(line), "unknown_event_type");
  EXPECT_THAT(rejection_.detail, HasSubstr("'no.such.type'"));
  EXPECT_EQ(rejection_.id, "evt-1");
}

TEST_F(IntakeTest, SourceBeforeFields) {
  const std::string line = Replace(Replace(kEngaged, "web_portal", "learning_portal"),
                                   R"("hcp_id": "hcp-001", )", R"("extra": 1, )");
  EXPECT_EQ(Run(line), "unexpected_source");
  EXPECT_THAT(rejection_.detail, HasSubstr("'learning_portal'"));
}

TEST_F(IntakeTest, MissingBeforeInvalidBeforeUnknown) {
  // Missing hcp_id, invalid channel, unknown extra: missing wins.
  const std::string all = Replace(Replace(kEngaged, R"("hcp_id": "hcp-001", )", R"("extra": 1, )"),
                                  R"("channel": "web")", R"("channel": "fax")");
  EXPECT_EQ(Run(all), "missing_field");
  EXPECT_THAT(rejection_.detail, HasSubstr("'hcp_id'"));
  // Invalid and unknown: invalid wins, even when the unknown field comes first.
  const std::string invalid_unknown =
      Replace(Replace(kEngaged, R"("hcp_id": "hcp-001", )", R"("extra": 1, "hcp_id": "h", )"),
              R"("channel": "web")", R"("channel": "fax")");
  EXPECT_EQ(Run(invalid_unknown), "invalid_field");
  EXPECT_THAT(rejection_.detail, HasSubstr("'channel'"));
  // Missing and unknown (the reference line 22's field with line 23's gap): missing.
  const std::string missing_unknown =
      Replace(kEngaged, R"("asset_id": "a-1", )", R"("diagnosis": "C50.9", )");
  EXPECT_EQ(Run(missing_unknown), "missing_field");
  EXPECT_THAT(rejection_.detail, HasSubstr("'asset_id'"));
}

TEST_F(IntakeTest, FieldsBeforeSensitivity) {
  const std::string line =
      Replace(ReadLines(kReferenceDir + "/events.ndjson")[24], R"("milestone": "refill")",
              R"("milestone": "refill", "diagnosis": "C50.9")");
  EXPECT_EQ(Run(line), "unknown_field");
}

// ---------------------------------------------------------------------------------------------
// Field values, type by type.

TEST_F(IntakeTest, IntegerValues) {
  for (std::string_view good : {"95", "0", "-3", "9223372036854775807", "-9223372036854775808"}) {
    SCOPED_TRACE(good);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("i": )") + std::string(good))), "ok")
        << rejection_.detail;
  }
  for (std::string_view bad :
       {"95.0", "1e2", "1E2", "9.5", "9223372036854775808", "18446744073709551615",
        "18446744073709551616", "-9223372036854775809", R"("95")", "true"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("i": )") + std::string(bad))), "invalid_field");
    EXPECT_THAT(rejection_.detail, HasSubstr("'i'"));
  }
}

TEST_F(IntakeTest, IntegerBeyond64BitsIsInvalidFieldNotMalformed) {
  // A valid RFC 8259 number: the line is JSON, the value is not a 64-bit integer.
  EXPECT_EQ(RunTyped(Typed(R"("i": 123456789012345678901234)")), "invalid_field");
  EXPECT_EQ(RunTyped(Typed(R"("i": -123456789012345678901234)")), "invalid_field");
  // Digits inside strings are left alone.
  EXPECT_EQ(RunTyped(Typed(R"("s": "123456789012345678901234", "i": 123456789012345678901234)")),
            "invalid_field");
}

TEST_F(IntakeTest, LongDigitRunsThatAreNotJsonNumbersStayMalformed) {
  // Leading zeros are not JSON (RFC 8259 section 6), however many digits follow.
  EXPECT_EQ(RunTyped(Typed(R"("i": 0000000000000000000000001)")), "malformed_json");
  EXPECT_EQ(RunTyped(Typed(R"("x": -0000000000000000000000001)")), "malformed_json");
  EXPECT_EQ(RunTyped(Typed(R"("x": 01)")), "malformed_json");
  EXPECT_EQ(RunTyped(Typed(R"("x": -)")), "malformed_json");
  EXPECT_EQ(RunTyped(Typed(R"("x": 123456789012345678901234 5)")), "malformed_json");
}

TEST_F(IntakeTest, NumberValues) {
  for (std::string_view good : {"95", "-1.5", "1e-3", "2.5E+10", "123456789012345678901234"}) {
    SCOPED_TRACE(good);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("x": )") + std::string(good))), "ok")
        << rejection_.detail;
  }
  for (std::string_view bad : {R"("1.5")", "true", "[1]"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("x": )") + std::string(bad))), "invalid_field");
  }
}

TEST_F(IntakeTest, BooleanValues) {
  EXPECT_EQ(RunTyped(Typed(R"("b": true)")), "ok");
  EXPECT_EQ(RunTyped(Typed(R"("b": false)")), "ok");
  for (std::string_view bad : {R"("true")", "1", "0", R"("yes")"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("b": )") + std::string(bad))), "invalid_field");
  }
}

TEST_F(IntakeTest, DateValues) {
  for (std::string_view good : {R"("1984-07-12")", R"("2024-02-29")", R"("2000-02-29")"}) {
    SCOPED_TRACE(good);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("d": )") + std::string(good))), "ok");
  }
  for (std::string_view bad :
       {R"("1984-13-45")", R"("2023-02-29")", R"("1900-02-29")", R"("2026-04-31")",
        R"("1984-7-12")", R"("12/07/1984")", R"("2026-04-13T00:00:00Z")", R"("")", "19840712"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("d": )") + std::string(bad))), "invalid_field");
  }
}

TEST_F(IntakeTest, DatetimeValues) {
  for (std::string_view good :
       {R"("2026-04-13T14:00:00Z")", R"("2026-04-08T12:00:00+02:00")",
        R"("2026-04-13T14:00:00.123456Z")", R"("2026-04-13T14:00:00-05:30")"}) {
    SCOPED_TRACE(good);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("dt": )") + std::string(good))), "ok");
  }
  for (std::string_view bad :
       {R"("2026-04-13")", R"("2026-04-13T14:00:00")", R"("2026-04-13T25:00:00Z")",
        R"("2026-02-30T10:00:00Z")", R"("2026-04-13 14:00:00Z")", "1775000000"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("dt": )") + std::string(bad))), "invalid_field");
  }
}

TEST_F(IntakeTest, EnumAndStringValues) {
  EXPECT_EQ(RunTyped(Typed(R"("e": "red")")), "ok");
  EXPECT_EQ(RunTyped(Typed(R"("e": "green")")), "ok");
  for (std::string_view bad : {R"("blue")", R"("Red")", R"("red ")", "1", R"(["red"])"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(RunTyped(Typed(std::string(R"("e": )") + std::string(bad))), "invalid_field");
    EXPECT_THAT(rejection_.detail, HasSubstr("red, green"));
  }
  EXPECT_EQ(RunTyped(Typed(R"("s": "")")), "ok");
  EXPECT_EQ(RunTyped(Typed(R"("s": 5)")), "invalid_field");
  EXPECT_EQ(RunTyped(Typed(R"("s": {"a": 1})")), "invalid_field");
}

// ---------------------------------------------------------------------------------------------
// Null, presence and sensitivity.

TEST_F(IntakeTest, NullOptionalFieldIsAbsent) {
  ASSERT_EQ(RunTyped(Typed(R"("phi": null, "i": null, "s": "v")", R"("sensitivity": "non_phi", )")),
            "ok")
      << rejection_.detail;
  EXPECT_THAT(FieldNames(), ElementsAre("id", "req", "s"));
  EXPECT_EQ(event_.Find(static_cast<uint32_t>(typed_->event_types[0].FindField("phi"))), nullptr);
  EXPECT_EQ(event_.sensitivity, catalog::Level::kNonPhi);
}

TEST_F(IntakeTest, NullRequiredFieldIsMissing) {
  EXPECT_EQ(RunTyped(Replace(Typed(""), R"("req": "r")", R"("req": null)")), "missing_field");
  EXPECT_THAT(rejection_.detail, HasSubstr("'req'"));
}

TEST_F(IntakeTest, SensitivityIsTheHighestLevelPresent) {
  ASSERT_EQ(RunTyped(Typed(R"("s": "v")")), "ok");
  EXPECT_EQ(event_.sensitivity, catalog::Level::kNonPhi);
  ASSERT_EQ(RunTyped(Typed(R"("ps": "v")")), "ok");
  EXPECT_EQ(event_.sensitivity, catalog::Level::kPseudonymous);
  ASSERT_EQ(RunTyped(Typed(R"("ps": "v", "phi": "v")")), "ok");
  EXPECT_EQ(event_.sensitivity, catalog::Level::kPhi);
}

TEST_F(IntakeTest, DeclaredSensitivityMayNotBeLower) {
  const auto declared = [](std::string_view level) {
    return std::string(R"("sensitivity": ")") + std::string(level) + R"(", )";
  };
  EXPECT_EQ(RunTyped(Typed(R"("ps": "v")", declared("non_phi"))), "sensitivity_mismatch");
  EXPECT_THAT(rejection_.detail, HasSubstr("'ps'"));
  EXPECT_EQ(rejection_.id, "typed-1");
  EXPECT_EQ(RunTyped(Typed(R"("ps": "v")", declared("pseudonymous"))), "ok");
  EXPECT_EQ(RunTyped(Typed(R"("ps": "v")", declared("phi"))), "ok");  // Higher is fine.
  EXPECT_EQ(RunTyped(Typed(R"("phi": "v")", declared("pseudonymous"))), "sensitivity_mismatch");
  EXPECT_THAT(rejection_.detail, HasSubstr("'phi'"));
  EXPECT_EQ(RunTyped(Typed(R"("phi": null)", declared("non_phi"))), "ok");
}

// ---------------------------------------------------------------------------------------------
// malformed_json.

TEST_F(IntakeTest, NonObjectsAreMalformed) {
  for (std::string_view line : {"[1, 2]", R"("event")", "42", "null", "true", "[]"}) {
    SCOPED_TRACE(line);
    EXPECT_EQ(Run(line), "malformed_json");
    EXPECT_EQ(rejection_.id, "");
  }
}

TEST_F(IntakeTest, SyntaxErrorsAreMalformed) {
  for (std::string_view line :
       {R"({"a": 1} {"b": 2})", R"({"a": 1,})", R"({'a': 1})", R"({"a": 01})", R"({"a": .5})",
        R"({"a": NaN})", R"({"a": Infinity})", R"({"a": -Infinity})", R"({"a": 1e400})",
        R"({"a": "unterminated})", "{\"a\": \"tab\there\"}", R"({"a": "\x"})", R"({"a": "\ud800"})",
        R"({"a": 1)", ""}) {
    SCOPED_TRACE(line);
    EXPECT_EQ(Run(line), "malformed_json");
  }
}

TEST_F(IntakeTest, DuplicateKeysAreMalformed) {
  EXPECT_EQ(Run(Replace(kEngaged, R"("event_id": "evt-1", )",
                        R"("event_id": "evt-1", "event_id": "evt-1", )")),
            "malformed_json");
  EXPECT_EQ(rejection_.id, "");
  EXPECT_EQ(Run(Replace(kEngaged, R"("channel": "web")", R"("channel": "web", "channel": "web")")),
            "malformed_json");
  // Also deep inside, and with keys that differ only in how they are escaped.
  EXPECT_EQ(Run(R"({"a": [{"x": {"k": 1, "k": 2}}]})"), "malformed_json");
  EXPECT_EQ(Run(R"({"k": 1, "\u006b": 2})"), "malformed_json");
}

TEST_F(IntakeTest, InvalidUtf8IsMalformed) {
  const std::string base = std::string(kEngaged);
  for (std::string_view bytes : {"\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf"}) {
    const std::string line = Replace(base, "a-1", std::string("a-1") + std::string(bytes));
    EXPECT_EQ(Run(line), "malformed_json");
  }
  // Valid multibyte UTF-8 is fine.
  EXPECT_EQ(Run(Replace(base, "a-1", "a-\xc3\xb1-\xf0\x9f\x98\x80")), "ok") << rejection_.detail;
}

TEST_F(IntakeTest, NestingIsBounded) {
  const std::string deep = R"({"a": )" + std::string(200, '[') + std::string(200, ']') + "}";
  EXPECT_EQ(Run(deep), "malformed_json");
}

// ---------------------------------------------------------------------------------------------
// Rejection ids.

TEST_F(IntakeTest, RejectionIdWhereItCanBeRead) {
  // Flat with event_id: the id, from the envelope step on.
  EXPECT_EQ(Run(Replace(kEngaged, "2026-04-01T10:15:00Z", "soon")), "invalid_envelope");
  EXPECT_EQ(rejection_.id, "evt-1");
  EXPECT_EQ(Run(Replace(kEngaged, R"("channel": "web")", R"("channel": "fax")")), "invalid_field");
  EXPECT_EQ(rejection_.id, "evt-1");
  // Flat without event_id: the derived id.
  const std::string no_id = Replace(kEngaged, R"("event_id": "evt-1", )", "");
  ASSERT_EQ(Run(no_id), "ok");
  const std::string derived = event_.id;
  ASSERT_EQ(derived.rfind("sha256:", 0), 0u);
  const std::string bad = Replace(no_id, "web_portal", "learning_portal");
  EXPECT_EQ(Run(bad), "unexpected_source");
  EXPECT_THAT(rejection_.id, ::testing::StartsWith("sha256:"));
  EXPECT_NE(rejection_.id, derived);  // The content differs, so does its id.
  // CloudEvents: the id when it is there, even if the rest is not.
  EXPECT_EQ(Run(Replace(kCloud, R"("time": "2026-04-08T12:00:00+02:00", )", "")),
            "invalid_envelope");
  EXPECT_EQ(rejection_.id, "ce-1");
  EXPECT_EQ(Run(Replace(kCloud, R"("id": "ce-1", )", "")), "invalid_envelope");
  EXPECT_EQ(rejection_.id, "");
  // Malformed: none, even right after a line that had one.
  EXPECT_EQ(Run(Replace(kEngaged, R"("channel": "web")", R"("channel": "fax")")), "invalid_field");
  EXPECT_EQ(Run("{oops"), "malformed_json");
  EXPECT_EQ(rejection_.id, "");
}

TEST_F(IntakeTest, IntakeIsReusableAcrossLines) {
  ASSERT_EQ(Run(kCloud), "ok");
  ASSERT_EQ(Run(Replace(kEngaged, R"("payload")", R"("allowed_recipients": ["crm"], "payload")")),
            "ok");
  EXPECT_EQ(event_.kind, EnvelopeKind::kFlat);
  EXPECT_THAT(event_.allowed_recipients, ElementsAre("crm"));
  ASSERT_EQ(Run(kEngaged), "ok");
  EXPECT_FALSE(event_.has_allowed_recipients);
  EXPECT_THAT(event_.allowed_recipients, IsEmpty());
  EXPECT_EQ(event_.declared_sensitivity, std::nullopt);
  EXPECT_EQ(FieldNames().size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Privacy: no rejection detail repeats a payload value.

TEST_F(IntakeTest, RejectionDetailsNeverContainValues) {
  constexpr std::string_view kPhi = "Maria-Lopez-1984";
  const std::string phi = std::string(kPhi);
  const std::string q = "\"" + phi + "\"";
  const std::vector<std::pair<std::string, std::string>> cases = {
      // {line, expected reason}
      {Replace(kEngaged, R"("web")", q), "invalid_field"},         // Bad enum value.
      {Replace(kEngaged, R"("a-1")", q) + "x", "malformed_json"},  // Trailing content.
      {Replace(kEngaged, R"("channel": "web")", R"("channel": "web", "memo": )" + q),
       "unknown_field"},
      {Replace(kEngaged, R"("hcp_id": "hcp-001")", R"("hcp_id": null, "asset_id2": )" + q),
       "missing_field"},
      {Replace(kEngaged, R"("2026-04-01T10:15:00Z")", q), "invalid_envelope"},
      {Replace(kEngaged, R"("payload")", R"("sensitivity": )" + q + R"(, "payload")"),
       "invalid_envelope"},
      {Replace(kEngaged, R"("payload")", R"("allowed_recipients": [)" + q + R"(, 1], "payload")"),
       "invalid_envelope"},
      {Replace(kEngaged, R"("payload": {)", R"("hcp_id": )" + q + R"(, "payload": {)"),
       "invalid_envelope"},
      {Replace(kEngaged, R"("channel": "web")", R"("channel": "web", "channel": )" + q),
       "malformed_json"},
      {Replace(kEngaged, R"("a-1")", "\"" + phi + "\xff\""), "malformed_json"},
      {Replace(kCloud, R"("data")", R"("data_base64": )" + q + R"(, "data")"), "invalid_envelope"},
      {Replace(kCloud, R"("web_portal")", R"("web_portal", "sensitivity": )" + q),
       "invalid_envelope"},
      {Typed(R"("i": )" + q), "invalid_field"},
      {Typed(R"("d": )" + q), "invalid_field"},
      {Typed(R"("dt": )" + q), "invalid_field"},
      {Typed(R"("b": )" + q), "invalid_field"},
      {Typed(R"("x": )" + q), "invalid_field"},
      {Typed(R"("phi": )" + q, R"("sensitivity": "non_phi", )"), "sensitivity_mismatch"},
      {Typed(R"("nope": )" + q), "unknown_field"},
      // A key that carries data is not echoed either: it is not a plain identifier.
      {Typed(R"("Maria Lopez 1984": 1)"), "unknown_field"},
  };
  for (const auto& [line, reason] : cases) {
    SCOPED_TRACE(line);
    const bool typed = line.find("t.typed") != std::string::npos;
    EXPECT_EQ(Run(line, typed), reason);
    EXPECT_FALSE(rejection_.detail.empty());
    EXPECT_THAT(rejection_.detail, Not(HasSubstr(phi)));
    EXPECT_THAT(rejection_.detail, Not(HasSubstr("Maria")));
  }
}

TEST(CheckFieldValueTest, ExplainsWithoutQuotingTheValue) {
  catalog::Field field;
  field.name = "code";
  field.type = catalog::FieldType::kEnum;
  field.enum_values = {"a", "b"};
  simdjson::dom::parser parser;
  simdjson::dom::element value;
  ASSERT_EQ(parser.parse(std::string_view(R"("secret-value")")).get(value), simdjson::SUCCESS);
  std::string why;
  EXPECT_FALSE(CheckFieldValue(field, value, &why));
  EXPECT_EQ(why, "must be one of: a, b");
  ASSERT_EQ(parser.parse(std::string_view(R"("b")")).get(value), simdjson::SUCCESS);
  EXPECT_TRUE(CheckFieldValue(field, value, &why));
}

}  // namespace
}  // namespace loopgate::event
