#include "analytics/privacy_budget.h"

#include <errno.h>
#include <sys/random.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/status.h"
#include "common/strings.h"
#include "common/time.h"

namespace loopgate::analytics {
namespace {

constexpr double kMaxEpsilon = 1e6;

absl::StatusOr<int64_t> ToNano(double epsilon) {
  if (!(epsilon >= kEpsilonUnit && epsilon <= kMaxEpsilon)) {
    return absl::InvalidArgumentError("epsilon must be between 1e-9 and 1e6");
  }
  return static_cast<int64_t>(std::llround(epsilon / kEpsilonUnit));
}

double FromNano(int64_t nano) { return static_cast<double>(nano) * kEpsilonUnit; }

absl::Status CheckStudy(std::string_view study) {
  if (study.empty()) return absl::InvalidArgumentError("a study needs a name");
  return absl::OkStatus();
}

}  // namespace

SeededRandom::SeededRandom(uint64_t seed) : rng_(seed) {}

uint64_t SeededRandom::Next() { return rng_.Next(); }

uint64_t SystemRandom::Next() {
  if (next_ == std::size(buffer_)) {
    auto* p = reinterpret_cast<unsigned char*>(buffer_);
    size_t filled = 0;
    while (filled < sizeof(buffer_)) {
      const ssize_t n = ::getrandom(p + filled, sizeof(buffer_) - filled, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // Without the kernel's generator there is no noise worth releasing: stop.
        std::fprintf(stderr, "loopgate: getrandom failed; refusing to release noisy values\n");
        std::abort();
      }
      filled += static_cast<size_t>(n);
    }
    next_ = 0;
  }
  return buffer_[next_++];
}

double SampleLaplace(RandomSource& rng, double scale) {
  const uint64_t bits = rng.Next();
  // The top 53 bits give U = k·2^-53 in (0, 1], exactly; the lowest bit the sign.
  const double u = static_cast<double>((bits >> 11) + 1) * 0x1p-53;
  const double magnitude = -scale * std::log(u);
  return (bits & 1) ? -magnitude : magnitude;
}

absl::StatusOr<double> AddLaplaceNoise(double value, double sensitivity, double epsilon,
                                       RandomSource& rng) {
  if (!std::isfinite(value)) return absl::InvalidArgumentError("value must be finite");
  if (!(std::isfinite(sensitivity) && sensitivity > 0)) {
    return absl::InvalidArgumentError("sensitivity must be finite and positive");
  }
  if (!(std::isfinite(epsilon) && epsilon > 0)) {
    return absl::InvalidArgumentError("epsilon must be finite and positive");
  }
  return value + SampleLaplace(rng, sensitivity / epsilon);
}

absl::Status PrivacyBudget::Open(std::string_view study, double epsilon) {
  RETURN_IF_ERROR(CheckStudy(study));
  ASSIGN_OR_RETURN(const int64_t nano, ToNano(epsilon));
  ASSIGN_OR_RETURN(auto insert,
                   db_.Prepare("INSERT INTO privacy_budget (study, total_nano, spent_nano) "
                               "VALUES (?, ?, 0) ON CONFLICT (study) DO NOTHING"));
  insert.Bind(1, study).Bind(2, nano);
  RETURN_IF_ERROR(insert.Run());
  ASSIGN_OR_RETURN(auto query,
                   db_.Prepare("SELECT total_nano FROM privacy_budget WHERE study = ?"));
  query.Bind(1, study);
  ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return absl::InternalError("state store: a budget just written is missing");
  if (query.Int(0) != nano) {
    return absl::FailedPreconditionError(
        common::StrCat("study ", study, " already has a privacy budget of ", query.Int(0),
                       " nano-epsilon; a budget is never changed once set"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BudgetStatus> PrivacyBudget::Balance(std::string_view study) {
  ASSIGN_OR_RETURN(auto query, db_.Prepare("SELECT total_nano, spent_nano FROM privacy_budget "
                                           "WHERE study = ?"));
  query.Bind(1, study);
  ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) {
    return absl::NotFoundError(common::StrCat("study ", study, " has no privacy budget"));
  }
  BudgetStatus s;
  s.total = FromNano(query.Int(0));
  s.spent = FromNano(query.Int(1));
  s.remaining = FromNano(query.Int(0) - query.Int(1));
  return s;
}

absl::StatusOr<EpsilonSpend> PrivacyBudget::Spend(std::string_view study, double epsilon,
                                                  std::string_view label,
                                                  std::string_view spent_at) {
  RETURN_IF_ERROR(CheckStudy(study));
  ASSIGN_OR_RETURN(const int64_t nano, ToNano(epsilon));
  if (!common::ParseRfc3339(spent_at)) {
    return absl::InvalidArgumentError("spent_at must be an RFC 3339 date-time");
  }
  // A savepoint nests inside a caller's transaction and starts one otherwise. Its first
  // statement writes, so SQLite takes the write lock (waiting out the busy timeout) before it
  // reads the balance: the check and the charge are one atomic step across processes.
  RETURN_IF_ERROR(db_.Exec("SAVEPOINT privacy_spend"));
  auto undo = [this](absl::Status s) {
    (void)db_.Exec("ROLLBACK TO privacy_spend; RELEASE privacy_spend");
    return s;
  };
  auto charge = db_.Prepare(
      "UPDATE privacy_budget SET spent_nano = spent_nano + ?1 "
      "WHERE study = ?2 AND spent_nano + ?1 <= total_nano");
  if (!charge.ok()) return undo(charge.status());
  charge->Bind(1, nano).Bind(2, study);
  if (auto s = charge->Run(); !s.ok()) return undo(s);
  if (sqlite3_changes(db_.raw()) != 1) {
    auto balance = Balance(study);  // Its statement is finished before the rollback.
    if (!balance.ok()) return undo(balance.status());
    return undo(absl::FailedPreconditionError(
        common::StrCat("the privacy budget of study ", study,
                       " is spent: ", std::llround(balance->remaining / kEpsilonUnit),
                       " nano-epsilon left, a release costing ", nano, " refused")));
  }
  auto record = db_.Prepare(
      "INSERT INTO privacy_spends (study, epsilon_nano, label, spent_at) VALUES (?, ?, ?, ?)");
  if (!record.ok()) return undo(record.status());
  record->Bind(1, study).Bind(2, nano).Bind(3, label).Bind(4, spent_at);
  if (auto s = record->Run(); !s.ok()) return undo(s);
  EpsilonSpend spend;
  spend.seq = sqlite3_last_insert_rowid(db_.raw());
  spend.study = std::string(study);
  spend.epsilon = FromNano(nano);
  spend.label = std::string(label);
  spend.spent_at = std::string(spent_at);
  if (auto s = db_.Exec("RELEASE privacy_spend"); !s.ok()) return undo(s);
  return spend;
}

absl::StatusOr<std::vector<EpsilonSpend>> PrivacyBudget::Spends(std::string_view study) {
  ASSIGN_OR_RETURN(auto query, db_.Prepare("SELECT seq, epsilon_nano, label, spent_at "
                                           "FROM privacy_spends WHERE study = ? ORDER BY seq"));
  query.Bind(1, study);
  std::vector<EpsilonSpend> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    EpsilonSpend s;
    s.seq = query.Int(0);
    s.study = std::string(study);
    s.epsilon = FromNano(query.Int(1));
    s.label = std::string(query.Text(2));
    s.spent_at = std::string(query.Text(3));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> NoisyCounts(PrivacyBudget& budget, std::string_view study,
                                                 std::span<const int64_t> counts, double epsilon,
                                                 std::string_view label, std::string_view spent_at,
                                                 RandomSource& rng) {
  for (int64_t c : counts) {
    if (c < 0 || c >= (int64_t{1} << 53)) {
      return absl::InvalidArgumentError("a count must be in [0, 2^53)");
    }
  }
  ASSIGN_OR_RETURN(const EpsilonSpend spend, budget.Spend(study, epsilon, label, spent_at));
  const double scale = 1 / spend.epsilon;  // L1 sensitivity 1: disjoint cells.
  std::vector<int64_t> out;
  out.reserve(counts.size());
  for (int64_t c : counts) {
    out.push_back(std::llround(static_cast<double>(c) + SampleLaplace(rng, scale)));
  }
  return out;
}

}  // namespace loopgate::analytics
