#pragma once
// Small-cell suppression of released tables, and of the statistics derived from them.
// docs/measurement.md section 5 states the rules; in short:
//
// - Primary: a count n with 0 < n < k is suppressed (k = 11 by default: the CMS cell-size rule,
//   which forbids displaying 1 to 10). Zero is released unless `suppress_zero` is set. Margins
//   (totals) are counts like any other and pass the same test.
// - Complementary: more counts are withheld, smallest first, until (a) no suppressed count can be
//   derived from the released ones through the table's sums: in linear-algebra terms, no
//   suppressed count is determined by the system of row, column and total equations; and (b) in
//   every row or column whose total is released, the suppressed counts together (which anyone can
//   compute as total minus the released counts) are 0 or at least k, so they do not reveal a
//   small number either. Released zeros are chosen last: withholding one protects nothing.
//
// Protection is per table. Tables that share cells or margins (the same study cut two ways) can
// be combined by an attacker; release such tables from one 2-D table, or suppress them together.
//
// A released table never holds the value of a suppressed count. Functions are pure and
// thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "analytics/accumulator.h"
#include "analytics/lift.h"
#include "analytics/survival.h"

namespace loopgate::analytics {

enum class Disclosure : uint8_t {
  // Released as is.
  kReleased = 0,
  // Suppressed: 0 < n < k (or n = 0 with suppress_zero).
  kPrimary,
  // Suppressed although it passes the threshold, so that no primary count can be derived.
  kComplementary,
};

// "released", "suppressed_primary", "suppressed_complementary".
std::string_view DisclosureName(Disclosure d);

struct SuppressionOptions {
  // The minimum count that may be shown, >= 1. 11 is the CMS cell-size rule (1 to 10 suppressed).
  int64_t k = 11;
  // Also suppress zeros (some agreements treat "nobody" as disclosive; CMS does not).
  bool suppress_zero = false;
};

// What reports print for a suppressed count.
inline constexpr std::string_view kSuppressedMarker = "suppressed";

// One count of a released table.
struct ReleasedCount {
  Disclosure disclosure = Disclosure::kPrimary;
  std::optional<int64_t> value;  // Present exactly when disclosure is kReleased.

  bool released() const { return disclosure == Disclosure::kReleased; }
};

// The value in decimal, or kSuppressedMarker.
std::string FormatReleased(const ReleasedCount& count);

// A 1-D table: cells and their total.
struct ReleasedTable1D {
  std::vector<ReleasedCount> cells;
  ReleasedCount total;
};

// Errors: InvalidArgument for a negative count, a total of 2^53 or more, or k < 1.
absl::StatusOr<ReleasedTable1D> SuppressTable1D(std::span<const int64_t> cells,
                                                const SuppressionOptions& options = {});

// A 2-D table with its row totals, column totals and grand total.
struct ReleasedTable2D {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<ReleasedCount> cells;  // Row-major, rows × cols.
  std::vector<ReleasedCount> row_totals;
  std::vector<ReleasedCount> col_totals;
  ReleasedCount grand_total;

  const ReleasedCount& cell(size_t r, size_t c) const { return cells[r * cols + c]; }
};

// `cells` is row-major, rows × cols (both >= 1). Errors: as SuppressTable1D, and
// InvalidArgument when cells.size() != rows × cols.
absl::StatusOr<ReleasedTable2D> SuppressTable2D(size_t rows, size_t cols,
                                                std::span<const int64_t> cells,
                                                const SuppressionOptions& options = {});

// --- Derived statistics. ---

// One row of a released lift table (a cell of the study, or its total). A rate is released only
// when its units and outcomes are (then so are the units without the outcome); the lift only
// when both rates are. Nothing derived from a suppressed count is present.
struct ReleasedLiftRow {
  std::vector<std::string> dimension_values;  // Empty for the total.
  ReleasedCount exposed_units;
  ReleasedCount exposed_outcomes;
  ReleasedCount holdout_units;
  ReleasedCount holdout_outcomes;
  std::optional<RateEstimate> exposed_rate;
  std::optional<RateEstimate> holdout_rate;
  std::optional<LiftResult> lift;
};

struct ReleasedLiftTable {
  Evidence evidence = Evidence::kRandomizedHoldout;
  std::vector<ReleasedLiftRow> rows;  // In the order of `cells`.
  ReleasedLiftRow total;
};

// Releases a study's cells: for each arm, the table cells × {with outcome, without} with its
// margins (units per cell, outcomes and non-outcomes per arm, units per arm) is suppressed as
// SuppressTable2D does, then rates and lifts are computed from released counts only. The arms
// hold different units, so their tables are independent. Errors: InvalidArgument as
// SuppressTable2D or CohortLift, or when `cells` is empty.
absl::StatusOr<ReleasedLiftTable> ReleaseLiftTable(std::span<const LiftCell> cells, Evidence design,
                                                   const LiftOptions& lift_options = {},
                                                   const SuppressionOptions& options = {});

// A group's time to outcome is released only when its units, units with the outcome and units
// without it all pass the primary threshold; otherwise nullopt. (The quantiles are event times;
// with fewer than k events they would describe too few people.)
std::optional<TimeToOutcome> ReleaseTimeToOutcome(const TimeToOutcome& summary,
                                                  const SuppressionOptions& options = {});

}  // namespace loopgate::analytics
