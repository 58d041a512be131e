#include "attribution/models.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "attribution/internal/compensated_sum.h"
#include "common/strings.h"

namespace loopgate::attribution {
namespace {

using internal::CompensatedSum;

// Per-channel compensated accumulators for conversions and value.
class Accumulator {
 public:
  explicit Accumulator(size_t channels) : conversions_(channels), value_(channels) {}
  // Credits `share` of a path's conversions and value to `channel`.
  void Credit(ChannelId channel, double share, const PathSet::Path& p) {
    conversions_[channel].Add(share * static_cast<double>(p.conversions));
    value_[channel].Add(share * p.value);
  }
  Attribution Result() const {
    Attribution out(conversions_.size());
    for (size_t c = 0; c < out.size(); ++c) {
      out[c] = {conversions_[c].Value(), value_[c].Value()};
    }
    return out;
  }

 private:
  std::vector<CompensatedSum> conversions_;
  std::vector<CompensatedSum> value_;
};

bool Contributes(const PathSet::Path& p) { return p.conversions != 0; }

// Applies per-touchpoint weights (normalized here) to every converting path.
template <typename WeightsFn>
Attribution ByTouchWeights(const PathSet& paths, WeightsFn&& weights_of) {
  Accumulator acc(paths.channels().size());
  std::vector<double> w;
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathSet::Path p = paths.path(i);
    if (!Contributes(p)) continue;
    w.assign(p.channels.size(), 0.0);
    weights_of(p.channels.size(), w);
    CompensatedSum total;
    for (double x : w) total.Add(x);
    const double norm = total.Value();
    for (size_t k = 0; k < w.size(); ++k) {
      if (w[k] != 0) acc.Credit(p.channels[k], w[k] / norm, p);
    }
  }
  return acc.Result();
}

}  // namespace

Attribution FirstTouch(const PathSet& paths) {
  Accumulator acc(paths.channels().size());
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathSet::Path p = paths.path(i);
    if (Contributes(p)) acc.Credit(p.channels.front(), 1.0, p);
  }
  return acc.Result();
}

Attribution LastTouch(const PathSet& paths) {
  Accumulator acc(paths.channels().size());
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathSet::Path p = paths.path(i);
    if (Contributes(p)) acc.Credit(p.channels.back(), 1.0, p);
  }
  return acc.Result();
}

Attribution Linear(const PathSet& paths) {
  Accumulator acc(paths.channels().size());
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathSet::Path p = paths.path(i);
    if (!Contributes(p)) continue;
    const double share = 1.0 / static_cast<double>(p.channels.size());
    for (ChannelId c : p.channels) acc.Credit(c, share, p);
  }
  return acc.Result();
}

Attribution PositionBased(const PathSet& paths) {
  auto result = PositionBased(paths, PositionWeights{});
  return *std::move(result);  // The default weights are valid.
}

absl::StatusOr<Attribution> PositionBased(const PathSet& paths, const PositionWeights& weights) {
  for (double x : {weights.first, weights.middle, weights.last}) {
    if (!std::isfinite(x) || x < 0) {
      return absl::InvalidArgumentError("position weights must be finite and non-negative");
    }
  }
  if (std::fabs(weights.first + weights.middle + weights.last - 1.0) > 1e-12) {
    return absl::InvalidArgumentError("position weights must sum to 1");
  }
  return ByTouchWeights(paths, [&weights](size_t n, std::vector<double>& w) {
    if (n == 1) {
      w[0] = 1;
    } else if (n == 2) {
      const bool both_zero = weights.first + weights.last == 0;
      w[0] = both_zero ? 0.5 : weights.first;
      w[1] = both_zero ? 0.5 : weights.last;
    } else {
      w[0] = weights.first;
      w[n - 1] = weights.last;
      const double middle = weights.middle / static_cast<double>(n - 2);
      for (size_t k = 1; k + 1 < n; ++k) w[k] = middle;
    }
  });
}

absl::StatusOr<Attribution> TimeDecay(const PathSet& paths, double half_life) {
  if (!std::isfinite(half_life) || half_life <= 0) {
    return absl::InvalidArgumentError("the half-life must be a finite number > 0");
  }
  // Weights depend only on the path length; paths are short, so compute per path.
  return ByTouchWeights(paths, [half_life](size_t n, std::vector<double>& w) {
    for (size_t k = 0; k < n; ++k) {
      w[k] = std::exp2(-static_cast<double>(n - 1 - k) / half_life);
    }
  });
}

