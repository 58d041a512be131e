// loopgate attribution through the real binary: the 10,000 journeys of ChannelAttribution's
// Data.csv, Bryl's published example, the options, and the errors.

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/e2e_util.h"

namespace loopgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string DataCsv() { return SharedDir() + "/corpora/attribution/channelattribution_Data.csv"; }

constexpr const char* kModels[] = {"first_touch", "last_touch", "linear", "position_based",
                                   "time_decay",  "markov",     "shapley"};

struct Parsed {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
};

double Num(simdjson::dom::element e) {
  double d = 0;
  if (e.get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i = 0;
  EXPECT_EQ(e.get_int64().get(i), simdjson::SUCCESS);
  return static_cast<double>(i);
}

TEST(AttributionCli, DataCsvJsonAddsUpAndMatchesTheFile) {
  Result r = RunLoopgate({"attribution", "--paths", DataCsv(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  Parsed p;
  ASSERT_EQ(p.parser.parse(r.out).get(p.root), simdjson::SUCCESS) << r.out;

  // Totals and first/last touch recomputed from the file's rows here.
  std::istringstream in(ReadFile(DataCsv()));
  std::string line;
  std::getline(in, line);
  uint64_t conversions = 0, nulls = 0, rows = 0;
  double value = 0;
  std::map<std::string, double> first, last;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ';')) f.push_back(cell);
    ++rows;
    conversions += std::stoull(f[1]);
    value += std::stod(f[2]);
    nulls += std::stoull(f[3]);
    const std::string& path = f[0];
    first[path.substr(0, path.find(" > "))] += std::stod(f[1]);
    const size_t gt = path.rfind(" > ");
    last[gt == std::string::npos ? path : path.substr(gt + 3)] += std::stod(f[1]);
  }
  EXPECT_EQ(Num(p.root["rows"]), static_cast<double>(rows));
  EXPECT_EQ(Num(p.root["conversions"]), static_cast<double>(conversions));
  EXPECT_EQ(Num(p.root["nulls"]), static_cast<double>(nulls));
  EXPECT_EQ(Num(p.root["journeys"]), static_cast<double>(conversions + nulls));
  EXPECT_NEAR(Num(p.root["value"]), value, 1e-9);

  std::vector<std::string> channels;
  for (simdjson::dom::element c : p.root["channels"].get_array()) {
    channels.emplace_back(std::string_view(c));
  }
  EXPECT_EQ(channels.size(), 12u);
  EXPECT_TRUE(std::is_sorted(channels.begin(), channels.end()));

  simdjson::dom::object models = p.root["models"];
  EXPECT_EQ(models.size(), 7u);
  for (const char* model : kModels) {
    SCOPED_TRACE(model);
    simdjson::dom::object per_channel = models[model]["channels"];
    std::vector<std::string> names;
    double sum_conv = 0, sum_value = 0;
    for (auto [name, credit] : per_channel) {
      names.emplace_back(name);
      sum_conv += Num(credit["conversions"]);
      sum_value += Num(credit["value"]);
    }
    EXPECT_EQ(names, channels);  // Every channel, by name.
    EXPECT_NEAR(sum_conv, static_cast<double>(conversions), 1e-9);
    EXPECT_NEAR(sum_value, value, 1e-9);
  }
  for (const auto& [name, x] : first) {
    EXPECT_EQ(Num(models["first_touch"]["channels"][name]["conversions"]), x) << name;
  }
  for (const auto& [name, x] : last) {
    EXPECT_EQ(Num(models["last_touch"]["channels"][name]["conversions"]), x) << name;
  }

  simdjson::dom::element markov = models["markov"];
  EXPECT_EQ(Num(markov["order"]), 1);
  EXPECT_EQ(Num(markov["states"]), 12);
  EXPECT_NEAR(Num(markov["base_conversion_probability"]),
              static_cast<double>(conversions) / static_cast<double>(conversions + nulls), 1e-13);
  EXPECT_LE(Num(markov["error_bound"]), 1e-14);
  double re_sum = 0;
  for (auto [name, credit] : simdjson::dom::object(markov["channels"])) {
    const double re = Num(credit["removal_effect"]);
    EXPECT_GT(re, 0) << name;
    EXPECT_LE(re, 1) << name;
    re_sum += re;
  }
  // Attributed conversions are the normalized removal effects.
  for (auto [name, credit] : simdjson::dom::object(markov["channels"])) {
    EXPECT_NEAR(Num(credit["conversions"]),
                Num(credit["removal_effect"]) / re_sum * static_cast<double>(conversions), 1e-9);
  }
  EXPECT_EQ(Num(models["time_decay"]["half_life"]), 1);
  EXPECT_EQ(p.root["skipped"].error(), simdjson::NO_SUCH_FIELD);
}

TEST(AttributionCli, BrylExampleAsPublished) {
  TempDir dir;
  WriteFile(dir / "bryl.txt", "C1 > C2 > C3;1;1000;0\nC1;0;0;1\nC2 > C3;0;0;1\n");
  Result r = RunLoopgate({"attribution", "--paths", dir / "bryl.txt", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Parsed p;
  ASSERT_EQ(p.parser.parse(r.out).get(p.root), simdjson::SUCCESS) << r.out;
  simdjson::dom::element markov = p.root["models"]["markov"];
  EXPECT_NEAR(Num(markov["base_conversion_probability"]), 1.0 / 3, 1e-15);
  const std::map<std::string, std::vector<double>> expected = {
      {"C1", {0.5, 0.2, 200}}, {"C2", {1, 0.4, 400}}, {"C3", {1, 0.4, 400}}};
  for (const auto& [name, want] : expected) {
    simdjson::dom::element c = markov["channels"][name];
    EXPECT_NEAR(Num(c["removal_effect"]), want[0], 1e-12) << name;
    EXPECT_NEAR(Num(c["conversions"]), want[1], 1e-12) << name;
    EXPECT_NEAR(Num(c["value"]), want[2], 1e-9) << name;
  }
  // The heuristics of the same three paths: only the first path converts.
  EXPECT_EQ(Num(p.root["models"]["first_touch"]["channels"]["C1"]["conversions"]), 1);
  EXPECT_EQ(Num(p.root["models"]["last_touch"]["channels"]["C3"]["value"]), 1000);
}

TEST(AttributionCli, ReadableTable) {
  TempDir dir;
  WriteFile(dir / "p.txt", "path;conversions;value;nulls\na > b;2;10;1\nb;1;5;3\n");
  Result r = RunLoopgate({"attribution", "--paths", dir / "p.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("rows 2, distinct paths 2, channels 2; journeys 7: conversions 3 "
                                "(value 15.00), nulls 4\n"));
  EXPECT_THAT(r.out, HasSubstr("conversions  first_touch  last_touch  linear  position_based  "
                               "time_decay  markov  shapley\n"));
  // a > b: first touch a 2, last touch b 2 + b 1 = 3; linear a 1, b 2.
  EXPECT_THAT(r.out, HasSubstr("\na                   2.00        0.00    1.00"));
  EXPECT_THAT(r.out, HasSubstr("\ntotal               3.00        3.00    3.00"));
  EXPECT_THAT(r.out, HasSubstr("\nvalue  first_touch"));
  EXPECT_THAT(r.out, HasSubstr("markov order 1: 2 states"));
  EXPECT_THAT(r.out, HasSubstr("channel  removal_effect  value_removal_effect\n"));
}

TEST(AttributionCli, OptionsSelectOrderHalfLifeAndModels) {
  Result r = RunLoopgate({"attribution", "--paths", DataCsv(), "--json", "--order", "3",
                          "--half-life", "2.5", "--models", "time_decay,markov"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Parsed p;
  ASSERT_EQ(p.parser.parse(r.out).get(p.root), simdjson::SUCCESS);
  simdjson::dom::object models = p.root["models"];
  EXPECT_EQ(models.size(), 2u);
  EXPECT_EQ(Num(models["markov"]["order"]), 3);
  EXPECT_GT(Num(models["markov"]["states"]), 144);
  EXPECT_EQ(Num(models["time_decay"]["half_life"]), 2.5);
  EXPECT_EQ(models["linear"].error(), simdjson::NO_SUCH_FIELD);
}

TEST(AttributionCli, RowOrderDoesNotChangeTheResult) {
  TempDir dir;
  std::istringstream in(ReadFile(DataCsv()));
  std::string header, line;
  std::getline(in, header);
  std::vector<std::string> rows;
  while (std::getline(in, line)) rows.push_back(line);
  std::mt19937 rng(3);
  std::shuffle(rows.begin(), rows.end(), rng);
  std::string text = header + "\n";
  for (const auto& row : rows) text += row + "\n";
  WriteFile(dir / "shuffled.csv", text);
  Result a = RunLoopgate({"attribution", "--paths", DataCsv(), "--json", "--order", "2"});
  Result b =
      RunLoopgate({"attribution", "--paths", dir / "shuffled.csv", "--json", "--order", "2"});
  ASSERT_EQ(a.exit_code, 0);
  ASSERT_EQ(b.exit_code, 0);
  Parsed pa, pb;
  ASSERT_EQ(pa.parser.parse(a.out).get(pa.root), simdjson::SUCCESS);
  ASSERT_EQ(pb.parser.parse(b.out).get(pb.root), simdjson::SUCCESS);
  for (const char* model : kModels) {
    std::vector<std::string> na, nb;
    for (auto [name, credit] : simdjson::dom::object(pa.root["models"][model]["channels"])) {
      na.emplace_back(name);
      EXPECT_NEAR(Num(credit["conversions"]),
                  Num(pb.root["models"][model]["channels"][name]["conversions"]), 1e-9)
          << model << " " << name;
    }
    for (auto [name, credit] : simdjson::dom::object(pb.root["models"][model]["channels"])) {
      nb.emplace_back(name);
    }
    EXPECT_EQ(na, nb);
  }
}

TEST(AttributionCli, MalformedLineIsAUsageErrorWithFileAndLine) {
  TempDir dir;
  const std::string file = dir / "bad.txt";
  WriteFile(file, "a > b;1;2;0\nb;0;0;1\nsecret > c;one;0;0\n");
  Result r = RunLoopgate({"attribution", "--paths", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "loopgate: " + file + ":3: field 2 (conversions) is not a non-negative integer\n");
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("secret")));

  WriteFile(file, "");
  EXPECT_EQ(RunLoopgate({"attribution", "--paths", file}).exit_code, 2);
}

TEST(AttributionCli, UsageErrors) {
  EXPECT_EQ(RunLoopgate({"attribution"}).exit_code, 2);
  Result missing = RunLoopgate({"attribution", "--paths", "/nonexistent/paths.csv"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/paths.csv"));
  EXPECT_EQ(RunLoopgate({"attribution", "--paths", DataCsv(), "--order", "4"}).exit_code, 2);
  EXPECT_EQ(RunLoopgate({"attribution", "--paths", DataCsv(), "--order", "0"}).exit_code, 2);
  EXPECT_EQ(RunLoopgate({"attribution", "--paths", DataCsv(), "--half-life", "0"}).exit_code, 2);
  Result unknown = RunLoopgate({"attribution", "--paths", DataCsv(), "--models", "linear,magic"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("'magic' is not one of"));
}

TEST(AttributionCli, ShapleyOverTooManyChannels) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 25; ++i) text += "c" + std::to_string(i) + " > common;1;1;1\n";
  WriteFile(dir / "wide.txt", text);
  // By default Shapley is skipped with a note, the other models run.
  Result r = RunLoopgate({"attribution", "--paths", dir / "wide.txt", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("note: shapley skipped: "));
  Parsed p;
  ASSERT_EQ(p.parser.parse(r.out).get(p.root), simdjson::SUCCESS);
  EXPECT_EQ(p.root["models"]["shapley"].error(), simdjson::NO_SUCH_FIELD);
  EXPECT_THAT(std::string(std::string_view(p.root["skipped"]["shapley"])),
              HasSubstr("26 channels"));
  EXPECT_EQ(simdjson::dom::object(p.root["models"]).size(), 6u);
  // Asked for by name, it is an error.
  Result named = RunLoopgate({"attribution", "--paths", dir / "wide.txt", "--models", "shapley"});
  EXPECT_EQ(named.exit_code, 2);
  EXPECT_THAT(named.err, HasSubstr("up to n = 20"));
}

TEST(AttributionCli, HelpDescribesTheOptions) {
  Result r = RunLoopgate({"attribution", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option : {"--paths", "--order", "--half-life", "--models", "--json"}) {
    EXPECT_THAT(r.out, HasSubstr(option));
  }
}

}  // namespace
}  // namespace loopgate::testing
