#include "analytics/lift.h"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "analytics/analytics_testing.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace loopgate::analytics {
namespace {

using test_support::CorpusPath;

ArmCounts C(int64_t outcomes, int64_t units) { return ArmCounts{units, outcomes}; }

// Every number in a result is finite, whatever its status.
void ExpectFinite(const LiftResult& r) {
  for (double v :
       {r.exposed.rate, r.exposed.ci.lower, r.exposed.ci.upper, r.comparison.rate,
        r.comparison.ci.lower, r.comparison.ci.upper, r.absolute_lift.difference,
        r.absolute_lift.ci.lower, r.absolute_lift.ci.upper, r.relative_lift.relative_lift,
        r.relative_lift.ci.lower, r.relative_lift.ci.upper, r.test.z, r.test.p_value}) {
    EXPECT_TRUE(std::isfinite(v)) << v;
  }
}

// --- published_results.json ---

class PublishedResults : public testing::Test {
 protected:
  void SetUp() override {
    auto loaded = simdjson::padded_string::load(CorpusPath("published_results.json"));
    ASSERT_EQ(loaded.error(), simdjson::SUCCESS) << "cannot read published_results.json";
    json_ = std::move(loaded.value());
    ASSERT_EQ(parser_.parse(json_).get(root_), simdjson::SUCCESS);
  }

  simdjson::dom::element Case(std::string_view id) {
    simdjson::dom::array published;
    EXPECT_EQ(root_["published"].get(published), simdjson::SUCCESS);
    for (simdjson::dom::element c : published) {
      std::string_view cid;
      if (c["id"].get(cid) == simdjson::SUCCESS && cid == id) return c;
    }
    ADD_FAILURE() << "no case " << id;
    return {};
  }

  static int64_t Int(simdjson::dom::element e) {
    int64_t v = 0;
    EXPECT_EQ(e.get(v), simdjson::SUCCESS);
    return v;
  }
  static double Num(simdjson::dom::element e) {
    double v = 0;
    EXPECT_EQ(e.get(v), simdjson::SUCCESS);
    return v;
  }

  simdjson::padded_string json_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

TEST_F(PublishedResults, StatsmodelsTwoSampleZTestTo1e12) {
  simdjson::dom::element c = Case("statsmodels_proportions_ztest_docstring");
  auto input = c["input"];
  std::string_view alternative, variance;
  ASSERT_EQ(input["alternative"].get(alternative), simdjson::SUCCESS);
  ASSERT_EQ(input["variance"].get(variance), simdjson::SUCCESS);
  ASSERT_EQ(alternative, "two-sided");
  ASSERT_EQ(variance, "pooled");
  const ArmCounts first = C(Int(input["count"].at(0)), Int(input["nobs"].at(0)));
  const ArmCounts second = C(Int(input["count"].at(1)), Int(input["nobs"].at(1)));
  auto t = TwoProportionZTest(first, second, Alternative::kTwoSided);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->status, Estimability::kEstimable);
  EXPECT_NEAR(t->z, Num(c["expected"]["z"]), 1e-12);
  EXPECT_NEAR(t->p_value, Num(c["expected"]["p_value"]), 1e-12);
}

TEST_F(PublishedResults, StatsmodelsOneSampleZTestToPublishedPrecision) {
  simdjson::dom::element c = Case("statsmodels_proportions_ztest_one_sample");
  auto input = c["input"];
  auto t = OneProportionZTest(C(Int(input["count"]), Int(input["nobs"])), Num(input["value"]));
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->status, Estimability::kEstimable);
  // Published as 0.392126 (6 decimals) and 0.695 (3 decimals).
  EXPECT_NEAR(t->z, Num(c["expected"]["z_approx"]), 0.5e-6);
  EXPECT_NEAR(t->p_value, Num(c["expected"]["p_value_3dp"]), 0.5e-3);
  // The score-test variance gives a different statistic: the default is the one published.
  auto score =
      OneProportionZTest(C(5, 83), 0.05, Alternative::kTwoSided, OneSampleVariance::kHypothesized);
  ASSERT_TRUE(score.ok());
  EXPECT_GT(std::fabs(score->z - t->z), 1e-3);
}

// Visit counts per e-mail arm of hillstrom.csv (segment column), with the corpus counts checked
// first so that a misread file cannot pass.
struct HillstromArms {
  std::map<std::string, ArmCounts> visit;
  std::map<std::string, ArmCounts> conversion;
};

