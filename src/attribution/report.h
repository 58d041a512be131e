#pragma once
// Several models run over one PathSet, side by side, as `loopgate attribution` prints them: a
// table per measure (channels × models) or one JSON object (docs/attribution.md, "Output").
// Channels are always listed by name, so the output does not depend on the input's row order.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "attribution/markov.h"
#include "attribution/models.h"
#include "attribution/paths.h"

namespace loopgate::attribution {

enum class Model : uint8_t {
  kFirstTouch,     // "first_touch"
  kLastTouch,      // "last_touch"
  kLinear,         // "linear"
  kPositionBased,  // "position_based" (40/20/40)
  kTimeDecay,      // "time_decay" (half-life in touchpoints)
  kMarkov,         // "markov" (removal effects, order 1-3)
  kShapley,        // "shapley"
};
// Every model, in report order.
inline constexpr Model kAllModels[] = {Model::kFirstTouch,    Model::kLastTouch, Model::kLinear,
                                       Model::kPositionBased, Model::kTimeDecay, Model::kMarkov,
                                       Model::kShapley};
std::string_view ModelName(Model m);
std::optional<Model> ParseModel(std::string_view name);

struct ReportOptions {
  // The models to run (report order is always kAllModels'). Empty: all of them, and Shapley is
  // skipped with a note (not an error) when the paths have more than kMaxShapleyChannels
  // channels. Named explicitly, a model that cannot run is an error.
  std::vector<Model> models;
  int order = 1;         // Markov order, 1..kMaxMarkovOrder.
  double half_life = 1;  // Time decay, in touchpoints.
};

struct Report {
  const PathSet* paths = nullptr;  // Not owned; must outlive the report.
  ReportOptions options;
  std::vector<std::pair<Model, Attribution>> results;  // In report order.
  std::unique_ptr<MarkovResult> markov;                // When the Markov model ran.
  std::vector<std::pair<Model, std::string>> skipped;  // Model and why.

  // One JSON object: totals, the channels by name, and per model its parameters and per channel
  // {conversions, value} (Markov adds removal_effect and value_removal_effect per channel, and
  // base_conversion_probability, value_per_journey, states, transitions, error_bound).
  std::string ToJson() const;
  // Readable tables: attributed conversions (and value, when any) per channel and model, then
  // the Markov removal effects.
  std::string ToText() const;
};

// Runs the models. Errors: InvalidArgument for options out of range, an unknown combination,
// or an explicitly requested model that cannot run on these paths (Shapley over too many
// channels); the errors of Markov() otherwise.
absl::StatusOr<Report> RunReport(const PathSet& paths, const ReportOptions& options);

}  // namespace loopgate::attribution
