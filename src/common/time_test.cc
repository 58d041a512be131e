#include "common/time.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace loopgate::common {
namespace {

// Expected epoch seconds below come from Python's calendar.timegm, an implementation
// independent of the one under test; e.g. calendar.timegm((2026, 4, 13, 14, 0, 0)).
constexpr int64_t k20260413T140000Z = 1776088800;
constexpr int64_t k20240229T000000Z = 1709164800;
constexpr int64_t k20000101T000000Z = 946684800;

Instant At(int64_t seconds, int32_t nanos = 0) { return Instant{seconds, nanos}; }

TEST(ParseRfc3339Test, ParsesUtcWithZ) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), At(0));
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00Z"), At(k20260413T140000Z));
  EXPECT_EQ(ParseRfc3339("2000-01-01T00:00:00Z"), At(k20000101T000000Z));
  EXPECT_EQ(ParseRfc3339("1969-12-31T23:59:59Z"), At(-1));
}

TEST(ParseRfc3339Test, AcceptsLowercaseTAndZ) {
  EXPECT_EQ(ParseRfc3339("2026-04-13t14:00:00z"), At(k20260413T140000Z));
  EXPECT_EQ(ParseRfc3339("2026-04-13t14:00:00Z"), At(k20260413T140000Z));
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00z"), At(k20260413T140000Z));
}

TEST(ParseRfc3339Test, PositiveOffsetIsEarlierAsAnInstant) {
  // 16:00 at +02:00 is 14:00 UTC: the same local reading names an instant two hours earlier.
  EXPECT_EQ(ParseRfc3339("2026-04-13T16:00:00+02:00"), At(k20260413T140000Z));
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+02:00"), At(k20260413T140000Z - 2 * 3600));
}

TEST(ParseRfc3339Test, NegativeOffsetIsLaterAsAnInstant) {
  EXPECT_EQ(ParseRfc3339("2026-04-13T08:30:00-05:30"), At(k20260413T140000Z));
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00-00:00"), At(k20260413T140000Z));
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+00:00"), At(k20260413T140000Z));
}

TEST(ParseRfc3339Test, OffsetsCrossDayAndYearBoundaries) {
  EXPECT_EQ(ParseRfc3339("2025-12-31T23:00:00-02:00"), ParseRfc3339("2026-01-01T01:00:00Z"));
  EXPECT_EQ(ParseRfc3339("2026-01-01T00:30:00+01:00"), ParseRfc3339("2025-12-31T23:30:00Z"));
  EXPECT_EQ(ParseRfc3339("2024-03-01T00:00:00+23:59"), ParseRfc3339("2024-02-29T00:01:00Z"));
}

TEST(ParseRfc3339Test, InstantsCompareAcrossOffsets) {
  const auto a = ParseRfc3339("2026-01-01T00:30:00+01:00");  // 2025-12-31T23:30Z
  const auto b = ParseRfc3339("2026-01-01T00:00:00Z");
  const auto c = ParseRfc3339("2025-12-31T19:15:00-05:00");  // 2026-01-01T00:15Z
  ASSERT_TRUE(a && b && c);
  EXPECT_LT(*a, *b);  // Reads as later on the wall clock, but is earlier.
  EXPECT_LT(*b, *c);
  EXPECT_LT(*a, *c);
  EXPECT_GT(*c, *b);
  // Nanoseconds break ties between equal seconds.
  EXPECT_LT(*ParseRfc3339("2026-01-01T00:00:00.1Z"), *ParseRfc3339("2026-01-01T00:00:00.2Z"));
  EXPECT_LT(*ParseRfc3339("2026-01-01T00:00:00.999999999Z"), *ParseRfc3339("2026-01-01T00:00:01Z"));
  EXPECT_EQ(*ParseRfc3339("2026-01-01T02:00:00.5+02:00"), *ParseRfc3339("2026-01-01T00:00:00.5Z"));
}

TEST(ParseRfc3339Test, FractionalSecondsOfOneToTwelveDigits) {
  // "0.123456789012" cut to n digits, scaled to nanoseconds, truncated (never rounded) past 9.
  const std::string all = "123456789012";
  const int32_t expected[] = {100000000, 120000000, 123000000, 123400000, 123450000, 123456000,
                              123456700, 123456780, 123456789, 123456789, 123456789, 123456789};
  for (size_t n = 1; n <= all.size(); ++n) {
    const std::string text = "2026-04-13T14:00:00." + all.substr(0, n) + "Z";
    SCOPED_TRACE(text);
    EXPECT_EQ(ParseRfc3339(text), At(k20260413T140000Z, expected[n - 1]));
  }
}

TEST(ParseRfc3339Test, FractionDigitsPastNanosecondsAreTruncatedNotRounded) {
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00.9999999999Z"), At(k20260413T140000Z, 999999999));
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00.000000001999Z"), At(k20260413T140000Z, 1));
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00.000000000Z"), At(k20260413T140000Z, 0));
  EXPECT_EQ(ParseRfc3339("2026-04-13T16:00:00.25+02:00"), At(k20260413T140000Z, 250000000));
}

