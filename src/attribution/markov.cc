#include "attribution/markov.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "attribution/internal/compensated_sum.h"
#include "common/status.h"
#include "common/strings.h"

namespace loopgate::attribution {
namespace {

using internal::CompensatedSum;
using StateId = MarkovChain::StateId;

constexpr int kChannelBits = 20;
constexpr uint64_t kMaxChannels = uint64_t{1} << kChannelBits;

// A tuple of up to three channel ids of 20 bits, packed with its length (bits 60-61).
uint64_t PackTuple(std::span<const ChannelId> tuple) {
  uint64_t key = static_cast<uint64_t>(tuple.size()) << (3 * kChannelBits);
  for (size_t i = 0; i < tuple.size(); ++i) {
    key |= static_cast<uint64_t>(tuple[i]) << (kChannelBits * (2 - i));
  }
  return key;
}

uint64_t EdgeKey(StateId from, StateId to) { return (uint64_t{from} << 32) | to; }

// Within a component, Gauss-Seidel stops once the error bound is this small, when a sweep
// changes nothing, or when the bound has not improved for kStallSweeps sweeps (rounding level).
constexpr double kComponentTolerance = 1e-15;
constexpr int kStallSweeps = 64;
// Work limit per solve, in state updates times their transitions.
constexpr double kMaxWork = 5e9;

}  // namespace

absl::StatusOr<MarkovChain> MarkovChain::Fit(const PathSet& paths, int order) {
  if (order < 1 || order > kMaxMarkovOrder) {
    return absl::InvalidArgumentError(
        common::StrCat("the Markov order must be between 1 and ", kMaxMarkovOrder));
  }
  if (paths.channels().size() >= kMaxChannels) {
    return absl::InvalidArgumentError(
        common::StrCat("the Markov model supports fewer than ", kMaxChannels, " channels"));
  }
  MarkovChain chain;
  chain.order_ = order;
  std::vector<CompensatedSum> value_sums;
  auto add_state = [&](std::span<const ChannelId> tuple) {
    for (int i = 0; i < kMaxMarkovOrder; ++i) {
      chain.tuples_.push_back(i < static_cast<int>(tuple.size()) ? tuple[i] : 0);
    }
    chain.length_.push_back(static_cast<uint8_t>(tuple.size()));
    chain.conversions_.push_back(0);
    chain.nulls_.push_back(0);
    value_sums.emplace_back();
    return static_cast<StateId>(chain.length_.size() - 1);
  };
  for (int i = 0; i < 3; ++i) add_state({});  // (start), (conversion), (null).

  absl::flat_hash_map<uint64_t, uint64_t> edges;
  bool overflow = false;
  auto add_edge = [&](StateId from, StateId to, uint64_t w) {
    uint64_t& count = edges[EdgeKey(from, to)];
    overflow |= __builtin_add_overflow(count, w, &count);
  };
  const size_t k = static_cast<size_t>(order);
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathSet::Path p = paths.path(i);
    const uint64_t w = p.conversions + p.nulls;  // Cannot overflow: PathSet checks the totals.
    if (w == 0) continue;
    const size_t length = std::min(p.channels.size(), k);
    const size_t windows = p.channels.size() - length + 1;
    StateId prev = kStart;
    for (size_t j = 0; j < windows; ++j) {
      const auto tuple = p.channels.subspan(j, length);
      auto [it, inserted] = chain.index_.try_emplace(PackTuple(tuple), 0);
      if (inserted) it->second = add_state(tuple);
      add_edge(prev, it->second, w);
      prev = it->second;
    }
    chain.conversions_[prev] += p.conversions;  // Bounded by the PathSet's totals.
    chain.nulls_[prev] += p.nulls;
    value_sums[prev].Add(p.value);
  }
  if (overflow) return absl::InvalidArgumentError("the transition counts overflow 64 bits");

