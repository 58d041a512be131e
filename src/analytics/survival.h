#pragma once
// Time to outcome: the Kaplan–Meier estimate of the share of units still without the outcome
// after a given time, its quantiles (the median and the distribution) with confidence intervals.
// Formulas and references: docs/measurement.md section 3.
//
// Each unit contributes one observation: the time from its exposure (or the study start) to its
// outcome, or, for a unit without the outcome, to the end of its follow-up ("censored"). Times
// are in whatever unit the caller chooses (seconds, days), non-negative and finite.
//
// Functions are pure and thread-safe; a SurvivalAccumulator is used by one thread at a time.

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "analytics/lift.h"

namespace loopgate::analytics {

struct SurvivalObservation {
  double time = 0;     // >= 0, finite.
  bool event = false;  // true: the outcome happened at `time`; false: censored at `time`.
};

// One step of the curve, at a time when at least one outcome happened.
struct KaplanMeierStep {
  double time = 0;
  int64_t at_risk = 0;  // Units with no outcome and not censored before `time`.
  int64_t events = 0;   // Outcomes at `time` (> 0).
  // Ŝ(time): the estimated share of units without the outcome after `time`, in [0, 1].
  double survival = 0;
  // Greenwood's standard error of Ŝ(time). Undefined (false, and std_error 0) once every unit
  // still at risk has had the outcome, i.e. when Ŝ has reached 0.
  bool std_error_defined = false;
  double std_error = 0;
};

struct KaplanMeierCurve {
  int64_t units = 0;
  int64_t events = 0;                  // Units with the outcome; units - events were censored.
  std::vector<KaplanMeierStep> steps;  // Increasing time; Ŝ is 1 before the first step.
};

// The curve from per-unit observations. Ties: at equal times, outcomes come before censoring
// (a unit censored at t was at risk at t). Errors: InvalidArgument for a negative, infinite or
// NaN time.
absl::StatusOr<KaplanMeierCurve> KaplanMeier(std::span<const SurvivalObservation> observations);

// Builds the same curve without holding every observation: counts per distinct time. Memory is
// O(distinct times), so round times to the resolution the report needs (whole hours, days)
// before adding them. Add() and Curve() may be interleaved.
class SurvivalAccumulator {
 public:
  // Errors: InvalidArgument for a negative, infinite or NaN time (nothing is added).
  absl::Status Add(double time, bool event);
  // Adds another accumulator's observations (e.g. per-thread partial results).
  void Merge(const SurvivalAccumulator& other);
  KaplanMeierCurve Curve() const;
  int64_t units() const { return units_; }

 private:
  struct Counts {
    int64_t events = 0;
    int64_t censored = 0;
  };
  std::map<double, Counts> by_time_;
  int64_t units_ = 0;
};

// A quantile of the time to outcome: the time by which a share `p` of units had the outcome.
struct QuantileEstimate {
  // kEstimable; kNoUnits for an empty curve; kNotReached when Ŝ never falls below 1 - p.
  Estimability status = Estimability::kNoUnits;
  double p = 0.5;
  double time = 0;
  // The confidence interval of Brookmeyer and Crowley (1982) on the log-log scale, as SAS PROC
  // LIFETEST and statsmodels' SurvfuncRight.quantile_ci(method="cloglog") compute it. Its limits
  // are event times. `ci_status` kNotReached: not even the lower limit exists (every test
  // rejects); `upper_bounded` false: the upper limit lies beyond the last event time.
  Estimability ci_status = Estimability::kNoUnits;
  Interval ci;
  bool upper_bounded = false;
};

// The p-quantile (p in (0, 1)) of the time to outcome: the first event time t with
// Ŝ(t) < 1 - p. Where Ŝ equals 1 - p exactly (within 1e-12) over [t_j, t_j+1), the midpoint of
// the two event times; when t_j is the last event time, t_j (docs/measurement.md 3.2).
// Errors: InvalidArgument for p or confidence outside (0, 1).
absl::StatusOr<QuantileEstimate> SurvivalQuantile(const KaplanMeierCurve& curve, double p,
                                                  double confidence = 0.95);

// The default quantiles of SummarizeTimeToOutcome: the 10th, 25th, 75th and 90th percentiles.
inline constexpr double kDefaultQuantilesArray[] = {0.10, 0.25, 0.75, 0.90};
inline constexpr std::span<const double> kDefaultQuantiles{kDefaultQuantilesArray};

// What a report shows for a group's time to outcome.
struct TimeToOutcome {
  int64_t units = 0;
  int64_t events = 0;
  QuantileEstimate median;
  std::vector<QuantileEstimate> quantiles;  // One per requested p, in the order given.
};

// The median and the quantiles `ps`, each in (0, 1).
absl::StatusOr<TimeToOutcome> SummarizeTimeToOutcome(const KaplanMeierCurve& curve,
                                                     std::span<const double> ps = kDefaultQuantiles,
                                                     double confidence = 0.95);

}  // namespace loopgate::analytics
