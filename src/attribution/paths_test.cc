// Journeys, aggregation and the paths file.

#include "attribution/paths.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loopgate::attribution {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Names(const PathSet& s, size_t i) {
  std::vector<std::string> out;
  for (ChannelId c : s.path(i).channels) out.push_back(s.channels().name(c));
  return out;
}

std::string ErrorOf(std::string_view text) {
  auto r = ParsePaths(text, "p.txt");
  EXPECT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(ChannelTable, InternsAndOrdersByName) {
  ChannelTable t;
  EXPECT_EQ(t.Intern("search"), 0u);
  EXPECT_EQ(t.Intern("email"), 1u);
  EXPECT_EQ(t.Intern("search"), 0u);
  EXPECT_EQ(t.Find("email"), 1u);
  EXPECT_FALSE(t.Find("tv").has_value());
  EXPECT_THAT(t.ByName(), ElementsAre(1u, 0u));
}

TEST(PathAggregator, MergesIdenticalPathsAndSumsOutcomes) {
  PathAggregator agg;
  const ChannelId a = agg.channels().Intern("a"), b = agg.channels().Intern("b");
  ASSERT_TRUE(agg.Add(Journey{{a, b}, {}, 1, 2.5, 0}).ok());
  ASSERT_TRUE(agg.Add(Journey{{a}, {}, 0, 0, 1}).ok());
  ASSERT_TRUE(agg.Add(Journey{{a, b}, {}, 0, 0, 1}).ok());
  ASSERT_TRUE(agg.Add(Journey{{a, b}, {}, 2, 0.5, 0}).ok());
  ASSERT_TRUE(agg.Add(Journey{{b, a}, {}, 1, 1, 0}).ok());
  EXPECT_EQ(agg.distinct_paths(), 3u);
  const PathSet s = agg.Finish();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_THAT(Names(s, 0), ElementsAre("a", "b"));
  EXPECT_EQ(s.path(0).conversions, 3u);
  EXPECT_EQ(s.path(0).value, 3.0);
  EXPECT_EQ(s.path(0).nulls, 1u);
  EXPECT_THAT(Names(s, 1), ElementsAre("a"));
  EXPECT_THAT(Names(s, 2), ElementsAre("b", "a"));
  EXPECT_EQ(s.total_conversions(), 4u);
  EXPECT_EQ(s.total_nulls(), 2u);
  EXPECT_EQ(s.total_journeys(), 6u);
  EXPECT_EQ(s.total_value(), 4.0);
  EXPECT_EQ(s.rows(), 5u);
  EXPECT_EQ(s.touchpoints(), 5u);
  EXPECT_EQ(s.max_length(), 2u);
  // The aggregator starts over.
  EXPECT_EQ(agg.distinct_paths(), 0u);
  EXPECT_EQ(agg.channels().size(), 0u);
}

TEST(PathAggregator, ManyJourneysStayDistinctWhereTheyDiffer) {
  PathAggregator agg;
  for (int i = 0; i < 5; ++i) agg.channels().Intern(std::string(1, static_cast<char>('a' + i)));
  // All 5^4 sequences of length 4, each added three times.
  for (int rep = 0; rep < 3; ++rep) {
    for (int x = 0; x < 625; ++x) {
      std::vector<ChannelId> p = {static_cast<ChannelId>(x % 5), static_cast<ChannelId>(x / 5 % 5),
                                  static_cast<ChannelId>(x / 25 % 5),
                                  static_cast<ChannelId>(x / 125)};
      ASSERT_TRUE(agg.Add(p, 1, 0, 0).ok());
    }
  }
  const PathSet s = agg.Finish();
  EXPECT_EQ(s.size(), 625u);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s.path(i).conversions, 3u);
}

TEST(PathAggregator, RejectsBadJourneys) {
  PathAggregator agg;
  const ChannelId a = agg.channels().Intern("a");
  EXPECT_THAT(std::string(agg.Add(Journey{{}, {}, 1, 0, 0}).message()),
              HasSubstr("no touchpoints"));
  EXPECT_THAT(std::string(agg.Add(Journey{{a, 9}, {}, 1, 0, 0}).message()),
              HasSubstr("not in the channel table"));
  EXPECT_FALSE(agg.Add(Journey{{a}, {}, 1, -1, 0}).ok());
  EXPECT_FALSE(agg.Add(Journey{{a}, {}, 1, std::nan(""), 0}).ok());
  EXPECT_THAT(std::string(agg.Add(Journey{{a}, {}, 0, 5, 1}).message()),
              HasSubstr("without conversions"));
  ASSERT_TRUE(agg.Add(Journey{{a}, {}, UINT64_MAX - 1, 0, 0}).ok());
  EXPECT_THAT(std::string(agg.Add(Journey{{a}, {}, 0, 0, 2}).message()), HasSubstr("overflow"));
  // Nothing was added by the failed calls.
  const PathSet s = agg.Finish();
  EXPECT_EQ(s.rows(), 1u);
  EXPECT_EQ(s.total_nulls(), 0u);
}

