#include "transform/transform.h"

#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/line_reader.h"
#include "event/event.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace loopgate::transform {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::string kReferenceDir = std::string(LOOPGATE_SHARED_DIR) + "/scenarios/reference";
const std::string kKeysPath = kReferenceDir + "/keys.json";

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Gen(std::string_view text) {
  std::string out = "<unchanged>";
  return Generalize(text, &out) ? out : "<false>";
}

// ---------------------------------------------------------------------------------------------
// KeyStore and Token: the reference scenario's known answers (expected.ndjson).

class ReferenceKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keys = KeyStore::LoadFile(kKeysPath);
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = std::make_unique<KeyStore>(std::move(*keys));
  }
  const crypto::HmacSha256& Hmac(std::string_view domain) {
    const KeyStore::Key* key = keys_->Find(domain);
    EXPECT_NE(key, nullptr) << domain;
    return *key->hmac;
  }
  std::unique_ptr<KeyStore> keys_;
};

TEST_F(ReferenceKeysTest, TokensMatchTheReference) {
  // expected.ndjson line 2 (marketing_automation), line 7 (analytics_lake), line 13.
  EXPECT_EQ(Token(Hmac("marketing"), "hcp-001"), "tok_e5082b5ec5463365b97c6eeb9f08b8e9");
  EXPECT_EQ(Token(Hmac("analytics"), "pt-001"), "tok_cae2f6b60d5aabeddad0496f8474fd67");
  EXPECT_EQ(Token(Hmac("research"), "mrn-1001"), "tok_71c7c3b3b7afdf9a958e09797fac5360");
  EXPECT_EQ(Token(Hmac("analytics"), "mrn-1001"), "tok_67932bb7426cb75f8ab5b7690da71452");
}

TEST_F(ReferenceKeysTest, TokenShapeAndDeterminism) {
  const std::string t = Token(Hmac("analytics"), "pt-001");
  EXPECT_EQ(t.size(), 4u + 32u);
  EXPECT_EQ(t.rfind("tok_", 0), 0u);
  EXPECT_EQ(Token(Hmac("analytics"), "pt-001"), t);
  EXPECT_NE(Token(Hmac("analytics"), "pt-002"), t);
  EXPECT_NE(Token(Hmac("research"), "pt-001"), t);  // Domains do not join.
}

TEST_F(ReferenceKeysTest, KeyIdsAndLookup) {
  ASSERT_FALSE(keys_->empty());
  ASSERT_NE(keys_->Find("analytics"), nullptr);
  EXPECT_EQ(keys_->Find("analytics")->key_id, "ak-2026-1");
  EXPECT_EQ(keys_->Find("marketing")->key_id, "mk-2026-1");
  EXPECT_EQ(keys_->Find("research")->key_id, "rk-2026-1");
  EXPECT_EQ(keys_->Find("Analytics"), nullptr);
  EXPECT_EQ(keys_->Find(""), nullptr);
}

TEST(KeyStoreTest, MissingFileIsNotFound) {
  auto keys = KeyStore::LoadFile("/nonexistent/loopgate/keys.json");
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kNotFound);
}

TEST(KeyStoreTest, EmptyObjectIsAnEmptyStore) {
  auto keys = KeyStore::LoadString("{}", "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE(keys->empty());
}

TEST(KeyStoreTest, NotAnObjectIsRejected) {
  for (std::string_view text : {"[]", "\"k\"", "{", "", R"({"a": {"key_id": "k"}} x)"}) {
    SCOPED_TRACE(text);
    auto keys = KeyStore::LoadString(text, "keys.json");
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(keys.status().message(), HasSubstr("keys.json"));
  }
}

TEST(KeyStoreTest, ErrorsNameTheDomainButNeverTheSecret) {
  // 31 bytes of a recognisable secret with one bad digit, and other broken entries.
  const std::string secret = "5ec7e7deadbeef5ec7e7deadbeef5ec7e7deadbeef5ec7e7deadbeef5ec7e7";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"odd_length", R"({"key_id": "k1", "secret_hex": ")" + secret + "7" + "\"}"},
      {"not_hex", R"({"key_id": "k1", "secret_hex": ")" + secret + "zz\"}"},
      {"short", R"({"key_id": "k1", "secret_hex": ")" + secret.substr(0, 30) + "\"}"},
      {"no_key_id", R"({"secret_hex": ")" + secret + "00\"}"},
      {"empty_key_id", R"({"key_id": "", "secret_hex": ")" + secret + "00\"}"},
      {"numeric_secret", R"({"key_id": "k1", "secret_hex": 1234})"},
      {"not_object", "\"" + secret + "00\""},
  };
  for (const auto& [domain, entry] : cases) {
    SCOPED_TRACE(domain);
    const std::string text = "{\"" + domain + "\": " + entry + "}";
    auto keys = KeyStore::LoadString(text, "keys.json");
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(keys.status().message());
    EXPECT_THAT(msg, HasSubstr("'" + domain + "'"));
    EXPECT_THAT(msg, Not(HasSubstr(secret.substr(0, 12))));
    EXPECT_THAT(msg, Not(HasSubstr("deadbeef")));
  }
}