  const size_t n = chain.length_.size();
  chain.self_.assign(n, 0);
  chain.total_.assign(n, 0);
  chain.value_.resize(n);
  for (size_t s = 0; s < n; ++s) {
    chain.total_[s] = chain.conversions_[s] + chain.nulls_[s];
    chain.value_[s] = value_sums[s].Value();
  }
  std::vector<std::pair<uint64_t, uint64_t>> sorted(edges.begin(), edges.end());
  std::sort(sorted.begin(), sorted.end());
  chain.row_begin_.assign(n + 1, 0);
  for (const auto& [key, count] : sorted) {
    const auto from = static_cast<StateId>(key >> 32);
    const auto to = static_cast<StateId>(key & 0xffffffffu);
    if (__builtin_add_overflow(chain.total_[from], count, &chain.total_[from])) {
      return absl::InvalidArgumentError("the transition counts overflow 64 bits");
    }
    if (from == to) {
      chain.self_[from] = count;
      continue;
    }
    ++chain.row_begin_[from + 1];
    chain.column_.push_back(to);
    chain.count_.push_back(count);
    chain.weight_.push_back(static_cast<double>(count));
  }
  for (size_t s = 0; s < n; ++s) chain.row_begin_[s + 1] += chain.row_begin_[s];
  chain.denominator_.resize(n);
  for (size_t s = 0; s < n; ++s) {
    // > 0 for every channel state: its last visit in a path leaves it.
    chain.denominator_[s] = static_cast<double>(chain.total_[s] - chain.self_[s]);
    if (chain.conversions_[s] > 0) {
      chain.max_value_per_conversion_ =
          std::max(chain.max_value_per_conversion_,
                   chain.value_[s] / static_cast<double>(chain.conversions_[s]));
    }
  }

