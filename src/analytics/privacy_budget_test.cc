#include "analytics/privacy_budget.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "store/scratch_state.h"

namespace loopgate::analytics {
namespace {

constexpr std::string_view kAt = "2026-07-01T09:00:00Z";

TEST(Random, SeededIsReproducible) {
  SeededRandom a(42), b(42), c(43);
  std::set<uint64_t> seen;
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
    seen.insert(x);
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Random, SystemDiffersBetweenInstances) {
  SystemRandom a, b;
  std::set<uint64_t> seen;
  for (int i = 0; i < 200; ++i) {
    seen.insert(a.Next());
    seen.insert(b.Next());
  }
  EXPECT_EQ(seen.size(), 400u);
}

// The samples follow Laplace(0, b): Kolmogorov–Smirnov distance to F(x) = 1/2 e^{x/b} (x < 0),
// 1 - 1/2 e^{-x/b} (x >= 0), below the 0.1% critical value 1.95/√n, and the moments
// E[X] = 0, E|X| = b.
TEST(Laplace, SamplesHaveTheLaplaceDistribution) {
  SeededRandom rng(2026);
  const double b = 2.5;
  const int n = 200000;
  std::vector<double> x(n);
  double sum = 0, abs_sum = 0;
  for (double& v : x) {
    v = SampleLaplace(rng, b);
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    abs_sum += std::fabs(v);
  }
  std::sort(x.begin(), x.end());
  double d = 0;
  for (int i = 0; i < n; ++i) {
    const double f = x[i] < 0 ? 0.5 * std::exp(x[i] / b) : 1 - 0.5 * std::exp(-x[i] / b);
    d = std::max({d, std::fabs(f - static_cast<double>(i) / n),
                  std::fabs(f - static_cast<double>(i + 1) / n)});
  }
  EXPECT_LT(d, 1.95 / std::sqrt(static_cast<double>(n)));
  // Standard errors: sd(X) = b√2 → 0.008 for the mean; sd|X| = b → 0.0056.
  EXPECT_NEAR(sum / n, 0, 0.04);
  EXPECT_NEAR(abs_sum / n, b, 0.03);
}

TEST(Laplace, NoiseScaleIsSensitivityOverEpsilon) {
  SeededRandom a(9), b(9);
  for (int i = 0; i < 100; ++i) {
    auto noisy = AddLaplaceNoise(100, 2, 0.5, a);
    ASSERT_TRUE(noisy.ok());
    EXPECT_NEAR(*noisy - 100, SampleLaplace(b, 4), 1e-12);  // 100 + x - 100 rounds.
  }
  EXPECT_EQ(AddLaplaceNoise(1, 1, 0, a).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddLaplaceNoise(1, -1, 1, a).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddLaplaceNoise(NAN, 1, 1, a).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddLaplaceNoise(1, 1, INFINITY, a).status().code(), absl::StatusCode::kInvalidArgument);
}

class BudgetTest : public testing::Test {
 protected:
  void SetUp() override { state_.Open("privacy"); }
  void TearDown() override { state_.Close(); }
  store::test_support::ScratchState state_;
};

TEST_F(BudgetTest, SpendsUntilTheBudgetIsGoneThenRefuses) {
  PrivacyBudget budget(*state_.db);
  ASSERT_TRUE(budget.Open("study-1", 1.0).ok());
  // Ten spends of 0.1 exactly exhaust 1.0: epsilon is counted in whole nano-epsilon.
  for (int i = 0; i < 10; ++i) {
    auto spend = budget.Spend("study-1", 0.1, "visit rate by segment", kAt);
    ASSERT_TRUE(spend.ok()) << i << ": " << spend.status();
    EXPECT_EQ(spend->epsilon, 0.1);
  }
  auto refused = budget.Spend("study-1", 1e-9, "one more", kAt);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("study-1"), std::string_view::npos);
  auto balance = budget.Balance("study-1");
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance->total, 1.0);
  EXPECT_EQ(balance->spent, 1.0);
  EXPECT_EQ(balance->remaining, 0);
  auto spends = budget.Spends("study-1");
  ASSERT_TRUE(spends.ok());
  ASSERT_EQ(spends->size(), 10u);  // The refused spend left no record.
  EXPECT_EQ((*spends)[0].label, "visit rate by segment");
  EXPECT_EQ((*spends)[0].spent_at, kAt);
  EXPECT_LT((*spends)[0].seq, (*spends)[9].seq);
}