TEST(KeyStoreTest, SecretsNeedAtLeast16Bytes) {
  const std::string ok16 =
      R"({"d": {"key_id": "k", "secret_hex": "00112233445566778899AABBCCDDEEFF"}})";
  auto keys = KeyStore::LoadString(ok16, "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();  // Either case of hex digits.
  ASSERT_NE(keys->Find("d"), nullptr);
  const std::string short15 =
      R"({"d": {"key_id": "k", "secret_hex": "00112233445566778899aabbccddee"}})";
  EXPECT_FALSE(KeyStore::LoadString(short15, "keys.json").ok());
  EXPECT_FALSE(
      KeyStore::LoadString(R"({"d": {"key_id": "k", "secret_hex": ""}})", "keys.json").ok());
}

TEST(KeyStoreTest, DomainsSharingASecretAreNamedWhateverTheHexCase) {
  const std::string text = R"({
    "b": {"key_id": "kb", "secret_hex": "00112233445566778899AABBCCDDEEFF"},
    "a": {"key_id": "ka", "secret_hex": "00112233445566778899aabbccddeeff"},
    "c": {"key_id": "kc", "secret_hex": "00112233445566778899aabbccddee00"},
    "d": {"key_id": "kd", "secret_hex": "00112233445566778899aabbccddeeff"}})";
  auto keys = KeyStore::LoadString(text, "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  using Pair = std::pair<std::string, std::string>;
  EXPECT_THAT(keys->domains_sharing_a_secret(),
              ElementsAre(Pair("a", "b"), Pair("a", "d"), Pair("b", "d")));
  // The shared key really does give one token in both domains.
  EXPECT_EQ(Token(*keys->Find("a")->hmac, "x"), Token(*keys->Find("b")->hmac, "x"));
  EXPECT_NE(Token(*keys->Find("a")->hmac, "x"), Token(*keys->Find("c")->hmac, "x"));
  // The reference keys are all different.
  auto reference = KeyStore::LoadFile(kKeysPath);
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_THAT(reference->domains_sharing_a_secret(), IsEmpty());
}

TEST(KeyStoreTest, JoinableTokenDomainsAreTheSharedOnesACatalogTokenizesUnder) {
  auto catalog = catalog::LoadFile(std::string(LOOPGATE_SOURCE_DIR) +
                                   "/examples/reference/catalog.yaml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  // The reference catalog tokenizes under marketing, analytics and research.
  const std::string secret = "00112233445566778899aabbccddeeff";
  const std::string unused = R"("other": {"key_id": "o", "secret_hex": ")" + secret + R"("})";
  auto keys = KeyStore::LoadString(
      R"({"marketing": {"key_id": "m", "secret_hex": ")" + secret +
          R"("}, "analytics": {"key_id": "a", "secret_hex": "ffeeddccbbaa99887766554433221100"},)"
          R"( "research": {"key_id": "r", "secret_hex": ")" + secret + R"("}, )" + unused + "}",
      "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->domains_sharing_a_secret().size(), 3u);  // marketing, other, research.
  using Pair = std::pair<std::string, std::string>;
  EXPECT_THAT(JoinableTokenDomains(**catalog, *keys), ElementsAre(Pair("marketing", "research")));
}

