// The attribution models against published results, hand-checked cases, properties and
// independent brute-force computations.
//
// Oracles used here, each written independently of the module's code:
//   - published_results.json (../shared/corpora/attribution): the ChannelAttribution vignette
//     and Sergey Bryl's example (the values JesseCastro/markovattribution encodes as tests).
//   - Hand computations, written out in the comments.
//   - Shapley values by averaging marginal contributions over all n! orderings, with v(S)
//     evaluated from its definition, and the closed form of Zhao et al. (each path's
//     conversions split equally among its distinct channels).
//   - Markov chains of order 1-3 rebuilt from strings in this file and solved by dense Gaussian
//     elimination with partial pivoting, and by enumerating every path of an acyclic chain.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "attribution/markov.h"
#include "attribution/models.h"
#include "attribution/paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace loopgate::attribution {
namespace {

using ::testing::HasSubstr;

const std::string kCorpus = std::string(LOOPGATE_SHARED_DIR) + "/corpora/attribution";

// ---- Helpers ----

struct Row {
  std::string path;  // "a > b > c"
  uint64_t conversions = 0;
  double value = 0;
  uint64_t nulls = 0;
};

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(path);
  std::string token;
  while (in >> token) {
    if (token == ">") continue;
    out.push_back(token);
  }
  return out;
}

PathSet Build(const std::vector<Row>& rows) {
  PathAggregator agg;
  for (const Row& r : rows) {
    std::vector<ChannelId> ids;
    for (const auto& name : SplitPath(r.path)) ids.push_back(agg.channels().Intern(name));
    EXPECT_TRUE(agg.Add(ids, r.conversions, r.value, r.nulls).ok()) << r.path;
  }
  return agg.Finish();
}

Credit Of(const PathSet& paths, const Attribution& a, const std::string& channel) {
  const auto id = paths.channels().Find(channel);
  EXPECT_TRUE(id.has_value()) << channel;
  return id ? a[*id] : Credit{};
}