HillstromArms CountHillstrom(PublishedResults* fixture, simdjson::dom::element expected) {
  HillstromArms arms;
  const auto records = test_support::ReadHillstrom();
  std::map<std::string, int64_t> history;
  int64_t womens = 0, mens = 0;
  for (const auto& r : records) {
    const std::string& segment = r.at("segment");
    const bool visit = r.at("visit") == "1", conversion = r.at("conversion") == "1";
    EXPECT_TRUE(r.at("visit") == "0" || visit);
    arms.visit[segment].units += 1;
    arms.visit[segment].outcomes += visit ? 1 : 0;
    arms.conversion[segment].units += 1;
    arms.conversion[segment].outcomes += conversion ? 1 : 0;
    history[r.at("history_segment")] += 1;
    womens += r.at("womens") == "1" ? 1 : 0;
    mens += r.at("mens") == "1" ? 1 : 0;
  }
  (void)fixture;
  int64_t rows = 0;
  EXPECT_EQ(expected["rows"].get(rows), simdjson::SUCCESS);
  EXPECT_EQ(static_cast<int64_t>(records.size()), rows);
  int64_t v = 0;
  EXPECT_EQ(expected["womens_flag_1"].get(v), simdjson::SUCCESS);
  EXPECT_EQ(womens, v);
  EXPECT_EQ(expected["mens_flag_1"].get(v), simdjson::SUCCESS);
  EXPECT_EQ(mens, v);
  simdjson::dom::object counts;
  EXPECT_EQ(expected["history_segment_counts"].get(counts), simdjson::SUCCESS);
  EXPECT_EQ(counts.size(), history.size());
  for (auto [key, value] : counts) {
    int64_t n = 0;
    EXPECT_EQ(value.get(n), simdjson::SUCCESS);
    EXPECT_EQ(history[std::string(key)], n) << key;
  }
  return arms;
}

TEST_F(PublishedResults, HillstromVisitRatesToSixDecimals) {
  simdjson::dom::element expected = Case("hillstrom_visit_rates")["expected"];
  const HillstromArms arms = CountHillstrom(this, expected);
  simdjson::dom::object rates;
  ASSERT_EQ(expected["visit_rate"].get(rates), simdjson::SUCCESS);
  ASSERT_EQ(rates.size(), 3u);
  ASSERT_EQ(arms.visit.size(), 3u);
  for (auto [segment, value] : rates) {
    double published = 0;
    ASSERT_EQ(value.get(published), simdjson::SUCCESS);
    auto it = arms.visit.find(std::string(segment));
    ASSERT_NE(it, arms.visit.end()) << segment;
    auto rate = WilsonRate(it->second);
    ASSERT_TRUE(rate.ok());
    // Published rounded to 6 decimals: agreement within half a unit of the sixth.
    EXPECT_NEAR(rate->rate, published, 0.5e-6) << segment;
    EXPECT_LT(rate->ci.lower, rate->rate);
    EXPECT_GT(rate->ci.upper, rate->rate);
  }
}