TEST(KeyStoreTest, SameSecretGivesSameTokensAcrossStores) {
  const std::string text =
      R"({"a": {"key_id": "k1", "secret_hex": "000102030405060708090a0b0c0d0e0f"},)"
      R"( "b": {"key_id": "k2", "secret_hex": "000102030405060708090a0b0c0d0e0f"}})";
  auto keys = KeyStore::LoadString(text, "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(Token(*keys->Find("a")->hmac, "v"), Token(*keys->Find("b")->hmac, "v"));
  EXPECT_NE(Token(*keys->Find("a")->hmac, "v"), Token(*keys->Find("a")->hmac, "w"));
}

// ---------------------------------------------------------------------------------------------
// Generalize.

TEST(GeneralizeTest, DatesBecomeTheirYear) {
  EXPECT_EQ(Gen("1984-07-12"), "1984");
  EXPECT_EQ(Gen("2024-02-29"), "2024");
  EXPECT_EQ(Gen("0001-01-01"), "0001");
}

TEST(GeneralizeTest, DatetimesBecomeTheYearAsWritten) {
  EXPECT_EQ(Gen("2026-04-08T12:00:00Z"), "2026");
  EXPECT_EQ(Gen("2026-04-08T12:00:00.5+02:00"), "2026");
  // The year as written, not the UTC year (which would be 2026).
  EXPECT_EQ(Gen("2025-12-31T23:30:00-05:00"), "2025");
  EXPECT_EQ(Gen("2026-01-01T00:30:00+02:00"), "2026");
}

TEST(GeneralizeTest, ImpossibleDatesAreNotGeneralized) {
  EXPECT_EQ(Gen("1984-13-45"), "<false>");
  EXPECT_EQ(Gen("2023-02-29"), "<false>");
  EXPECT_EQ(Gen("2026-04-08T25:00:00Z"), "<false>");
  EXPECT_EQ(Gen("2026-04-08T12:00:00"), "<false>");
  EXPECT_EQ(Gen("1984"), "<false>");
}

TEST(GeneralizeTest, ZipsBecomeZip3) {
  EXPECT_EQ(Gen("02139"), "021");
  EXPECT_EQ(Gen("94110"), "941");
  EXPECT_EQ(Gen("02139-4307"), "021");
  EXPECT_EQ(Gen("00000"), "000");
}

TEST(GeneralizeTest, SafeHarborRestrictedZip3sBecome000) {
  for (std::string_view zip3 : {"036", "059", "063", "102", "203", "556", "692", "790", "821",
                                "823", "830", "831", "878", "879", "884", "890", "893"}) {
    SCOPED_TRACE(zip3);
    EXPECT_EQ(Gen(std::string(zip3) + "01"), "000");
    EXPECT_EQ(Gen(std::string(zip3) + "99-1234"), "000");
  }
  // Neighbours of restricted ZIP3s are not restricted.
  for (std::string_view zip3 : {"035", "037", "101", "103", "822", "832", "880", "894"}) {
    SCOPED_TRACE(zip3);
    EXPECT_EQ(Gen(std::string(zip3) + "01"), zip3);
  }
}

TEST(GeneralizeTest, OtherStringsAreNotGeneralized) {
  for (std::string_view text : {"abcde", "1234", "123456", "", "0213a", "02139-123", "02139-12345",
                                "02139 4307", "021394307", " 02139", "-2139", "Maria Lopez"}) {
    SCOPED_TRACE(text);
    std::string out = "untouched";
    EXPECT_FALSE(Generalize(text, &out));
  }
}

// ---------------------------------------------------------------------------------------------
// Mask.

TEST(MaskTest, KeepsTheLastFourCharacters) {
  EXPECT_EQ(Mask("1234567890"), "******7890");
  EXPECT_EQ(Mask("abcde"), "*bcde");
  EXPECT_EQ(Mask("Patient reported dizziness"), std::string(22, '*') + "ness");
}

TEST(MaskTest, ShortStringsAreUnchanged) {
  EXPECT_EQ(Mask(""), "");
  EXPECT_EQ(Mask("a"), "a");
  EXPECT_EQ(Mask("abcd"), "abcd");
  // "ññññ": four code points in eight bytes.
  const std::string four = "\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1";
  EXPECT_EQ(Mask(four), four);
}

TEST(MaskTest, CountsCodePointsNotBytes) {
  // "José Núñez": 10 code points, 13 bytes; the last four are "úñez".
  EXPECT_EQ(Mask("Jos\xc3\xa9 N\xc3\xba\xc3\xb1"
                 "ez"),
            "******\xc3\xba\xc3\xb1"
            "ez");
  // A multibyte code point among those masked becomes one '*'.
  EXPECT_EQ(Mask("\xe2\x82\xac"
                 "12345"),
            "**2345");  // €12345
  // Four-byte code points at the end are kept whole.
  EXPECT_EQ(Mask("ab\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"),
            "**\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80");
}

// ---------------------------------------------------------------------------------------------
// Transformer on events from intake.

class TransformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keys = KeyStore::LoadFile(kKeysPath);
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = std::make_unique<KeyStore>(std::move(*keys));
  }

  void UseCatalog(std::unique_ptr<catalog::Catalog> c) {
    catalog_ = std::move(c);
    intake_ = std::make_unique<event::Intake>(*catalog_);
    auto t = Transformer::Create(*catalog_, *keys_);
    ASSERT_TRUE(t.ok()) << t.status();
    transformer_ = std::move(*t);
  }

  void UseReference() {
    auto c =
        catalog::LoadFile(std::string(LOOPGATE_SOURCE_DIR) + "/examples/reference/catalog.yaml");
    ASSERT_TRUE(c.ok()) << c.status();
    UseCatalog(std::move(*c));
  }

  // Parses `line` into event_ (with the padding intake needs).
  void Intake(std::string_view line) {
    buffer_.assign(line);
    buffer_.append(common::kLinePadding, ' ');
    event::Rejection r;
    ASSERT_TRUE(intake_->Process(std::string_view(buffer_.data(), line.size()), &event_, &r))
        << event::QuarantineReasonName(r.reason) << ": " << r.detail;
  }

  // The sink's view of event_, and the notes in applied_.
  std::string Apply(std::string_view sink) {
    const int si = catalog_->FindSink(sink);
    EXPECT_GE(si, 0) << sink;
    applied_.clear();
    std::string data;
    transformer_->Apply(event_, static_cast<uint32_t>(si), &data, &applied_);
    return data;
  }

  std::string Tok(std::string_view domain, std::string_view value) {
    return Token(*keys_->Find(domain)->hmac, value);
  }

  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<event::Intake> intake_;
  std::unique_ptr<Transformer> transformer_;
  std::string buffer_;
  event::Event event_;
  std::vector<std::string> applied_;
};