double SumConversions(const Attribution& a) {
  long double s = 0;
  for (const Credit& c : a) s += c.conversions;
  return static_cast<double>(s);
}
double SumValue(const Attribution& a) {
  long double s = 0;
  for (const Credit& c : a) s += c.value;
  return static_cast<double>(s);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- Published results ----

MarkovChain::StateId StateNamed(const MarkovChain& chain, const PathSet& paths,
                                const std::string& name) {
  if (name == "START") return MarkovChain::kStart;
  if (name == "CONV") return MarkovChain::kConversion;
  if (name == "NULL") return MarkovChain::kNull;
  const auto id = paths.channels().Find(name);
  EXPECT_TRUE(id.has_value()) << name;
  const ChannelId tuple[] = {id.value_or(0)};
  const auto s = chain.Find(tuple);
  EXPECT_TRUE(s.has_value()) << name;
  return s.value_or(MarkovChain::kNull);
}

simdjson::dom::object AsObject(simdjson::dom::element e) {
  simdjson::dom::object o;
  EXPECT_EQ(e.get_object().get(o), simdjson::SUCCESS);
  return o;
}

TEST(PublishedResults, EveryCaseWithDataMatchesExactly) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.load(kCorpus + "/published_results.json").get(root), simdjson::SUCCESS);
  simdjson::dom::array cases;
  ASSERT_EQ(root["published"].get_array().get(cases), simdjson::SUCCESS);

  int checked = 0, values_checked = 0;
  for (simdjson::dom::element c : cases) {
    const std::string id(c["id"].get_string().value());
    SCOPED_TRACE(id);
    simdjson::dom::array rows_json;
    if (c["paths"].get_array().get(rows_json) != simdjson::SUCCESS) {
      // A case whose data the corpus does not hold must say so; it cannot be checked.
      std::string_view dataset;
      ASSERT_EQ(c["dataset"].get_string().get(dataset), simdjson::SUCCESS);
      EXPECT_THAT(std::string(dataset), HasSubstr("NOT DOWNLOADED"));
      continue;
    }
    std::vector<Row> rows;
    for (simdjson::dom::element r : rows_json) {
      Row row;
      row.path = std::string(r["path"].get_string().value());
      row.conversions = static_cast<uint64_t>(r["conversions"].get_int64().value());
      row.nulls = static_cast<uint64_t>(r["nulls"].get_int64().value());
      double value = 0;
      if (r["value"].get_double().get(value) == simdjson::SUCCESS) row.value = value;
      rows.push_back(row);
    }
    const PathSet paths = Build(rows);
    auto chain = MarkovChain::Fit(paths, 1);
    ASSERT_TRUE(chain.ok()) << chain.status();
    auto markov = Markov(paths, 1);
    ASSERT_TRUE(markov.ok()) << markov.status();

    simdjson::dom::object expected;
    ASSERT_EQ(c["expected"].get_object().get(expected), simdjson::SUCCESS);
    for (auto [key_view, value] : expected) {
      const std::string key(key_view);
      SCOPED_TRACE(key);
      if (key == "transition_probabilities") {
        for (auto [edge, p] : AsObject(value)) {
          const std::string e(edge);
          const size_t gt = e.find('>');
          const auto from = StateNamed(*chain, paths, e.substr(0, gt));
          const auto to = StateNamed(*chain, paths, e.substr(gt + 1));
          EXPECT_NEAR(chain->Probability(from, to), p.get_double().value(), 1e-15) << e;
        }
      } else if (key == "base_conversion_probability") {
        EXPECT_NEAR(markov->conversion_probability, value.get_double().value(), 1e-15);
      } else if (key.starts_with("conversion_probability_without_")) {
        const std::string channel =
            key.substr(std::string("conversion_probability_without_").size());
        const ChannelId removed[] = {paths.channels().Find(channel).value()};
        auto without = chain->Solve(removed);
        ASSERT_TRUE(without.ok());
        EXPECT_NEAR(without->conversion_probability, value.get_double().value(), 1e-15);
      } else if (key == "removal_effects") {
        for (auto [channel, re] : AsObject(value)) {
          const auto ch = paths.channels().Find(std::string(channel));
          ASSERT_TRUE(ch.has_value());
          EXPECT_NEAR(markov->removal_effect[*ch], re.get_double().value(), 1e-12) << channel;
        }
      } else if (key == "attributed_conversions") {
        for (auto [channel, conv] : AsObject(value)) {
          EXPECT_NEAR(Of(paths, markov->attribution, std::string(channel)).conversions,
                      conv.get_double().value(), 1e-12)
              << channel;
        }
      } else if (key == "attributed_value") {
        for (auto [channel, v] : AsObject(value)) {
          EXPECT_NEAR(Of(paths, markov->attribution, std::string(channel)).value,
                      v.get_double().value(), 1e-9)
              << channel;
          ++values_checked;
        }
      } else if (key == "heuristics_note") {
        // "vignette states first-touch and last-touch assign all 3 conversions to A".
        const std::string note(value.get_string().value());
        ASSERT_THAT(note, HasSubstr("all 3 conversions to A"));
        for (const Attribution& a : {FirstTouch(paths), LastTouch(paths)}) {
          EXPECT_EQ(Of(paths, a, "A").conversions, 3.0);
          EXPECT_EQ(Of(paths, a, "B").conversions, 0.0);
        }
      } else {
        ADD_FAILURE() << "an expected result this test does not check: " << key;
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 2);  // The vignette and Bryl's example; the third case has no data.
  EXPECT_EQ(values_checked, 3);
}

// The JS test suite the Bryl values come from (markovattribution_test.js.txt) also checks
// P(conversion) without C1 = 1/6 and removal effects 0.5, 1, 1: the same numbers, computed
// here by hand. Transitions: start->C1 2/3, start->C2 1/3, C1->C2 1/2, C1->null 1/2,
// C2->C3 1, C3->conv 1/2, C3->null 1/2. P = 2/3*1/2*1*1/2 + 1/3*1*1/2 = 1/3.
TEST(PublishedResults, BrylByHand) {
  const PathSet paths =
      Build({{"C1 > C2 > C3", 1, 1000, 0}, {"C1", 0, 0, 1}, {"C2 > C3", 0, 0, 1}});
  auto chain = MarkovChain::Fit(paths, 1);
  ASSERT_TRUE(chain.ok());
  auto base = chain->Solve();
  ASSERT_TRUE(base.ok());
  EXPECT_DOUBLE_EQ(base->conversion_probability, 1.0 / 3);
  EXPECT_DOUBLE_EQ(base->value, 1000.0 / 3);  // 1000 per conversion
  // Acyclic: one update per state (three components of one state), exact up to rounding.
  EXPECT_EQ(base->sweeps, 3u);
  EXPECT_LE(base->error_bound, 2.3e-16);
  const ChannelId c2[] = {*paths.channels().Find("C2")};
  auto without_c2 = chain->Solve(c2);
  ASSERT_TRUE(without_c2.ok());
  EXPECT_EQ(without_c2->conversion_probability, 0.0);
}

// ---- Heuristics, by hand ----
//
//   a > b > c  1 conversion, value 10
//   b > a      2 conversions, value 4
//   c          1 conversion, value 1
//   a > b      5 nulls (credits nothing)
std::vector<Row> HandRows() {
  return {{"a > b > c", 1, 10, 0}, {"b > a", 2, 4, 0}, {"c", 1, 1, 0}, {"a > b", 0, 0, 5}};
}

TEST(Heuristics, FirstAndLastTouch) {
  const PathSet paths = Build(HandRows());
  const Attribution first = FirstTouch(paths);
  EXPECT_EQ(Of(paths, first, "a").conversions, 1);
  EXPECT_EQ(Of(paths, first, "a").value, 10);
  EXPECT_EQ(Of(paths, first, "b").conversions, 2);
  EXPECT_EQ(Of(paths, first, "b").value, 4);
  EXPECT_EQ(Of(paths, first, "c").conversions, 1);
  EXPECT_EQ(Of(paths, first, "c").value, 1);
  const Attribution last = LastTouch(paths);
  EXPECT_EQ(Of(paths, last, "a").conversions, 2);
  EXPECT_EQ(Of(paths, last, "a").value, 4);
  EXPECT_EQ(Of(paths, last, "b").conversions, 0);
  EXPECT_EQ(Of(paths, last, "c").conversions, 2);
  EXPECT_EQ(Of(paths, last, "c").value, 11);
}

TEST(Heuristics, Linear) {
  // a: 1/3 + 2/2 = 4/3, b: 1/3 + 2/2 = 4/3, c: 1/3 + 1 = 4/3.
  // Values: a 10/3 + 2, b 10/3 + 2, c 10/3 + 1.
  const PathSet paths = Build(HandRows());
  const Attribution a = Linear(paths);
  EXPECT_NEAR(Of(paths, a, "a").conversions, 4.0 / 3, 1e-15);
  EXPECT_NEAR(Of(paths, a, "b").conversions, 4.0 / 3, 1e-15);
  EXPECT_NEAR(Of(paths, a, "c").conversions, 4.0 / 3, 1e-15);
  EXPECT_NEAR(Of(paths, a, "a").value, 10.0 / 3 + 2, 1e-14);
  EXPECT_NEAR(Of(paths, a, "c").value, 10.0 / 3 + 1, 1e-14);
}

TEST(Heuristics, LinearCountsRepeatedTouches) {
  // ChannelAttribution's linear_touch: a channel touched twice in three touches gets 2/3.
  const PathSet paths = Build({{"a > a > b", 3, 6, 0}});
  const Attribution a = Linear(paths);
  EXPECT_NEAR(Of(paths, a, "a").conversions, 2, 1e-15);
  EXPECT_NEAR(Of(paths, a, "b").conversions, 1, 1e-15);
  EXPECT_NEAR(Of(paths, a, "a").value, 4, 1e-15);
}

TEST(Heuristics, PositionBased) {
  // a > b > c: 0.4 / 0.2 / 0.4; b > a (two touches): 0.5 each of 2; c: all of 1.
  // a = 0.4 + 1 = 1.4, b = 0.2 + 1 = 1.2, c = 0.4 + 1 = 1.4.
  const PathSet paths = Build(HandRows());
  const Attribution a = PositionBased(paths);
  EXPECT_NEAR(Of(paths, a, "a").conversions, 1.4, 1e-15);
  EXPECT_NEAR(Of(paths, a, "b").conversions, 1.2, 1e-15);
  EXPECT_NEAR(Of(paths, a, "c").conversions, 1.4, 1e-15);
  EXPECT_NEAR(Of(paths, a, "a").value, 4 + 2, 1e-14);
  EXPECT_NEAR(Of(paths, a, "b").value, 2 + 2, 1e-14);

  // Five touches: middle 0.2 split three ways.
  const PathSet five = Build({{"a > b > c > d > e", 1, 0, 0}});
  const Attribution f = PositionBased(five);
  EXPECT_NEAR(Of(five, f, "a").conversions, 0.4, 1e-15);
  EXPECT_NEAR(Of(five, f, "c").conversions, 0.2 / 3, 1e-15);
  EXPECT_NEAR(Of(five, f, "e").conversions, 0.4, 1e-15);

  // Other weights; a repeated first/middle channel accumulates.
  auto g = PositionBased(Build({{"a > a > b", 1, 0, 0}}), {0.3, 0.4, 0.3});
  ASSERT_TRUE(g.ok());
  EXPECT_NEAR((*g)[0].conversions, 0.7, 1e-15);
  EXPECT_NEAR((*g)[1].conversions, 0.3, 1e-15);

  EXPECT_FALSE(PositionBased(paths, {0.5, 0.5, 0.5}).ok());
  EXPECT_FALSE(PositionBased(paths, {-0.2, 0.8, 0.4}).ok());
}

TEST(Heuristics, TimeDecayByPosition) {
  // Half-life 1 touch. a > b > c: weights 1/4, 1/2, 1 -> 1/7, 2/7, 4/7.
  // b > a: 1/2, 1 -> b 1/3 * 2, a 2/3 * 2. c: 1.
  const PathSet paths = Build(HandRows());
  auto a = TimeDecay(paths, 1.0);
  ASSERT_TRUE(a.ok());
  EXPECT_NEAR(Of(paths, *a, "a").conversions, 1.0 / 7 + 4.0 / 3, 1e-15);
  EXPECT_NEAR(Of(paths, *a, "b").conversions, 2.0 / 7 + 2.0 / 3, 1e-15);
  EXPECT_NEAR(Of(paths, *a, "c").conversions, 4.0 / 7 + 1, 1e-15);
  EXPECT_NEAR(Of(paths, *a, "c").value, 40.0 / 7 + 1, 1e-14);

  // Half-life 2: weights 2^-1, 2^-1/2, 1 for a > b > c.
  auto b = TimeDecay(Build({{"a > b > c", 1, 0, 0}}), 2.0);
  ASSERT_TRUE(b.ok());
  const double s = 0.5 + std::sqrt(0.5) + 1;
  EXPECT_NEAR((*b)[0].conversions, 0.5 / s, 1e-15);
  EXPECT_NEAR((*b)[1].conversions, std::sqrt(0.5) / s, 1e-15);

  EXPECT_FALSE(TimeDecay(paths, 0).ok());
  EXPECT_FALSE(TimeDecay(paths, -1).ok());
  EXPECT_FALSE(TimeDecay(paths, std::nan("")).ok());
}

TEST(Heuristics, TimeDecayByTimestamps) {
  ChannelTable table;
  const ChannelId a = table.Intern("a"), b = table.Intern("b"), c = table.Intern("c");
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  // Ages 24 h, 12 h, 0 h with a half-life of 12 h: weights 1/4, 1/2, 1 (1/7, 2/7, 4/7).
  Journey j1{{a, b, c}, {t0, t0 + absl::Hours(12), t0 + absl::Hours(24)}, 1, 7, 0};
  // Same instant: equal weights. A null journey credits nothing.
  Journey j2{{a, b}, {t0, t0}, 2, 0, 0};
  Journey j3{{c}, {t0}, 0, 0, 1};
  const std::vector<Journey> journeys{j1, j2, j3};
  auto r = TimeDecayByTime(journeys, absl::Hours(12), table.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR((*r)[a].conversions, 1.0 / 7 + 1, 1e-15);
  EXPECT_NEAR((*r)[b].conversions, 2.0 / 7 + 1, 1e-15);
  EXPECT_NEAR((*r)[c].conversions, 4.0 / 7, 1e-15);
  EXPECT_NEAR((*r)[c].value, 4.0, 1e-14);

  Journey unsorted{{a, b}, {t0, t0 - absl::Seconds(1)}, 1, 0, 0};
  EXPECT_THAT(std::string(TimeDecayByTime({&unsorted, 1}, absl::Hours(1), 3).status().message()),
              HasSubstr("journey 0: times decrease"));
  Journey untimed{{a}, {}, 1, 0, 0};
  EXPECT_FALSE(TimeDecayByTime({&untimed, 1}, absl::Hours(1), 3).ok());
  Journey bad_id{{7}, {t0}, 1, 0, 0};
  EXPECT_FALSE(TimeDecayByTime({&bad_id, 1}, absl::Hours(1), 3).ok());
  EXPECT_FALSE(TimeDecayByTime(journeys, absl::ZeroDuration(), 3).ok());
}

// ---- Shapley ----

TEST(Shapley, HandExample) {
  // v({a}) = 1, v({b}) = 0, v({a,b}) = 3. phi_a = (1 - 0)/2 + (3 - 0)/2 = 2, phi_b = 1.
  const PathSet paths = Build({{"a", 1, 5, 0}, {"a > b > a", 2, 8, 0}, {"b", 0, 0, 4}});
  auto s = Shapley(paths);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(Of(paths, *s, "a").conversions, 2);
  EXPECT_DOUBLE_EQ(Of(paths, *s, "b").conversions, 1);
  EXPECT_DOUBLE_EQ(Of(paths, *s, "a").value, 5 + 4);
  EXPECT_DOUBLE_EQ(Of(paths, *s, "b").value, 4);
}

// v(S) from its definition: conversions of the paths whose channel set is within S.
double V(const std::vector<Row>& rows, const std::set<std::string>& coalition) {
  double v = 0;
  for (const Row& r : rows) {
    bool inside = true;
    for (const auto& ch : SplitPath(r.path)) inside &= coalition.count(ch) > 0;
    if (inside) v += static_cast<double>(r.conversions);
  }
  return v;
}

// Average marginal contribution over all orderings of the players.
std::map<std::string, double> ShapleyByPermutations(const std::vector<Row>& rows) {
  std::set<std::string> all;
  for (const Row& r : rows) {
    for (const auto& ch : SplitPath(r.path)) all.insert(ch);
  }
  std::vector<std::string> order(all.begin(), all.end());
  std::map<std::string, double> phi;
  double perms = 0;
  do {
    std::set<std::string> coalition;
    double before = 0;
    for (const auto& p : order) {
      coalition.insert(p);
      const double after = V(rows, coalition);
      phi[p] += after - before;
      before = after;
    }
    ++perms;
  } while (std::next_permutation(order.begin(), order.end()));
  for (auto& [p, x] : phi) x /= perms;
  return phi;
}

std::vector<Row> RandomRows(std::mt19937& rng, int channels, int rows, int max_length) {
  std::uniform_int_distribution<int> ch(0, channels - 1), len(1, max_length), conv(0, 4),
      nulls(0, 6);
  std::vector<Row> out;
  for (int i = 0; i < rows; ++i) {
    Row r;
    const int n = len(rng);
    for (int k = 0; k < n; ++k) {
      if (k > 0) r.path += " > ";
      r.path += "ch" + std::to_string(ch(rng));
    }
    r.conversions = static_cast<uint64_t>(conv(rng));
    r.value = r.conversions > 0 ? 1.5 * static_cast<double>(conv(rng)) : 0;
    r.nulls = static_cast<uint64_t>(nulls(rng));
    if (r.conversions + r.nulls == 0) r.nulls = 1;
    out.push_back(r);
  }
  return out;
}

TEST(Shapley, MatchesAllPermutationsOnRandomInputs) {
  std::mt19937 rng(20240601);
  for (int trial = 0; trial < 30; ++trial) {
    const int channels = 2 + trial % 5;  // up to 6 players: 720 orderings
    const auto rows = RandomRows(rng, channels, 12, 5);
    const PathSet paths = Build(rows);
    auto s = Shapley(paths);
    ASSERT_TRUE(s.ok());
    for (const auto& [name, phi] : ShapleyByPermutations(rows)) {
      EXPECT_NEAR(Of(paths, *s, name).conversions, phi, 1e-12) << "trial " << trial;
    }
  }
}

TEST(Shapley, EfficiencySymmetryNullPlayerAndClosedFormWith12Channels) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 10; ++trial) {
    auto rows = RandomRows(rng, 12, 400, 8);
    // A channel that appears only where nobody converted is a null player.
    rows.push_back({"ch3 > zz > ch5", 0, 0, 9});
    const PathSet paths = Build(rows);
    auto s = Shapley(paths);
    ASSERT_TRUE(s.ok());
    // Efficiency.
    EXPECT_NEAR(SumConversions(*s), static_cast<double>(paths.total_conversions()), 1e-9);
    EXPECT_NEAR(SumValue(*s), paths.total_value(), 1e-9);
    EXPECT_EQ(Of(paths, *s, "zz").conversions, 0);
    // Closed form (Zhao et al.): each path's conversions shared equally by its distinct channels.
    std::map<std::string, double> closed;
    for (const Row& r : rows) {
      const auto chs = SplitPath(r.path);
      const std::set<std::string> distinct(chs.begin(), chs.end());
      for (const auto& ch : distinct) {
        closed[ch] += static_cast<double>(r.conversions) / static_cast<double>(distinct.size());
      }
    }
    for (const auto& [name, phi] : closed) {
      EXPECT_NEAR(Of(paths, *s, name).conversions, phi, 1e-9) << name;
    }
    // Symmetry: renaming the channels permutes the values.
    std::vector<int> perm(12);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<Row> renamed;
    for (Row r : rows) {
      std::string path;
      for (const auto& ch : SplitPath(r.path)) {
        if (!path.empty()) path += " > ";
        path += ch == "zz" ? ch : "ch" + std::to_string(perm[std::stoi(ch.substr(2))]);
      }
      r.path = path;
      renamed.push_back(r);
    }
    const PathSet paths2 = Build(renamed);
    auto s2 = Shapley(paths2);
    ASSERT_TRUE(s2.ok());
    for (int i = 0; i < 12; ++i) {
      const std::string from = "ch" + std::to_string(i), to = "ch" + std::to_string(perm[i]);
      if (!paths.channels().Find(from)) continue;
      EXPECT_NEAR(Of(paths, *s, from).conversions, Of(paths2, *s2, to).conversions, 1e-9);
    }
  }
  // Two channels that always occur together get equal values.
  const PathSet twins = Build({{"x > y", 3, 0, 0}, {"y > z > x", 1, 0, 0}, {"z", 2, 0, 0}});
  auto t = Shapley(twins);
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(Of(twins, *t, "x").conversions, Of(twins, *t, "y").conversions);
}

