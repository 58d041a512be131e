#include "analytics/accumulator.h"

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loopgate::analytics {
namespace {

struct Row {
  uint64_t unit;
  Arm arm;
  bool outcome;
  std::string segment;
};

// The definition of UnitDedup::kByUnitHash written out naively, over all rows at once.
std::map<std::string, std::array<ArmCounts, 2>> NaiveByUnit(const std::vector<Row>& rows,
                                                            Evidence design, uint64_t* in_both) {
  struct Unit {
    std::string segment;  // Of its first row.
    bool seen[2] = {false, false};
    bool outcome[2] = {false, false};
  };
  std::map<uint64_t, Unit> units;
  for (const Row& r : rows) {
    auto [it, inserted] = units.try_emplace(r.unit);
    if (inserted) it->second.segment = r.segment;
    const int a = static_cast<int>(r.arm);
    it->second.seen[a] = true;
    it->second.outcome[a] |= r.outcome;
  }
  std::map<std::string, std::array<ArmCounts, 2>> cells;
  *in_both = 0;
  for (const auto& [id, u] : units) {
    if (design == Evidence::kRandomizedHoldout && u.seen[0] && u.seen[1]) {
      ++*in_both;
      continue;
    }
    for (int a = 0; a < 2; ++a) {
      if (!u.seen[a]) continue;
      cells[u.segment][a].units += 1;
      cells[u.segment][a].outcomes += u.outcome[a] ? 1 : 0;
    }
  }
  return cells;
}

std::vector<Row> RandomRows(uint64_t seed, size_t n, uint64_t distinct_units) {
  std::mt19937_64 rng(seed);
  const std::string segments[] = {"a", "b", "c", "d"};
  std::vector<Row> rows;
  for (size_t i = 0; i < n; ++i) {
    Row r;
    r.unit = rng() % distinct_units;  // Includes the hash 0.
    // Mostly a fixed arm per unit, sometimes the other one (contamination).
    r.arm = ((r.unit % 2) ^ (rng() % 10 == 0)) ? Arm::kHoldout : Arm::kExposed;
    r.outcome = rng() % 4 == 0;
    r.segment = segments[rng() % 4];
    rows.push_back(r);
  }
  return rows;
}

TEST(LiftAccumulator, DedupMatchesTheNaiveDefinition) {
  for (Evidence design : {Evidence::kRandomizedHoldout, Evidence::kPrePost}) {
    for (uint64_t seed : {1, 2, 3}) {
      const auto rows = RandomRows(seed, 20000, 3000);
      AccumulatorOptions options;
      options.design = design;
      options.dimensions = {"segment"};
      auto acc = LiftAccumulator::Create(options);
      ASSERT_TRUE(acc.ok()) << acc.status();
      for (const Row& r : rows) {
        const std::string_view dims[] = {r.segment};
        ASSERT_TRUE(acc->Add(r.unit, r.arm, r.outcome, dims).ok());
      }
      uint64_t in_both = 0;
      const auto expected = NaiveByUnit(rows, design, &in_both);
      const auto cells = acc->Cells();
      ASSERT_EQ(cells.size(), expected.size());
      for (const LiftCell& cell : cells) {
        ASSERT_EQ(cell.dimension_values.size(), 1u);
        const auto& e = expected.at(cell.dimension_values[0]);
        EXPECT_EQ(cell.exposed, e[0]) << cell.dimension_values[0];
        EXPECT_EQ(cell.holdout, e[1]) << cell.dimension_values[0];
      }
      EXPECT_EQ(acc->stats().rows, rows.size());
      EXPECT_EQ(acc->stats().units_in_both_arms, in_both);
      if (design == Evidence::kRandomizedHoldout) {
        EXPECT_GT(in_both, 0u);  // The data do contain contamination.
      } else {
        EXPECT_EQ(in_both, 0u);
      }
      std::set<uint64_t> distinct;
      for (const Row& r : rows) distinct.insert(r.unit);
      EXPECT_EQ(acc->stats().units, distinct.size());
    }
  }
}

TEST(LiftAccumulator, AddRowsIsAddInOrder) {
  const auto rows = RandomRows(4, 50000, 20000);
  AccumulatorOptions options;
  options.dimensions = {"segment"};
  auto one = LiftAccumulator::Create(options);
  auto batched = LiftAccumulator::Create(options);
  ASSERT_TRUE(one.ok() && batched.ok());
  std::vector<LiftRow> batch;
  for (const Row& r : rows) {
    const std::string_view dims[] = {r.segment};
    ASSERT_TRUE(one->Add(r.unit, r.arm, r.outcome, dims).ok());
    LiftRow lr;
    lr.unit_hash = r.unit;
    lr.arm = r.arm;
    lr.outcome = r.outcome;
    lr.dimension_values[0] = r.segment;
    batch.push_back(lr);
  }
  ASSERT_TRUE(batched->AddRows(batch).ok());
  const auto a = one->Cells(), b = batched->Cells();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].dimension_values, b[i].dimension_values);
    EXPECT_EQ(a[i].exposed, b[i].exposed);
    EXPECT_EQ(a[i].holdout, b[i].holdout);
  }
  EXPECT_EQ(one->stats().units_in_both_arms, batched->stats().units_in_both_arms);

  // The first failing row stops the batch; the rows before it are in.
  AccumulatorOptions small;
  small.max_units = 2;
  auto limited = LiftAccumulator::Create(small);
  ASSERT_TRUE(limited.ok());
  std::vector<LiftRow> three(3);
  for (uint64_t i = 0; i < 3; ++i) three[i].unit_hash = i + 1;
  EXPECT_EQ(limited->AddRows(three).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(limited->stats().rows, 2u);
}