// Intervals and tests on the Hillstrom arms (and on edge cases) against statsmodels, run at test
// time.
TEST_F(PublishedResults, HillstromArmsMatchStatsmodels) {
  const auto python = test_support::StatsmodelsPython();
  if (!python) {
    GTEST_SKIP() << "python3 with statsmodels and scipy is not installed (scripts/deps.sh installs "
                    "python3-statsmodels); the independent check cannot run";
  }
  const HillstromArms arms = CountHillstrom(this, Case("hillstrom_visit_rates")["expected"]);
  struct Case {
    ArmCounts a, b;
  };
  std::vector<Case> cases;
  for (const auto* m : {&arms.visit, &arms.conversion}) {
    const ArmCounts control = m->at("No E-Mail");
    cases.push_back({m->at("Mens E-Mail"), control});
    cases.push_back({m->at("Womens E-Mail"), control});
    cases.push_back({m->at("Womens E-Mail"), m->at("Mens E-Mail")});
  }
  // Small and boundary counts, where the formulas' special cases live.
  for (auto [x1, n1, x2, n2] : std::vector<std::array<int64_t, 4>>{{0, 10, 3, 20},
                                                                   {10, 10, 5, 20},
                                                                   {1, 3, 2, 2},
                                                                   {56, 70, 48, 80},
                                                                   {5, 56, 1, 29},
                                                                   {0, 15, 1, 1},
                                                                   {7, 9, 0, 12},
                                                                   {1, 1000000, 3, 2000000}}) {
    cases.push_back({C(x1, n1), C(x2, n2)});
  }
  std::ostringstream script;
  script << "from statsmodels.stats.proportion import proportion_confint, "
            "confint_proportions_2indep, proportions_ztest\n"
            "import warnings\nwarnings.simplefilter('ignore')\n"
            "def r(*v): print(' '.join(repr(float(x)) for x in v))\n"
            "for conf in (0.95, 0.9):\n"
            "  a = 1 - conf\n"
            "  for x1, n1, x2, n2 in [";
  for (const Case& c : cases) {
    script << "(" << c.a.outcomes << "," << c.a.units << "," << c.b.outcomes << "," << c.b.units
           << "),";
  }
  script << "]:\n"
            "    l1, u1 = proportion_confint(x1, n1, alpha=a, method='wilson')\n"
            "    l2, u2 = proportion_confint(x2, n2, alpha=a, method='wilson')\n"
            "    dl, du = confint_proportions_2indep(x1, n1, x2, n2, method='newcomb', alpha=a)\n"
            "    if x2 == 0: rl = ru = 0.0\n"
            "    elif x1 == 0:\n"
            "      rl, ru = confint_proportions_2indep(x1, n1, x2, n2, compare='ratio',\n"
            "                                          method='log-adjusted', alpha=a)\n"
            "    else:\n"
            "      rl, ru = confint_proportions_2indep(x1, n1, x2, n2, compare='ratio',\n"
            "                                          method='log', alpha=a)\n"
            "    z, p = proportions_ztest([x1, x2], [n1, n2])\n"
            "    _, pl = proportions_ztest([x1, x2], [n1, n2], alternative='larger')\n"
            "    _, ps = proportions_ztest([x1, x2], [n1, n2], alternative='smaller')\n"
            "    r(l1, u1, l2, u2, dl, du, rl - 1, ru - 1, z, p, pl, ps)\n";
  const auto rows = test_support::ParseRows(test_support::RunPython(*python, script.str()));
  ASSERT_EQ(rows.size(), 2 * cases.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Case& c = cases[i % cases.size()];
    const std::vector<double>& e = rows[i];
    ASSERT_EQ(e.size(), 12u);
    LiftOptions options;
    options.confidence = i < cases.size() ? 0.95 : 0.9;
    SCOPED_TRACE(testing::Message() << c.a.outcomes << "/" << c.a.units << " vs " << c.b.outcomes
                                    << "/" << c.b.units << " at " << options.confidence);
    auto lift = CohortLift(c.a, c.b, options);
    ASSERT_TRUE(lift.ok()) << lift.status();
    ExpectFinite(*lift);
    constexpr double kTol = 1e-12;
    EXPECT_NEAR(lift->exposed.ci.lower, e[0], kTol);
    EXPECT_NEAR(lift->exposed.ci.upper, e[1], kTol);
    EXPECT_NEAR(lift->comparison.ci.lower, e[2], kTol);
    EXPECT_NEAR(lift->comparison.ci.upper, e[3], kTol);
    EXPECT_NEAR(lift->absolute_lift.ci.lower, e[4], kTol);
    EXPECT_NEAR(lift->absolute_lift.ci.upper, e[5], kTol);
    if (c.b.outcomes == 0) {
      EXPECT_EQ(lift->relative_lift.status, Estimability::kZeroBaseline);
    } else if (c.a.outcomes == 0) {
      EXPECT_TRUE(lift->relative_lift.zero_count_adjusted);
      EXPECT_EQ(lift->relative_lift.ci.lower, -1);
      EXPECT_NEAR(lift->relative_lift.ci.upper, e[7], kTol);
    } else {
      EXPECT_NEAR(lift->relative_lift.ci.lower, e[6], kTol);
      EXPECT_NEAR(lift->relative_lift.ci.upper, e[7], kTol);
    }
    ASSERT_EQ(lift->test.status, Estimability::kEstimable);
    EXPECT_NEAR(lift->test.z, e[8], kTol);
    EXPECT_NEAR(lift->test.p_value, e[9], kTol);
    auto larger = TwoProportionZTest(c.a, c.b, Alternative::kLarger);
    auto smaller = TwoProportionZTest(c.a, c.b, Alternative::kSmaller);
    ASSERT_TRUE(larger.ok() && smaller.ok());
    EXPECT_NEAR(larger->p_value, e[10], kTol);
    EXPECT_NEAR(smaller->p_value, e[11], kTol);
  }
}

// --- Newcombe's worked examples ---