TEST(Shapley, RefusesTooManyChannels) {
  std::string path;
  for (size_t i = 0; i <= kMaxShapleyChannels; ++i) {
    if (i) path += " > ";
    path += "c" + std::to_string(i);
  }
  auto s = Shapley(Build({{path, 1, 0, 0}}));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("up to n = 20"));
}

// ---- Markov: an independent implementation ----

// The order-k chain rebuilt from strings: states are tuples joined with '|'.
struct RefChain {
  std::map<std::string, std::map<std::string, double>> out;  // from -> to -> count
};

RefChain BuildRef(const std::vector<Row>& rows, size_t k) {
  RefChain chain;
  for (const Row& r : rows) {
    const double w = static_cast<double>(r.conversions + r.nulls);
    if (w == 0) continue;
    const auto chs = SplitPath(r.path);
    std::vector<std::string> states;
    if (chs.size() <= k) {
      std::string s;
      for (const auto& c : chs) s += c + "|";
      states.push_back(s);
    } else {
      for (size_t j = 0; j + k <= chs.size(); ++j) {
        std::string s;
        for (size_t i = 0; i < k; ++i) s += chs[j + i] + "|";
        states.push_back(s);
      }
    }
    std::string prev = "(start)";
    for (const auto& s : states) {
      chain.out[prev][s] += w;
      prev = s;
    }
    if (r.conversions) chain.out[prev]["(conversion)"] += static_cast<double>(r.conversions);
    if (r.nulls) chain.out[prev]["(null)"] += static_cast<double>(r.nulls);
  }
  return chain;
}

