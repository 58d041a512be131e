#pragma once
// `loopgate measure`: runs a study (study.h) over what the analytics sink received, and only
// that: the sink file the state records for the study's sink (state table run_sinks), plus the
// study's reference files. It never opens the raw events. docs/study.md describes the method;
// the output is `loopgate.study-result/v1` (docs/study.md section 4), in which every count went
// through small-cell suppression (k, complementary) or, in the differential-privacy mode,
// calibrated Laplace noise charged to the study's epsilon budget in the state.
//
// Memory: the reference tables and one small record per unit (its arm, index time, outcome
// times and, with attribution, its touchpoints); the sink file is streamed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "store/store.h"
#include "study/study.h"

namespace loopgate::study {

inline constexpr std::string_view kResultFormat = "loopgate.study-result/v1";

struct MeasureOptions {
  std::string state_dir;
  std::string actor;  // run.by
  std::string at;     // run.at, RFC 3339 (the caller's clock)
  // Differential-privacy noise: 0 draws from the kernel (getrandom); another value seeds a
  // reproducible generator (tests only: anyone who knows the seed can remove the noise).
  uint64_t dp_seed = 0;
  // The state's connection to use, inside the transaction that records the release in the
  // ledger (ledger::AppendRelease), so a DP spend commits with its ledger entry or not at all.
  // Null: Measure opens the state itself (read-only without DP).
  store::Database* db = nullptr;
  // The seq of the ledger entry that will record this release: run.ledger_seq. Empty: null.
  std::optional<int64_t> ledger_seq;
};

struct Measurement {
  std::string json;     // The loopgate.study-result/v1 object, one line, no trailing newline.
  std::string summary;  // A few lines for people, starting with the one-sentence answer.
  std::string answer;   // The one-sentence answer.
  uint64_t rows_read = 0;
  // What was released, for the ledger entry (ledger::ReleaseFacts).
  int64_t cells_released = 0;
  int64_t cells_suppressed_primary = 0;
  int64_t cells_suppressed_complementary = 0;
  int64_t epsilon_nano = 0;  // Charged by this run in DP mode (exactly the study's epsilon).
};

// Errors: InvalidArgument for a reference file that does not fit the study (missing column,
// duplicate key) or an unreadable sink row, as "FILE:LINE: message"; NotFound when the state
// records no output for the sink; FailedPrecondition when the sink's purpose is not an
// analytics purpose (fail closed) or the study's epsilon budget is spent (nothing released);
// the store's errors otherwise.
absl::StatusOr<Measurement> Measure(const Study& study, const MeasureOptions& options);

// A measurement recorded in the audit ledger as a release (docs/ledger-format.md section 10).
struct Release {
  Measurement measurement;  // Its run.ledger_seq is `seq`.
  int64_t seq = 0;          // The release's ledger entry.
  std::string release_id;   // The entry's event_id: `loopgate explain` takes it.
  std::string result_sha256;  // "sha256:<hex>" of measurement.json: the entry's `delivered`.
};

// Runs Measure and records what it released in the ledger (who, which study and its file
// digest, the result's digest, the cells released and suppressed, the epsilon spent), in one
// transaction with the DP spend: both commit or neither does. Takes the state's lock for the
// whole measurement, so no run appends to the sink while it is read. options.db and
// options.ledger_seq are set here. Errors: Measure's; FailedPrecondition when another loopgate
// process holds the state; ledger::AppendRelease's.
absl::StatusOr<Release> MeasureAndRecord(const Study& study, MeasureOptions options);

// Whether a sink of this purpose may feed a measurement: aggregate_analytics and purposes
// ending in "_analytics".
bool IsAnalyticsPurpose(std::string_view purpose);

}  // namespace loopgate::study
