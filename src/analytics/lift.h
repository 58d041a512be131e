#pragma once
// Cohort lift: outcome rates of an exposed cohort and a comparison (a randomized holdout, or the
// same population before exposure), their difference and ratio with confidence intervals, and a
// two-proportion z-test. Formulas and references: docs/measurement.md section 2.
//
// Every function here is pure and thread-safe. No output field is ever NaN or infinite: a
// statistic that the counts cannot support carries an Estimability other than kEstimable, and
// its numeric fields are then 0 and must not be printed.

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace loopgate::analytics {

// Whether a statistic could be computed. Not an error: an empty arm or a rate of zero in the
// baseline is an ordinary outcome of a study, which a report prints instead of a number.
enum class Estimability : uint8_t {
  kEstimable = 0,
  // An arm the statistic needs has no units (n = 0).
  kNoUnits,
  // The relative lift divides by the comparison rate, which is 0.
  kZeroBaseline,
  // The z statistic's standard error is 0: the pooled rate is 0 or 1 (no outcome anywhere, or
  // every unit had one), so there is no variation to test against.
  kNoVariance,
  // Time to outcome: the survival curve never falls far enough for this quantile (fewer than the
  // quantile's share of units had the outcome before the last follow-up).
  kNotReached,
};

// "estimable", "no_units", "zero_baseline", "no_variance", "not_reached".
std::string_view EstimabilityName(Estimability e);

// The strength of the design behind a comparison. Report writers must print it next to every
// lift (EvidenceName and EvidenceCaveat give the words).
enum class Evidence : uint8_t {
  // Units were assigned at random to exposure or holdout before exposure: the difference
  // estimates the causal effect of exposure.
  kRandomizedHoldout = 0,
  // No holdout: the same population after exposure against before it. Any change over time
  // (seasonality, other campaigns, regression to the mean, a changed population) is confounded
  // with the effect: weaker evidence.
  kPrePost,
};

// "randomized_holdout", "pre_post".
std::string_view EvidenceName(Evidence e);
// One sentence for reports, e.g. for kPrePost: "Pre/post comparison without a holdout: weaker
// evidence; changes over time are not separated from the effect of exposure."
std::string_view EvidenceCaveat(Evidence e);

// The alternative hypothesis of a z-test, named as in statsmodels' proportions_ztest. For two
// samples, "larger" means the first (exposed) rate is larger than the second (comparison).
enum class Alternative : uint8_t { kTwoSided = 0, kLarger, kSmaller };

// Units in an arm and how many of them had the outcome. Precondition for every function below
// (checked, InvalidArgument otherwise): 0 <= outcomes <= units < 2^53.
struct ArmCounts {
  int64_t units = 0;
  int64_t outcomes = 0;

  friend bool operator==(const ArmCounts&, const ArmCounts&) = default;
};

struct Interval {
  double lower = 0;
  double upper = 0;
};

// A rate with its Wilson score interval.
struct RateEstimate {
  Estimability status = Estimability::kNoUnits;  // kEstimable or kNoUnits.
  ArmCounts counts;
  double rate = 0;  // outcomes / units.
  Interval ci;      // Within [0, 1], contains `rate`.
};

// Absolute lift: exposed rate minus comparison rate, with Newcombe's hybrid score interval.
struct DifferenceEstimate {
  Estimability status = Estimability::kNoUnits;  // kEstimable or kNoUnits.
  double difference = 0;                         // In [-1, 1].
  Interval ci;                                   // Within [-1, 1], contains `difference`.
};

// Relative lift: exposed rate / comparison rate - 1, with the log (Katz) interval.
struct RatioEstimate {
  Estimability status = Estimability::kNoUnits;  // kEstimable, kNoUnits or kZeroBaseline.
  double relative_lift = 0;                      // In [-1, inf).
  Interval ci;                                   // Contains `relative_lift`.
  // The exposed arm had no outcomes, so the log method's variance is undefined: the upper limit
  // comes from 0.5 added to each count and each n (statsmodels' "log-adjusted") and the lower
  // limit is -1.
  bool zero_count_adjusted = false;
};

struct ZTestResult {
  Estimability status = Estimability::kNoUnits;  // kEstimable, kNoUnits or kNoVariance.
  Alternative alternative = Alternative::kTwoSided;
  double z = 0;
  double p_value = 1;  // In [0, 1]; computed with erfc, so tail values keep their precision.
};

struct LiftOptions {
  // Two-sided coverage of every interval, in (0, 1).
  double confidence = 0.95;
  // Wilson intervals with continuity correction (Newcombe 1998a method 4), and Newcombe's
  // difference built on them (method 11). Off by default: the uncorrected score interval has
  // coverage closer to nominal on average (Newcombe 1998a, 1998b).
  bool continuity_correction = false;
  Alternative alternative = Alternative::kTwoSided;
};

// Everything a report shows for one comparison.
struct LiftResult {
  Evidence evidence = Evidence::kRandomizedHoldout;
  RateEstimate exposed;     // Exposed cohort, or the post period.
  RateEstimate comparison;  // Holdout, or the pre period.
  DifferenceEstimate absolute_lift;
  RatioEstimate relative_lift;
  ZTestResult test;  // Pooled two-proportion z-test of exposed against comparison.
};

// Lift of a randomized design: `evidence` is kRandomizedHoldout. Errors: InvalidArgument when
// counts or options break their preconditions.
absl::StatusOr<LiftResult> CohortLift(const ArmCounts& exposed, const ArmCounts& holdout,
                                      const LiftOptions& options = {});

// The same computation for a pre/post comparison, `evidence` kPrePost. The periods are treated as
// independent samples; when they hold the same units the intervals ignore the within-unit
// correlation as well (docs/measurement.md section 2.6).
absl::StatusOr<LiftResult> PrePostLift(const ArmCounts& post, const ArmCounts& pre,
                                       const LiftOptions& options = {});

// --- The building blocks, for other designs and for tests. ---

// The standard normal quantile function: x with P(Z <= x) = p, for p in (0, 1); accurate to a
// few ulps (Acklam's rational approximation, refined by one Halley step on erfc).
double NormalQuantile(double p);

// P(Z > z) and P(Z < z) for a standard normal Z, computed as erfc(±z/√2)/2, without
// cancellation in either tail.
double NormalUpperTail(double z);
double NormalLowerTail(double z);

// Wilson's score interval for outcomes/units (Wilson 1927; Newcombe 1998a methods 3 and 4).
absl::StatusOr<RateEstimate> WilsonRate(const ArmCounts& counts, double confidence = 0.95,
                                        bool continuity_correction = false);

// Newcombe's hybrid score interval for p1 - p2 (Newcombe 1998b method 10, or 11 with continuity
// correction): the difference's limits combine each rate's Wilson limits.
absl::StatusOr<DifferenceEstimate> NewcombeDifference(const ArmCounts& first,
                                                      const ArmCounts& second,
                                                      double confidence = 0.95,
                                                      bool continuity_correction = false);

// p1/p2 - 1 with the interval exp(ln(p1/p2) ± z·sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2)) - 1 (Katz et
// al. 1978), as statsmodels' confint_proportions_2indep(compare="ratio", method="log").
absl::StatusOr<RatioEstimate> RelativeLift(const ArmCounts& first, const ArmCounts& second,
                                           double confidence = 0.95);

// The pooled two-sample z-test of p1 = p2, as statsmodels' proportions_ztest(count, nobs) with
// its default (pooled) variance: z = (p1 - p2) / sqrt(p(1-p)(1/n1 + 1/n2)), p the pooled rate.
absl::StatusOr<ZTestResult> TwoProportionZTest(const ArmCounts& first, const ArmCounts& second,
                                               Alternative alternative = Alternative::kTwoSided);

// The variance used by the one-sample test.
enum class OneSampleVariance : uint8_t {
  // p̂(1-p̂)/n, the observed rate: statsmodels' proportions_ztest(count, nobs, value) default.
  kObserved = 0,
  // p0(1-p0)/n, the hypothesized rate: the score test (statsmodels' prop_var=value).
  kHypothesized,
};

// The one-sample z-test of p = `value` (value in (0, 1)). status kNoVariance when the chosen
// variance is 0 (an observed rate of 0 or 1 with kObserved).
absl::StatusOr<ZTestResult> OneProportionZTest(
    const ArmCounts& counts, double value, Alternative alternative = Alternative::kTwoSided,
    OneSampleVariance variance = OneSampleVariance::kObserved);

}  // namespace loopgate::analytics