bool Contains(const std::string& state, const std::string& channel) {
  return ("|" + state).find("|" + channel + "|") != std::string::npos;
}

// P(conversion from start) with `removed` removed, by Gaussian elimination with partial
// pivoting on (I - Q) h = r over the channel states.
double RefConversion(const RefChain& chain, const std::string& removed) {
  std::vector<std::string> states;
  std::map<std::string, size_t> index;
  for (const auto& [from, _] : chain.out) {
    if (from == "(start)" || (!removed.empty() && Contains(from, removed))) continue;
    index[from] = states.size();
    states.push_back(from);
  }
  const size_t n = states.size();
  std::vector<std::vector<double>> a(n, std::vector<double>(n + 1, 0.0));
  for (size_t i = 0; i < n; ++i) {
    double total = 0;
    for (const auto& [to, c] : chain.out.at(states[i])) total += c;
    a[i][i] = 1;
    for (const auto& [to, c] : chain.out.at(states[i])) {
      if (to == "(conversion)") {
        a[i][n] += c / total;
      } else if (index.count(to)) {
        a[i][index[to]] -= c / total;
      }
    }
  }
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r) {
      if (std::fabs(a[r][col]) > std::fabs(a[pivot][col])) pivot = r;
    }
    std::swap(a[col], a[pivot]);
    for (size_t r = 0; r < n; ++r) {
      if (r == col || a[r][col] == 0) continue;
      const double f = a[r][col] / a[col][col];
      for (size_t c = col; c <= n; ++c) a[r][c] -= f * a[col][c];
    }
  }
  double total = 0, p = 0;
  for (const auto& [to, c] : chain.out.at("(start)")) {
    total += c;
    if (index.count(to)) p += c * a[index[to]][n] / a[index[to]][index[to]];
  }
  return p / total;
}

