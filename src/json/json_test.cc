#include "json/json.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loopgate::json {
namespace {

using std::string_literals::operator""s;
using ::testing::HasSubstr;
using ::testing::Not;

// A distinctive value planted in rejected inputs: no error message may repeat it.
constexpr char kSecret[] = "zq-secret-4711";

// The canonical form of `text` as StrictParser produces it (ParseCopy: no padding needed).
absl::StatusOr<std::string> TryCanonical(std::string_view text, size_t max_depth = 128) {
  StrictParser parser(max_depth);
  std::string canonical;
  auto root = parser.ParseCopy(text, &canonical);
  if (!root.ok()) {
    return root.status();
  }
  return canonical;
}

// As TryCanonical, with a failure shown as text (never valid JSON) so EXPECT_EQ can compare it.
std::string Canonical(std::string_view text, size_t max_depth = 128) {
  auto result = TryCanonical(text, max_depth);
  return result.ok() ? *result : "<rejected: " + result.status().ToString() + ">";
}

std::string Number(double d) {
  std::string out;
  AppendNumber(d, &out);
  return out;
}

std::string Quoted(std::string_view s) {
  std::string out;
  AppendString(s, &out);
  return out;
}

std::string MessageOf(const absl::Status& status) { return std::string(status.message()); }

// Expects `text` to be rejected as InvalidArgument without echoing kSecret.
void ExpectRejected(std::string_view text, size_t max_depth = 128) {
  SCOPED_TRACE(std::string(text.substr(0, 120)));
  const auto result = TryCanonical(text, max_depth);
  ASSERT_FALSE(result.ok()) << "accepted as " << *result;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  EXPECT_FALSE(result.status().message().empty());
  EXPECT_THAT(MessageOf(result.status()), Not(HasSubstr(kSecret)));
  EXPECT_THAT(MessageOf(result.status()), Not(HasSubstr("zq-key")));
}

// --- Canonical form: structure, key order, whitespace -------------------------------------

TEST(CanonicalTest, WhitespaceAndKeyOrderDoNotChangeTheText) {
  const std::string expected = R"({"a":[1,2,{"c":null,"d":true}],"b":"x"})";
  EXPECT_EQ(Canonical(R"({"b":"x","a":[1,2,{"d":true,"c":null}]})"), expected);
  EXPECT_EQ(
      Canonical(" {\n\t\"a\" : [ 1 ,2, { \"c\":null , \"d\" : true } ] ,\r\n \"b\":\"x\" }\n"),
      expected);
  EXPECT_EQ(Canonical(R"({"a":[1,2,{"c":null,"d":true}],"b":"x"})"), expected);
}

TEST(CanonicalTest, NestedObjectsAndArrays) {
  EXPECT_EQ(Canonical(R"({"z":{"y":{"x":[[],{},[{"b":1,"a":0}]]}},"a":[]})"),
            R"({"a":[],"z":{"y":{"x":[[],{},[{"a":0,"b":1}]]}}})");
  EXPECT_EQ(Canonical(R"({})"), "{}");
  EXPECT_EQ(Canonical(R"({"t":true,"f":false,"n":null})"), R"({"f":false,"n":null,"t":true})");
}

TEST(CanonicalTest, ArrayOrderIsKept) {
  EXPECT_EQ(Canonical(R"({"a":[3,1,2,"b","a"]})"), R"({"a":[3,1,2,"b","a"]})");
}

TEST(CanonicalTest, Rfc8785Section323KeySortingExample) {
  // RFC 8785 section 3.2.3: keys sort by UTF-16 code units, so U+1F600 (as the surrogate pair
  // D83D DE00) comes before U+FB33 even though its UTF-8 form sorts after.
  const std::string input = R"({
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  })";
  const std::string expected =
      "{\"\\r\":\"Carriage Return\","
      "\"1\":\"One\","
      "\"\xc2\x80\":\"Control\","
      "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
      "\"\xe2\x82\xac\":\"Euro Sign\","
      "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
      "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}";
  EXPECT_EQ(Canonical(input), expected);
}

