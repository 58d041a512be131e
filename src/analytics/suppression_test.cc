#include "analytics/suppression.h"

#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loopgate::analytics {
namespace {

// --- The attacker ---
//
// Knows every released count and every equation of the table (each row and column of cells sums
// to its released-or-not total, and the totals sum to the grand total), and solves for the
// suppressed counts by exact Gauss–Jordan elimination over the rationals. A suppressed count is
// derived exactly when its unit vector lies in the row space of the reduced system: some reduced
// row has its pivot there and no other non-zero coefficient.

struct Fraction {
  __int128 num = 0;
  __int128 den = 1;
};

__int128 Gcd(__int128 a, __int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    const __int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

Fraction Make(__int128 num, __int128 den) {
  if (den < 0) {
    num = -num;
    den = -den;
  }
  const __int128 g = Gcd(num, den);
  return g > 1 ? Fraction{num / g, den / g} : Fraction{num, den};
}
Fraction Sub(Fraction a, Fraction b) { return Make(a.num * b.den - b.num * a.den, a.den * b.den); }
Fraction Mul(Fraction a, Fraction b) { return Make(a.num * b.num, a.den * b.den); }
Fraction Div(Fraction a, Fraction b) { return Make(a.num * b.den, a.den * b.num); }
bool IsZero(Fraction a) { return a.num == 0; }

// One equation: Σ coefficient × quantity = 0 over the table's quantities (cells and totals).
using Equation = std::vector<std::pair<size_t, int>>;

// For each quantity: the value the attacker derives, or nullopt when it is not determined.
// `known[i]` holds the released values (nullopt for suppressed ones).
std::vector<std::optional<Fraction>> Attack(const std::vector<std::optional<int64_t>>& known,
                                            const std::vector<Equation>& equations) {
  // Unknowns are the suppressed quantities, numbered 0..u-1.
  std::vector<int> unknown(known.size(), -1);
  int u = 0;
  for (size_t i = 0; i < known.size(); ++i) {
    if (!known[i]) unknown[i] = u++;
  }
  // Augmented matrix [A | b] with A x = b.
  std::vector<std::vector<Fraction>> m;
  for (const Equation& eq : equations) {
    std::vector<Fraction> row(u + 1);
    for (auto [q, coeff] : eq) {
      if (unknown[q] >= 0) {
        row[unknown[q]] =
            Make(row[unknown[q]].num + coeff * row[unknown[q]].den, row[unknown[q]].den);
      } else {
        row[u] = Sub(row[u], Make(static_cast<__int128>(coeff) * *known[q], 1));
      }
    }
    m.push_back(row);
  }
  std::vector<int> pivot_row_of(u, -1);
  size_t r = 0;
  for (int c = 0; c < u && r < m.size(); ++c) {
    size_t p = r;
    while (p < m.size() && IsZero(m[p][c])) ++p;
    if (p == m.size()) continue;
    std::swap(m[p], m[r]);
    const Fraction lead = m[r][c];
    for (auto& x : m[r]) x = Div(x, lead);
    for (size_t o = 0; o < m.size(); ++o) {
      if (o == r || IsZero(m[o][c])) continue;
      const Fraction f = m[o][c];
      for (int k = 0; k <= u; ++k) m[o][k] = Sub(m[o][k], Mul(f, m[r][k]));
    }
    pivot_row_of[c] = static_cast<int>(r);
    ++r;
  }
  std::vector<std::optional<Fraction>> derived(known.size());
  for (size_t i = 0; i < known.size(); ++i) {
    if (known[i]) {
      derived[i] = Make(*known[i], 1);
      continue;
    }
    const int c = unknown[i];
    if (pivot_row_of[c] < 0) continue;
    const auto& row = m[pivot_row_of[c]];
    bool alone = true;
    for (int k = 0; k < u; ++k) alone &= (k == c) || IsZero(row[k]);
    if (alone) derived[i] = row[u];
  }
  return derived;
}

// Quantities of a released 1-D table: cells 0..n-1, then the total.
struct Flat {
  std::vector<std::optional<int64_t>> known;
  std::vector<Disclosure> disclosure;
  std::vector<int64_t> truth;
  std::vector<Equation> equations;
  std::vector<std::pair<std::vector<size_t>, size_t>> lines;  // (parts, margin)
};

Flat Flatten1D(const std::vector<int64_t>& cells, const ReleasedTable1D& t) {
  Flat f;
  for (size_t i = 0; i < cells.size(); ++i) {
    f.known.push_back(t.cells[i].value);
    f.disclosure.push_back(t.cells[i].disclosure);
    f.truth.push_back(cells[i]);
  }
  f.known.push_back(t.total.value);
  f.disclosure.push_back(t.total.disclosure);
  f.truth.push_back(std::accumulate(cells.begin(), cells.end(), int64_t{0}));
  Equation eq;
  std::vector<size_t> parts;
  for (size_t i = 0; i < cells.size(); ++i) {
    eq.push_back({i, 1});
    parts.push_back(i);
  }
  eq.push_back({cells.size(), -1});
  f.equations.push_back(eq);
  f.lines.push_back({parts, cells.size()});
  return f;
}

// Quantities of a released 2-D table: cells row-major, row totals, column totals, grand total.
Flat Flatten2D(size_t rows, size_t cols, const std::vector<int64_t>& cells,
               const ReleasedTable2D& t) {
  Flat f;
  const size_t row_total = rows * cols, col_total = row_total + rows, grand = col_total + cols;
  for (size_t i = 0; i < cells.size(); ++i) {
    f.known.push_back(t.cells[i].value);
    f.disclosure.push_back(t.cells[i].disclosure);
    f.truth.push_back(cells[i]);
  }
  std::vector<int64_t> rs(rows, 0), cs(cols, 0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      rs[r] += cells[r * cols + c];
      cs[c] += cells[r * cols + c];
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    f.known.push_back(t.row_totals[r].value);
    f.disclosure.push_back(t.row_totals[r].disclosure);
    f.truth.push_back(rs[r]);
  }
  for (size_t c = 0; c < cols; ++c) {
    f.known.push_back(t.col_totals[c].value);
    f.disclosure.push_back(t.col_totals[c].disclosure);
    f.truth.push_back(cs[c]);
  }
  f.known.push_back(t.grand_total.value);
  f.disclosure.push_back(t.grand_total.disclosure);
  f.truth.push_back(std::accumulate(cells.begin(), cells.end(), int64_t{0}));
  for (size_t r = 0; r < rows; ++r) {
    Equation eq{{row_total + r, -1}};
    std::vector<size_t> parts;
    for (size_t c = 0; c < cols; ++c) {
      eq.push_back({r * cols + c, 1});
      parts.push_back(r * cols + c);
    }
    f.equations.push_back(eq);
    f.lines.push_back({parts, row_total + r});
  }
  for (size_t c = 0; c < cols; ++c) {
    Equation eq{{col_total + c, -1}};
    std::vector<size_t> parts;
    for (size_t r = 0; r < rows; ++r) {
      eq.push_back({r * cols + c, 1});
      parts.push_back(r * cols + c);
    }
    f.equations.push_back(eq);
    f.lines.push_back({parts, col_total + c});
  }
  Equation by_rows{{grand, -1}}, by_cols{{grand, -1}};
  std::vector<size_t> row_parts, col_parts;
  for (size_t r = 0; r < rows; ++r) {
    by_rows.push_back({row_total + r, 1});
    row_parts.push_back(row_total + r);
  }
  for (size_t c = 0; c < cols; ++c) {
    by_cols.push_back({col_total + c, 1});
    col_parts.push_back(col_total + c);
  }
  f.equations.push_back(by_rows);
  f.equations.push_back(by_cols);
  f.lines.push_back({row_parts, grand});
  f.lines.push_back({col_parts, grand});
  return f;
}

// Everything a released table must satisfy, checked from the outside.
void ExpectProtected(const Flat& f, const SuppressionOptions& options) {
  for (size_t i = 0; i < f.known.size(); ++i) {
    const int64_t v = f.truth[i];
    const bool small = (v > 0 && v < options.k) || (v == 0 && options.suppress_zero);
    // Exactly the small counts are primary; a released count carries its true value, and a
    // suppressed one carries none.
    EXPECT_EQ(f.disclosure[i] == Disclosure::kPrimary, small) << "quantity " << i << " = " << v;
    if (f.disclosure[i] == Disclosure::kReleased) {
      ASSERT_TRUE(f.known[i].has_value());
      EXPECT_EQ(*f.known[i], v);
    } else {
      EXPECT_FALSE(f.known[i].has_value());
    }
  }
  const auto derived = Attack(f.known, f.equations);
  for (size_t i = 0; i < f.known.size(); ++i) {
    if (f.known[i]) continue;
    EXPECT_FALSE(derived[i].has_value())
        << "suppressed quantity " << i << " (" << f.truth[i] << ") is derivable";
  }
  // What a line's released margin reveals about its suppressed parts together.
  for (const auto& [parts, margin] : f.lines) {
    if (!f.known[margin]) continue;
    int64_t sum = 0;
    bool any = false;
    for (size_t p : parts) {
      if (f.known[p]) continue;
      sum += f.truth[p];
      any = true;
    }
    if (!any) continue;
    if (sum == 0) {
      EXPECT_FALSE(options.suppress_zero) << "suppressed parts summing to 0 are revealed";
    } else {
      EXPECT_GE(sum, options.k) << "suppressed parts of a line sum to a small number";
    }
  }
}

// The attacker is not toothless: the table with only primary suppression gives cells away.
TEST(Attacker, DerivesWhatNaiveSuppressionLeaves) {
  // 1-D: [3, 50, 60] with the total 113 released: 3 = 113 - 50 - 60.
  std::vector<std::optional<int64_t>> known = {std::nullopt, 50, 60, 113};
  auto d = Attack(known, {{{0, 1}, {1, 1}, {2, 1}, {3, -1}}});
  ASSERT_TRUE(d[0].has_value());
  EXPECT_EQ(d[0]->num, 3);
  EXPECT_EQ(d[0]->den, 1);
  // Two suppressed: neither is determined.
  known = {std::nullopt, std::nullopt, 60, 113};
  d = Attack(known, {{{0, 1}, {1, 1}, {2, 1}, {3, -1}}});
  EXPECT_FALSE(d[0].has_value());
  EXPECT_FALSE(d[1].has_value());
}

TEST(Attacker, FindsABridgeBetweenTwoProtectedBlocks) {
  // A 4 × 4 table whose suppressed cells form two 2 × 2 blocks joined by one cell (r1, c2).
  // Every row and column has 0 or >= 2 suppressed cells, yet the joining cell is determined:
  // the "two per line" rule of thumb is not enough, which is why SuppressTable2D checks bridges.
  const size_t rows = 4, cols = 4;
  std::vector<int64_t> cells(16, 50);
  const std::set<size_t> hidden = {0, 1, 4, 5, 10, 11, 14, 15, 6};
  ReleasedTable2D t;
  t.rows = rows;
  t.cols = cols;
  for (size_t i = 0; i < 16; ++i) {
    ReleasedCount c;
    c.disclosure = hidden.count(i) ? Disclosure::kComplementary : Disclosure::kReleased;
    if (!hidden.count(i)) c.value = cells[i];
    t.cells.push_back(c);
  }
  for (size_t i = 0; i < 4; ++i) {
    t.row_totals.push_back({Disclosure::kReleased, 200});
    t.col_totals.push_back({Disclosure::kReleased, 200});
  }
  t.grand_total = {Disclosure::kReleased, 800};
  const Flat f = Flatten2D(rows, cols, cells, t);
  const auto d = Attack(f.known, f.equations);
  ASSERT_TRUE(d[6].has_value());
  EXPECT_EQ(d[6]->num, 50);
  for (size_t i : {0, 1, 4, 5, 10, 11, 14, 15}) EXPECT_FALSE(d[i].has_value()) << i;
}

// --- 1-D ---

TEST(Suppress1D, PrimaryAndSmallestComplement) {
  const std::vector<int64_t> cells = {3, 40, 15, 90};
  auto t = SuppressTable1D(cells);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->cells[0].disclosure, Disclosure::kPrimary);
  EXPECT_EQ(t->cells[2].disclosure, Disclosure::kComplementary);  // 15: the smallest other.
  EXPECT_TRUE(t->cells[1].released());
  EXPECT_TRUE(t->cells[3].released());
  EXPECT_EQ(t->total.value, 148);
  EXPECT_EQ(FormatReleased(t->cells[0]), "suppressed");
  EXPECT_EQ(FormatReleased(t->cells[1]), "40");
  ExpectProtected(Flatten1D(cells, *t), {});
}

TEST(Suppress1D, ZerosAreReleasedAndNeverChosenToProtect) {
  const std::vector<int64_t> cells = {0, 4, 0, 30, 25};
  auto t = SuppressTable1D(cells);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->cells[0].value, 0);
  EXPECT_EQ(t->cells[2].value, 0);
  EXPECT_EQ(t->cells[1].disclosure, Disclosure::kPrimary);
  EXPECT_EQ(t->cells[4].disclosure, Disclosure::kComplementary);
  ExpectProtected(Flatten1D(cells, *t), {});