TEST(Markov, OrdersOneToThreeMatchGaussianEliminationOnRandomInputs) {
  std::mt19937 rng(99);
  int compared = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const auto rows = RandomRows(rng, 3 + trial % 3, 15, 7);
    const PathSet paths = Build(rows);
    for (int order = 1; order <= 3; ++order) {
      SCOPED_TRACE(testing::Message() << "trial " << trial << " order " << order);
      const RefChain ref = BuildRef(rows, static_cast<size_t>(order));
      auto m = Markov(paths, order);
      ASSERT_TRUE(m.ok()) << m.status();
      const double base = RefConversion(ref, "");
      EXPECT_NEAR(m->conversion_probability, base, 1e-13);
      EXPECT_LE(m->error_bound, 1e-14);
      for (ChannelId c = 0; c < paths.channels().size(); ++c) {
        const double without = RefConversion(ref, paths.channels().name(c));
        EXPECT_NEAR(m->removal_effect[c], 1 - without / base, 1e-12) << paths.channels().name(c);
        ++compared;
      }
      EXPECT_NEAR(SumConversions(m->attribution), static_cast<double>(paths.total_conversions()),
                  1e-9);
    }
  }
  EXPECT_GT(compared, 400);
}

// An acyclic chain (no channel repeats; order 2) checked by enumerating every path of the chain
// and multiplying its transition probabilities.
TEST(Markov, OrderTwoMatchesPathEnumerationOnAnAcyclicChain) {
  const std::vector<Row> rows = {{"a > b > c", 3, 0, 2},
                                 {"a > b > d", 1, 0, 3},
                                 {"b > c", 2, 0, 2},
                                 {"a", 1, 0, 4},
                                 {"d > a > b > c", 1, 0, 1}};
  const RefChain ref = BuildRef(rows, 2);
  std::function<double(const std::string&, const std::string&)> enumerate =
      [&](const std::string& state, const std::string& removed) -> double {
    if (state == "(conversion)") return 1;
    if (state == "(null)") return 0;
    if (!removed.empty() && state != "(start)" && Contains(state, removed)) return 0;
    double total = 0, p = 0;
    for (const auto& [to, c] : ref.out.at(state)) total += c;
    for (const auto& [to, c] : ref.out.at(state)) p += c / total * enumerate(to, removed);
    return p;
  };
  const PathSet paths = Build(rows);
  auto m = Markov(paths, 2);
  ASSERT_TRUE(m.ok());
  const double base = enumerate("(start)", "");
  EXPECT_NEAR(m->conversion_probability, base, 1e-15);
  EXPECT_NEAR(base, 8.0 / 20, 1e-15);  // conversions / journeys
  for (const std::string ch : {"a", "b", "c", "d"}) {
    const ChannelId id = *paths.channels().Find(ch);
    EXPECT_NEAR(m->removal_effect[id], 1 - enumerate("(start)", ch) / base, 1e-15) << ch;
  }
}