TEST(ParseRfc3339Test, RejectsFractionWithoutDigits) {
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00.Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00.+02:00"), std::nullopt);
}

TEST(ParseRfc3339Test, LeapDayOnlyInLeapYears) {
  EXPECT_EQ(ParseRfc3339("2024-02-29T00:00:00Z"), At(k20240229T000000Z));
  EXPECT_EQ(ParseRfc3339("2000-02-29T12:00:00Z"), At(951825600));  // timegm((2000,2,29,12,0,0))
  EXPECT_EQ(ParseRfc3339("2023-02-29T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("1900-02-29T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2024-02-30T00:00:00Z"), std::nullopt);
}

TEST(ParseRfc3339Test, RejectsImpossibleDates) {
  EXPECT_EQ(ParseRfc3339("2026-13-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-00-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-01-32T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-01-00T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-31T00:00:00Z"), std::nullopt);
  EXPECT_TRUE(ParseRfc3339("2026-04-30T00:00:00Z").has_value());
}

TEST(ParseRfc3339Test, RejectsImpossibleTimes) {
  EXPECT_EQ(ParseRfc3339("2026-04-13T24:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:60:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:61Z"), std::nullopt);
  EXPECT_TRUE(ParseRfc3339("2026-04-13T23:59:59Z").has_value());
}

TEST(ParseRfc3339Test, LeapSecondCountsAsTheNextSecond) {
  const auto leap = ParseRfc3339("2016-12-31T23:59:60Z");
  ASSERT_TRUE(leap.has_value());
  EXPECT_EQ(leap, ParseRfc3339("2017-01-01T00:00:00Z"));
  EXPECT_EQ(ParseRfc3339("2016-12-31T23:59:60.5Z"), ParseRfc3339("2017-01-01T00:00:00.5Z"));
}

TEST(ParseRfc3339Test, RejectsMissingOrMalformedOffset) {
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00.5"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+0200"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+02"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+2:00"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+24:00"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+02:60"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00 Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00UTC"), std::nullopt);
}

TEST(ParseRfc3339Test, RejectsSpaceOrOtherSeparatorInsteadOfT) {
  EXPECT_EQ(ParseRfc3339("2026-04-13 14:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13_14:00:00Z"), std::nullopt);
}

TEST(ParseRfc3339Test, RejectsTrailingJunk) {
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00Zx"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00Z "), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+02:00 "), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00+02:000"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:00ZZ"), std::nullopt);
}

TEST(ParseRfc3339Test, RejectsTruncatedAndMalformedShapes) {
  EXPECT_EQ(ParseRfc3339(""), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14:00:0Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339(" 2026-04-13T14:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-4-13T14:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026/04/13T14:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T14-00-00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("+026-04-13T14:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseRfc3339("2026-04-13T1a:00:00Z"), std::nullopt);
}

TEST(ParseRfc3339Test, CoversYearsZeroToNineThousandNineHundredNinetyNine) {
  // timegm((9999, 12, 31, 23, 59, 59)); year 1 from timegm((1, 1, 1, 0, 0, 0)), and year 0 is
  // a 366-day leap year before it in the proleptic Gregorian calendar.
  EXPECT_EQ(ParseRfc3339("9999-12-31T23:59:59Z"), At(253402300799));
  EXPECT_EQ(ParseRfc3339("0001-01-01T00:00:00Z"), At(-62135596800));
  EXPECT_EQ(ParseRfc3339("0000-01-01T00:00:00Z"), At(-62135596800 - 366 * 86400));
}

TEST(FormatRfc3339Test, FormatsUtcWithoutFractionWhenZero) {
  EXPECT_EQ(FormatRfc3339(At(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(k20260413T140000Z)), "2026-04-13T14:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(-1)), "1969-12-31T23:59:59Z");
}

TEST(FormatRfc3339Test, FractionHasNoTrailingZeros) {
  EXPECT_EQ(FormatRfc3339(At(k20260413T140000Z, 500000000)), "2026-04-13T14:00:00.5Z");
  EXPECT_EQ(FormatRfc3339(At(k20260413T140000Z, 120000000)), "2026-04-13T14:00:00.12Z");
  EXPECT_EQ(FormatRfc3339(At(k20260413T140000Z, 1)), "2026-04-13T14:00:00.000000001Z");
  EXPECT_EQ(FormatRfc3339(At(k20260413T140000Z, 123456789)), "2026-04-13T14:00:00.123456789Z");
}

TEST(FormatRfc3339Test, RoundTripsUtcText) {
  for (const char* text :
       {"1970-01-01T00:00:00Z", "2026-04-13T14:00:00Z", "2024-02-29T23:59:59Z",
        "1969-12-31T23:59:59.999999999Z", "1900-03-01T00:00:00Z", "0000-01-01T00:00:00Z",
        "0000-02-29T12:34:56.5Z", "9999-12-31T23:59:59.000001Z", "2000-02-29T00:00:00.1Z"}) {
    SCOPED_TRACE(text);
    const auto t = ParseRfc3339(text);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(FormatRfc3339(*t), text);
    EXPECT_EQ(ParseRfc3339(FormatRfc3339(*t)), t);
  }
}

TEST(FormatRfc3339Test, NormalizesOffsetsToUtc) {
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2026-04-13T16:00:00+02:00")), "2026-04-13T14:00:00Z");
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2025-12-31T23:00:00.25-02:00")),
            "2026-01-01T01:00:00.25Z");
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2016-12-31T23:59:60Z")), "2017-01-01T00:00:00Z");
}

TEST(FormatRfc3339Test, RoundTripsInstantsDayByDay) {
  // Steps of 97 days and 1 hour 1 second from year 0000 to 9999, so the walk meets every
  // month, leap and non-leap years and varying times of day.
  for (int64_t s = -62167219200; s <= 253402300799; s += 86400 * 97 + 3601) {
    const Instant t = At(s, static_cast<int32_t>((s & 0x3ff) * 1000));
    const auto back = ParseRfc3339(FormatRfc3339(t));
    ASSERT_EQ(back, t) << FormatRfc3339(t);
  }
}

TEST(IsCalendarDateTest, AcceptsRealDates) {
  EXPECT_TRUE(IsCalendarDate("2000-02-29"));
  EXPECT_TRUE(IsCalendarDate("2024-02-29"));
  EXPECT_TRUE(IsCalendarDate("1984-12-31"));
  EXPECT_TRUE(IsCalendarDate("0000-01-01"));
  EXPECT_TRUE(IsCalendarDate("9999-12-31"));
}

TEST(IsCalendarDateTest, RejectsImpossibleDates) {
  EXPECT_FALSE(IsCalendarDate("1984-13-45"));
  EXPECT_FALSE(IsCalendarDate("1984-13-01"));
  EXPECT_FALSE(IsCalendarDate("1984-12-32"));
  EXPECT_FALSE(IsCalendarDate("1984-00-10"));
  EXPECT_FALSE(IsCalendarDate("1984-01-00"));
  EXPECT_FALSE(IsCalendarDate("1900-02-29"));
  EXPECT_FALSE(IsCalendarDate("2023-02-29"));
  EXPECT_FALSE(IsCalendarDate("2023-06-31"));
}

TEST(IsCalendarDateTest, RejectsWrongLengthsAndShapes) {
  EXPECT_FALSE(IsCalendarDate(""));
  EXPECT_FALSE(IsCalendarDate("2000-2-29"));
  EXPECT_FALSE(IsCalendarDate("2000-02-9"));
  EXPECT_FALSE(IsCalendarDate("2000-02-290"));
  EXPECT_FALSE(IsCalendarDate("2000-02-29 "));
  EXPECT_FALSE(IsCalendarDate("02000-02-29"));
  EXPECT_FALSE(IsCalendarDate("2000-02-29T00:00:00Z"));
  EXPECT_FALSE(IsCalendarDate("2000/02/29"));
  EXPECT_FALSE(IsCalendarDate("20000229"));
  EXPECT_FALSE(IsCalendarDate("2000-0a-29"));
}

TEST(DaysFromCivilTest, KnownDays) {
  // Differences of Python datetime.date values, e.g. date(2000, 3, 1) - date(1970, 1, 1).
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1970, 1, 2), 1);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(2000, 2, 29), 11016);
  EXPECT_EQ(DaysFromCivil(1, 1, 1), -719162);
  EXPECT_EQ(DaysFromCivil(0, 1, 1), -719162 - 366);
}

TEST(DaysFromCivilTest, ConsecutiveDatesAreConsecutiveDays) {
  const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t expected = DaysFromCivil(1896, 1, 1);
  for (int64_t y = 1896; y <= 2104; ++y) {
    for (unsigned m = 1; m <= 12; ++m) {
      const unsigned n = kDays[m - 1] + (m == 2 && IsLeapYear(y) ? 1 : 0);
      for (unsigned d = 1; d <= n; ++d) {
        ASSERT_EQ(DaysFromCivil(y, m, d), expected) << y << "-" << m << "-" << d;
        ++expected;
      }
    }
  }
}

TEST(IsLeapYearTest, GregorianRule) {
  EXPECT_TRUE(IsLeapYear(2024));
  EXPECT_TRUE(IsLeapYear(2000));
  EXPECT_TRUE(IsLeapYear(1600));
  EXPECT_TRUE(IsLeapYear(0));
  EXPECT_FALSE(IsLeapYear(2023));
  EXPECT_FALSE(IsLeapYear(1900));
  EXPECT_FALSE(IsLeapYear(2100));
  EXPECT_FALSE(IsLeapYear(1));
}

}  // namespace
}  // namespace loopgate::common