TEST_F(BudgetTest, ARefusedSpendChargesNothing) {
  PrivacyBudget budget(*state_.db);
  ASSERT_TRUE(budget.Open("s", 0.5).ok());
  ASSERT_TRUE(budget.Spend("s", 0.3, "a", kAt).ok());
  EXPECT_EQ(budget.Spend("s", 0.3, "b", kAt).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto balance = budget.Balance("s");
  ASSERT_TRUE(balance.ok());
  EXPECT_NEAR(balance->remaining, 0.2, 1e-15);
  EXPECT_TRUE(budget.Spend("s", 0.2, "c", kAt).ok());  // What is left can still be spent.
}

TEST_F(BudgetTest, BudgetsAreSetOnceAndPerStudy) {
  PrivacyBudget budget(*state_.db);
  ASSERT_TRUE(budget.Open("a", 1).ok());
  EXPECT_TRUE(budget.Open("a", 1).ok());
  EXPECT_EQ(budget.Open("a", 2).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(budget.Open("b", 0.25).ok());
  ASSERT_TRUE(budget.Spend("a", 1, "all of a", kAt).ok());
  EXPECT_TRUE(budget.Spend("b", 0.25, "all of b", kAt).ok());
  EXPECT_EQ(budget.Spend("c", 0.1, "x", kAt).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(budget.Balance("c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(budget.Open("", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(budget.Open("d", 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(budget.Open("d", NAN).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(budget.Open("d", 1).ok());
  EXPECT_EQ(budget.Spend("d", -0.1, "x", kAt).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(budget.Spend("d", 0.1, "x", "yesterday").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BudgetTest, SurvivesReopeningTheState) {
  {
    PrivacyBudget budget(*state_.db);
    ASSERT_TRUE(budget.Open("s", 1).ok());
    ASSERT_TRUE(budget.Spend("s", 0.75, "first", kAt).ok());
  }
  state_.db.reset();
  auto reopened = store::Database::Open(state_.root + "/state");
  ASSERT_TRUE(reopened.ok());
  PrivacyBudget budget(**reopened);
  EXPECT_EQ(budget.Spend("s", 0.5, "second", kAt).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto schema = (*reopened)->GetMeta("schema");
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ(**schema, store::kSchemaName);
}

// Several connections (as several processes would have) spending at once never overspend.
TEST_F(BudgetTest, ConcurrentSpendsNeverExceedTheBudget) {
  {
    PrivacyBudget budget(*state_.db);
    ASSERT_TRUE(budget.Open("shared", 1).ok());
  }
  std::atomic<int> granted{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto db = store::Database::Open(state_.root + "/state");
      if (!db.ok()) {
        ++failed;
        return;
      }
      PrivacyBudget budget(**db);
      for (int i = 0; i < 40; ++i) {
        auto s = budget.Spend("shared", 0.03, "concurrent", kAt);
        if (s.ok()) {
          ++granted;
        } else if (s.status().code() == absl::StatusCode::kFailedPrecondition) {
          ++refused;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(granted.load(), 33);  // floor(1 / 0.03)
  EXPECT_EQ(refused.load(), 160 - 33);
  PrivacyBudget budget(*state_.db);
  auto balance = budget.Balance("shared");
  ASSERT_TRUE(balance.ok());
  EXPECT_NEAR(balance->spent, 0.99, 1e-12);
  auto spends = budget.Spends("shared");
  ASSERT_TRUE(spends.ok());
  EXPECT_EQ(spends->size(), 33u);
}

TEST_F(BudgetTest, ACallersRollbackUndoesTheSpend) {
  PrivacyBudget budget(*state_.db);
  ASSERT_TRUE(budget.Open("s", 1).ok());
  ASSERT_TRUE(state_.db->Begin().ok());
  ASSERT_TRUE(budget.Spend("s", 0.4, "inside", kAt).ok());
  ASSERT_TRUE(state_.db->Rollback().ok());
  auto balance = budget.Balance("s");
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance->spent, 0);
}

TEST_F(BudgetTest, NoisyCountsChargeOnceAndAreReproducibleWithASeed) {
  PrivacyBudget budget(*state_.db);
  ASSERT_TRUE(budget.Open("s", 1).ok());
  const std::vector<int64_t> counts = {120, 45, 3000, 0};
  SeededRandom rng_a(77), rng_b(77);
  auto a = NoisyCounts(budget, "s", counts, 0.5, "histogram", kAt, rng_a);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), counts.size());
  // The same noise as the mechanism with scale 1/0.5, rounded.
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_EQ((*a)[i], std::llround(static_cast<double>(counts[i]) + SampleLaplace(rng_b, 2)));
  }
  auto b = NoisyCounts(budget, "s", counts, 0.5, "again", kAt, rng_a);
  ASSERT_TRUE(b.ok());
  auto c = NoisyCounts(budget, "s", counts, 0.5, "too much", kAt, rng_a);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  auto spends = budget.Spends("s");
  ASSERT_TRUE(spends.ok());
  EXPECT_EQ(spends->size(), 2u);  // One charge per histogram, none for the refused one.
}

TEST_F(BudgetTest, OtherTablesAreUntouched) {
  // The budget tables are created by the store's schema, next to the tables that were there.
  auto q = state_.db->Prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  ASSERT_TRUE(q.ok());
  std::vector<std::string> names;
  while (true) {
    auto row = q->Step();
    ASSERT_TRUE(row.ok());
    if (!*row) break;
    names.emplace_back(q->Text(0));
  }
  for (const char* t : {"agreements", "consents", "meta", "outputs", "policies", "privacy_budget",
                        "privacy_spends", "quarantine_index", "quarantined", "runs"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), t), names.end()) << t;
  }
}

}  // namespace
}  // namespace loopgate::analytics