TEST(LiftAccumulator, OneRowPerUnitCountsRows) {
  AccumulatorOptions options;
  options.dedup = UnitDedup::kOneRowPerUnit;
  auto acc = LiftAccumulator::Create(options);
  ASSERT_TRUE(acc.ok());
  // The same hash twice is two units in this mode: the caller vouches for one row per unit.
  ASSERT_TRUE(acc->Add(7, Arm::kExposed, true).ok());
  ASSERT_TRUE(acc->Add(7, Arm::kExposed, false).ok());
  ASSERT_TRUE(acc->Add(8, Arm::kHoldout, false).ok());
  const LiftCell total = acc->Total();
  EXPECT_EQ(total.exposed, (ArmCounts{2, 1}));
  EXPECT_EQ(total.holdout, (ArmCounts{1, 0}));
  EXPECT_EQ(acc->stats().memory_bytes, 0u);
  ASSERT_EQ(acc->Cells().size(), 1u);
}

TEST(LiftAccumulator, OutcomeOnAnyRowCountsOnce) {
  auto acc = LiftAccumulator::Create({});
  ASSERT_TRUE(acc.ok());
  for (bool outcome : {false, true, true, false}) {
    ASSERT_TRUE(acc->Add(42, Arm::kExposed, outcome).ok());
  }
  ASSERT_TRUE(acc->Add(0, Arm::kHoldout, true).ok());  // Hash 0 is a unit like any other.
  ASSERT_TRUE(acc->Add(0, Arm::kHoldout, false).ok());
  const LiftCell total = acc->Total();
  EXPECT_EQ(total.exposed, (ArmCounts{1, 1}));
  EXPECT_EQ(total.holdout, (ArmCounts{1, 1}));
  EXPECT_EQ(acc->stats().units, 2u);
  EXPECT_EQ(acc->stats().rows, 6u);
}

TEST(LiftAccumulator, CellIsTheFirstRowsCell) {
  AccumulatorOptions options;
  options.dimensions = {"segment", "channel"};
  auto acc = LiftAccumulator::Create(options);
  ASSERT_TRUE(acc.ok());
  const std::string_view first[] = {"s1", "web"};
  const std::string_view later[] = {"s2", "phone"};
  ASSERT_TRUE(acc->Add(1, Arm::kExposed, false, first).ok());
  ASSERT_TRUE(acc->Add(1, Arm::kExposed, true, later).ok());
  ASSERT_TRUE(acc->Add(2, Arm::kExposed, false, later).ok());
  const auto cells = acc->Cells();
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[0].dimension_values, (std::vector<std::string>{"s1", "web"}));
  EXPECT_EQ(cells[0].exposed, (ArmCounts{1, 1}));
  EXPECT_EQ(cells[1].dimension_values, (std::vector<std::string>{"s2", "phone"}));
  EXPECT_EQ(cells[1].exposed, (ArmCounts{1, 0}));
}

TEST(LiftAccumulator, Limits) {
  AccumulatorOptions options;
  options.max_units = 3;
  options.dimensions = {"d"};
  options.max_cells = 2;
  auto acc = LiftAccumulator::Create(options);
  ASSERT_TRUE(acc.ok());
  const std::string_view x[] = {"x"}, y[] = {"y"}, z[] = {"z"};
  ASSERT_TRUE(acc->Add(1, Arm::kExposed, true, x).ok());
  ASSERT_TRUE(acc->Add(2, Arm::kExposed, true, y).ok());
  EXPECT_EQ(acc->Add(3, Arm::kExposed, true, z).code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(acc->Add(3, Arm::kExposed, true, x).ok());
  EXPECT_EQ(acc->Add(4, Arm::kExposed, true, x).code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(acc->Add(3, Arm::kExposed, true, x).ok());  // A known unit is still fine.
  EXPECT_EQ(acc->Add(5, Arm::kExposed, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(acc->Total().exposed, (ArmCounts{3, 3}));
  EXPECT_EQ(acc->stats().rows, 4u);

  AccumulatorOptions too_many;
  too_many.dimensions = {"a", "b", "c", "d", "e"};
  EXPECT_EQ(LiftAccumulator::Create(too_many).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LiftAccumulator, MemoryStaysWithinTheDocumentedBound) {
  AccumulatorOptions options;
  auto acc = LiftAccumulator::Create(options);
  ASSERT_TRUE(acc.ok());
  std::mt19937_64 rng(5);
  const uint64_t n = 300000;
  for (uint64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(acc->Add(rng(), i % 2 ? Arm::kExposed : Arm::kHoldout, i % 3 == 0).ok());
  }
  EXPECT_EQ(acc->stats().units, n);
  EXPECT_GE(acc->stats().memory_bytes, 16 * n);
  EXPECT_LE(acc->stats().memory_bytes, 32 * n);
  const LiftCell total = acc->Total();
  EXPECT_EQ(total.exposed.units + total.holdout.units, static_cast<int64_t>(n));
}

TEST(LiftAccumulator, CellLiftFollowsTheDesign) {
  LiftCell cell;
  cell.exposed = {1000, 150};
  cell.holdout = {1000, 100};
  auto holdout = CellLift(cell, Evidence::kRandomizedHoldout);
  auto pre_post = CellLift(cell, Evidence::kPrePost);
  ASSERT_TRUE(holdout.ok() && pre_post.ok());
  EXPECT_EQ(holdout->evidence, Evidence::kRandomizedHoldout);
  EXPECT_EQ(pre_post->evidence, Evidence::kPrePost);
  EXPECT_NEAR(holdout->absolute_lift.difference, 0.05, 1e-15);
}

}  // namespace
}  // namespace loopgate::analytics
