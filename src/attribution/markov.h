#pragma once
// Markov chain attribution with removal effects (Anderl, Becker, von Wangenheim and Schumann,
// "Mapping the customer journey", 2014/2016), built the way ChannelAttribution builds it
// (docs/attribution.md, "Markov chains"), but with the absorption probabilities solved from the
// chain's linear system instead of estimated by simulating journeys.
//
// States. A chain of order k has the states (start), (conversion), (null) and one state per
// distinct tuple of k consecutive channels seen in a path: a path c1 > ... > cL with L >= k
// visits (c1..ck), (c2..ck+1), ..., (cL-k+1..cL), a path shorter than k visits the single state
// (c1..cL). Each journey adds one transition (start) -> first state, one between consecutive
// states, and one from the last state to (conversion) or (null); a paths-file row adds its
// conversions + nulls to each transition but the last, which gets its conversions towards
// (conversion) and its nulls towards (null). Repeated states (a > a, or a > a > a at order 2)
// are kept as self-transitions, as in ChannelAttribution's 2015 vignette; dropping them, as
// later versions do, changes the transition matrix but not one absorption probability, because
// a self-loop only delays the next move. Transition probabilities are counts / row totals.
//
// Removal. Removing channel c sends every transition into a state that contains c to (null).
// P(conversion) from (start) without c is then the probability, in the full chain, of
// converting without ever visiting c. Removal effect RE(c) = 1 - P_without_c / P, and the
// attributed conversions are RE(c) / sum of RE * total conversions.
//
// Value. ChannelAttribution draws the value of a simulated conversion from the values of the
// journeys that converted from the same last state. Here that is exact: each state s that
// converts carries mu(s) = (value converted from s) / (conversions from s), the chain's expected
// value per journey is V = E[mu(last state) * 1{converts}], V_without_c is the same with c
// removed, value removal effect = 1 - V_without_c / V, and the attributed value is the value
// removal effects normalized times the total value. (When every conversion is worth the same,
// this equals the conversion removal effect.)
//
// Solving. The absorption probabilities h solve h = r + Q h over the channel states. The chain
// is fitted from finished journeys, so it is absorbing: every state reaches (conversion) or
// (null). Self-loops are eliminated exactly (h(s) = (r(s) + sum over t != s of Q(s,t) h(t)) /
// (1 - Q(s,s))), and the system is solved by Gauss-Seidel, one strongly connected component at
// a time, downstream components first, so an acyclic chain is solved in one pass. Starting from
// 0, the iterates of the conversion, null and value systems increase monotonically towards the
// solution, and because conversion + null = 1 at the solution, the shortfall 1 - h(s) - z(s) of
// the iterates bounds the error of h(s) (and mu_max times it bounds the error of the value).
// Iteration stops when that bound reaches rounding level; the bound at (start) is reported and
// must be <= kMaxAbsorptionError, or the solve fails. The base P(conversion) computed this way
// equals total conversions / total journeys, as it must for a chain fitted by maximum
// likelihood (attribution_test checks this).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "attribution/models.h"
#include "attribution/paths.h"

namespace loopgate::attribution {

inline constexpr int kMaxMarkovOrder = 3;
// The largest error bound on an absorption probability that Solve accepts.
inline constexpr double kMaxAbsorptionError = 1e-12;

// Immutable once fitted: Solve() and the accessors are const and may run concurrently.
class MarkovChain {
 public:
  using StateId = uint32_t;
  static constexpr StateId kStart = 0;
  static constexpr StateId kConversion = 1;
  static constexpr StateId kNull = 2;

  // Fits a chain of order 1..kMaxMarkovOrder. Errors (InvalidArgument): order out of range,
  // 2^20 channels or more.
  static absl::StatusOr<MarkovChain> Fit(const PathSet& paths, int order);

