#include "analytics/lift.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"
#include "common/strings.h"

namespace loopgate::analytics {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 53;  // Counts stay exact as doubles.

absl::Status CheckCounts(const ArmCounts& c) {
  if (c.units < 0 || c.outcomes < 0 || c.outcomes > c.units || c.units >= kMaxCount) {
    return absl::InvalidArgumentError(
        common::StrCat("counts must satisfy 0 <= outcomes <= units < 2^53 (got ", c.outcomes,
                       " of ", c.units, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckConfidence(double confidence) {
  if (!(confidence > 0 && confidence < 1)) {
    return absl::InvalidArgumentError("confidence must be in (0, 1)");
  }
  return absl::OkStatus();
}

// The two-sided critical value, computed as statsmodels does (norm.ppf(1 - alpha/2)) so that
// intervals agree to the last few ulps.
double Critical(double confidence) { return NormalQuantile(1 - (1 - confidence) / 2); }

double Clamp01(double x) { return std::min(1.0, std::max(0.0, x)); }

double PValue(double z, Alternative alternative) {
  switch (alternative) {
    case Alternative::kTwoSided:
      return std::min(1.0, 2 * NormalUpperTail(std::fabs(z)));
    case Alternative::kLarger:
      return NormalUpperTail(z);
    case Alternative::kSmaller:
      return NormalLowerTail(z);
  }
  return 1;
}

Interval WilsonInterval(int64_t x, int64_t n, double z, bool cc) {
  const double nd = static_cast<double>(n);
  const double p = static_cast<double>(x) / nd;
  const double z2 = z * z;
  Interval ci;
  if (!cc) {
    const double denom = 1 + z2 / nd;
    const double center = (p + z2 / (2 * nd)) / denom;
    const double dist = z * std::sqrt(p * (1 - p) / nd + z2 / (4 * nd * nd)) / denom;
    ci = {center - dist, center + dist};
  } else {
    // Newcombe (1998a) method 4, his equations for L and U with q = 1 - p.
    const double q = 1 - p;
    const double denom = 2 * (nd + z2);
    const double lo_root = z2 - 2 - 1 / nd + 4 * p * (nd * q + 1);
    const double hi_root = z2 + 2 - 1 / nd + 4 * p * (nd * q - 1);
    ci.lower = (2 * nd * p + z2 - 1 - z * std::sqrt(std::max(0.0, lo_root))) / denom;
    ci.upper = (2 * nd * p + z2 + 1 + z * std::sqrt(std::max(0.0, hi_root))) / denom;
  }
  // The exact limits at the boundaries; rounding could otherwise leave -1e-17 or 1 + 1e-16.
  if (x == 0) ci.lower = 0;
  if (x == n) ci.upper = 1;
  ci.lower = std::min(Clamp01(ci.lower), p);
  ci.upper = std::max(Clamp01(ci.upper), p);
  return ci;
}

absl::StatusOr<LiftResult> Lift(Evidence evidence, const ArmCounts& exposed,
                                const ArmCounts& comparison, const LiftOptions& options) {
  RETURN_IF_ERROR(CheckConfidence(options.confidence));
  LiftResult r;
  r.evidence = evidence;
  ASSIGN_OR_RETURN(r.exposed,
                   WilsonRate(exposed, options.confidence, options.continuity_correction));
  ASSIGN_OR_RETURN(r.comparison,
                   WilsonRate(comparison, options.confidence, options.continuity_correction));
  ASSIGN_OR_RETURN(r.absolute_lift, NewcombeDifference(exposed, comparison, options.confidence,
                                                       options.continuity_correction));
  ASSIGN_OR_RETURN(r.relative_lift, RelativeLift(exposed, comparison, options.confidence));
  ASSIGN_OR_RETURN(r.test, TwoProportionZTest(exposed, comparison, options.alternative));
  return r;
}

}  // namespace

std::string_view EstimabilityName(Estimability e) {
  switch (e) {
    case Estimability::kEstimable:
      return "estimable";
    case Estimability::kNoUnits:
      return "no_units";
    case Estimability::kZeroBaseline:
      return "zero_baseline";
    case Estimability::kNoVariance:
      return "no_variance";
    case Estimability::kNotReached:
      return "not_reached";
  }
  return "unknown";
}

std::string_view EvidenceName(Evidence e) {
  switch (e) {
    case Evidence::kRandomizedHoldout:
      return "randomized_holdout";
    case Evidence::kPrePost:
      return "pre_post";
  }
  return "unknown";
}

std::string_view EvidenceCaveat(Evidence e) {
  switch (e) {
    case Evidence::kRandomizedHoldout:
      return "Randomized holdout: the difference estimates the effect of exposure.";
    case Evidence::kPrePost:
      return "Pre/post comparison without a holdout: weaker evidence; changes over time are not "
             "separated from the effect of exposure.";
  }
  return "";
}

double NormalUpperTail(double z) { return 0.5 * std::erfc(z * M_SQRT1_2); }
double NormalLowerTail(double z) { return 0.5 * std::erfc(-z * M_SQRT1_2); }

double NormalQuantile(double p) {
  if (!(p > 0 && p < 1)) return p == 0 ? -HUGE_VAL : (p == 1 ? HUGE_VAL : NAN);
  // Above the median, reflect: 1 - p is exact there (Sterbenz), and the refinement below works
  // in the lower tail where Φ has no cancellation.
  if (p > 0.5) return -NormalQuantile(1 - p);
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  // One Halley step takes Acklam's relative error of 1.15e-9 to machine precision.
  const double e = NormalLowerTail(x) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

absl::StatusOr<RateEstimate> WilsonRate(const ArmCounts& counts, double confidence,
                                        bool continuity_correction) {
  RETURN_IF_ERROR(CheckCounts(counts));
  RETURN_IF_ERROR(CheckConfidence(confidence));
  RateEstimate r;
  r.counts = counts;
  if (counts.units == 0) return r;  // kNoUnits, zeros.
  r.status = Estimability::kEstimable;
  r.rate = static_cast<double>(counts.outcomes) / static_cast<double>(counts.units);
  r.ci = WilsonInterval(counts.outcomes, counts.units, Critical(confidence), continuity_correction);
  return r;
}

absl::StatusOr<DifferenceEstimate> NewcombeDifference(const ArmCounts& first,
                                                      const ArmCounts& second, double confidence,
                                                      bool continuity_correction) {
  ASSIGN_OR_RETURN(RateEstimate a, WilsonRate(first, confidence, continuity_correction));
  ASSIGN_OR_RETURN(RateEstimate b, WilsonRate(second, confidence, continuity_correction));
  DifferenceEstimate d;
  if (a.status != Estimability::kEstimable || b.status != Estimability::kEstimable) return d;
  d.status = Estimability::kEstimable;
  d.difference = a.rate - b.rate;
  const double below = std::hypot(a.rate - a.ci.lower, b.ci.upper - b.rate);
  const double above = std::hypot(a.ci.upper - a.rate, b.rate - b.ci.lower);
  d.ci.lower = std::max(-1.0, d.difference - below);
  d.ci.upper = std::min(1.0, d.difference + above);
  return d;
}

absl::StatusOr<RatioEstimate> RelativeLift(const ArmCounts& first, const ArmCounts& second,
                                           double confidence) {
  RETURN_IF_ERROR(CheckCounts(first));
  RETURN_IF_ERROR(CheckCounts(second));
  RETURN_IF_ERROR(CheckConfidence(confidence));
  RatioEstimate r;
  if (first.units == 0 || second.units == 0) return r;  // kNoUnits.
  if (second.outcomes == 0) {
    r.status = Estimability::kZeroBaseline;
    return r;
  }
  r.status = Estimability::kEstimable;
  const double z = Critical(confidence);
  // Katz's variance of ln(p1/p2); with 0.5 added to every count when x1 = 0 (the ratio is then
  // 0 and its log undefined).
  auto log_interval = [z](double x1, double n1, double x2, double n2) {
    const double log_ratio = std::log((x1 / n1) / (x2 / n2));
    const double var = std::max(0.0, 1 / x1 - 1 / n1 + 1 / x2 - 1 / n2);
    const double half = z * std::sqrt(var);
    return Interval{std::exp(log_ratio - half) - 1, std::exp(log_ratio + half) - 1};
  };
  const double x1 = static_cast<double>(first.outcomes), n1 = static_cast<double>(first.units);
  const double x2 = static_cast<double>(second.outcomes), n2 = static_cast<double>(second.units);
  r.relative_lift = (x1 / n1) / (x2 / n2) - 1;
  if (first.outcomes == 0) {
    r.zero_count_adjusted = true;
    r.ci = {-1, log_interval(x1 + 0.5, n1 + 0.5, x2 + 0.5, n2 + 0.5).upper};
  } else {
    r.ci = log_interval(x1, n1, x2, n2);
  }
  // The point lies inside its interval mathematically; keep it so after rounding.
  r.ci.lower = std::max(-1.0, std::min(r.ci.lower, r.relative_lift));
  r.ci.upper = std::max(r.ci.upper, r.relative_lift);
  return r;
}

absl::StatusOr<ZTestResult> TwoProportionZTest(const ArmCounts& first, const ArmCounts& second,
                                               Alternative alternative) {
  RETURN_IF_ERROR(CheckCounts(first));
  RETURN_IF_ERROR(CheckCounts(second));
  ZTestResult t;
  t.alternative = alternative;
  if (first.units == 0 || second.units == 0) return t;  // kNoUnits.
  const double x1 = static_cast<double>(first.outcomes), n1 = static_cast<double>(first.units);
  const double x2 = static_cast<double>(second.outcomes), n2 = static_cast<double>(second.units);
  // The operations in statsmodels' order (proportions_ztest), for agreement to the last ulps.
  const double diff = x1 / n1 - x2 / n2;
  const double pooled = (x1 + x2) / (n1 + n2);
  const double var = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (!(var > 0)) {
    t.status = Estimability::kNoVariance;
    return t;
  }
  t.status = Estimability::kEstimable;
  t.z = diff / std::sqrt(var);
  t.p_value = PValue(t.z, alternative);
  return t;
}

absl::StatusOr<ZTestResult> OneProportionZTest(const ArmCounts& counts, double value,
                                               Alternative alternative,
                                               OneSampleVariance variance) {
  RETURN_IF_ERROR(CheckCounts(counts));
  if (!(value > 0 && value < 1)) {
    return absl::InvalidArgumentError("the hypothesized rate must be in (0, 1)");
  }
  ZTestResult t;
  t.alternative = alternative;
  if (counts.units == 0) return t;
  const double n = static_cast<double>(counts.units);
  const double p = static_cast<double>(counts.outcomes) / n;
  const double v = variance == OneSampleVariance::kObserved ? p : value;
  const double var = v * (1 - v) * (1 / n);
  if (!(var > 0)) {
    t.status = Estimability::kNoVariance;
    return t;
  }
  t.status = Estimability::kEstimable;
  t.z = (p - value) / std::sqrt(var);
  t.p_value = PValue(t.z, alternative);
  return t;
}

absl::StatusOr<LiftResult> CohortLift(const ArmCounts& exposed, const ArmCounts& holdout,
                                      const LiftOptions& options) {
  return Lift(Evidence::kRandomizedHoldout, exposed, holdout, options);
}

absl::StatusOr<LiftResult> PrePostLift(const ArmCounts& post, const ArmCounts& pre,
                                       const LiftOptions& options) {
  return Lift(Evidence::kPrePost, post, pre, options);
}

}  // namespace loopgate::analytics
