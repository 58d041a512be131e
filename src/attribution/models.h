#pragma once
// Rule-based multi-touch attribution models and Shapley values (docs/attribution.md has the
// formulas and a worked example of each). The Markov chain model is in markov.h.
//
// Every model splits each path's conversions, and its value, among the path's touchpoints with
// weights that sum to 1, and returns one Credit per channel. So, for every model here, the
// credits add up to the PathSet's total_conversions() and total_value(): exactly for first and
// last touch (whole conversions), to within rounding (relative 1e-15; per-channel sums are
// compensated) for the fractional ones.
//
// All functions are pure and thread-compatible; they read the PathSet only.

#include <cstddef>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attribution/paths.h"

namespace loopgate::attribution {

// Conversions and value attributed to one channel.
struct Credit {
  double conversions = 0;
  double value = 0;
};

// One Credit per channel id of the input's ChannelTable (index = ChannelId). Channels that no
// path touches get zeros.
using Attribution = std::vector<Credit>;

// All credit to the path's first touchpoint.
Attribution FirstTouch(const PathSet& paths);

// All credit to the path's last touchpoint.
Attribution LastTouch(const PathSet& paths);

// Equal credit to every touchpoint: a channel touched k times in a path of length L gets k/L of
// it (ChannelAttribution's linear_touch).
Attribution Linear(const PathSet& paths);

// Position-based ("U-shaped") weights: `first` to the first touchpoint, `last` to the last,
// `middle` shared equally by the touchpoints in between. A path of one touchpoint gives it
// everything; a path of two splits it first : last (half each with the default 40/20/40, as
// Google Ads does; half each too when first and last are both 0).
struct PositionWeights {
  double first = 0.4;
  double middle = 0.2;
  double last = 0.4;
};

// 40/20/40.
Attribution PositionBased(const PathSet& paths);
// Other weights. Errors (InvalidArgument): a weight negative or not finite, or weights that do
// not sum to 1 (within 1e-12).
absl::StatusOr<Attribution> PositionBased(const PathSet& paths, const PositionWeights& weights);

// Time decay: a touchpoint's weight halves with every `half_life` of distance from the end of the
// path, then weights are normalized per path. A PathSet has no timestamps, so the distance is in
// touchpoints: the last touchpoint is at distance 0, the one before at 1, and so on; weight
// 2^(-distance / half_life). Errors (InvalidArgument): half_life not finite and > 0.
absl::StatusOr<Attribution> TimeDecay(const PathSet& paths, double half_life);

// Time decay over timestamped journeys: weight 2^(-(t_last - t_i) / half_life), normalized per
// journey, where t_last is the journey's last touchpoint time. (Measuring from the conversion
// time instead multiplies every weight of a journey by the same factor, which normalization
// cancels, so the conversion time is not needed.) `num_channels` is the size of the ChannelTable
// the journeys' ids refer to. Errors (InvalidArgument, naming the journey's index): no
// touchpoints, times missing or not one per touchpoint, times decreasing, an id >=
// num_channels, value not finite, negative or without conversions; half_life not > 0.
absl::StatusOr<Attribution> TimeDecayByTime(std::span<const Journey> journeys,
                                            absl::Duration half_life, size_t num_channels);

// Shapley values of the cooperative game whose players are the channels that occur in some path
// and whose characteristic function is
//
//   v(S) = conversions (value) of the paths whose set of channels is a subset of S,
//
// the "simplified Shapley value" of Zhao, Mahboobi and Bagheri, "Shapley Value Methods for
// Attribution Modeling in Online Advertising" (2018, arXiv:1804.05327), with order and
// repetitions within a path ignored. Computed exactly over all 2^n coalitions: v by a
// subset-sum (zeta) transform, then phi_i = sum over S not containing i of
// |S|! (n-|S|-1)! / n! * (v(S + i) - v(S)), O(n 2^n) time and O(2^n) memory. The values satisfy
// efficiency (they sum to v(all) = total conversions), symmetry and the null-player property.
// Errors (InvalidArgument): more than kMaxShapleyChannels channels occur in the paths.
inline constexpr size_t kMaxShapleyChannels = 20;
absl::StatusOr<Attribution> Shapley(const PathSet& paths);

}  // namespace loopgate::attribution