// The canonical form of `decisions.<sink>.data` on line `line` (1-based) of expected.ndjson.
std::string ExpectedData(size_t line, std::string_view sink) {
  const auto lines = ReadLines(kReferenceDir + "/expected.ndjson");
  EXPECT_LE(line, lines.size());
  if (line > lines.size()) return "";
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(lines[line - 1]).get(root), simdjson::SUCCESS);
  simdjson::dom::element data;
  EXPECT_EQ(root["decisions"][sink]["data"].get(data), simdjson::SUCCESS) << line << " " << sink;
  std::string out;
  EXPECT_TRUE(json::AppendCanonical(data, &out).ok());
  return out;
}

TEST_F(TransformerTest, ReferenceDeliveriesAreReproduced) {
  ASSERT_NO_FATAL_FAILURE(UseReference());
  const auto events = ReadLines(kReferenceDir + "/events.ndjson");
  struct Case {
    size_t line;
    std::string_view sink;
  };
  for (const Case& c :
       {Case{1, "crm"}, Case{1, "analytics_lake"}, Case{2, "crm"}, Case{2, "marketing_automation"},
        Case{2, "analytics_lake"}, Case{7, "support_cases"}, Case{7, "analytics_lake"},
        Case{12, "support_cases"}, Case{13, "analytics_lake"}, Case{13, "research_warehouse"},
        Case{17, "safety_db"}, Case{28, "analytics_lake"}}) {
    SCOPED_TRACE("line " + std::to_string(c.line) + " sink " + std::string(c.sink));
    ASSERT_NO_FATAL_FAILURE(Intake(events[c.line - 1]));
    EXPECT_EQ(Apply(c.sink), ExpectedData(c.line, c.sink));
  }
}

TEST_F(TransformerTest, AppliedNotesForTheAnalyticsMinimization) {
  ASSERT_NO_FATAL_FAILURE(UseReference());
  ASSERT_NO_FATAL_FAILURE(Intake(ReadLines(kReferenceDir + "/events.ndjson")[6]));  // Line 7.
  EXPECT_EQ(Apply("analytics_lake"),
            R"({"birth_date":"1984","milestone":"enrolled","patient_id":")" +
                Tok("analytics", "pt-001") +
                R"(","program_id":"psp-main","therapy":"drug-x","zip":"021"})");
  EXPECT_THAT(applied_, ElementsAre("birth_date=generalize", "first_name=drop", "last_name=drop",
                                    "patient_id=tokenize:ak-2026-1", "zip=generalize"));
  // The full-PHI sink keeps everything and notes nothing.
  Apply("support_cases");
  EXPECT_THAT(applied_, IsEmpty());
}

