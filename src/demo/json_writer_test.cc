#include "demo/json_writer.h"

#include <string>

#include "common/time.h"
#include "common/rng.h"
#include "gtest/gtest.h"

namespace loopgate::demo {
namespace {

using common::Rng;

TEST(JsonWriter, WritesTheProducersStyle) {
  std::string out = "x";
  JsonWriter w(&out);
  w.Str("a", "b").Int("n", -42).Bool("t", true).Null("z").Raw("o", "{}");
  w.Close();
  EXPECT_EQ(out, R"(x{"a": "b", "n": -42, "t": true, "z": null, "o": {}})");
}

TEST(AppendTime, MatchesTheCommonFormatterAcrossYearsAndOffsets) {
  Rng rng(7);
  for (int i = 0; i < 20000; ++i) {
    // 1970 to 2100, whole seconds.
    const int64_t secs = static_cast<int64_t>(rng.Below(4102444800));
    std::string ours;
    AppendTime(secs * 1000, false, 0, &ours);
    EXPECT_EQ(ours, common::FormatRfc3339({secs, 0}));
    // Millis and an offset name the same instant.
    const int64_t ms = secs * 1000 + static_cast<int64_t>(rng.Below(1000));
    const int offset = static_cast<int>(rng.Below(24 * 60 + 1)) - 12 * 60;
    std::string with_offset;
    AppendTime(ms, true, offset, &with_offset);
    auto parsed = common::ParseRfc3339(with_offset);
    ASSERT_TRUE(parsed.has_value()) << with_offset;
    EXPECT_EQ(parsed->seconds, secs) << with_offset;
    EXPECT_EQ(parsed->nanos, (ms % 1000) * 1000000) << with_offset;
  }
}

TEST(AppendDate, KnownDays) {
  std::string s;
  AppendDate(0, &s);
  AppendDate(20454, &s);  // 2026-01-01
  AppendDate(20454 + 58, &s);  // 2026-02-28 (2026 is not a leap year)
  AppendDate(20454 + 59, &s);
  EXPECT_EQ(s, "1970-01-012026-01-012026-02-282026-03-01");
}

TEST(AppendId, PadsToWidthAndNeverTruncates) {
  std::string s;
  AppendId("hcp-", 42, 6, &s);
  s.push_back(' ');
  AppendId("", 1234567, 3, &s);
  EXPECT_EQ(s, "hcp-000042 1234567");
}

TEST(Rng, SameSeedSameSequenceOtherSeedOther) {
  Rng a(1), b(1), c(2);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    EXPECT_NE(x, c.Next());
  }
}

TEST(Rng, BelowAndUniformStayInRange) {
  Rng rng(3);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    EXPECT_LT(rng.Below(7), 7u);
    const double u = rng.Uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    sum += rng.Exponential();
  }
  EXPECT_NEAR(sum / 100000, 1.0, 0.02);  // Mean of Exp(1); 0.02 is over 6 standard errors.
}

}  // namespace
}  // namespace loopgate::demo