  // Tarjan's strongly connected components over the channel states, iteratively. Tarjan emits a
  // component only after every component it reaches, which is the order Gauss-Seidel wants.
  constexpr uint32_t kUnvisited = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> index(n, kUnvisited), low(n, 0);
  std::vector<uint8_t> on_stack(n, 0);
  std::vector<StateId> stack;
  std::vector<std::pair<StateId, size_t>> calls;  // (state, next edge)
  uint32_t next_index = 0;
  for (StateId root = 3; root < n; ++root) {
    if (index[root] != kUnvisited) continue;
    auto visit = [&](StateId v) {
      index[v] = low[v] = next_index++;
      stack.push_back(v);
      on_stack[v] = 1;
      calls.emplace_back(v, chain.row_begin_[v]);
    };
    visit(root);
    while (!calls.empty()) {
      auto& [v, e] = calls.back();
      if (e < chain.row_begin_[v + 1]) {
        const StateId w = chain.column_[e++];
        if (index[w] == kUnvisited) {
          visit(w);  // Invalidates v and e.
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      const StateId done = v;
      calls.pop_back();
      if (!calls.empty()) {
        const StateId parent = calls.back().first;
        low[parent] = std::min(low[parent], low[done]);
      }
      if (low[done] == index[done]) {
        StateId w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          chain.solve_order_.push_back(w);
        } while (w != done);
        chain.component_end_.push_back(chain.solve_order_.size());
      }
    }
  }
  return chain;
}

std::optional<StateId> MarkovChain::Find(std::span<const ChannelId> tuple) const {
  if (tuple.empty() || tuple.size() > static_cast<size_t>(kMaxMarkovOrder)) return std::nullopt;
  for (ChannelId c : tuple) {
    if (c >= kMaxChannels) return std::nullopt;
  }
  auto it = index_.find(PackTuple(tuple));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::string MarkovChain::Label(StateId s, const ChannelTable& table) const {
  switch (s) {
    case kStart:
      return "(start)";
    case kConversion:
      return "(conversion)";
    case kNull:
      return "(null)";
    default:
      break;
  }
  std::string out;
  for (ChannelId c : channels(s)) {
    if (!out.empty()) out.push_back(',');
    out += table.name(c);
  }
  return out;
}

uint64_t MarkovChain::Count(StateId from, StateId to) const {
  if (from >= num_states() || to >= num_states()) return 0;
  if (to == kConversion) return conversions_[from];
  if (to == kNull) return nulls_[from];
  if (from == to) return self_[from];
  const auto begin = column_.begin() + static_cast<std::ptrdiff_t>(row_begin_[from]);
  const auto end = column_.begin() + static_cast<std::ptrdiff_t>(row_begin_[from + 1]);
  const auto it = std::lower_bound(begin, end, to);
  return it != end && *it == to ? count_[static_cast<size_t>(it - column_.begin())] : 0;
}

uint64_t MarkovChain::Total(StateId from) const { return from < num_states() ? total_[from] : 0; }

double MarkovChain::Probability(StateId from, StateId to) const {
  const uint64_t total = Total(from);
  return total == 0 ? 0.0 : static_cast<double>(Count(from, to)) / static_cast<double>(total);
}

std::vector<MarkovChain::Transition> MarkovChain::Transitions() const {
  std::vector<Transition> out;
  for (StateId s = 0; s < num_states(); ++s) {
    // Channel states in ascending id order, with the self-transition in its place, then the
    // two absorbing states (ids 1 and 2 sort before any channel state).
    if (conversions_[s] > 0) out.push_back({s, kConversion, conversions_[s]});
    if (nulls_[s] > 0) out.push_back({s, kNull, nulls_[s]});
    bool self_done = self_[s] == 0;
    for (size_t e = row_begin_[s]; e < row_begin_[s + 1]; ++e) {
      if (!self_done && column_[e] > s) {
        out.push_back({s, s, self_[s]});
        self_done = true;
      }
      out.push_back({s, column_[e], count_[e]});
    }
    if (!self_done) out.push_back({s, s, self_[s]});
  }
  return out;
}

absl::StatusOr<MarkovChain::Absorption> MarkovChain::Solve(
    std::span<const ChannelId> removed) const {
  const size_t n = num_states();
  std::vector<uint8_t> gone(n, 0);
  if (!removed.empty()) {
    for (StateId s = 3; s < n; ++s) {
      for (ChannelId c : channels(s)) {
        if (std::find(removed.begin(), removed.end(), c) != removed.end()) gone[s] = 1;
      }
    }
  }
  std::vector<double> h(n, 0.0), z(n, 0.0), v(n, 0.0);  // conversion, null, value
  Absorption out;
  double work = 0;
  size_t begin = 0;
  for (const size_t end : component_end_) {
    const bool single = end - begin == 1;
    double best_gap = std::numeric_limits<double>::infinity();
    int stalled = 0;
    while (true) {
      bool changed = false;
      for (size_t i = begin; i < end; ++i) {
        const StateId s = solve_order_[i];
        if (gone[s]) continue;
        double hs = static_cast<double>(conversions_[s]);
        double zs = static_cast<double>(nulls_[s]);
        double vs = value_[s];
        for (size_t e = row_begin_[s]; e < row_begin_[s + 1]; ++e) {
          const StateId t = column_[e];
          const double w = weight_[e];
          if (gone[t]) {
            zs += w;
          } else {
            hs += w * h[t];
            zs += w * z[t];
            vs += w * v[t];
          }
        }
        hs /= denominator_[s];
        zs /= denominator_[s];
        vs /= denominator_[s];
        changed |= hs != h[s] || zs != z[s] || vs != v[s];
        h[s] = hs;
        z[s] = zs;
        v[s] = vs;
        work += static_cast<double>(row_begin_[s + 1] - row_begin_[s] + 1);
      }
      ++out.sweeps;
      if (single || !changed) break;
      double gap = 0;
      for (size_t i = begin; i < end; ++i) {
        const StateId s = solve_order_[i];
        if (!gone[s]) gap = std::max(gap, 1.0 - h[s] - z[s]);
      }
      if (gap <= kComponentTolerance) break;
      if (gap < best_gap) {
        best_gap = gap;
        stalled = 0;
      } else if (++stalled >= kStallSweeps) {
        break;
      }
      if (work > kMaxWork) {
        return absl::ResourceExhaustedError(common::StrCat(
            "the Markov chain's absorption probabilities did not converge within the work "
            "limit (",
            out.sweeps, " sweeps)"));
      }
    }
    begin = end;
  }

  const uint64_t total = total_[kStart];
  if (total == 0) return out;
  CompensatedSum conv, null, value;
  for (size_t e = row_begin_[kStart]; e < row_begin_[kStart + 1]; ++e) {
    const StateId t = column_[e];
    const double w = weight_[e];
    if (gone[t]) {
      null.Add(w);
    } else {
      conv.Add(w * h[t]);
      null.Add(w * z[t]);
      value.Add(w * v[t]);
    }
  }
  const double d = static_cast<double>(total);
  out.conversion_probability = conv.Value() / d;
  out.value = value.Value() / d;
  out.error_bound = std::max(0.0, 1.0 - out.conversion_probability - null.Value() / d);
  out.value_error_bound = max_value_per_conversion_ * out.error_bound;
  if (out.error_bound > kMaxAbsorptionError) {
    return absl::ResourceExhaustedError(common::StrCat(
        "the Markov chain's absorption probabilities did not converge (", out.sweeps, " sweeps)"));
  }
  return out;
}

absl::StatusOr<MarkovResult> Markov(const PathSet& paths, int order) {
  ASSIGN_OR_RETURN(MarkovChain chain, MarkovChain::Fit(paths, order));
  const size_t num_channels = paths.channels().size();
  MarkovResult result;
  result.order = order;
  result.states = chain.num_states() - 3;
  result.transitions = chain.Transitions().size();
  result.removal_effect.assign(num_channels, 0.0);
  result.value_removal_effect.assign(num_channels, 0.0);
  result.attribution.assign(num_channels, Credit{});

  ASSIGN_OR_RETURN(const MarkovChain::Absorption base, chain.Solve());
  result.conversion_probability = base.conversion_probability;
  result.value_per_journey = base.value;
  result.error_bound = base.error_bound;
  result.sweeps = base.sweeps;

  std::vector<uint8_t> present(num_channels, 0);
  for (StateId s = 3; s < chain.num_states(); ++s) {
    for (ChannelId c : chain.channels(s)) present[c] = 1;
  }
  CompensatedSum re_sum, value_re_sum;
  for (ChannelId c = 0; c < num_channels; ++c) {
    if (!present[c]) continue;
    const ChannelId removed[] = {c};
    ASSIGN_OR_RETURN(const MarkovChain::Absorption without, chain.Solve(removed));
    result.error_bound = std::max(result.error_bound, without.error_bound);
    result.sweeps += without.sweeps;
    if (base.conversion_probability > 0) {
      result.removal_effect[c] =
          std::max(0.0, 1.0 - without.conversion_probability / base.conversion_probability);
    }
    if (base.value > 0) {
      result.value_removal_effect[c] = std::max(0.0, 1.0 - without.value / base.value);
    }
    re_sum.Add(result.removal_effect[c]);
    value_re_sum.Add(result.value_removal_effect[c]);
  }
  const double sum = re_sum.Value(), value_sum = value_re_sum.Value();
  for (ChannelId c = 0; c < num_channels; ++c) {
    if (sum > 0) {
      result.attribution[c].conversions =
          result.removal_effect[c] / sum * static_cast<double>(paths.total_conversions());
    }
    if (value_sum > 0) {
      result.attribution[c].value =
          result.value_removal_effect[c] / value_sum * paths.total_value();
    }
  }
  return result;
}

}  // namespace loopgate::attribution