TEST_F(TransformerTest, DefaultIsByLevel) {
  ASSERT_NO_FATAL_FAILURE(UseReference());
  ASSERT_NO_FATAL_FAILURE(Intake(ReadLines(kReferenceDir + "/events.ndjson")[6]));  // Line 7.
  // crm (non_phi, no actions): only the non_phi class survives; pseudonymous and phi drop.
  EXPECT_EQ(Apply("crm"), R"({"program_id":"psp-main"})");
  EXPECT_THAT(applied_,
              ElementsAre("birth_date=drop:level", "first_name=drop:level", "last_name=drop:level",
                          "milestone=drop:level", "patient_id=drop:level", "therapy=drop:level",
                          "zip=drop:level"));
  // marketing_automation (pseudonymous): health_info is dropped by its action, phi by level.
  EXPECT_EQ(Apply("marketing_automation"), R"({"program_id":"psp-main"})");
  EXPECT_THAT(applied_, ElementsAre("birth_date=drop:level", "first_name=drop:level",
                                    "last_name=drop:level", "milestone=drop",
                                    "patient_id=drop:level", "therapy=drop", "zip=drop:level"));
}

// A catalog with one class per situation the transformer must handle.
constexpr std::string_view kTransformCatalog = R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes:
  op: {level: non_phi}
  pseudo: {level: pseudonymous}
  ident: {level: phi}
  date: {level: phi}
  loc: {level: phi}
  note: {level: phi}
  num: {level: phi}
  code: {level: pseudonymous}
event_types:
  t.x:
    sources: [src]
    subject: {type: person, field: pid}
    purposes: [p]
    fields:
      pid: {type: string, class: ident, required: true}
      zeta: {type: string, class: op}
      Upper: {type: string, class: op}
      alpha: {type: string, class: pseudo}
      dob: {type: date, class: date}
      seen_at: {type: datetime, class: date}
      zip: {type: string, class: loc}
      memo: {type: string, class: note}
      score: {type: integer, class: num}
      ratio: {type: number, class: num}
      flag: {type: boolean, class: num}
      code: {type: string, class: code}
sinks:
  full: {purpose: p, max_level: phi}
  low: {purpose: p, max_level: non_phi}
  mid:
    purpose: p
    max_level: pseudonymous
    token_domain: analytics
    actions: {ident: tokenize, date: generalize, loc: generalize, note: mask, num: tokenize,
              code: mask}
  keeper:
    purpose: p
    max_level: pseudonymous
    actions: {ident: keep, note: mask, op: drop}
  generalizer:
    purpose: p
    max_level: pseudonymous
    actions: {ident: generalize, num: generalize, loc: generalize}
  masker:
    purpose: p
    max_level: phi
    actions: {num: mask, ident: mask}
  tight:
    purpose: p
    max_level: non_phi
    token_domain: analytics
    actions: {ident: tokenize, date: generalize, code: mask}
)";

class TransformerCustomTest : public TransformerTest {
 protected:
  void SetUp() override {
    TransformerTest::SetUp();
    auto c = catalog::LoadString(kTransformCatalog, "transform.yaml");
    ASSERT_TRUE(c.ok()) << c.status();
    UseCatalog(std::move(*c));
  }
  static std::string Line(std::string_view payload) {
    return std::string(R"({"event_id": "e1", "event_type": "t.x", "source_system": "src", )"
                       R"("timestamp": "2026-04-13T14:00:00Z", "payload": {)") +
           std::string(payload) + "}}";
  }
};

TEST_F(TransformerCustomTest, OutputKeysAreSortedAsRfc8785) {
  ASSERT_NO_FATAL_FAILURE(
      Intake(Line(R"("zeta": "z", "pid": "p1", "code": "c", "alpha": "a", "Upper": "U")")));
  EXPECT_EQ(Apply("full"), R"({"Upper":"U","alpha":"a","code":"c","pid":"p1","zeta":"z"})");
}

TEST_F(TransformerCustomTest, ConfiguredActions) {
  ASSERT_NO_FATAL_FAILURE(
      Intake(Line(R"("pid": "p1", "dob": "1984-07-12", "seen_at": "2026-04-08T12:00:00+02:00", )"
                  R"("zip": "02139-4307", "code": "RX-778-2026", "alpha": "a", "zeta": "z")")));
  EXPECT_EQ(Apply("mid"), R"({"alpha":"a","code":"*******2026","dob":"1984","pid":")" +
                              Tok("analytics", "p1") +
                              R"(","seen_at":"2026","zeta":"z","zip":"021"})");
  EXPECT_THAT(applied_, ElementsAre("code=mask", "dob=generalize", "pid=tokenize:ak-2026-1",
                                    "seen_at=generalize", "zip=generalize"));
}

