#pragma once
// Deterministic unit journeys with the channel mix of a real paths file, for the attribution
// benchmarks (micro_bench.cc, gen_paths.cc; docs/performance.md).
//
// The generator is a random walk on the file's first-order Markov chain (attribution::
// MarkovChain::Fit(paths, 1)): the first channel is drawn as the file's journeys start, each
// next step (another channel, a conversion, or the end without one) as the file's journeys
// continue from the current channel. A converting journey is worth the mean value of the file's
// conversions from its last channel. So the generated journeys have the file's channels, start
// and transition frequencies, conversion rate (22.4%) and mean length per journey (4.28
// touchpoints), but many more distinct paths: 164,277 in a million with seed 1, against the
// file's 5,408, which is harder for aggregation.
//
// Same seed, same journeys: its own PRNG (xoshiro256** seeded by splitmix64), no
// std::*_distribution.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/markov.h"
#include "attribution/paths.h"
#include "common/rng.h"

namespace loopgate::bench {

class JourneyGenerator {
 public:
  // Journeys longer than this are cut (and end without a conversion).
  static constexpr size_t kMaxLength = 200;

  static absl::StatusOr<JourneyGenerator> FromFile(const std::string& path, uint64_t seed) {
    auto paths = attribution::ReadPathsFile(path);
    if (!paths.ok()) return paths.status();
    auto chain = attribution::MarkovChain::Fit(*paths, 1);
    if (!chain.ok()) return chain.status();
    JourneyGenerator g(seed);
    g.channels_ = paths->channels();
    const size_t n = chain->num_states();
    g.state_channel_.assign(n, 0);
    for (attribution::MarkovChain::StateId s = 3; s < n; ++s) {
      g.state_channel_[s] = chain->channels(s)[0];
    }
    g.next_.resize(n);
    for (const auto& t : chain->Transitions()) g.next_[t.from].push_back({t.to, t.count});
    for (auto& row : g.next_) {
      uint64_t cumulative = 0;
      for (auto& [to, count] : row) count = cumulative += count;
    }
    // Mean value per conversion by last channel.
    std::vector<double> value(paths->channels().size(), 0.0);
    std::vector<double> conversions(value.size(), 0.0);
    for (size_t i = 0; i < paths->size(); ++i) {
      const auto p = paths->path(i);
      value[p.channels.back()] += p.value;
      conversions[p.channels.back()] += static_cast<double>(p.conversions);
    }
    g.value_.resize(value.size());
    for (size_t c = 0; c < value.size(); ++c) {
      g.value_[c] = conversions[c] > 0 ? value[c] / conversions[c] : 0;
    }
    return g;
  }

  const attribution::ChannelTable& channels() const { return channels_; }

  // The next journey: its touchpoints, and whether it converted (then its value).
  void Next(std::vector<attribution::ChannelId>* touchpoints, bool* converted, double* value) {
    touchpoints->clear();
    uint32_t state = attribution::MarkovChain::kStart;
    while (true) {
      const uint32_t next = Step(state);
      if (next == attribution::MarkovChain::kConversion ||
          next == attribution::MarkovChain::kNull || touchpoints->size() == kMaxLength) {
        *converted = next == attribution::MarkovChain::kConversion;
        *value = *converted ? value_[touchpoints->back()] : 0;
        return;
      }
      touchpoints->push_back(state_channel_[next]);
      state = next;
    }
  }

 private:
  explicit JourneyGenerator(uint64_t seed) : rng_(seed) {}

  uint32_t Step(uint32_t state) {
    const auto& row = next_[state];
    const uint64_t total = row.back().second;
    const uint64_t r =
        rng_.Below(total);
    for (const auto& [to, cumulative] : row) {
      if (r < cumulative) return to;
    }
    return row.back().first;
  }

  common::Rng rng_;  // The demo's xoshiro256**: the same sequence as before.
  attribution::ChannelTable channels_;
  std::vector<attribution::ChannelId> state_channel_;
  std::vector<std::vector<std::pair<uint32_t, uint64_t>>> next_;  // (to, cumulative count)
  std::vector<double> value_;
};

}  // namespace loopgate::bench