TEST(Markov, StatesAndTransitionsFollowChannelAttribution) {
  // Order 2: a > b > c visits (a,b), (b,c); a path shorter than the order is one state (a).
  const PathSet paths = Build({{"a > b > c", 2, 0, 1}, {"a", 0, 0, 1}, {"b > b > b", 1, 0, 0}});
  auto chain = MarkovChain::Fit(paths, 2);
  ASSERT_TRUE(chain.ok());
  const ChannelId a = 0, b = 1, c = 2;
  const ChannelId ab[] = {a, b}, bc[] = {b, c}, aa[] = {a}, bb[] = {b, b};
  ASSERT_TRUE(chain->Find(ab) && chain->Find(bc) && chain->Find(aa) && chain->Find(bb));
  EXPECT_EQ(chain->num_states(), 3u + 4u);
  EXPECT_EQ(chain->Count(MarkovChain::kStart, *chain->Find(ab)), 3u);
  EXPECT_EQ(chain->Count(*chain->Find(ab), *chain->Find(bc)), 3u);
  EXPECT_EQ(chain->Count(*chain->Find(bc), MarkovChain::kConversion), 2u);
  EXPECT_EQ(chain->Count(*chain->Find(bc), MarkovChain::kNull), 1u);
  EXPECT_EQ(chain->Count(*chain->Find(bb), *chain->Find(bb)), 1u);  // self-transition kept
  EXPECT_DOUBLE_EQ(chain->Probability(*chain->Find(bb), *chain->Find(bb)), 0.5);
  EXPECT_EQ(chain->Label(*chain->Find(ab), paths.channels()), "a,b");
  EXPECT_EQ(chain->Label(MarkovChain::kStart, paths.channels()), "(start)");
  // Transitions are listed in (from, to) order and sum to the totals.
  const auto transitions = chain->Transitions();
  for (size_t i = 1; i < transitions.size(); ++i) {
    EXPECT_LT(std::make_pair(transitions[i - 1].from, transitions[i - 1].to),
              std::make_pair(transitions[i].from, transitions[i].to));
  }
  std::map<MarkovChain::StateId, uint64_t> totals;
  for (const auto& t : transitions) totals[t.from] += t.count;
  for (const auto& [s, total] : totals) EXPECT_EQ(total, chain->Total(s));

  EXPECT_FALSE(MarkovChain::Fit(paths, 0).ok());
  EXPECT_FALSE(MarkovChain::Fit(paths, 4).ok());
}