// Newcombe (1998b), "Interval estimation for the difference between independent proportions:
// comparison of eleven methods", Stat Med 17:873-890, Table II: the eight examples, method 10
// (score, no continuity correction) and method 11 (score with continuity correction), 95%.
// Method 11 limits are quoted where we could confirm them (NAN elsewhere): examples (e), (f)
// and (h) rest on the corrected limits of 0/10 and 10/10, which example (g) already pins down.
TEST(Newcombe, PublishedDifferenceIntervals) {
  struct Example {
    int64_t x1, n1, x2, n2;
    double lo10, hi10, lo11, hi11;
  };
  const Example examples[] = {
      {56, 70, 48, 80, 0.0524, 0.3339, 0.0428, 0.3422},
      {9, 10, 3, 10, 0.1705, 0.8090, 0.1013, 0.8387},
      {6, 7, 2, 7, 0.0582, 0.8062, -0.0290, 0.8423},
      {5, 56, 0, 29, -0.0381, 0.1926, -0.0667, 0.2037},
      {0, 10, 0, 20, -0.1611, 0.2775, -0.2005, NAN},
      {0, 10, 0, 10, -0.2775, 0.2775, NAN, NAN},
      {10, 10, 0, 20, 0.6791, 1.0000, 0.6014, 1.0000},
      {10, 10, 0, 10, 0.6075, 1.0000, NAN, 1.0000},
  };
  for (const Example& e : examples) {
    SCOPED_TRACE(testing::Message() << e.x1 << "/" << e.n1 << " - " << e.x2 << "/" << e.n2);
    auto m10 = NewcombeDifference(C(e.x1, e.n1), C(e.x2, e.n2));
    ASSERT_TRUE(m10.ok());
    EXPECT_NEAR(m10->ci.lower, e.lo10, 0.5e-4);
    EXPECT_NEAR(m10->ci.upper, e.hi10, 0.5e-4);
    auto m11 = NewcombeDifference(C(e.x1, e.n1), C(e.x2, e.n2), 0.95, true);
    ASSERT_TRUE(m11.ok());
    if (!std::isnan(e.lo11)) {
      EXPECT_NEAR(m11->ci.lower, e.lo11, 0.5e-4);
    }
    if (!std::isnan(e.hi11)) {
      EXPECT_NEAR(m11->ci.upper, e.hi11, 0.5e-4);
    }
  }
}

// Newcombe (1998a), "Two-sided confidence intervals for the single proportion: comparison of
// seven methods", Stat Med 17:857-872, Table I: method 3 (Wilson score) and 4 (with continuity
// correction), 95%.
TEST(Newcombe, PublishedSingleProportionIntervals) {
  struct Example {
    int64_t x, n;
    double lo3, hi3, lo4, hi4;
  };
  const Example examples[] = {
      {81, 263, 0.2553, 0.3662, 0.2535, 0.3682},
      {15, 148, 0.0624, 0.1605, 0.0598, 0.1644},
      {0, 20, 0.0000, 0.1611, 0.0000, 0.2005},
      {1, 29, 0.0061, 0.1718, 0.0018, 0.1963},
  };
  for (const Example& e : examples) {
    SCOPED_TRACE(testing::Message() << e.x << "/" << e.n);
    auto m3 = WilsonRate(C(e.x, e.n));
    ASSERT_TRUE(m3.ok());
    EXPECT_NEAR(m3->ci.lower, e.lo3, 0.5e-4);
    EXPECT_NEAR(m3->ci.upper, e.hi3, 0.5e-4);
    auto m4 = WilsonRate(C(e.x, e.n), 0.95, true);
    ASSERT_TRUE(m4.ok());
    EXPECT_NEAR(m4->ci.lower, e.lo4, 0.5e-4);
    EXPECT_NEAR(m4->ci.upper, e.hi4, 0.5e-4);
  }
}

// --- The normal distribution ---

TEST(Normal, QuantileKnownValues) {
  // Φ⁻¹ values to 16 significant digits (Wichura 1988, AS 241, reproduces them).
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 4e-16);
  EXPECT_NEAR(NormalQuantile(0.995), 2.5758293035489004, 8e-16);
  EXPECT_NEAR(NormalQuantile(0.9), 1.2815515655446004, 4e-16);
  EXPECT_NEAR(NormalQuantile(1e-10), -6.361340902404056, 2e-15);
  EXPECT_EQ(NormalQuantile(0.5), 0);
  // Φ(Φ⁻¹(p)) = p, far into the tail (the relative error of Φ at x grows like x²·ulp).
  for (double p = 1e-200; p < 0.5; p *= 7.3) {
    EXPECT_NEAR(NormalLowerTail(NormalQuantile(p)) / p, 1, 1e-12) << p;
  }
}