TEST_F(TransformerCustomTest, TokenizeNonStringsUsesTheirJsonText) {
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "score": 95, "ratio": 1.50, "flag": true)")));
  EXPECT_EQ(Apply("mid"), R"({"flag":")" + Tok("analytics", "true") + R"(","pid":")" +
                              Tok("analytics", "p1") + R"(","ratio":")" + Tok("analytics", "1.5") +
                              R"(","score":")" + Tok("analytics", "95") + R"("})");
  // RFC 8785 number text: 1e2 is "100", as 100 is.
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "ratio": 1e2)")));
  const std::string with_exponent = Apply("mid");
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "ratio": 100)")));
  EXPECT_EQ(Apply("mid"), with_exponent);
  EXPECT_THAT(with_exponent, HasSubstr(Tok("analytics", "100")));
}

TEST_F(TransformerCustomTest, LevelCapDropsAMaskedPhiField) {
  ASSERT_NO_FATAL_FAILURE(
      Intake(Line(R"("pid": "p1", "memo": "called from home number", "code": "ABCDEFG")")));
  // memo (phi) is masked but stays phi: above the pseudonymous sink, so it is dropped.
  // code (pseudonymous) is masked and fits.
  const std::string data = Apply("mid");
  EXPECT_EQ(data, R"({"code":"***DEFG","pid":")" + Tok("analytics", "p1") + R"("})");
  EXPECT_THAT(data, Not(HasSubstr("memo")));
  EXPECT_THAT(data, Not(HasSubstr("mber")));
  EXPECT_THAT(applied_, ElementsAre("code=mask", "memo=drop:level", "pid=tokenize:ak-2026-1"));
}

TEST_F(TransformerCustomTest, LevelCapAppliesAfterTokenizeAndGeneralize) {
  ASSERT_NO_FATAL_FAILURE(
      Intake(Line(R"("pid": "p1", "dob": "1984-07-12", "code": "ABCDEFG", "zeta": "z")")));
  // Tokens and years are pseudonymous, masked code stays pseudonymous: all above non_phi.
  EXPECT_EQ(Apply("tight"), R"({"zeta":"z"})");
  EXPECT_THAT(applied_, ElementsAre("code=drop:level", "dob=drop:level", "pid=drop:level"));
}

TEST_F(TransformerCustomTest, LevelCapOverridesKeep) {
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "memo": "m-long", "zeta": "z")")));
  // keeper keeps ident (phi) on a pseudonymous sink: the cap drops it anyway.
  EXPECT_EQ(Apply("keeper"), R"({})");
  EXPECT_THAT(applied_, ElementsAre("memo=drop:level", "pid=drop:level", "zeta=drop"));
}

TEST_F(TransformerCustomTest, GeneralizeDropsWhatItCannotGeneralize) {
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "score": 2139, "zip": "abcde")")));
  EXPECT_EQ(Apply("generalizer"), R"({})");
  EXPECT_THAT(applied_, ElementsAre("pid=drop:not_generalizable", "score=drop:not_generalizable",
                                    "zip=drop:not_generalizable"));
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "59012", "zip": "89301")")));
  EXPECT_EQ(Apply("generalizer"), R"({"pid":"590","zip":"000"})");
}

TEST_F(TransformerCustomTest, MaskNonStringsUsesTheirJsonText) {
  ASSERT_NO_FATAL_FAILURE(
      Intake(Line(R"("pid": "p-123456", "score": 1234567, "ratio": -0.25, "flag": false)")));
  EXPECT_EQ(Apply("masker"),
            R"({"flag":"*alse","pid":"****3456","ratio":"*0.25","score":"***4567"})");
  EXPECT_THAT(applied_, ElementsAre("flag=mask", "pid=mask", "ratio=mask", "score=mask"));
}

TEST_F(TransformerCustomTest, NullAndAbsentFieldsAreNotOutput) {
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "zeta": null, "memo": null)")));
  EXPECT_EQ(Apply("full"), R"({"pid":"p1"})");
  EXPECT_THAT(applied_, IsEmpty());
  EXPECT_EQ(Apply("low"), R"({})");
  EXPECT_THAT(applied_, ElementsAre("pid=drop:level"));
}

TEST_F(TransformerCustomTest, ValuesAreWrittenCanonically) {
  ASSERT_NO_FATAL_FAILURE(
      Intake(Line(R"("pid": "line\nbreak \u00e9 \"q\"", "score": 10, "ratio": 2.50E1)")));
  EXPECT_EQ(Apply("full"),
            "{\"pid\":\"line\\nbreak \xc3\xa9 \\\"q\\\"\",\"ratio\":25,"
            "\"score\":10}");
}

// `keep` is "the value as is" (routing.md section 4): an integer keeps all of its digits, also
// beyond 2^53 where RFC 8785's double form would change it. Tokens and masks still take the
// RFC 8785 text, as the spec says.
TEST_F(TransformerCustomTest, KeptIntegersKeepEveryDigit) {
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "score": 9223372036854775807)")));
  EXPECT_EQ(Apply("full"), R"({"pid":"p1","score":9223372036854775807})");
  EXPECT_THAT(Apply("mid"), HasSubstr(Tok("analytics", "9223372036854776000")));
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "score": -9007199254740993)")));
  EXPECT_EQ(Apply("full"), R"({"pid":"p1","score":-9007199254740993})");
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "p1", "ratio": 18446744073709551615)")));
  EXPECT_EQ(Apply("full"), R"({"pid":"p1","ratio":18446744073709551615})");
}