TEST(Markov, SelfTransitionsDoNotChangeRemovalEffects) {
  // Collapsing runs of a channel changes the transition matrix, not the absorption.
  std::mt19937 rng(5);
  const auto rows = RandomRows(rng, 4, 30, 6);
  std::vector<Row> collapsed;
  for (Row r : rows) {
    std::string path, last;
    for (const auto& ch : SplitPath(r.path)) {
      if (ch == last) continue;
      if (!path.empty()) path += " > ";
      path += ch;
      last = ch;
    }
    r.path = path;
    collapsed.push_back(r);
  }
  const PathSet p1 = Build(rows), p2 = Build(collapsed);
  auto m1 = Markov(p1, 1), m2 = Markov(p2, 1);
  ASSERT_TRUE(m1.ok() && m2.ok());
  for (ChannelId c = 0; c < p1.channels().size(); ++c) {
    const std::string& name = p1.channels().name(c);
    EXPECT_NEAR(m1->removal_effect[c], m2->removal_effect[*p2.channels().Find(name)], 1e-13);
  }
}

TEST(Markov, ValueRemovalEffectWeighsConversionsByTheirValue) {
  // a -> conversion worth 10 (1 journey), b -> conversion worth 90 (1 journey), 2 nulls each.
  // P = 2/6; without a: 1/6 -> RE 0.5 each; V = 100/6, without a: 90/6 -> value RE 0.1, b 0.9.
  const PathSet paths = Build({{"a", 1, 10, 2}, {"b", 1, 90, 2}});
  auto m = Markov(paths, 1);
  ASSERT_TRUE(m.ok());
  EXPECT_NEAR(m->removal_effect[0], 0.5, 1e-15);
  EXPECT_NEAR(m->value_removal_effect[0], 0.1, 1e-15);
  EXPECT_NEAR(m->value_removal_effect[1], 0.9, 1e-15);
  EXPECT_NEAR(m->attribution[0].conversions, 1, 1e-15);
  EXPECT_NEAR(m->attribution[0].value, 10, 1e-13);
  EXPECT_NEAR(m->attribution[1].value, 90, 1e-13);
  EXPECT_NEAR(m->value_per_journey, 100.0 / 6, 1e-13);
}

TEST(Markov, NoConversionsGivesZeros) {
  const PathSet paths = Build({{"a > b", 0, 0, 3}});
  auto m = Markov(paths, 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->conversion_probability, 0);
  EXPECT_EQ(m->removal_effect[0], 0);
  EXPECT_EQ(SumConversions(m->attribution), 0);
}

// ---- The 10,000 real journeys of channelattribution_Data.csv ----

class Corpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto p = ReadPathsFile(kCorpus + "/channelattribution_Data.csv");
    ASSERT_TRUE(p.ok()) << p.status();
    paths_ = new PathSet(std::move(*p));
    // The file's rows, parsed here with plain string code.
    std::istringstream in(ReadFile(kCorpus + "/channelattribution_Data.csv"));
    std::string line;
    std::getline(in, line);  // header
    rows_ = new std::vector<Row>;
    while (std::getline(in, line)) {
      std::vector<std::string> f;
      std::string cell;
      std::istringstream ls(line);
      while (std::getline(ls, cell, ';')) f.push_back(cell);
      rows_->push_back({f[0], std::stoull(f[1]), std::stod(f[2]), std::stoull(f[3])});
    }
  }
  static void TearDownTestSuite() {
    delete paths_;
    delete rows_;
  }
  static PathSet* paths_;
  static std::vector<Row>* rows_;
};
PathSet* Corpus::paths_ = nullptr;
std::vector<Row>* Corpus::rows_ = nullptr;

