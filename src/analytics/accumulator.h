#pragma once
// Streaming accumulation of a lift study: rows (one per analytics record) go in, per-cell counts
// of units and outcomes per arm come out, without holding the rows. docs/measurement.md section 4.
//
// A cell is one combination of the study's dimension values (e.g. segment × channel); with no
// dimensions there is one cell. A LiftAccumulator is used by one thread at a time.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "analytics/lift.h"

namespace loopgate::analytics {

// The two arms of a study. In a pre/post design kExposed is the period after exposure and
// kHoldout the period before it.
enum class Arm : uint8_t { kExposed = 0, kHoldout = 1 };

// How rows map to units.
enum class UnitDedup : uint8_t {
  // The caller gives exactly one row per unit and arm (e.g. the output of a per-unit query). Each
  // row counts as a unit; memory is O(cells).
  kOneRowPerUnit = 0,
  // Rows carry a 64-bit hash of the unit's id (e.g. of its token); rows with the same hash are
  // one unit. A unit's outcome is "any of its rows had the outcome"; its cell is the one of its
  // first row (dimensions are unit attributes). In a randomized design, a unit seen in both arms
  // is excluded from both and counted in units_in_both_arms. In a pre/post design a unit may
  // appear in both periods and counts once in each. Memory: an open-addressing table of 12
  // bytes per slot whose size is a power of two, between 3/8 and 3/4 full: 16 to 32 bytes per
  // unit, never more than the table max_units needs (201 MB for the default), plus half of the
  // current table while it doubles.
  kByUnitHash,
};

struct AccumulatorOptions {
  Evidence design = Evidence::kRandomizedHoldout;
  UnitDedup dedup = UnitDedup::kByUnitHash;
  // Names of the dimensions every row gives values for, in order; at most kMaxDimensions.
  std::vector<std::string> dimensions;
  // Add() fails with ResourceExhausted beyond these (kByUnitHash only for max_units). The
  // default max_units fills a table of 2^24 slots (201 MB).
  uint64_t max_units = (uint64_t{1} << 24) / 4 * 3;
  uint32_t max_cells = 1 << 20;
};

inline constexpr size_t kMaxDimensions = 4;

// One row for LiftAccumulator::AddRows.
struct LiftRow {
  uint64_t unit_hash = 0;
  Arm arm = Arm::kExposed;
  bool outcome = false;
  // The first options().dimensions.size() are the row's values; views, not copied.
  std::array<std::string_view, kMaxDimensions> dimension_values{};
};

// Counts of one cell.
struct LiftCell {
  std::vector<std::string> dimension_values;  // One per dimension, in the options' order.
  ArmCounts exposed;
  ArmCounts holdout;
};

struct AccumulatorStats {
  uint64_t rows = 0;                // Rows accepted by Add().
  uint64_t units = 0;               // Distinct units (kByUnitHash) or rows (kOneRowPerUnit).
  uint64_t units_in_both_arms = 0;  // Randomized design with kByUnitHash: excluded units.
  uint64_t memory_bytes = 0;        // Heap held for unit de-duplication.
};

class LiftAccumulator {
 public:
  // Errors: InvalidArgument for more than kMaxDimensions dimensions or max_cells above 2^27.
  static absl::StatusOr<LiftAccumulator> Create(AccumulatorOptions options);

  LiftAccumulator(LiftAccumulator&&) noexcept;
  LiftAccumulator& operator=(LiftAccumulator&&) noexcept;
  ~LiftAccumulator();

  // Adds one row. `dimension_values` has one value per configured dimension (they are copied
  // the first time they are seen). Errors, after which the row is not counted: InvalidArgument
  // for the wrong number of values, ResourceExhausted past max_units or max_cells.
  absl::Status Add(uint64_t unit_hash, Arm arm, bool outcome,
                   std::span<const std::string_view> dimension_values = {});

  // Add() for each row in order, stopping at the first error (rows before it are counted).
  // Faster than a loop over Add() when the unit table outgrows the CPU caches: it prefetches
  // the table slots of rows a little ahead.
  absl::Status AddRows(std::span<const LiftRow> rows);

  // Every cell that has a unit, ordered by dimension values (byte-wise).
  std::vector<LiftCell> Cells() const;
  // All cells together (dimension_values empty).
  LiftCell Total() const;
  const AccumulatorStats& stats() const { return stats_; }
  const AccumulatorOptions& options() const { return options_; }

 private:
  class UnitTable;
  struct Interned;
  explicit LiftAccumulator(AccumulatorOptions options);
  absl::StatusOr<uint32_t> CellOf(std::span<const std::string_view> values);

  AccumulatorOptions options_;
  AccumulatorStats stats_;
  // Per cell: units and outcomes of each arm.
  std::vector<std::array<ArmCounts, 2>> counts_;
  std::unique_ptr<Interned> interned_;
  std::unique_ptr<UnitTable> units_;
};

// The lift of one cell under the accumulator's design (CohortLift or PrePostLift).
absl::StatusOr<LiftResult> CellLift(const LiftCell& cell, Evidence design,
                                    const LiftOptions& options = {});

}  // namespace loopgate::analytics