TEST(Normal, TailsKeepTheirPrecision) {
  // Q(10) = 7.6198530241605260659733e-24 (e.g. Wolfram: 1 - CDF[NormalDistribution[], 10]).
  EXPECT_NEAR(NormalUpperTail(10) / 7.6198530241605260659733e-24, 1, 1e-14);
  EXPECT_NEAR(NormalLowerTail(-10) / 7.6198530241605260659733e-24, 1, 1e-14);
  // A difference of about 20 standard errors: the two-sided p-value is tiny but not 0, which
  // 1 - Φ(z) would round to.
  auto t = TwoProportionZTest(C(3000, 10000), C(1000, 10000));
  ASSERT_TRUE(t.ok());
  EXPECT_GT(t->z, 30);
  EXPECT_GT(t->p_value, 0);
  EXPECT_LT(t->p_value, 1e-200);
  EXPECT_NEAR(t->p_value, std::erfc(t->z / std::sqrt(2.0)), 1e-12 * t->p_value);
}

// --- Edge cases: never NaN, explicit status ---

TEST(Lift, EmptyArmIsNotEstimable) {
  for (auto [a, b] : std::vector<std::pair<ArmCounts, ArmCounts>>{
           {C(0, 0), C(3, 10)}, {C(3, 10), C(0, 0)}, {C(0, 0), C(0, 0)}}) {
    auto r = CohortLift(a, b);
    ASSERT_TRUE(r.ok());
    ExpectFinite(*r);
    EXPECT_EQ(r->exposed.status, a.units == 0 ? Estimability::kNoUnits : Estimability::kEstimable);
    EXPECT_EQ(r->comparison.status,
              b.units == 0 ? Estimability::kNoUnits : Estimability::kEstimable);
    EXPECT_EQ(r->absolute_lift.status, Estimability::kNoUnits);
    EXPECT_EQ(r->relative_lift.status, Estimability::kNoUnits);
    EXPECT_EQ(r->test.status, Estimability::kNoUnits);
  }
}

TEST(Lift, NoOutcomesAnywhere) {
  auto r = CohortLift(C(0, 50), C(0, 40));
  ASSERT_TRUE(r.ok());
  ExpectFinite(*r);
  EXPECT_EQ(r->exposed.status, Estimability::kEstimable);
  EXPECT_EQ(r->exposed.rate, 0);
  EXPECT_EQ(r->exposed.ci.lower, 0);
  EXPECT_GT(r->exposed.ci.upper, 0);
  EXPECT_EQ(r->absolute_lift.status, Estimability::kEstimable);
  EXPECT_EQ(r->absolute_lift.difference, 0);
  EXPECT_LT(r->absolute_lift.ci.lower, 0);
  EXPECT_GT(r->absolute_lift.ci.upper, 0);
  EXPECT_EQ(r->relative_lift.status, Estimability::kZeroBaseline);
  EXPECT_EQ(r->test.status, Estimability::kNoVariance);
}

TEST(Lift, EveryUnitHadTheOutcome) {
  auto r = CohortLift(C(30, 30), C(20, 20));
  ASSERT_TRUE(r.ok());
  ExpectFinite(*r);
  EXPECT_EQ(r->exposed.rate, 1);
  EXPECT_EQ(r->exposed.ci.upper, 1);
  EXPECT_LT(r->exposed.ci.lower, 1);
  EXPECT_EQ(r->relative_lift.status, Estimability::kEstimable);
  EXPECT_EQ(r->relative_lift.relative_lift, 0);
  EXPECT_EQ(r->test.status, Estimability::kNoVariance);
  // One arm at 100%, the other not: the test is defined.
  auto s = CohortLift(C(30, 30), C(10, 20));
  ASSERT_TRUE(s.ok());
  ExpectFinite(*s);
  EXPECT_EQ(s->test.status, Estimability::kEstimable);
  EXPECT_LE(s->absolute_lift.ci.upper, 1);
}