TEST_F(Corpus, Totals) {
  ASSERT_EQ(rows_->size(), 10000u);
  uint64_t conversions = 0, nulls = 0;
  long double value = 0;
  std::set<std::vector<std::string>> distinct;
  std::set<std::string> channels;
  for (const Row& r : *rows_) {
    conversions += r.conversions;
    nulls += r.nulls;
    value += r.value;
    distinct.insert(SplitPath(r.path));
    for (const auto& c : SplitPath(r.path)) channels.insert(c);
  }
  EXPECT_EQ(paths_->rows(), 10000u);
  EXPECT_EQ(paths_->size(), distinct.size());  // identical paths merged
  EXPECT_LT(paths_->size(), 10000u);
  EXPECT_EQ(paths_->channels().size(), channels.size());
  EXPECT_EQ(paths_->channels().size(), 12u);
  EXPECT_EQ(paths_->total_conversions(), conversions);
  EXPECT_EQ(paths_->total_nulls(), nulls);
  EXPECT_NEAR(paths_->total_value(), static_cast<double>(value), 1e-9);
}

TEST_F(Corpus, HeuristicTotalsEqualTotalConversions) {
  const double conversions = static_cast<double>(paths_->total_conversions());
  const double value = paths_->total_value();
  // Whole conversions: exact.
  EXPECT_EQ(SumConversions(FirstTouch(*paths_)), conversions);
  EXPECT_EQ(SumConversions(LastTouch(*paths_)), conversions);
  auto decay = TimeDecay(*paths_, 1.0);
  auto shapley = Shapley(*paths_);
  ASSERT_TRUE(decay.ok() && shapley.ok());
  for (const Attribution& a : {FirstTouch(*paths_), LastTouch(*paths_), Linear(*paths_),
                               PositionBased(*paths_), *decay, *shapley}) {
    EXPECT_NEAR(SumConversions(a), conversions, 1e-10);
    EXPECT_NEAR(SumValue(a), value, 1e-10);
  }
}

TEST_F(Corpus, HeuristicsMatchARecomputationFromTheRows) {
  // Per channel, from the raw rows in long double: first, last, linear, 40/20/40.
  std::map<std::string, long double> first, last, linear, position;
  for (const Row& r : *rows_) {
    const auto chs = SplitPath(r.path);
    const long double conv = r.conversions;
    const size_t n = chs.size();
    first[chs.front()] += conv;
    last[chs.back()] += conv;
    for (size_t k = 0; k < n; ++k) {
      linear[chs[k]] += conv / n;
      long double w = n == 1 ? 1 : n == 2 ? 0.5L : (k == 0 || k == n - 1) ? 0.4L : 0.2L / (n - 2);
      position[chs[k]] += conv * w;
    }
  }
  const Attribution f = FirstTouch(*paths_), l = LastTouch(*paths_), li = Linear(*paths_),
                    po = PositionBased(*paths_);
  for (const auto& [name, x] : linear) {
    EXPECT_EQ(Of(*paths_, f, name).conversions, static_cast<double>(first[name])) << name;
    EXPECT_EQ(Of(*paths_, l, name).conversions, static_cast<double>(last[name])) << name;
    EXPECT_NEAR(Of(*paths_, li, name).conversions, static_cast<double>(x), 1e-10) << name;
    EXPECT_NEAR(Of(*paths_, po, name).conversions, static_cast<double>(position[name]), 1e-10)
        << name;
  }
}

TEST_F(Corpus, MarkovRemovalEffectsAreExactAndStable) {
  const double journeys = static_cast<double>(paths_->total_journeys());
  const double conversions = static_cast<double>(paths_->total_conversions());
  for (int order = 1; order <= 3; ++order) {
    SCOPED_TRACE(order);
    auto m = Markov(*paths_, order);
    ASSERT_TRUE(m.ok()) << m.status();
    // Maximum likelihood fit: P(conversion) from (start) is the observed conversion rate.
    EXPECT_NEAR(m->conversion_probability, conversions / journeys, 1e-13);
    EXPECT_NEAR(m->value_per_journey, paths_->total_value() / journeys, 1e-12);
    EXPECT_LE(m->error_bound, 1e-14);
    EXPECT_NEAR(SumConversions(m->attribution), conversions, 1e-9);
    EXPECT_NEAR(SumValue(m->attribution), paths_->total_value(), 1e-9);
    for (ChannelId c = 0; c < 12; ++c) {
      EXPECT_GT(m->removal_effect[c], 0);
      EXPECT_LE(m->removal_effect[c], 1);
    }
    // The same journeys in another order: the same removal effects.
    std::vector<Row> shuffled = *rows_;
    std::mt19937 rng(static_cast<unsigned>(order));
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const PathSet other = Build(shuffled);
    auto m2 = Markov(other, order);
    ASSERT_TRUE(m2.ok());
    for (ChannelId c = 0; c < 12; ++c) {
      const std::string& name = paths_->channels().name(c);
      EXPECT_NEAR(m->removal_effect[c], m2->removal_effect[*other.channels().Find(name)], 1e-13)
          << name;
    }
    // Orders 1 and 2 are small enough for the dense reference solver.
    if (order <= 2) {
      const RefChain ref = BuildRef(*rows_, static_cast<size_t>(order));
      const double base = RefConversion(ref, "");
      EXPECT_NEAR(base, conversions / journeys, 1e-13);
      for (ChannelId c = 0; c < 12; ++c) {
        const std::string& name = paths_->channels().name(c);
        EXPECT_NEAR(m->removal_effect[c], 1 - RefConversion(ref, name) / base, 1e-12) << name;
      }
    }
  }
}

}  // namespace
}  // namespace loopgate::attribution
