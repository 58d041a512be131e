#include "analytics/survival.h"

#include <cmath>
#include <random>
#include <sstream>
#include <vector>

#include "analytics/analytics_testing.h"
#include "gtest/gtest.h"

namespace loopgate::analytics {
namespace {

// The 6-MP arm of Freireich et al. (1963), weeks in remission; "+" marks censoring:
// 6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+.
std::vector<SurvivalObservation> SixMp() {
  std::vector<SurvivalObservation> v;
  for (double t : {6, 6, 6, 7, 10, 13, 16, 22, 23}) v.push_back({t, true});
  for (double t : {6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35}) v.push_back({t, false});
  return v;
}

TEST(KaplanMeier, SixMpTextbookValues) {
  // Ŝ and Greenwood standard errors as printed by R's survfit and in Klein & Moeschberger
  // (2003), Table 4.1A, to 4 decimals.
  auto curve = KaplanMeier(SixMp());
  ASSERT_TRUE(curve.ok()) << curve.status();
  EXPECT_EQ(curve->units, 21);
  EXPECT_EQ(curve->events, 9);
  const double times[] = {6, 7, 10, 13, 16, 22, 23};
  const int64_t at_risk[] = {21, 17, 15, 12, 11, 7, 6};
  const double survival[] = {0.8571, 0.8067, 0.7529, 0.6902, 0.6275, 0.5378, 0.4482};
  const double se[] = {0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346};
  ASSERT_EQ(curve->steps.size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(curve->steps[i].time, times[i]);
    EXPECT_EQ(curve->steps[i].at_risk, at_risk[i]);
    EXPECT_NEAR(curve->steps[i].survival, survival[i], 0.5e-4);
    EXPECT_TRUE(curve->steps[i].std_error_defined);
    EXPECT_NEAR(curve->steps[i].std_error, se[i], 0.5e-4);
  }
  auto median = SurvivalQuantile(*curve, 0.5);
  ASSERT_TRUE(median.ok());
  EXPECT_EQ(median->status, Estimability::kEstimable);
  EXPECT_EQ(median->time, 23);
  // Brookmeyer–Crowley on the log-log scale: [13, not reached) (statsmodels, SAS LIFETEST).
  EXPECT_EQ(median->ci_status, Estimability::kEstimable);
  EXPECT_EQ(median->ci.lower, 13);
  EXPECT_FALSE(median->upper_bounded);
  auto q25 = SurvivalQuantile(*curve, 0.25);
  ASSERT_TRUE(q25.ok());
  EXPECT_EQ(q25->time, 13);
  EXPECT_EQ(q25->ci.lower, 6);
  EXPECT_TRUE(q25->upper_bounded);
  EXPECT_EQ(q25->ci.upper, 22);
  auto q75 = SurvivalQuantile(*curve, 0.75);
  ASSERT_TRUE(q75.ok());
  EXPECT_EQ(q75->status, Estimability::kNotReached);
}

TEST(KaplanMeier, ExactHalfTakesTheMidpoint) {
  std::vector<SurvivalObservation> v;
  for (int t = 1; t <= 10; ++t) v.push_back({static_cast<double>(t), true});
  auto curve = KaplanMeier(v);
  ASSERT_TRUE(curve.ok());
  auto median = SurvivalQuantile(*curve, 0.5);
  ASSERT_TRUE(median.ok());
  EXPECT_EQ(median->time, 5.5);  // Ŝ = 0.5 on [5, 6).
  auto q30 = SurvivalQuantile(*curve, 0.3);
  ASSERT_TRUE(q30.ok());
  EXPECT_EQ(q30->time, 3.5);
  // Every unit had the outcome: Ŝ reaches 0 and its standard error is undefined there.
  EXPECT_EQ(curve->steps.back().survival, 0);
  EXPECT_FALSE(curve->steps.back().std_error_defined);
  EXPECT_EQ(curve->steps.back().std_error, 0);
}

TEST(KaplanMeier, EmptyAndInvalid) {
  auto empty = KaplanMeier({});
  ASSERT_TRUE(empty.ok());
  auto q = SurvivalQuantile(*empty, 0.5);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->status, Estimability::kNoUnits);
  EXPECT_EQ(q->ci_status, Estimability::kNoUnits);
  const SurvivalObservation bad[] = {{1, true}, {-1, true}};
  EXPECT_EQ(KaplanMeier(bad).status().code(), absl::StatusCode::kInvalidArgument);
  const SurvivalObservation nan[] = {{NAN, false}};
  EXPECT_EQ(KaplanMeier(nan).status().code(), absl::StatusCode::kInvalidArgument);
  SurvivalAccumulator acc;
  EXPECT_EQ(acc.Add(INFINITY, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(acc.units(), 0);
  EXPECT_EQ(SurvivalQuantile(*empty, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KaplanMeier, CensoringAtAnEventTimeCountsAsAtRisk) {
  // Two units at t = 5: one outcome, one censored. Both were at risk at 5.
  const SurvivalObservation v[] = {{5, true}, {5, false}, {8, true}};
  auto curve = KaplanMeier(v);
  ASSERT_TRUE(curve.ok());
  ASSERT_EQ(curve->steps.size(), 2u);
  EXPECT_EQ(curve->steps[0].at_risk, 3);
  EXPECT_NEAR(curve->steps[0].survival, 2.0 / 3, 1e-15);
  EXPECT_EQ(curve->steps[1].at_risk, 1);
  EXPECT_EQ(curve->steps[1].survival, 0);
}

std::vector<SurvivalObservation> RandomObservations(uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> event(1.0 / 20), censor(1.0 / 35);
  std::vector<SurvivalObservation> v;
  for (int i = 0; i < n; ++i) {
    // Whole days, so that ties occur, as in binned analytics data.
    const double te = std::floor(event(rng)), tc = std::floor(censor(rng));
    v.push_back({std::min(te, tc), te <= tc});
  }
  return v;
}

TEST(SurvivalAccumulator, SameCurveAsKaplanMeier) {
  const auto v = RandomObservations(7, 5000);
  SurvivalAccumulator a, b;
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_TRUE((i % 2 ? a : b).Add(v[i].time, v[i].event).ok());
  }
  a.Merge(b);
  auto direct = KaplanMeier(v);
  ASSERT_TRUE(direct.ok());
  const KaplanMeierCurve merged = a.Curve();
  EXPECT_EQ(merged.units, direct->units);
  EXPECT_EQ(merged.events, direct->events);
  ASSERT_EQ(merged.steps.size(), direct->steps.size());
  for (size_t i = 0; i < merged.steps.size(); ++i) {
    EXPECT_EQ(merged.steps[i].time, direct->steps[i].time);
    EXPECT_EQ(merged.steps[i].at_risk, direct->steps[i].at_risk);
    EXPECT_EQ(merged.steps[i].survival, direct->steps[i].survival);
    EXPECT_EQ(merged.steps[i].std_error, direct->steps[i].std_error);
  }
}

// The curve, its standard errors, quantiles and their intervals against statsmodels'
// SurvfuncRight, computed at test time.
TEST(KaplanMeier, MatchesStatsmodels) {
  const auto python = test_support::StatsmodelsPython();
  if (!python) {
    GTEST_SKIP() << "python3 with statsmodels and scipy is not installed (scripts/deps.sh installs "
                    "python3-statsmodels); the independent check cannot run";
  }
  const double ps[] = {0.1, 0.25, 0.5, 0.75};
  for (uint64_t seed : {1, 2, 3, 4}) {
    const int n = seed == 1 ? 40 : 300 * static_cast<int>(seed);
    const auto v = RandomObservations(seed, n);
    std::ostringstream script;
    script << "from statsmodels.duration.survfunc import SurvfuncRight\n"
              "import warnings\nwarnings.simplefilter('ignore')\n"
              "def r(*v): print(' '.join(repr(float(x)) for x in v))\n"
              "t = [";
    for (const auto& o : v) script << o.time << ",";
    script << "]\ns = [";
    for (const auto& o : v) script << (o.event ? 1 : 0) << ",";
    script << "]\nsf = SurvfuncRight(t, s)\n"
              "for i in range(len(sf.surv_times)):\n"
              "  r(sf.surv_times[i], sf.surv_prob[i], sf.surv_prob_se[i], sf.n_risk[i])\n"
              "for p in (0.1, 0.25, 0.5, 0.75):\n"
              "  lo, hi = sf.quantile_ci(p)\n"
              "  q = sf.quantile(p)\n"
              "  r(-1, q, lo, hi)\n";
    const auto rows = test_support::ParseRows(test_support::RunPython(*python, script.str()));
    auto curve = KaplanMeier(v);
    ASSERT_TRUE(curve.ok());
    ASSERT_EQ(rows.size(), curve->steps.size() + 4) << "seed " << seed;
    for (size_t i = 0; i < curve->steps.size(); ++i) {
      const auto& s = curve->steps[i];
      EXPECT_EQ(s.time, rows[i][0]);
      EXPECT_NEAR(s.survival, rows[i][1], 1e-12);
      EXPECT_EQ(s.at_risk, static_cast<int64_t>(rows[i][3]));
      if (std::isnan(rows[i][2])) {
        EXPECT_FALSE(s.std_error_defined);
      } else {
        EXPECT_NEAR(s.std_error, rows[i][2], 1e-12);
      }
    }
    for (size_t k = 0; k < 4; ++k) {
      const auto& e = rows[curve->steps.size() + k];
      SCOPED_TRACE(testing::Message() << "seed " << seed << " p " << ps[k]);
      auto q = SurvivalQuantile(*curve, ps[k]);
      ASSERT_TRUE(q.ok());
      // statsmodels takes the first time with Ŝ < 1 - p strictly, with no midpoint rule; the two
      // definitions agree unless Ŝ hits 1 - p exactly, which the test data avoid.
      bool exact_tie = false;
      for (const auto& s : curve->steps) {
        exact_tie |= std::fabs(s.survival - (1 - ps[k])) <= 1e-12;
      }
      ASSERT_FALSE(exact_tie);
      if (std::isnan(e[1])) {
        EXPECT_EQ(q->status, Estimability::kNotReached);
      } else {
        EXPECT_EQ(q->status, Estimability::kEstimable);
        EXPECT_EQ(q->time, e[1]);
      }
      if (std::isnan(e[2])) {
        EXPECT_EQ(q->ci_status, Estimability::kNotReached);
      } else {
        EXPECT_EQ(q->ci_status, Estimability::kEstimable);
        EXPECT_EQ(q->ci.lower, e[2]);
        if (std::isinf(e[3])) {
          EXPECT_FALSE(q->upper_bounded);
        } else {
          EXPECT_TRUE(q->upper_bounded);
          EXPECT_EQ(q->ci.upper, e[3]);
        }
      }
    }
  }
}

TEST(TimeToOutcome, SummaryHasMedianAndQuantiles) {
  auto curve = KaplanMeier(SixMp());
  ASSERT_TRUE(curve.ok());
  auto summary = SummarizeTimeToOutcome(*curve);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->units, 21);
  EXPECT_EQ(summary->events, 9);
  EXPECT_EQ(summary->median.time, 23);
  ASSERT_EQ(summary->quantiles.size(), kDefaultQuantiles.size());
  for (size_t i = 0; i < kDefaultQuantiles.size(); ++i) {
    EXPECT_EQ(summary->quantiles[i].p, kDefaultQuantiles[i]);
  }
  EXPECT_EQ(summary->quantiles[0].time, 6);   // 10%: Ŝ(6) = 0.857 < 0.9.
  EXPECT_EQ(summary->quantiles[1].time, 13);  // 25%
  EXPECT_EQ(summary->quantiles[2].status, Estimability::kNotReached);
}

}  // namespace
}  // namespace loopgate::analytics