absl::StatusOr<Attribution> TimeDecayByTime(std::span<const Journey> journeys,
                                            absl::Duration half_life, size_t num_channels) {
  if (half_life <= absl::ZeroDuration() || half_life == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("the half-life must be a finite duration > 0");
  }
  Accumulator acc(num_channels);
  std::vector<double> w;
  for (size_t j = 0; j < journeys.size(); ++j) {
    const Journey& journey = journeys[j];
    auto bad = [j](std::string_view what) {
      return absl::InvalidArgumentError(common::StrCat("journey ", j, ": ", what));
    };
    const size_t n = journey.touchpoints.size();
    if (n == 0) return bad("no touchpoints");
    if (journey.times.size() != n) return bad("needs one time per touchpoint");
    for (size_t k = 0; k < n; ++k) {
      if (journey.touchpoints[k] >= num_channels) return bad("a channel id is out of range");
      if (k > 0 && journey.times[k] < journey.times[k - 1]) return bad("times decrease");
    }
    if (!std::isfinite(journey.value) || journey.value < 0) {
      return bad("the value is not a finite non-negative number");
    }
    if (journey.conversions == 0 && journey.value != 0) {
      return bad("a value is given without conversions");
    }
    if (journey.conversions == 0) continue;
    w.resize(n);
    CompensatedSum total;
    for (size_t k = 0; k < n; ++k) {
      w[k] = std::exp2(-absl::FDivDuration(journey.times[n - 1] - journey.times[k], half_life));
      total.Add(w[k]);
    }
    const double norm = total.Value();
    const PathSet::Path p{journey.touchpoints, journey.conversions, journey.value, journey.nulls};
    for (size_t k = 0; k < n; ++k) {
      if (w[k] != 0) acc.Credit(journey.touchpoints[k], w[k] / norm, p);
    }
  }
  return acc.Result();
}

absl::StatusOr<Attribution> Shapley(const PathSet& paths) {
  const size_t num_channels = paths.channels().size();
  // Players: the channels that occur, numbered in id order.
  std::vector<int> player_of(num_channels, -1);
  std::vector<ChannelId> players;
  for (size_t i = 0; i < paths.size(); ++i) {
    for (ChannelId c : paths.path(i).channels) {
      if (player_of[c] < 0) {
        player_of[c] = 0;
        players.push_back(c);
      }
    }
  }
  if (players.size() > kMaxShapleyChannels) {
    return absl::InvalidArgumentError(common::StrCat(
        "Shapley values are computed exactly over all 2^n coalitions of channels, up to n = ",
        kMaxShapleyChannels, "; the paths have ", players.size(), " channels"));
  }
  std::sort(players.begin(), players.end());
  for (size_t k = 0; k < players.size(); ++k) player_of[players[k]] = static_cast<int>(k);
  const size_t n = players.size();
  const size_t coalitions = size_t{1} << n;

  // f[m]: conversions (value) of the paths whose channel set is exactly m; after the zeta
  // transform, of the paths whose channel set is a subset of m, i.e. v(m). Conversion counts are
  // integers, exact in a double up to 2^53, so v and its differences are exact for conversions.
  std::vector<double> conv(coalitions, 0.0), value(coalitions, 0.0);
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathSet::Path p = paths.path(i);
    if (p.conversions == 0) continue;
    size_t mask = 0;
    for (ChannelId c : p.channels) mask |= size_t{1} << player_of[c];
    conv[mask] += static_cast<double>(p.conversions);
    value[mask] += p.value;
  }
  for (size_t bit = 1; bit < coalitions; bit <<= 1) {
    for (size_t m = 0; m < coalitions; ++m) {
      if (m & bit) {
        conv[m] += conv[m ^ bit];
        value[m] += value[m ^ bit];
      }
    }
  }

  // weight[s] = s! (n - s - 1)! / n! = 1 / (n * C(n - 1, s)), binomials exact for n <= 20.
  std::vector<double> weight(n, 0.0);
  for (size_t s = 0; s < n; ++s) {
    uint64_t binom = 1;
    for (size_t k = 1; k <= s; ++k) binom = binom * (n - 1 - s + k) / k;
    weight[s] = 1.0 / (static_cast<double>(n) * static_cast<double>(binom));
  }

  Attribution out(num_channels);
  for (size_t k = 0; k < n; ++k) {
    const size_t bit = size_t{1} << k;
    CompensatedSum phi_conv, phi_value;
    for (size_t m = 0; m < coalitions; ++m) {
      if (m & bit) continue;
      const double w = weight[static_cast<size_t>(std::popcount(m))];
      phi_conv.Add(w * (conv[m | bit] - conv[m]));
      phi_value.Add(w * (value[m | bit] - value[m]));
    }
    out[players[k]] = {phi_conv.Value(), phi_value.Value()};
  }
  return out;
}

}  // namespace loopgate::attribution