  SuppressionOptions zero;
  zero.suppress_zero = true;
  auto z = SuppressTable1D(cells, zero);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->cells[0].disclosure, Disclosure::kPrimary);
  ExpectProtected(Flatten1D(cells, *z), zero);
}

TEST(Suppress1D, SmallSuppressedSumPullsInMore) {
  // 2 + 3 = 5 would be public (total minus the rest): add cells until the hidden sum is >= k.
  const std::vector<int64_t> cells = {2, 3, 100, 200};
  auto t = SuppressTable1D(cells);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->cells[2].disclosure, Disclosure::kComplementary);
  EXPECT_TRUE(t->cells[3].released());
  ExpectProtected(Flatten1D(cells, *t), {});
}

TEST(Suppress1D, NoComplementLeftSuppressesTheTotal) {
  const std::vector<int64_t> cells = {5, 0, 0};
  auto t = SuppressTable1D(cells);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->total.released());
  ExpectProtected(Flatten1D(cells, *t), {});
}

TEST(Suppress1D, RejectsBadInput) {
  const std::vector<int64_t> negative = {5, -1};
  EXPECT_EQ(SuppressTable1D(negative).status().code(), absl::StatusCode::kInvalidArgument);
  SuppressionOptions bad;
  bad.k = 0;
  const std::vector<int64_t> ok = {5};
  EXPECT_EQ(SuppressTable1D(ok, bad).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<int64_t> huge = {int64_t{1} << 52, int64_t{1} << 52};
  EXPECT_EQ(SuppressTable1D(huge).status().code(), absl::StatusCode::kInvalidArgument);
}

// --- 2-D ---

TEST(Suppress2D, OneSmallCellNeedsARectangle) {
  const std::vector<int64_t> cells = {5,  40, 60,  //
                                      30, 20, 70,  //
                                      80, 90, 25};
  auto t = SuppressTable2D(3, 3, cells);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->cell(0, 0).disclosure, Disclosure::kPrimary);
  // Row 0: 40 is its smallest other cell; column 0: 30.
  EXPECT_EQ(t->cell(0, 1).disclosure, Disclosure::kComplementary);
  EXPECT_EQ(t->cell(1, 0).disclosure, Disclosure::kComplementary);
  EXPECT_EQ(t->cell(1, 1).disclosure, Disclosure::kComplementary);
  EXPECT_TRUE(t->grand_total.released());
  ExpectProtected(Flatten2D(3, 3, cells, *t), {});
}