// ---------------------------------------------------------------------------------------------
// PlanField: what a sink delivers, from the catalog alone, as Apply does it.

class PlanFieldTest : public TransformerCustomTest {
 protected:
  FieldPlan Plan(std::string_view sink, std::string_view field) {
    const catalog::EventType* t = catalog_->FindEventType("t.x");
    const int fi = t->FindField(field);
    EXPECT_GE(fi, 0) << field;
    return PlanField(*catalog_, catalog_->sinks[catalog_->FindSink(sink)],
                     t->fields[static_cast<size_t>(fi)]);
  }

  // Applies every sink to event_ and checks that each field present comes out as PlanField
  // says: the same form, the same ledger note.
  void ExpectApplyFollowsThePlan() {
    for (const auto& sink : catalog_->sinks) {
      SCOPED_TRACE("sink " + sink.id);
      const std::string data = Apply(sink.id);
      simdjson::dom::parser parser;
      simdjson::dom::object out;
      ASSERT_EQ(parser.parse(data).get(out), simdjson::SUCCESS) << data;
      for (const auto& f : event_.fields) {
        const std::string name(f.name);
        SCOPED_TRACE("field " + name);
        const FieldPlan plan = PlanField(*catalog_, sink, event_.type_def->fields[f.field_index]);
        std::string note;
        for (const auto& a : applied_) {
          if (a.rfind(name + "=", 0) == 0) note = a.substr(name.size() + 1);
        }
        std::string_view value;
        const bool present = out[name].get_string().get(value) == simdjson::SUCCESS ||
                             out[name].error() == simdjson::SUCCESS;
        if (plan.form == Form::kDropped) {
          EXPECT_FALSE(present);
          EXPECT_EQ(note, DropCauseName(plan.drop));
          continue;
        }
        if (plan.by_value && !present) {
          EXPECT_EQ(note, "drop:not_generalizable");
          continue;
        }
        ASSERT_TRUE(present) << data;
        switch (plan.form) {
          case Form::kKept:
            EXPECT_EQ(note, "");
            break;
          case Form::kToken:
            EXPECT_EQ(value.rfind("tok_", 0), 0u) << value;
            EXPECT_EQ(note.rfind("tokenize:", 0), 0u) << note;
            break;
          case Form::kYear:
          case Form::kZip3:
            EXPECT_EQ(note, "generalize");
            if (!plan.by_value) {
              EXPECT_EQ(value.size(), plan.form == Form::kYear ? 4u : 3u) << value;
            }
            break;
          case Form::kMasked:
            EXPECT_EQ(note, "mask");
            break;
          case Form::kDropped:
            break;
        }
      }
    }
  }
};

TEST_F(PlanFieldTest, FormsAndCauses) {
  EXPECT_EQ(Plan("full", "memo").form, Form::kKept);
  EXPECT_FALSE(Plan("full", "memo").action.configured);
  EXPECT_EQ(Plan("mid", "pid").form, Form::kToken);
  EXPECT_EQ(Plan("mid", "pid").level, catalog::Level::kPseudonymous);
  EXPECT_EQ(Plan("mid", "dob").form, Form::kYear);
  EXPECT_EQ(Plan("mid", "seen_at").form, Form::kYear);
  EXPECT_FALSE(Plan("mid", "dob").by_value);
  EXPECT_EQ(Plan("mid", "zip").form, Form::kZip3);
  EXPECT_TRUE(Plan("mid", "zip").by_value);  // A string: a ZIP, a date or neither.
  EXPECT_EQ(Plan("mid", "code").form, Form::kMasked);
  // Masked phi stays phi: the cap drops it on a pseudonymous sink.
  EXPECT_EQ(Plan("mid", "memo").form, Form::kDropped);
  EXPECT_EQ(Plan("mid", "memo").drop, DropCause::kLevel);
  EXPECT_EQ(Plan("keeper", "zeta").drop, DropCause::kAction);
  EXPECT_EQ(Plan("keeper", "pid").drop, DropCause::kLevel);  // keep, then the cap.
  EXPECT_EQ(Plan("low", "alpha").drop, DropCause::kLevel);   // By default.
  EXPECT_FALSE(Plan("low", "alpha").action.configured);
  EXPECT_EQ(Plan("tight", "pid").drop, DropCause::kLevel);   // A token is above non_phi.
  EXPECT_EQ(Plan("generalizer", "score").drop, DropCause::kNotGeneralizable);
  EXPECT_EQ(Plan("generalizer", "flag").drop, DropCause::kNotGeneralizable);
  EXPECT_EQ(FormName(Form::kZip3), "zip3");
  EXPECT_EQ(DropCauseName(DropCause::kLevel), "drop:level");
}

