#include "common/text.h"

#include <optional>
#include <utility>
#include <string>

#include "gtest/gtest.h"

namespace loopgate::common {
namespace {

using std::string_literals::operator""s;

TEST(HexEncodeTest, LowercaseTwoDigitsPerByte) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode("abc"), "616263");
  EXPECT_EQ(HexEncode("\x00\xff\x10\xAB\x7f"s), "00ff10ab7f");
}

TEST(HexDecodeTest, AcceptsBothCases) {
  EXPECT_EQ(HexDecode(""), std::string());
  EXPECT_EQ(HexDecode("616263"), "abc");
  EXPECT_EQ(HexDecode("00FF10aBcD"), "\x00\xff\x10\xab\xcd"s);
}

TEST(HexDecodeTest, RejectsOddLengthAndNonHexDigits) {
  EXPECT_EQ(HexDecode("a"), std::nullopt);
  EXPECT_EQ(HexDecode("abc"), std::nullopt);
  EXPECT_EQ(HexDecode("0g"), std::nullopt);
  EXPECT_EQ(HexDecode("g0"), std::nullopt);
  EXPECT_EQ(HexDecode("0x12"), std::nullopt);
  EXPECT_EQ(HexDecode("12 4"), std::nullopt);
  EXPECT_EQ(HexDecode("ab\0d"s), std::nullopt);
}

TEST(HexTest, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) {
    all.push_back(static_cast<char>(b));
  }
  const std::string hex = HexEncode(all);
  ASSERT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(504), "fcfdfeff");
  EXPECT_EQ(HexDecode(hex), all);
}

// RFC 4648 section 10 test vectors.
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},         {"f", "Zg=="},       {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(plain), encoded) << plain;
    EXPECT_EQ(Base64Decode(encoded), std::string(plain)) << encoded;
  }
}

