#pragma once
// The optional differential-privacy mode: the Laplace mechanism, and a per-study epsilon budget
// kept in the state store (tables privacy_budget and privacy_spends, docs/state.md) that refuses
// a release once it is spent. docs/measurement.md section 6.
//
// Randomness is injected (RandomSource), so tests and re-runs with a seed are reproducible;
// production uses SystemRandom.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rng.h"
#include "store/store.h"

namespace loopgate::analytics {

// A source of uniformly distributed 64-bit words. Not thread-safe.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t Next() = 0;
};

// xoshiro256** seeded through splitmix64 (common::Rng): the same seed gives the same sequence
// on every platform. For tests and reproducible runs; a released study should use SystemRandom, since
// anyone who knows the seed can subtract the noise.
class SeededRandom : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed);
  uint64_t Next() override;

 private:
  common::Rng rng_;
};

// The kernel's CSPRNG (getrandom(2)), buffered.
class SystemRandom : public RandomSource {
 public:
  uint64_t Next() override;

 private:
  uint64_t buffer_[64];
  size_t next_ = 64;
};

// One draw from Laplace(0, scale), scale > 0: a random sign times an exponential draw,
// ±(-scale·ln U) with U uniform in (0, 1] (53 bits), one 64-bit word per draw.
double SampleLaplace(RandomSource& rng, double scale);

// The Laplace mechanism: value + Laplace(0, sensitivity / epsilon). Errors: InvalidArgument
// unless sensitivity and epsilon are finite and > 0 and value is finite. This function does not
// charge any budget; use PrivacyBudget::Spend first (NoisyCounts does both).
absl::StatusOr<double> AddLaplaceNoise(double value, double sensitivity, double epsilon,
                                       RandomSource& rng);

// Epsilon is recorded in whole nano-epsilon (1e-9), so budgets add up exactly: a spend is
// rounded to the nearest nano-epsilon and the noise is calibrated to that recorded amount.
inline constexpr double kEpsilonUnit = 1e-9;

// One recorded spend.
struct EpsilonSpend {
  int64_t seq = 0;  // Order of spends in the state.
  std::string study;
  double epsilon = 0;    // As recorded (a multiple of kEpsilonUnit).
  std::string label;     // What the budget was spent on, as the caller named it (no PHI).
  std::string spent_at;  // RFC 3339, as the caller gave it.
};

struct BudgetStatus {
  double total = 0;
  double spent = 0;
  double remaining = 0;
};

// The per-study budgets of one state. Borrows the Database, which must outlive it; used by one
// thread at a time (as the Database). Several processes may spend against the same state: each
// spend is one SQLite transaction whose UPDATE only succeeds while the budget covers it, so the
// total spent never exceeds the budget.
class PrivacyBudget {
 public:
  explicit PrivacyBudget(store::Database& db) : db_(db) {}

  // Gives `study` a total budget of `epsilon`, or checks that it already has exactly that one.
  // A budget is never raised or lowered once set. Errors: InvalidArgument for an empty study
  // name or an epsilon outside [1e-9, 1e6]; FailedPrecondition when the study already has a
  // different budget; Internal for the store.
  absl::Status Open(std::string_view study, double epsilon);

  // Status of `study`'s budget. Errors: NotFound when it has none.
  absl::StatusOr<BudgetStatus> Balance(std::string_view study);

  // Charges `epsilon` to `study`, atomically: either the whole spend is recorded (the budget
  // row and a privacy_spends row, in one transaction) or nothing is. Returns the spend as
  // recorded. Errors: InvalidArgument for an epsilon outside [1e-9, 1e6] or a `spent_at` that is
  // not RFC 3339; NotFound when the study has no budget; FailedPrecondition when the spend would
  // take the study past its budget (nothing is charged); Internal for the store. Must not be
  // called inside a transaction the caller holds open on the same Database unless the caller
  // accepts that its own rollback also undoes the spend.
  absl::StatusOr<EpsilonSpend> Spend(std::string_view study, double epsilon, std::string_view label,
                                     std::string_view spent_at);

  // Every spend of `study`, in order.
  absl::StatusOr<std::vector<EpsilonSpend>> Spends(std::string_view study);

 private:
  store::Database& db_;
};

// Releases counts of disjoint cells (each unit in at most one cell, so the L1 sensitivity of the
// whole histogram is 1): charges `epsilon` once to `study`, then adds Laplace(0, 1/epsilon) noise
// to every count and rounds to the nearest integer (post-processing, which costs no privacy).
// Noisy counts can be negative; clamping them at 0 is post-processing too, but biases sums.
// Errors: those of Spend; nothing is released when the spend is refused.
absl::StatusOr<std::vector<int64_t>> NoisyCounts(PrivacyBudget& budget, std::string_view study,
                                                 std::span<const int64_t> counts, double epsilon,
                                                 std::string_view label, std::string_view spent_at,
                                                 RandomSource& rng);

}  // namespace loopgate::analytics