TEST(Lift, IntervalsContainTheirEstimates) {
  for (int64_t n1 : {1, 2, 5, 17}) {
    for (int64_t x1 = 0; x1 <= n1; ++x1) {
      for (int64_t n2 : {1, 3, 11}) {
        for (int64_t x2 = 0; x2 <= n2; ++x2) {
          for (bool cc : {false, true}) {
            LiftOptions o;
            o.continuity_correction = cc;
            auto r = CohortLift(C(x1, n1), C(x2, n2), o);
            ASSERT_TRUE(r.ok());
            ExpectFinite(*r);
            SCOPED_TRACE(testing::Message() << x1 << "/" << n1 << " " << x2 << "/" << n2);
            EXPECT_LE(r->exposed.ci.lower, r->exposed.rate);
            EXPECT_GE(r->exposed.ci.upper, r->exposed.rate);
            EXPECT_GE(r->exposed.ci.lower, 0);
            EXPECT_LE(r->exposed.ci.upper, 1);
            EXPECT_LE(r->absolute_lift.ci.lower, r->absolute_lift.difference);
            EXPECT_GE(r->absolute_lift.ci.upper, r->absolute_lift.difference);
            EXPECT_GE(r->absolute_lift.ci.lower, -1);
            EXPECT_LE(r->absolute_lift.ci.upper, 1);
            if (r->relative_lift.status == Estimability::kEstimable) {
              EXPECT_LE(r->relative_lift.ci.lower, r->relative_lift.relative_lift);
              EXPECT_GE(r->relative_lift.ci.upper, r->relative_lift.relative_lift);
              EXPECT_GE(r->relative_lift.ci.lower, -1);
            }
            EXPECT_GE(r->test.p_value, 0);
            EXPECT_LE(r->test.p_value, 1);
          }
        }
      }
    }
  }
}

TEST(Lift, ContinuityCorrectionWidens) {
  auto plain = WilsonRate(C(15, 148));
  auto cc = WilsonRate(C(15, 148), 0.95, true);
  ASSERT_TRUE(plain.ok() && cc.ok());
  EXPECT_LT(cc->ci.lower, plain->ci.lower);
  EXPECT_GT(cc->ci.upper, plain->ci.upper);
  auto narrow = WilsonRate(C(15, 148), 0.8);
  ASSERT_TRUE(narrow.ok());
  EXPECT_GT(narrow->ci.lower, plain->ci.lower);
}

TEST(Lift, PrePostIsLabelledWeaker) {
  auto pre_post = PrePostLift(C(120, 1000), C(100, 1000));
  auto cohort = CohortLift(C(120, 1000), C(100, 1000));
  ASSERT_TRUE(pre_post.ok() && cohort.ok());
  EXPECT_EQ(pre_post->evidence, Evidence::kPrePost);
  EXPECT_EQ(cohort->evidence, Evidence::kRandomizedHoldout);
  EXPECT_EQ(EvidenceName(pre_post->evidence), "pre_post");
  EXPECT_EQ(EvidenceName(cohort->evidence), "randomized_holdout");
  EXPECT_NE(EvidenceCaveat(Evidence::kPrePost).find("weaker evidence"), std::string_view::npos);
  // The same numbers either way: only the label differs.
  EXPECT_EQ(pre_post->absolute_lift.ci.lower, cohort->absolute_lift.ci.lower);
  EXPECT_EQ(pre_post->test.p_value, cohort->test.p_value);
}

TEST(Lift, RelativeLiftPointAndDirection) {
  auto r = RelativeLift(C(30, 100), C(20, 100));
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->relative_lift, 0.5, 1e-15);
  EXPECT_LT(r->ci.lower, 0.5);
  EXPECT_GT(r->ci.upper, 0.5);
  // exp(ln 1.5 ± 1.96 sqrt(1/30 - 1/100 + 1/20 - 1/100)) - 1, by hand.
  const double half = NormalQuantile(0.975) * std::sqrt(1.0 / 30 - 0.01 + 1.0 / 20 - 0.01);
  EXPECT_NEAR(r->ci.lower, 1.5 * std::exp(-half) - 1, 1e-14);
  EXPECT_NEAR(r->ci.upper, 1.5 * std::exp(half) - 1, 1e-14);
}

TEST(Lift, RejectsImpossibleCounts) {
  EXPECT_EQ(CohortLift(C(5, 4), C(1, 10)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CohortLift(C(-1, 4), C(1, 10)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CohortLift(C(1, 4), C(1, -10)).status().code(), absl::StatusCode::kInvalidArgument);
  LiftOptions bad;
  bad.confidence = 1;
  EXPECT_EQ(CohortLift(C(1, 4), C(1, 10), bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OneProportionZTest(C(1, 4), 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loopgate::analytics
