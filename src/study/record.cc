// MeasureAndRecord: a measurement is a release, recorded in the ledger with its DP spend.

#include <memory>
#include <string>

#include "common/status.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "study/measure.h"

namespace loopgate::study {

absl::StatusOr<Release> MeasureAndRecord(const Study& study, MeasureOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<store::DirLock> lock, store::DirLock::Acquire(options.state_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<store::Database> db,
                   store::Database::OpenExisting(options.state_dir));
  const std::string study_sha256 = "sha256:" + study.file_sha256;
  ledger::ReleaseFacts facts;
  facts.actor = options.actor;
  facts.study = study.id;
  facts.study_sha256 = study_sha256;
  facts.sink = study.sink;
  facts.time = options.at;
  const bool dp = study.privacy.differential_privacy;
  facts.mode =
      dp ? ledger::DisclosureMode::kDifferentialPrivacy : ledger::DisclosureMode::kSuppression;
  if (!dp) facts.k = study.privacy.k;  // With DP the noise protects the counts instead.
  Release release;
  ledger::ReleaseOptions append;
  append.lock_held = true;
  append.in_transaction = [&](ledger::ReleaseFacts& f, int64_t seq) -> absl::Status {
    options.db = db.get();
    options.ledger_seq = seq;
    ASSIGN_OR_RETURN(release.measurement, Measure(study, options));
    release.result_sha256 =
        "sha256:" + crypto::ToHex(crypto::Sha256(release.measurement.json));
    f.result_sha256 = release.result_sha256;
    f.rows_read = static_cast<int64_t>(release.measurement.rows_read);
    f.cells_released = release.measurement.cells_released;
    f.cells_suppressed_primary = release.measurement.cells_suppressed_primary;
    f.cells_suppressed_complementary = release.measurement.cells_suppressed_complementary;
    if (dp) f.epsilon_nano = release.measurement.epsilon_nano;
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(ledger::AppendedRelease appended, ledger::AppendRelease(*db, facts, append));
  release.seq = appended.seq;
  release.release_id = appended.release_id;
  return release;
}

}  // namespace loopgate::study
