#pragma once
// A study result as `loopgate measure` writes it (format loopgate.study-result/v1, the contract
// in docs/study-report.md section 5), read back and checked before anything is shown from it.
//
// ParseStudyResult is strict and fails closed: every member of the contract must be present
// with its type (a value that is suppressed or not estimable is null, never omitted), enumerated
// strings must be known, and the disclosure rules must hold in the data itself: an arm, ratio or
// time-to-outcome group marked suppressed must carry no counts, rate or interval. The error
// names the member by its path (e.g. `lift.by[0].cells[2].exposed.units`) and never repeats a
// value from the file. Members the contract does not name are ignored (forward compatible).
//
// Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loopgate::report {

inline constexpr std::string_view kStudyResultFormat = "loopgate.study-result/v1";

namespace study {

// Why a figure was withheld.
enum class Suppression : uint8_t {
  kNone = 0,
  // Fewer than k units (privacy.k) in the cell.
  kPrimary,
  // Enough units, but releasing it would let a primary-suppressed cell be derived from totals.
  kComplementary,
  // Time to outcome: the arm is too small to draw a curve from without revealing units.
  kSmallGroup,
};

enum class Design : uint8_t { kRandomizedHoldout = 0, kPrePost };

enum class PrivacyMode : uint8_t { kSuppression = 0, kDifferentialPrivacy };

// Why a lift cell has (or lacks) its statistics; names as analytics::EstimabilityName.
enum class CellStatus : uint8_t {
  kEstimable = 0,
  kSuppressed,    // Withheld by disclosure control: no lift, no p-value.
  kNoUnits,       // An arm has no units.
  kZeroBaseline,  // The comparison rate is 0: no relative lift.
  kNoVariance,    // No variation to test against: no p-value.
};

struct Interval {
  double lower = 0;
  double upper = 0;
};

struct Estimate {
  double estimate = 0;
  std::optional<Interval> ci;
};

// One arm of a comparison; all four figures are null exactly when `suppressed` is not kNone
// (rate and ci may also be null for an arm with no units).
struct Arm {
  std::optional<int64_t> units;
  std::optional<int64_t> outcomes;
  std::optional<double> rate;
  std::optional<Interval> ci;
  Suppression suppressed = Suppression::kNone;
};

struct Cell {
  // Dimension name and value, in file order; empty for the overall cell.
  std::vector<std::pair<std::string, std::string>> key;
  Arm exposed;     // Or the post period.
  Arm comparison;  // The holdout, or the pre period.
  std::optional<Estimate> absolute_lift;
  std::optional<Estimate> relative_lift;
  std::optional<double> p_value;
  CellStatus status = CellStatus::kEstimable;
};

struct Breakdown {
  std::string dimension;
  std::vector<Cell> cells;
};

struct Quantile {
  double p = 0;
  std::optional<double> estimate;  // Null: not reached.
};

struct CurvePoint {
  double t = 0;
  double survival = 1;
  std::optional<int64_t> at_risk;
};

struct Median {
  std::optional<double> estimate;
  std::optional<Interval> ci;
  bool reached = false;
};

struct TimeGroup {
  std::string arm;  // "exposed" or "comparison".
  std::optional<int64_t> units;
  std::optional<int64_t> outcomes;
  Suppression suppressed = Suppression::kNone;
  std::optional<Median> median;
  std::vector<Quantile> quantiles;
  std::vector<CurvePoint> curve;  // Empty when suppressed.
};

struct ChannelCredit {
  std::string channel;
  std::optional<double> conversions;
  std::optional<double> value;
  std::optional<double> removal_effect;  // Markov models only.
};

struct AttributionModel {
  std::string model;  // first_touch, last_touch, linear, time_decay, position_based,
                      // markov_1, markov_2, markov_3, shapley.
  std::optional<double> base_conversion_probability;  // Markov models only.
  std::vector<ChannelCredit> channels;
};

struct Ratio {
  std::optional<int64_t> numerator;
  std::optional<int64_t> denominator;
  std::optional<double> rate;
  Suppression suppressed = Suppression::kNone;
  std::string note;
};

struct StudyResult {
  // study
  std::string id, title, question, file_sha256;
  Design design = Design::kRandomizedHoldout;
  std::string unit;  // hcp | account | patient_token | cohort
  std::string window_from, window_to;
  std::string exposure, outcome;
  std::vector<std::string> dimensions;
  // run
  std::string run_at, run_by, sink;
  int64_t analytics_rows_read = 0;
  std::optional<int64_t> ledger_seq;
  std::string answer;
  // privacy
  int64_t k = 11;
  bool suppress_zero = false;
  PrivacyMode mode = PrivacyMode::kSuppression;
  std::optional<double> epsilon_spent, epsilon_remaining;
  int64_t cells_released = 0, suppressed_primary = 0, suppressed_complementary = 0;
  // lift
  Design evidence = Design::kRandomizedHoldout;
  std::string caveat;
  double confidence = 0.95;
  Cell overall;
  std::vector<Breakdown> by;
  // time_to_outcome
  std::string time_unit;
  std::vector<TimeGroup> time_groups;
  // attribution
  std::optional<int64_t> journeys, conversions;
  std::vector<std::string> channels, suppressed_channels;
  std::vector<AttributionModel> models;
  // governance
  Ratio consent_coverage, revocation_rate, failed_match_rate, minimized_share;
};

}  // namespace study

// Parses and checks `json` (strict JSON as json::StrictParser reads it). Errors: InvalidArgument
// "study result: <path>: <what is wrong>".
absl::StatusOr<study::StudyResult> ParseStudyResult(std::string_view json);

// "randomized_holdout" / "pre_post"; "primary" / "complementary" / "small_group" (kNone: "").
std::string_view DesignName(study::Design d);
std::string_view SuppressionName(study::Suppression s);

}  // namespace loopgate::report
