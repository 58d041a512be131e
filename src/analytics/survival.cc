#include "analytics/survival.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"

namespace loopgate::analytics {
namespace {

constexpr double kTieTolerance = 1e-12;

absl::Status CheckTime(double time) {
  if (!std::isfinite(time) || time < 0) {
    return absl::InvalidArgumentError("a time to outcome must be finite and non-negative");
  }
  return absl::OkStatus();
}

// Walks distinct times in increasing order, each with its outcomes and censorings.
template <typename Visit>
KaplanMeierCurve Build(int64_t units, Visit&& for_each_time) {
  KaplanMeierCurve curve;
  curve.units = units;
  int64_t at_risk = units;
  double survival = 1;
  double greenwood = 0;  // Σ d / (n (n - d)) so far.
  bool se_defined = true;
  for_each_time([&](double time, int64_t events, int64_t censored) {
    if (events > 0) {
      KaplanMeierStep step;
      step.time = time;
      step.at_risk = at_risk;
      step.events = events;
      survival *= 1 - static_cast<double>(events) / static_cast<double>(at_risk);
      if (events == at_risk) {
        survival = 0;
        se_defined = false;
      } else {
        const double n = static_cast<double>(at_risk), d = static_cast<double>(events);
        greenwood += d / (n * (n - d));
      }
      step.survival = survival;
      step.std_error_defined = se_defined;
      step.std_error = se_defined ? survival * std::sqrt(greenwood) : 0;
      curve.steps.push_back(step);
      curve.events += events;
    }
    at_risk -= events + censored;
  });
  return curve;
}

}  // namespace

absl::StatusOr<KaplanMeierCurve> KaplanMeier(std::span<const SurvivalObservation> observations) {
  std::vector<SurvivalObservation> sorted(observations.begin(), observations.end());
  for (const auto& o : sorted) RETURN_IF_ERROR(CheckTime(o.time));
  std::sort(
      sorted.begin(), sorted.end(),
      [](const SurvivalObservation& a, const SurvivalObservation& b) { return a.time < b.time; });
  return Build(static_cast<int64_t>(sorted.size()), [&](auto&& visit) {
    for (size_t i = 0; i < sorted.size();) {
      const double t = sorted[i].time;
      int64_t events = 0, censored = 0;
      for (; i < sorted.size() && sorted[i].time == t; ++i) {
        (sorted[i].event ? events : censored) += 1;
      }
      visit(t, events, censored);
    }
  });
}

absl::Status SurvivalAccumulator::Add(double time, bool event) {
  RETURN_IF_ERROR(CheckTime(time));
  Counts& c = by_time_[time == 0 ? 0.0 : time];  // -0.0 and 0.0 are one time.
  (event ? c.events : c.censored) += 1;
  ++units_;
  return absl::OkStatus();
}

void SurvivalAccumulator::Merge(const SurvivalAccumulator& other) {
  for (const auto& [time, counts] : other.by_time_) {
    Counts& c = by_time_[time];
    c.events += counts.events;
    c.censored += counts.censored;
  }
  units_ += other.units_;
}

KaplanMeierCurve SurvivalAccumulator::Curve() const {
  return Build(units_, [&](auto&& visit) {
    for (const auto& [time, counts] : by_time_) visit(time, counts.events, counts.censored);
  });
}

absl::StatusOr<QuantileEstimate> SurvivalQuantile(const KaplanMeierCurve& curve, double p,
                                                  double confidence) {
  if (!(p > 0 && p < 1)) return absl::InvalidArgumentError("a quantile must be in (0, 1)");
  if (!(confidence > 0 && confidence < 1)) {
    return absl::InvalidArgumentError("confidence must be in (0, 1)");
  }
  QuantileEstimate q;
  q.p = p;
  if (curve.units == 0) return q;  // kNoUnits for both.
  const double target = 1 - p;
  const auto& steps = curve.steps;

  q.status = Estimability::kNotReached;
  for (size_t j = 0; j < steps.size(); ++j) {
    if (std::fabs(steps[j].survival - target) <= kTieTolerance) {
      q.status = Estimability::kEstimable;
      q.time = j + 1 < steps.size() ? (steps[j].time + steps[j + 1].time) / 2 : steps[j].time;
      break;
    }
    if (steps[j].survival < target) {
      q.status = Estimability::kEstimable;
      q.time = steps[j].time;
      break;
    }
  }

  // Brookmeyer–Crowley: the event times whose Ŝ is not rejected as equal to 1 - p by a z-test on
  // the log-log scale, g(x) = log(-log x), g'(x) = -1 / (x log x) (the delta method).
  const double z = NormalQuantile(1 - (1 - confidence) / 2);
  const double g_target = std::log(-std::log(target));
  size_t first = steps.size(), last = 0;
  for (size_t j = 0; j < steps.size(); ++j) {
    const auto& s = steps[j];
    if (!s.std_error_defined || !(s.survival > 0 && s.survival < 1) || !(s.std_error > 0)) {
      continue;
    }
    const double log_s = std::log(s.survival);
    const double r = (std::log(-log_s) - g_target) / ((-1 / (s.survival * log_s)) * s.std_error);
    if (std::fabs(r) <= z) {
      first = std::min(first, j);
      last = j;
    }
  }
  q.ci_status = Estimability::kNotReached;
  if (first < steps.size()) {
    q.ci_status = Estimability::kEstimable;
    q.ci.lower = steps[first].time;
    q.upper_bounded = last + 1 < steps.size();
    q.ci.upper = q.upper_bounded ? steps[last + 1].time : 0;
  }
  return q;
}

absl::StatusOr<TimeToOutcome> SummarizeTimeToOutcome(const KaplanMeierCurve& curve,
                                                     std::span<const double> ps,
                                                     double confidence) {
  TimeToOutcome out;
  out.units = curve.units;
  out.events = curve.events;
  ASSIGN_OR_RETURN(out.median, SurvivalQuantile(curve, 0.5, confidence));
  for (double p : ps) {
    ASSIGN_OR_RETURN(QuantileEstimate q, SurvivalQuantile(curve, p, confidence));
    out.quantiles.push_back(q);
  }
  return out;
}

}  // namespace loopgate::analytics