TEST(Suppress2D, SmallMarginIsPrimaryToo) {
  const std::vector<int64_t> cells = {2, 3, 50, 60};  // Row 0 totals 5.
  auto t = SuppressTable2D(2, 2, cells);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->row_totals[0].disclosure, Disclosure::kPrimary);
  ExpectProtected(Flatten2D(2, 2, cells, *t), {});
}

void RandomTables(bool two_d, const SuppressionOptions& options, uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  for (int n = 0; n < count; ++n) {
    const size_t rows = two_d ? 1 + rng() % 6 : 1;
    const size_t cols = 1 + rng() % (two_d ? 6 : 9);
    std::vector<int64_t> cells(rows * cols);
    for (auto& v : cells) {
      switch (rng() % 4) {
        case 0:
          v = 0;
          break;
        case 1:
          v = 1 + static_cast<int64_t>(rng() % 12);  // Mostly below k.
          break;
        case 2:
          v = static_cast<int64_t>(rng() % 30);
          break;
        default:
          v = static_cast<int64_t>(rng() % 400);
      }
    }
    SCOPED_TRACE(testing::Message() << "table " << n << " " << rows << "x" << cols);
    if (two_d) {
      auto t = SuppressTable2D(rows, cols, cells, options);
      ASSERT_TRUE(t.ok()) << t.status();
      ExpectProtected(Flatten2D(rows, cols, cells, *t), options);
    } else {
      auto t = SuppressTable1D(cells, options);
      ASSERT_TRUE(t.ok()) << t.status();
      ExpectProtected(Flatten1D(cells, *t), options);
    }
    if (testing::Test::HasFailure()) return;  // One broken table is enough to read.
  }
}