TEST(CanonicalTest, Rfc8785Section322Example) {
  // The worked example of RFC 8785 section 3.2.2 (numbers, escapes, literals, key order).
  const std::string input = R"({
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  })";
  const std::string expected =
      "{\"literals\":[null,true,false],"
      "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
      "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
  EXPECT_EQ(Canonical(input), expected);
}

TEST(CanonicalTest, StringEscapesAreNormalized) {
  EXPECT_EQ(Canonical(R"({"s":"\u0041\/\u00e9\u001F\u007f"})"),
            "{\"s\":\"A/\xc3\xa9\\u001f\x7f\"}");
  EXPECT_EQ(Canonical(R"({"s":"\b\f\n\r\t\u0008\u000C"})"), R"({"s":"\b\f\n\r\t\b\f"})");
  EXPECT_EQ(Canonical(R"({"s":"\u2028\u2029"})"), "{\"s\":\"\xe2\x80\xa8\xe2\x80\xa9\"}");
  EXPECT_EQ(Canonical(R"({"s":"\u0000"})"), R"({"s":"\u0000"})");
  EXPECT_EQ(Canonical("{\"s\":\"raw \xc3\xa9 \xf0\x9f\x98\x80\"}"),
            "{\"s\":\"raw \xc3\xa9 \xf0\x9f\x98\x80\"}");
}

TEST(CanonicalTest, KeysWithEscapesAreCanonicalizedAndSorted) {
  EXPECT_EQ(Canonical(R"({"\u0062":1,"a\"":2,"a\\":3,"a":4})"), R"({"a":4,"a\"":2,"a\\":3,"b":1})");
}

TEST(CanonicalTest, NumbersFollowEcmaScript) {
  EXPECT_EQ(Canonical(R"({"n":[0,-0,-0.0,0.0,0e10,1.0,1E2,-1.5e0,0.1e1]})"),
            R"({"n":[0,0,0,0,0,1,100,-1.5,1]})");
  EXPECT_EQ(Canonical(R"({"n":[1e21,1e20,1e-7,0.000001,123e-20,1.5,-2.25,0.1]})"),
            R"({"n":[1e+21,100000000000000000000,1e-7,0.000001,1.23e-18,1.5,-2.25,0.1]})");
  EXPECT_EQ(Canonical(R"({"n":[5e-324,1.7976931348623157e308,-1.7976931348623157e308]})"),
            R"({"n":[5e-324,1.7976931348623157e+308,-1.7976931348623157e+308]})");
}

TEST(CanonicalTest, IntegersBeyondDoublePrecisionAreRoundedToDouble) {
  // RFC 8785 serializes every number as an IEEE 754 double, as ECMAScript would:
  // String(9007199254740993) === "9007199254740992", String(2 ** 64 - 1) ===
  // "18446744073709552000", String(-(2 ** 63)) === "-9223372036854776000".
  EXPECT_EQ(Canonical(R"({"n":9007199254740993})"), R"({"n":9007199254740992})");
  EXPECT_EQ(Canonical(R"({"n":18446744073709551615})"), R"({"n":18446744073709552000})");
  EXPECT_EQ(Canonical(R"({"n":-9223372036854775808})"), R"({"n":-9223372036854776000})");
  EXPECT_EQ(Canonical(R"({"n":9223372036854775807})"), R"({"n":9223372036854776000})");
}