TEST(ParsePaths, PlainLines) {
  auto r = ParsePaths("a > b > c;1;2.5;3\nb;0;0;4\n a>b >c ;2;1;0\n", "p.txt");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_THAT(Names(*r, 0), ElementsAre("a", "b", "c"));
  EXPECT_EQ(r->path(0).conversions, 3u);
  EXPECT_EQ(r->path(0).value, 3.5);
  EXPECT_EQ(r->path(0).nulls, 3u);
  EXPECT_EQ(r->total_nulls(), 7u);
  EXPECT_EQ(r->rows(), 3u);
}

TEST(ParsePaths, OptionalValueAndNulls) {
  auto r = ParsePaths("a > b;2\nc;1;7.5\n", "p.txt");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->total_conversions(), 3u);
  EXPECT_EQ(r->total_value(), 7.5);
  EXPECT_EQ(r->total_nulls(), 0u);
}

TEST(ParsePaths, HeaderIsDetectedAndNamesTheColumns) {
  // ChannelAttribution's Data.csv header.
  auto r = ParsePaths(
      "path;total_conversions;total_conversion_value;total_null\neta > iota;1;0.244;3\n", "d.csv");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows(), 1u);
  EXPECT_EQ(r->total_nulls(), 3u);
  // Any order, any case, with value left out.
  auto s = ParsePaths("Nulls;PATH;Conversions\n4;x > y;2\n", "d.csv");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->total_nulls(), 4u);
  EXPECT_EQ(s->total_conversions(), 2u);
  EXPECT_THAT(Names(*s, 0), ElementsAre("x", "y"));
}

TEST(ParsePaths, CrLfBomBlankLinesAndIntegralDecimals) {
  auto r = ParsePaths("\xEF\xBB\xBFpath;conversions;value;nulls\r\n\r\na > b;1.0;2;0.0\r\n  \n",
                      "p.txt");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows(), 1u);
  EXPECT_THAT(Names(*r, 0), ElementsAre("a", "b"));
}

TEST(ParsePaths, ErrorsNameFileAndLineWithoutRepeatingData) {
  EXPECT_EQ(ErrorOf("a;1;0;0\nsecret > b\n"),
            "p.txt:2: expected path;conversions;value;nulls, found 1 field");
  EXPECT_EQ(ErrorOf("a;1;0;0;9;9\n"),
            "p.txt:1: expected path;conversions;value;nulls, found 6 fields");
  EXPECT_EQ(ErrorOf("a;1;0;0\nb;-1;0;0\n"),
            "p.txt:2: field 2 (conversions) is not a non-negative integer");
  EXPECT_EQ(ErrorOf("a;1;0;0\nb;1.5;0;0\n"),
            "p.txt:2: field 2 (conversions) is not a non-negative integer");
  EXPECT_EQ(ErrorOf("a;1;0;0\nb;1;nan;0\n"),
            "p.txt:2: field 3 (value) is not a finite non-negative number");
  EXPECT_EQ(ErrorOf("a;1;0;0\nb;1;0;x\n"),
            "p.txt:2: field 4 (nulls) is not a non-negative integer");
  EXPECT_EQ(ErrorOf("a;1;0;0\nsecret >> b;1;0;0\n"),
            "p.txt:2: touchpoint 2 of the path is empty (expected a > b > c)");
  EXPECT_EQ(ErrorOf("a;1;0;0\n;1;0;0\n"),
            "p.txt:2: touchpoint 1 of the path is empty (expected a > b > c)");
  EXPECT_EQ(ErrorOf("a;1;0;0\nb;0;5;1\n"), "p.txt:2: a value is given without conversions");
  EXPECT_EQ(ErrorOf("path;conversions\na;1;0\n"),
            "p.txt:2: expected 2 fields as the header says, found 3");
  EXPECT_THAT(ErrorOf("path;secretcol;value\n"),
              HasSubstr("p.txt:1: header column 2 is not one of"));
  EXPECT_THAT(ErrorOf("path;value;nulls\n"),
              HasSubstr("p.txt:1: the header has no conversions column"));
  EXPECT_THAT(ErrorOf("path;conversions;total_conversions\n"), HasSubstr("twice"));
  EXPECT_EQ(ErrorOf(""), "p.txt: no paths (the file is empty or holds only a header)");
  EXPECT_EQ(ErrorOf("path;conversions;value;nulls\n"),
            "p.txt: no paths (the file is empty or holds only a header)");
  EXPECT_THAT(ErrorOf("a;1;0;0\nsecret;1;0;0\nb;1;0;\n"), Not(HasSubstr("secret")));

  auto long_line = ParsePaths("a;1;0;0\n" + std::string(100, 'x') + ";1;0;0\n", "p.txt",
                              ReadOptions{.max_line_bytes = 50});
  EXPECT_EQ(long_line.status().message(), "p.txt:2: the line is longer than 50 bytes");
}

TEST(ReadPathsFile, MissingFileIsNotFound) {
  auto r = ReadPathsFile("/nonexistent/paths.txt");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("/nonexistent/paths.txt"));
}

TEST(ReadPathsFile, ReadsChannelAttributionData) {
  auto r = ReadPathsFile(std::string(LOOPGATE_SHARED_DIR) +
                         "/corpora/attribution/channelattribution_Data.csv");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows(), 10000u);
  EXPECT_EQ(r->channels().size(), 12u);
}

}  // namespace
}  // namespace loopgate::attribution