TEST(Base64Test, RoundTripsEveryByteAtEveryLengthModThree) {
  std::string all;
  for (int b = 0; b < 256; ++b) {
    all.push_back(static_cast<char>(b));
  }
  for (size_t cut : {254u, 255u, 256u}) {
    const std::string bytes = all.substr(0, cut);
    const std::string text = Base64Encode(bytes);
    EXPECT_EQ(text.size() % 4, 0u);
    EXPECT_EQ(Base64Decode(text), bytes);
  }
  // The SHA-256 of the empty string, as the RFC 6962 test vectors write it.
  EXPECT_EQ(HexEncode(*Base64Decode("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Base64Test, RejectsAnythingButTheCanonicalEncoding) {
  EXPECT_EQ(Base64Decode("Zg="), std::nullopt);     // Length not a multiple of 4.
  EXPECT_EQ(Base64Decode("Zg"), std::nullopt);      // Padding missing.
  EXPECT_EQ(Base64Decode("Zh=="), std::nullopt);    // Unused bits set ("Zg==" is canonical).
  EXPECT_EQ(Base64Decode("Zm9="), std::nullopt);    // Unused bits set ("Zm8=" is canonical).
  EXPECT_EQ(Base64Decode("Z==="), std::nullopt);    // Too much padding.
  EXPECT_EQ(Base64Decode("===="), std::nullopt);
  EXPECT_EQ(Base64Decode("Zg==Zg=="), std::nullopt);  // Padding inside.
  EXPECT_EQ(Base64Decode("Zm9v\nYmF"), std::nullopt);  // Line break (8 characters).
  EXPECT_EQ(Base64Decode("Zm 9"), std::nullopt);
  EXPECT_EQ(Base64Decode("Zm9-"), std::nullopt);    // URL-safe alphabet is not accepted.
  EXPECT_EQ(Base64Decode("Zm9_"), std::nullopt);
}

TEST(GlobMatchTest, PrefixStar) {
  EXPECT_TRUE(GlobMatch("US-*", "US-MA"));
  EXPECT_TRUE(GlobMatch("US-*", "US-"));
  EXPECT_FALSE(GlobMatch("US-*", "EU-DE"));
  EXPECT_FALSE(GlobMatch("US-*", "US"));
  EXPECT_FALSE(GlobMatch("US-*", "us-ma"));  // Case-sensitive.
  EXPECT_FALSE(GlobMatch("US-*", "XUS-MA"));
}

TEST(GlobMatchTest, LoneStarMatchesEverything) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything at all"));
  EXPECT_TRUE(GlobMatch("**", "x"));
}

TEST(GlobMatchTest, QuestionMarkMatchesExactlyOneByte) {
  EXPECT_TRUE(GlobMatch("?", "a"));
  EXPECT_FALSE(GlobMatch("?", ""));
  EXPECT_FALSE(GlobMatch("?", "ab"));
  EXPECT_TRUE(GlobMatch("US-??", "US-MA"));
  EXPECT_FALSE(GlobMatch("US-??", "US-M"));
  EXPECT_FALSE(GlobMatch("US-??", "US-MAX"));
  EXPECT_TRUE(GlobMatch("??", "\xc3\xb6"));  // One two-byte code point is two bytes.
}

TEST(GlobMatchTest, LiteralPatternsMatchOnlyThemselves) {
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
  EXPECT_FALSE(GlobMatch("a", ""));
  EXPECT_TRUE(GlobMatch("crm", "crm"));
  EXPECT_FALSE(GlobMatch("crm", "crm2"));
  EXPECT_FALSE(GlobMatch("crm2", "crm"));
  EXPECT_TRUE(GlobMatch("a.b", "a.b"));
  EXPECT_FALSE(GlobMatch("a.b", "axb"));  // '.' is not special.
}

TEST(GlobMatchTest, MultipleStars) {
  EXPECT_TRUE(GlobMatch("*-*", "US-MA"));
  EXPECT_FALSE(GlobMatch("*-*", "USMA"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abc"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abbbcbc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYYcZ"));
  EXPECT_FALSE(GlobMatch("a*b*c", "acb"));
  EXPECT_TRUE(GlobMatch("*.*.*", "a.b.c"));
  EXPECT_TRUE(GlobMatch("*.*.*", "..."));
  EXPECT_FALSE(GlobMatch("*.*.*", "a.b"));
  EXPECT_TRUE(GlobMatch("*?*", "x"));
  EXPECT_FALSE(GlobMatch("*?*", ""));
  EXPECT_TRUE(GlobMatch("account.*.completed", "account.education.completed"));
  EXPECT_FALSE(GlobMatch("account.*.completed", "account.education.started"));
}

TEST(GlobMatchTest, NeedsBacktrackingPastAnEarlierStarMatch) {
  // The first candidate for "b" is wrong; the matcher must retry with a longer star.
  EXPECT_TRUE(GlobMatch("*ab", "aab"));
  EXPECT_TRUE(GlobMatch("*abc", "ababc"));
  EXPECT_TRUE(GlobMatch("a*bc", "abcbc"));
  EXPECT_FALSE(GlobMatch("*abc", "ababd"));
}

TEST(GlobMatchTest, LongInputsWithManyStarsGiveCorrectAnswers) {
  const std::string as(10000, 'a');
  EXPECT_FALSE(GlobMatch("*a*a*a*a*b", as));
  EXPECT_TRUE(GlobMatch("*a*a*a*a*b", as + "b"));
  EXPECT_TRUE(GlobMatch("*a*a*a*a*", as));
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a", std::string(4, 'a')));
  EXPECT_TRUE(GlobMatch("*a*a*a*a*a", std::string(5, 'a')));
  EXPECT_FALSE(GlobMatch(std::string(50, '*') + "b", as));
}

TEST(IsPrintableNameTest, AcceptsPlainIdentifiers) {
  EXPECT_TRUE(IsPrintableName("a"));
  EXPECT_TRUE(IsPrintableName("event_type"));
  EXPECT_TRUE(IsPrintableName("account.education.completed"));
  EXPECT_TRUE(IsPrintableName("urn:x-1.Z_9"));
  EXPECT_TRUE(IsPrintableName(std::string(64, 'x')));
}

TEST(IsPrintableNameTest, RejectsEmptyTooLongAndOtherCharacters) {
  EXPECT_FALSE(IsPrintableName(""));
  EXPECT_FALSE(IsPrintableName(std::string(65, 'x')));
  for (const char* name : {"has space", "slash/", "at@", "quote'", "dq\"", "semi;", "tab\t",
                           "new\nline", "\xc3\xb6", "brace{", "pct%", "star*"}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(IsPrintableName(name));
  }
  EXPECT_FALSE(IsPrintableName("nul\0x"s));
}

TEST(QuoteNameTest, QuotesPrintableNames) {
  EXPECT_EQ(QuoteName("event_type"), "'event_type'");
  EXPECT_EQ(QuoteName("US-MA"), "'US-MA'");
}

TEST(QuoteNameTest, HidesOtherNames) {
  const std::string secret = "123-45-6789 john doe";
  const std::string quoted = QuoteName(secret);
  EXPECT_EQ(quoted.find(secret), std::string::npos);
  EXPECT_EQ(quoted.find("6789"), std::string::npos);
  EXPECT_EQ(quoted.find("john"), std::string::npos);
  EXPECT_FALSE(quoted.empty());
  // The placeholder does not depend on the hidden name.
  EXPECT_EQ(QuoteName("other secret"), quoted);
  EXPECT_EQ(QuoteName(""), quoted);
  EXPECT_EQ(QuoteName(std::string(65, 'x')), quoted);
}

TEST(CodePointCountTest, CountsCodePointsNotBytes) {
  EXPECT_EQ(CodePointCount(""), 0u);
  EXPECT_EQ(CodePointCount("abc"), 3u);
  EXPECT_EQ(CodePointCount("\xc3\xb6"), 1u);          // U+00F6, 2 bytes.
  EXPECT_EQ(CodePointCount("\xe2\x82\xac"), 1u);      // U+20AC, 3 bytes.
  EXPECT_EQ(CodePointCount("\xf0\x9f\x98\x80"), 1u);  // U+1F600, 4 bytes.
  EXPECT_EQ(CodePointCount("a\xc3\xb6\xe2\x82\xac\xf0\x9f\x98\x80z"), 5u);
  EXPECT_EQ(CodePointCount("\0\0"s), 2u);
}

TEST(FormatTableTest, PadsEachColumnToItsWidestCellInCodePoints) {
  const std::string text =
      FormatTable({{"sink", "n", "note"}, {"crm", "12", "x"}, {"é", "3"}}, "  ");
  EXPECT_EQ(text,
            "  sink  n   note\n"
            "  crm   12  x\n"
            "  é     3\n");
}

TEST(FormatTableTest, EmptyLastCellsLeaveNoTrailingSpaces) {
  EXPECT_EQ(FormatTable({{"a", "b", "note"}, {"aa", "", ""}}), "a   b  note\naa\n");
}

TEST(FormatTableTest, EmptyIsEmpty) { EXPECT_EQ(FormatTable({}), ""); }

}  // namespace
}  // namespace loopgate::common