TEST(CanonicalTest, EqualContentGivesEqualTextAndDifferentContentDifferentText) {
  const auto a = TryCanonical(R"({"event_type":"x","payload":{"k":1,"j":[true]}})");
  const auto b = TryCanonical(R"({"payload":{"j":[true],"k":1.0},"event_type":"x"})");
  const auto c = TryCanonical(R"({"payload":{"j":[true],"k":2},"event_type":"x"})");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

// --- AppendNumber -------------------------------------------------------------------------

TEST(AppendNumberTest, Rfc8785AppendixBValues) {
  // IEEE 754 bit patterns and expected text from RFC 8785 appendix B (the ES6 number
  // serialization samples); each was also checked against Node's String(x).
  struct Case {
    uint64_t bits;
    const char* text;
  };
  const Case kCases[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},  // Minus zero.
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(Number(std::bit_cast<double>(c.bits)), c.text);
  }
}

TEST(AppendNumberTest, LayoutBoundaries) {
  // ECMAScript Number::toString: plain digits up to 21 integer digits, "0.000ddd" down to
  // 1e-6, exponent form outside that range (values checked against Node's String(x)).
  EXPECT_EQ(Number(0.0), "0");
  EXPECT_EQ(Number(-0.0), "0");
  EXPECT_EQ(Number(1e21), "1e+21");
  EXPECT_EQ(Number(1e20), "100000000000000000000");
  EXPECT_EQ(Number(1.2345e21), "1.2345e+21");
  EXPECT_EQ(Number(123456789012345680000.0), "123456789012345680000");
  EXPECT_EQ(Number(1e-7), "1e-7");
  EXPECT_EQ(Number(-1e-7), "-1e-7");
  EXPECT_EQ(Number(0.000001), "0.000001");
  EXPECT_EQ(Number(0.0000015), "0.0000015");
  EXPECT_EQ(Number(0.00001234), "0.00001234");
  EXPECT_EQ(Number(123e-20), "1.23e-18");
  EXPECT_EQ(Number(0.1), "0.1");
  EXPECT_EQ(Number(1.5), "1.5");
  EXPECT_EQ(Number(-2.25), "-2.25");
  EXPECT_EQ(Number(100), "100");
  EXPECT_EQ(Number(1), "1");
  EXPECT_EQ(Number(-1), "-1");
  EXPECT_EQ(Number(1e30), "1e+30");
  EXPECT_EQ(Number(1e-27), "1e-27");
}

TEST(AppendNumberTest, AppendsToExistingText) {
  std::string out = "[";
  AppendNumber(1.5, &out);
  out.push_back(',');
  AppendNumber(-0.0, &out);
  EXPECT_EQ(out, "[1.5,0");
}

// --- AppendString -------------------------------------------------------------------------

TEST(AppendStringTest, ControlCharactersUseShortEscapesOrLowercaseHex) {
  const char* const kExpected[32] = {
      "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
      "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
      "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
      "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
  };
  for (int c = 0; c < 32; ++c) {
    SCOPED_TRACE(c);
    EXPECT_EQ(Quoted(std::string(1, static_cast<char>(c))),
              "\"" + std::string(kExpected[c]) + "\"");
  }
}