TEST(SuppressRandom, NothingSuppressedIsDerivable1D) { RandomTables(false, {}, 11, 3000); }
TEST(SuppressRandom, NothingSuppressedIsDerivable2D) { RandomTables(true, {}, 12, 3000); }
TEST(SuppressRandom, NothingSuppressedIsDerivableWithZerosSuppressed) {
  SuppressionOptions o;
  o.suppress_zero = true;
  RandomTables(false, o, 13, 1000);
  RandomTables(true, o, 14, 1000);
}
TEST(SuppressRandom, OtherThresholds) {
  for (int64_t k : {1, 2, 5, 25}) {
    SuppressionOptions o;
    o.k = k;
    RandomTables(true, o, 20 + k, 500);
  }
}

// --- Derived statistics ---

TEST(ReleaseLiftTable, NothingDerivedFromASuppressedCount) {
  std::vector<LiftCell> cells(3);
  cells[0].dimension_values = {"a"};
  cells[0].exposed = {500, 60};
  cells[0].holdout = {480, 40};
  cells[1].dimension_values = {"b"};
  cells[1].exposed = {300, 4};  // 4 outcomes: suppressed, and with them the rate and lift.
  cells[1].holdout = {310, 25};
  cells[2].dimension_values = {"c"};
  cells[2].exposed = {200, 30};
  cells[2].holdout = {190, 12};
  auto t = ReleaseLiftTable(cells, Evidence::kRandomizedHoldout);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->rows.size(), 3u);
  const ReleasedLiftRow& b = t->rows[1];
  EXPECT_EQ(b.exposed_outcomes.disclosure, Disclosure::kPrimary);
  EXPECT_FALSE(b.exposed_outcomes.value.has_value());
  EXPECT_FALSE(b.exposed_rate.has_value());
  EXPECT_FALSE(b.lift.has_value());
  // Its complement in the exposed table is suppressed too, and takes that row's rate with it.
  int exposed_rates = 0;
  for (const auto& row : t->rows) {
    exposed_rates += row.exposed_rate.has_value();
    if (!row.exposed_outcomes.released() || !row.exposed_units.released()) {
      EXPECT_FALSE(row.exposed_rate.has_value());
      EXPECT_FALSE(row.lift.has_value());
    }
    if (row.lift) {
      EXPECT_TRUE(row.exposed_rate && row.holdout_rate);
      EXPECT_EQ(row.lift->evidence, Evidence::kRandomizedHoldout);
    }
  }
  EXPECT_LT(exposed_rates, 3);
  // The holdout table had nothing small: all its rates are out.
  for (const auto& row : t->rows) EXPECT_TRUE(row.holdout_rate.has_value());
  // The totals are large: released, with the overall lift.
  ASSERT_TRUE(t->total.lift.has_value());
  EXPECT_EQ(t->total.exposed_units.value, 1000);
  EXPECT_EQ(t->total.exposed_outcomes.value, 94);
  EXPECT_NEAR(t->total.lift->absolute_lift.difference, 94.0 / 1000 - 77.0 / 980, 1e-15);

  // Each arm's table is protected against the attacker.
  for (int arm = 0; arm < 2; ++arm) {
    std::vector<int64_t> counts;
    for (const auto& c : cells) {
      const ArmCounts& a = arm == 0 ? c.exposed : c.holdout;
      counts.push_back(a.outcomes);
      counts.push_back(a.units - a.outcomes);
    }
    auto table = SuppressTable2D(3, 2, counts);
    ASSERT_TRUE(table.ok());
    ExpectProtected(Flatten2D(3, 2, counts, *table), {});
    for (size_t i = 0; i < 3; ++i) {
      const ReleasedLiftRow& row = t->rows[i];
      EXPECT_EQ((arm == 0 ? row.exposed_units : row.holdout_units).value,
                table->row_totals[i].value);
      EXPECT_EQ((arm == 0 ? row.exposed_outcomes : row.holdout_outcomes).value,
                table->cell(i, 0).value);
    }
  }
}

TEST(ReleaseLiftTable, HighRateHidesFewNonOutcomes) {
  // 95 of 100 had the outcome: the 5 without it are a small cell.
  std::vector<LiftCell> cells(1);
  cells[0].exposed = {100, 95};
  cells[0].holdout = {100, 50};
  auto t = ReleaseLiftTable(cells, Evidence::kPrePost);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->evidence, Evidence::kPrePost);
  EXPECT_FALSE(t->rows[0].exposed_rate.has_value());
  EXPECT_FALSE(t->total.lift.has_value());
  EXPECT_TRUE(t->rows[0].holdout_rate.has_value());
}

TEST(ReleaseTimeToOutcome, SmallGroupsAreWithheld) {
  TimeToOutcome s;
  s.units = 200;
  s.events = 150;
  EXPECT_TRUE(ReleaseTimeToOutcome(s).has_value());
  s.events = 8;
  EXPECT_FALSE(ReleaseTimeToOutcome(s).has_value());
  s.events = 195;  // 5 censored.
  EXPECT_FALSE(ReleaseTimeToOutcome(s).has_value());
}

}  // namespace
}  // namespace loopgate::analytics