TEST_F(PlanFieldTest, ApplyFollowsThePlanForEverySinkAndField) {
  ASSERT_NO_FATAL_FAILURE(Intake(Line(
      R"("pid": "p-123456", "zeta": "z", "Upper": "U", "alpha": "a", "dob": "1984-07-12", )"
      R"("seen_at": "2026-04-08T12:00:00+02:00", "zip": "02139", "memo": "called home", )"
      R"("score": 95, "ratio": 1.5, "flag": true, "code": "RX-778")")));
  ASSERT_NO_FATAL_FAILURE(ExpectApplyFollowsThePlan());
  // A string that generalize cannot cut: the by-value case.
  ASSERT_NO_FATAL_FAILURE(Intake(Line(R"("pid": "someone", "zip": "n/a")")));
  ASSERT_NO_FATAL_FAILURE(ExpectApplyFollowsThePlan());
}

TEST_F(PlanFieldTest, EnumGeneralizeIsDecidedFromItsValues) {
  auto c = catalog::LoadString(R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes: {c: {level: phi}}
event_types:
  t:
    sources: [s]
    subject: {type: person, field: a}
    purposes: [p]
    fields:
      a: {type: enum, values: ["02139", "90210"], class: c}
      b: {type: enum, values: [red, blue], class: c}
      d: {type: enum, values: ["2026-01-01", other], class: c}
sinks:
  k: {purpose: p, max_level: pseudonymous, actions: {c: generalize}}
)", "enum.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const catalog::EventType& t = (*c)->event_types[0];
  const catalog::Sink& k = (*c)->sinks[0];
  const FieldPlan zips = PlanField(**c, k, t.fields[static_cast<size_t>(t.FindField("a"))]);
  EXPECT_EQ(zips.form, Form::kZip3);
  EXPECT_FALSE(zips.by_value);
  const FieldPlan colours = PlanField(**c, k, t.fields[static_cast<size_t>(t.FindField("b"))]);
  EXPECT_EQ(colours.drop, DropCause::kNotGeneralizable);
  const FieldPlan mixed = PlanField(**c, k, t.fields[static_cast<size_t>(t.FindField("d"))]);
  EXPECT_EQ(mixed.form, Form::kYear);
  EXPECT_TRUE(mixed.by_value);
}

TEST(TransformerCreateTest, FailsWhenATokenizingSinkHasNoKey) {
  auto c = catalog::LoadFile(std::string(LOOPGATE_SOURCE_DIR) + "/examples/reference/catalog.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  auto keys = KeyStore::LoadString(
      R"({"analytics": {"key_id": "a", "secret_hex": "000102030405060708090a0b0c0d0e0f"},)"
      R"( "research": {"key_id": "r", "secret_hex": "000102030405060708090a0b0c0d0e0f"}})",
      "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  auto t = Transformer::Create(**c, *keys);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(t.status().message(), HasSubstr("'marketing_automation'"));
  EXPECT_THAT(t.status().message(), HasSubstr("'marketing'"));

  auto empty = KeyStore::LoadString("{}", "keys.json");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(Transformer::Create(**c, *empty).status().code(),
            absl::StatusCode::kFailedPrecondition);

  auto all = KeyStore::LoadFile(kKeysPath);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(Transformer::Create(**c, *all).ok());
}

TEST(TransformerCreateTest, ADomainWithoutTokenizationNeedsNoKey) {
  auto c = catalog::LoadString(R"(format: loopgate.catalog/v1
purposes: {p: {}}
classes: {c: {level: phi}}
event_types:
  t: {sources: [s], subject: {type: x, field: f}, purposes: [p],
      fields: {f: {type: string, class: c}}}
sinks:
  s1: {purpose: p, max_level: phi, token_domain: unused, actions: {c: mask}}
)",
                               "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  auto empty = KeyStore::LoadString("{}", "keys.json");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(Transformer::Create(**c, *empty).ok());
}

}  // namespace
}  // namespace loopgate::transform