TEST(AppendStringTest, QuoteAndBackslashAreEscaped) {
  EXPECT_EQ(Quoted(R"(a"b\c)"), R"("a\"b\\c")");
  EXPECT_EQ(Quoted(R"(")"), R"("\"")");
  EXPECT_EQ(Quoted(R"(\)"), R"("\\")");
}

TEST(AppendStringTest, EverythingElseIsLiteral) {
  EXPECT_EQ(Quoted(""), "\"\"");
  EXPECT_EQ(Quoted("a/b"), "\"a/b\"");  // '/' is not escaped.
  EXPECT_EQ(Quoted("\x7f"), "\"\x7f\"");
  EXPECT_EQ(Quoted(" ~'<>&"), "\" ~'<>&\"");
  EXPECT_EQ(Quoted("\xe2\x80\xa8\xe2\x80\xa9"), "\"\xe2\x80\xa8\xe2\x80\xa9\"");  // U+2028/9.
  EXPECT_EQ(Quoted("\xc3\xb6\xe2\x82\xac\xf0\x9f\x98\x80"),
            "\"\xc3\xb6\xe2\x82\xac\xf0\x9f\x98\x80\"");
}

TEST(AppendStringTest, MixedRunsAndEmbeddedNul) {
  EXPECT_EQ(Quoted("ab\ncd\0ef\"gh"s), "\"ab\\ncd\\u0000ef\\\"gh\"");
  EXPECT_EQ(Quoted("\n\n"), "\"\\n\\n\"");
}

// The escaping of one byte, as RFC 8785 section 3.2.2.2 asks, written out byte by byte: the
// reference AppendString's scans (16, 8 or 4 bytes at a time) must agree with.
std::string ReferenceQuoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\b') out += "\\b";
    else if (c == '\f') out += "\\f";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

TEST(AppendStringTest, AgreesWithByteByByteEscapingAtEveryPositionAndLength) {
  // Strings of 0 to 70 bytes (the scan works 16, 8 or 4 bytes at a time, its last window
  // overlapping the one before) with a byte that needs escaping, or a byte just outside that
  // set, at every position, over plain ASCII and UTF-8 filler.
  const unsigned char kProbes[] = {'"', '\\', 0x00, 0x1F, 0x20, 0x7F, 0x80, 0xFF, '\n', '!', '#', '[', ']'};
  for (size_t len = 0; len <= 70; ++len) {
    for (size_t pos = 0; pos < std::max<size_t>(len, 1); ++pos) {
      for (unsigned char probe : kProbes) {
        std::string s(len, 'a');
        for (size_t i = 0; i < len; i += 3) s[i] = static_cast<char>(0xC3 + (i % 2));
        if (len > 0) s[pos] = static_cast<char>(probe);
        if (len > 2) s[len - 1] = static_cast<char>(probe);
        ASSERT_EQ(Quoted(s), ReferenceQuoted(s)) << "len " << len << " pos " << pos
                                                 << " probe " << int{probe};
      }
    }
  }
}

// The scan alone, both ways (SSE2 windows and words), where no other byte can send it down the
// exact path: a single byte that needs escaping at every position of every length, among plain
// bytes including those next to the escaped ranges.
TEST(AppendStringTest, TheScanFindsALoneByteToEscapeAtEveryPositionAndLength) {
  const unsigned char kEscaped[] = {'"', '\\', 0x00, 0x1F, '\n'};
  const unsigned char kPlain[] = {0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xFF, 'a'};
  for (size_t len = 0; len <= 70; ++len) {
    const std::string filler(len, 'a');
    for (bool wide : {true, false}) {
      ASSERT_TRUE(internal::AllPlain(filler, wide)) << "len " << len << " wide " << wide;
      for (size_t pos = 0; pos < len; ++pos) {
        std::string s = filler;
        for (unsigned char c : kEscaped) {
          s[pos] = static_cast<char>(c);
          ASSERT_FALSE(internal::AllPlain(s, wide))
              << "len " << len << " pos " << pos << " byte " << int{c} << " wide " << wide;
        }
        for (unsigned char c : kPlain) {
          s[pos] = static_cast<char>(c);
          ASSERT_TRUE(internal::AllPlain(s, wide))
              << "len " << len << " pos " << pos << " byte " << int{c} << " wide " << wide;
        }
      }
    }
    for (size_t pos = 0; pos < len; ++pos) {
      std::string s = filler;
      s[pos] = '"';
      ASSERT_EQ(Quoted(s), ReferenceQuoted(s)) << "len " << len << " pos " << pos;
    }
  }
}

// Random strings, mostly plain bytes: both scans agree with a byte loop.
TEST(AppendStringTest, TheScanAgreesWithAByteLoopOnRandomStrings) {
  std::mt19937 rng(20261124);
  for (int i = 0; i < 50000; ++i) {
    std::string s(rng() % 80, 'a');
    for (char& c : s) {
      // One byte in 64 drawn from all 256, the rest from 0x20..0xFF.
      c = static_cast<char>(rng() % 64 == 0 ? rng() % 256 : 0x20 + rng() % 0xE0);
    }
    const bool plain = std::none_of(s.begin(), s.end(), [](char c) {
      const auto b = static_cast<unsigned char>(c);
      return b < 0x20 || b == '"' || b == '\\';
    });
    ASSERT_EQ(internal::AllPlain(s, true), plain) << i;
    ASSERT_EQ(internal::AllPlain(s, false), plain) << i;
    ASSERT_EQ(Quoted(s), ReferenceQuoted(s)) << i;
  }
}

TEST(AppendStringTest, AppendsToExistingText) {
  std::string out = "{";
  AppendString("k", &out);
  EXPECT_EQ(out, "{\"k\"");
}

// --- Utf16Less ----------------------------------------------------------------------------

TEST(Utf16LessTest, AsciiAndPrefixes) {
  EXPECT_TRUE(Utf16Less("a", "b"));
  EXPECT_FALSE(Utf16Less("b", "a"));
  EXPECT_FALSE(Utf16Less("a", "a"));
  EXPECT_TRUE(Utf16Less("", "a"));
  EXPECT_FALSE(Utf16Less("", ""));
  EXPECT_FALSE(Utf16Less("a", ""));
  EXPECT_TRUE(Utf16Less("a", "ab"));
  EXPECT_FALSE(Utf16Less("ab", "a"));
  EXPECT_TRUE(Utf16Less("B", "a"));  // Code units, not case-folded.
  EXPECT_TRUE(Utf16Less("\r", "1"));
}

TEST(Utf16LessTest, BmpCharactersCompareByCodePoint) {
  EXPECT_TRUE(Utf16Less("z", "\xc2\x80"));                 // U+007A < U+0080
  EXPECT_TRUE(Utf16Less("\xc2\x80", "\xc3\xb6"));          // U+0080 < U+00F6
  EXPECT_TRUE(Utf16Less("\xc3\xb6", "\xe2\x82\xac"));      // U+00F6 < U+20AC
  EXPECT_TRUE(Utf16Less("\xed\x9f\xbf", "\xee\x80\x80"));  // U+D7FF < U+E000
  EXPECT_FALSE(Utf16Less("\xe2\x82\xac", "\xc3\xb6"));
}

TEST(Utf16LessTest, SupplementaryPlaneSortsBetweenD7ffAndE000) {
  const std::string emoji = "\xf0\x9f\x98\x80";     // U+1F600 = D83D DE00
  const std::string dalet = "\xef\xac\xb3";         // U+FB33
  const std::string private_use = "\xee\x80\x80";   // U+E000
  const std::string hangul = "\xed\x9f\xbf";        // U+D7FF
  const std::string max = "\xf4\x8f\xbf\xbf";       // U+10FFFF = DBFF DFFF
  const std::string linear_b = "\xf0\x90\x80\x80";  // U+10000 = D800 DC00
  EXPECT_TRUE(Utf16Less(emoji, dalet));             // UTF-8 byte order would say the opposite.
  EXPECT_FALSE(Utf16Less(dalet, emoji));
  EXPECT_TRUE(Utf16Less(max, private_use));
  EXPECT_TRUE(Utf16Less(hangul, linear_b));
  EXPECT_TRUE(Utf16Less(linear_b, emoji));
  EXPECT_TRUE(Utf16Less(emoji, max));
  EXPECT_FALSE(Utf16Less(emoji, emoji));
}

TEST(Utf16LessTest, ComparesPastACommonNonAsciiPrefix) {
  const std::string o = "\xc3\xb6";  // U+00F6
  EXPECT_TRUE(Utf16Less(o + "a", o + "b"));
  EXPECT_TRUE(Utf16Less(o, o + "a"));
  EXPECT_FALSE(Utf16Less(o + "a", o));
  EXPECT_TRUE(Utf16Less("x\xf0\x9f\x98\x80", "x\xef\xac\xb3"));
}

// --- StrictParser: acceptance -------------------------------------------------------------

TEST(StrictParserTest, ParseWithPaddedInputReturnsTheDom) {
  StrictParser parser;
  std::string canonical = "stale text that must be replaced";
  simdjson::padded_string text(std::string(R"({"b":[1,"two"],"a":"x"})"));
  auto root = parser.Parse(std::string_view(text.data(), text.size()), &canonical);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(canonical, R"({"a":"x","b":[1,"two"]})");
  std::string_view a;
  ASSERT_EQ((*root)["a"].get_string().get(a), simdjson::SUCCESS);
  EXPECT_EQ(a, "x");
  int64_t b0 = 0;
  ASSERT_EQ((*root)["b"].at(0).get_int64().get(b0), simdjson::SUCCESS);
  EXPECT_EQ(b0, 1);
}

TEST(StrictParserTest, ParseCopyWorksOnUnpaddedText) {
  const std::string json = R"({"name":"value","n":[1,2]})";
  // Exactly sized heap buffer: nothing readable follows the text.
  auto buffer = std::make_unique<char[]>(json.size());
  std::memcpy(buffer.get(), json.data(), json.size());
  StrictParser parser;
  std::string canonical;
  auto root = parser.ParseCopy(std::string_view(buffer.get(), json.size()), &canonical);
  ASSERT_TRUE(root.ok()) << root.status();
  buffer.reset();  // The DOM must not point into the caller's text.
  EXPECT_EQ(canonical, R"({"n":[1,2],"name":"value"})");
  std::string_view name;
  ASSERT_EQ((*root)["name"].get_string().get(name), simdjson::SUCCESS);
  EXPECT_EQ(name, "value");
}

TEST(StrictParserTest, ReusableAcrossCallsAndAfterErrors) {
  StrictParser parser;
  std::string canonical;
  ASSERT_TRUE(parser.ParseCopy(R"({"a":1})", &canonical).ok());
  EXPECT_EQ(canonical, R"({"a":1})");
  EXPECT_FALSE(parser.ParseCopy(R"({"a":1,"a":2})", &canonical).ok());
  EXPECT_FALSE(parser.ParseCopy(R"({"a":)", &canonical).ok());
  ASSERT_TRUE(parser.ParseCopy(R"({"b":2})", &canonical).ok());
  EXPECT_EQ(canonical, R"({"b":2})");
}

TEST(StrictParserTest, GrowsForLargeInputs) {
  // Larger than the parser's initial capacity (64 KiB).
  const std::string big(300000, 'v');
  StrictParser parser;
  std::string canonical;
  ASSERT_TRUE(parser.ParseCopy("{\"big\":\"" + big + "\"}", &canonical).ok());
  EXPECT_EQ(canonical, "{\"big\":\"" + big + "\"}");
  ASSERT_TRUE(parser.ParseCopy(R"({"small":true})", &canonical).ok());
  EXPECT_EQ(canonical, R"({"small":true})");
}

TEST(StrictParserTest, AcceptsNestingUpToMaxDepth) {
  EXPECT_EQ(Canonical(R"({"a":{"b":{"c":{}}}})", 4), R"({"a":{"b":{"c":{}}}})");
  EXPECT_EQ(Canonical(R"({"a":[[[]]]})", 4), R"({"a":[[[]]]})");
  const std::string deep = std::string(128, '[') + std::string(128, ']');
  EXPECT_EQ(Canonical(deep), deep);  // Default max_depth is 128.
}

// --- StrictParser: rejection --------------------------------------------------------------

TEST(StrictParserTest, RejectsDuplicateKeys) {
  ExpectRejected(R"({"zq-key":"zq-secret-4711","zq-key":1})");
  ExpectRejected(R"({"a":1,"b":2,"a":"zq-secret-4711"})");
  ExpectRejected(R"({"a":1,"\u0061":"zq-secret-4711"})");  // Same key, spelled differently.
}

TEST(StrictParserTest, RejectsNestedDuplicateKeys) {
  ExpectRejected(R"({"o":{"zq-key":"zq-secret-4711","zq-key":"zq-secret-4711"}})");
  ExpectRejected(R"({"arr":[1,{"zq-key":1,"x":2,"zq-key":"zq-secret-4711"}]})");
  ExpectRejected(R"({"a":{"b":{"c":{"d":1,"d":"zq-secret-4711"}}}})");
}

TEST(StrictParserTest, DuplicateKeyMessageSaysSo) {
  const auto result = TryCanonical(R"({"zq-key":"zq-secret-4711","zq-key":1})");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(MessageOf(result.status()), HasSubstr("same key"));
}

TEST(StrictParserTest, DistinctKeysDifferingOnlyAfterNulAreNotDuplicates) {
  EXPECT_EQ(Canonical(R"({"a\u0000b":1,"a\u0000c":2})"), R"({"a\u0000b":1,"a\u0000c":2})");
}

TEST(StrictParserTest, RejectsInvalidUtf8) {
  ExpectRejected("{\"a\":\"zq-secret-4711\xff\"}");
  ExpectRejected("{\"zq-key\xfe\":\"zq-secret-4711\"}");
  ExpectRejected("{\"a\":\"zq-secret-4711\xc0\xaf\"}");          // Overlong '/'.
  ExpectRejected("{\"a\":\"zq-secret-4711\xed\xa0\x80\"}");      // UTF-8-encoded surrogate.
  ExpectRejected("{\"a\":\"zq-secret-4711\xe2\x82\"}");          // Truncated sequence.
  ExpectRejected("{\"a\":\"zq-secret-4711\x80\"}");              // Stray continuation byte.
  ExpectRejected("{\"a\":\"zq-secret-4711\xf4\x90\x80\x80\"}");  // Above U+10FFFF.
  const auto result = TryCanonical("{\"a\":\"zq-secret-4711\xff\"}");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(MessageOf(result.status()), HasSubstr("UTF-8"));
}

TEST(StrictParserTest, RejectsNanAndInfinity) {
  ExpectRejected(R"({"s":"zq-secret-4711","n":NaN})");
  ExpectRejected(R"({"s":"zq-secret-4711","n":Infinity})");
  ExpectRejected(R"({"s":"zq-secret-4711","n":-Infinity})");
  ExpectRejected(R"({"s":"zq-secret-4711","n":nan})");
}

TEST(StrictParserTest, RejectsNumbersOutsideDoubleRange) {
  ExpectRejected(R"({"s":"zq-secret-4711","n":1e400})");
  ExpectRejected(R"({"s":"zq-secret-4711","n":-1e400})");
}

TEST(StrictParserTest, RejectsMalformedNumbers) {
  for (const char* n : {"01", "+1", ".5", "1.", "1e", "0x10", "1_000", "--1"}) {
    ExpectRejected(std::string(R"({"s":"zq-secret-4711","n":)") + n + "}");
  }
}

TEST(StrictParserTest, RejectsTrailingContent) {
  ExpectRejected(R"({"a":"zq-secret-4711"} x)");
  ExpectRejected(R"({"a":"zq-secret-4711"}{"b":2})");
  ExpectRejected(R"({"a":"zq-secret-4711"},)");
  ExpectRejected(R"({"a":"zq-secret-4711"}})");
  ExpectRejected(R"({"a":"zq-secret-4711"} "zq-secret-4711")");
}

TEST(StrictParserTest, RejectsLoneSurrogateEscapes) {
  ExpectRejected(R"({"a":"zq-secret-4711\ud800"})");
  ExpectRejected(R"({"a":"zq-secret-4711\udc00"})");
  ExpectRejected(R"({"a":"zq-secret-4711\ud800x"})");
  ExpectRejected(R"({"a":"zq-secret-4711\ud800\u0041"})");
  ExpectRejected(R"({"a":"\ude00\ud83d zq-secret-4711"})");  // Pair in the wrong order.
}

TEST(StrictParserTest, RejectsNestingDeeperThanMaxDepth) {
  ExpectRejected(R"({"s":"zq-secret-4711","a":{"b":{"c":{"d":{}}}}})", 4);
  ExpectRejected(R"({"s":"zq-secret-4711","a":[[[[]]]]})", 4);
  ExpectRejected(std::string(129, '[') + std::string(129, ']'));
  ExpectRejected(std::string(100000, '['));
  const auto result = TryCanonical(R"({"a":{"b":{"c":{"d":{}}}}})", 4);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(MessageOf(result.status()), HasSubstr("deeper than 4"));
}

TEST(StrictParserTest, RejectsBrokenSyntax) {
  ExpectRejected("");
  ExpectRejected("   ");
  ExpectRejected(R"({"a":"zq-secret-4711")");
  ExpectRejected(R"({"a":"zq-secret-4711)");
  ExpectRejected(R"({"a":"zq-secret-4711",})");
  ExpectRejected(R"({"a" "zq-secret-4711"})");
  ExpectRejected(R"({'a':'zq-secret-4711'})");
  ExpectRejected(R"({a:"zq-secret-4711"})");
  ExpectRejected(R"({"a":"zq-secret-4711"/*c*/})");
  ExpectRejected(R"({"a":["zq-secret-4711",]})");
  ExpectRejected(R"({"a":"zq-secret-4711\x41"})");  // Not a JSON escape.
  ExpectRejected(R"({"a":"zq-secret-4711\u12G4"})");
  ExpectRejected(R"({"a":True})");
}

TEST(StrictParserTest, RejectsRawControlCharactersInStrings) {
  ExpectRejected("{\"a\":\"zq-secret-4711\x01\"}");
  ExpectRejected("{\"a\":\"zq-secret-4711\n\"}");
  ExpectRejected("{\"a\":\"zq-secret-4711\t\"}");
}

// --- AppendCanonical ----------------------------------------------------------------------

TEST(AppendCanonicalTest, AppendsToExistingText) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const simdjson::padded_string text(std::string(R"({"b":1,"a":[true]})"));
  ASSERT_EQ(parser.parse(text).get(root), simdjson::SUCCESS);
  std::string out = "prefix:";
  ASSERT_TRUE(AppendCanonical(root, &out).ok());
  EXPECT_EQ(out, R"(prefix:{"a":[true],"b":1})");
}

TEST(AppendCanonicalTest, DuplicateKeyIsInvalidArgument) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  // simdjson itself accepts duplicate keys; AppendCanonical must catch them.
  const simdjson::padded_string text(std::string(R"({"x":[{"k":1,"k":2}]})"));
  ASSERT_EQ(parser.parse(text).get(root), simdjson::SUCCESS);
  std::string out;
  const absl::Status status = AppendCanonical(root, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(AppendCanonicalTest, ScalarRoots) {
  simdjson::dom::parser parser;
  for (const auto& [in, expected] : std::initializer_list<std::pair<std::string, std::string>>{
           {"\"s\"", "\"s\""},
           {"1.50", "1.5"},
           {"null", "null"},
           {"[1, \"a\" ,{}]", "[1,\"a\",{}]"}}) {
    SCOPED_TRACE(in);
    simdjson::dom::element root;
    const simdjson::padded_string text(in);
    ASSERT_EQ(parser.parse(text).get(root), simdjson::SUCCESS);
    std::string out;
    ASSERT_TRUE(AppendCanonical(root, &out).ok());
    EXPECT_EQ(out, expected);
  }
}

}  // namespace
}  // namespace loopgate::json