  int order() const { return order_; }
  // All states: the three above, then the channel states in order of first appearance.
  size_t num_states() const { return denominator_.size(); }
  // The channels of a state (empty for the three special states).
  std::span<const ChannelId> channels(StateId s) const {
    return std::span<const ChannelId>(tuples_.data() + s * kMaxMarkovOrder, length_[s]);
  }
  // The state of a tuple of channels, if the chain has one.
  std::optional<StateId> Find(std::span<const ChannelId> tuple) const;
  // "(start)", "(conversion)", "(null)", or the channel names joined with ",".
  std::string Label(StateId s, const ChannelTable& table) const;

  // Transitions observed from `from` to `to` (journeys), all transitions out of `from`, and
  // their ratio (0 when `from` has none: the absorbing states).
  uint64_t Count(StateId from, StateId to) const;
  uint64_t Total(StateId from) const;
  double Probability(StateId from, StateId to) const;

  struct Transition {
    StateId from = 0;
    StateId to = 0;
    uint64_t count = 0;
  };
  // Every observed transition, ordered by (from, to).
  std::vector<Transition> Transitions() const;

  struct Absorption {
    double conversion_probability = 0;  // From (start).
    double value = 0;                   // Expected conversion value per journey, from (start).
    double error_bound = 0;             // Bound on the absolute error of conversion_probability.
    double value_error_bound = 0;       // Bound on the absolute error of value.
    uint64_t sweeps = 0;                // Gauss-Seidel updates of a whole component, summed.
  };
  // Absorption from (start) with the channels in `removed` removed (none by default). Errors
  // (ResourceExhausted): the iteration did not bring the bound below kMaxAbsorptionError within
  // its work limit (about 5e9 updates), which needs an adversarially slow-mixing chain.
  absl::StatusOr<Absorption> Solve(std::span<const ChannelId> removed = {}) const;

 private:
  MarkovChain() = default;

  int order_ = 1;
  // Per state: its channels (kMaxMarkovOrder slots, `length_` used) and what leaves it.
  std::vector<ChannelId> tuples_;
  std::vector<uint8_t> length_;
  std::vector<uint64_t> conversions_;  // Transitions to (conversion).
  std::vector<uint64_t> nulls_;        // Transitions to (null).
  std::vector<uint64_t> self_;         // Self-transitions.
  std::vector<uint64_t> total_;        // All transitions out.
  std::vector<double> value_;          // Conversion value carried out by the conversions.
  std::vector<double> denominator_;    // total - self.
  double max_value_per_conversion_ = 0;
  // Transitions between channel states (and from (start)), without self-transitions, by row.
  std::vector<size_t> row_begin_;
  std::vector<StateId> column_;
  std::vector<uint64_t> count_;
  std::vector<double> weight_;  // count as a double.
  // Channel states in solving order: strongly connected components, downstream first.
  std::vector<StateId> solve_order_;
  std::vector<size_t> component_end_;  // Exclusive ends of the components in solve_order_.
  absl::flat_hash_map<uint64_t, StateId> index_;  // Packed tuple -> state.
};

struct MarkovResult {
  int order = 1;
  size_t states = 0;                  // Channel states (tuples) of the chain.
  size_t transitions = 0;             // Distinct observed transitions.
  double conversion_probability = 0;  // Base P(conversion) from (start).
  double value_per_journey = 0;       // Base expected conversion value per journey.
  // Per ChannelId (0 for channels the chain does not contain).
  std::vector<double> removal_effect;        // 1 - P(conversion | removed) / P(conversion).
  std::vector<double> value_removal_effect;  // 1 - V(removed) / V.
  Attribution attribution;                   // Normalized removal effects times the totals.
  double error_bound = 0;  // The largest Absorption::error_bound of the 1 + channels solves.
  uint64_t sweeps = 0;     // Summed over the solves.
};

// Fits the chain and computes every channel's removal effects and attribution. Removal effects
// are clamped at 0 from below (rounding can otherwise leave -1e-17). Errors: those of Fit and
// Solve.
absl::StatusOr<MarkovResult> Markov(const PathSet& paths, int order);

}  // namespace loopgate::attribution
