#pragma once
// The governance report (docs/governance-report.md): what a state's ledger, registries and
// sink files say about consent coverage, blocked and quarantined events, denials, revocations
// and whether every delivered line is accounted for. Each figure is defined in that document.
//
// Governance() streams: it reads the ledger once through ledger::ForEachEntry (plus once more
// to verify it), each accepted event's `seen` row, and each sink file once, and its memory does
// not grow with the number of events (distinct subjects and disagreeing files are worked
// through in scratch databases on disk). It reads only; it does not take the state's lock (the caller does, so that no run
// writes files or ledger while they are compared).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "report/audit.h"
#include "store/store.h"

namespace loopgate::report {

// The report's JSON encoding (ToJson), named and versioned as every encoding we publish.
inline constexpr std::string_view kGovernanceFormat = "loopgate.governance-report/v1";

struct GovernanceOptions {
  // Where to find the sink files. Empty: where each run recorded them (state table run_sinks).
  // Otherwise files recorded under a run's --out are looked for under this directory instead
  // (an out dir that was moved or copied); files a sink's `path` put elsewhere stay where they
  // were; runs that recorded no outputs are taken to have written <out_dir>/<sink>.ndjson.
  std::string out_dir;
  // Gap records listed at most (each a run of consecutive gaps); counts always cover all.
  size_t max_gaps = 1000;
};

// Consent coverage for one purpose (section 2 of the document).
struct PurposeCoverage {
  std::string purpose;
  // Distinct subjects (type and id) of events with a candidate sink of this purpose that
  // requires consent for the subject's type (from seen.subject, docs/state.md).
  int64_t subjects_seen = 0;
  int64_t subjects_with_consent = 0;     // A decision found a valid consent for them.
  int64_t subjects_without_consent = 0;  // Checked, and no decision found a valid consent.
  int64_t subjects_not_checked = 0;      // Every decision stopped before the consent check.
  // From the ledger: allows of this purpose's sinks citing consent, and denials of them for a
  // consent reason (no_consent, consent_revoked, consent_expired, consent_channel, jurisdiction).
  int64_t allows_citing_consent = 0;
  int64_t consent_denials = 0;

  double coverage() const;  // subjects_with_consent / subjects_seen; 0 when none were seen.
};

struct DenialCount {
  std::string reason;
  std::string sink;
  int64_t count = 0;
};

// Measurement releases of one study (ledger release entries, docs/ledger-format.md section 10).
struct StudyReleases {
  std::string study;
  int64_t releases = 0;
  int64_t dp_releases = 0;       // Of those, in differential_privacy mode.
  int64_t epsilon_nano = 0;      // Epsilon they spent, in nano-epsilon (1e-9).
  int64_t cells_released = 0;
  int64_t cells_suppressed = 0;  // Primary and complementary.
};

struct GovernanceReport {
  std::string state_dir;
  int64_t runs = 0;
  int64_t runs_unfinished = 0;  // Killed or failed runs (runs.finished_at is NULL).

  // The ledger, verified as `ledger verify` does.
  int64_t ledger_entries = 0;
  bool ledger_verifies = false;
  std::string ledger_problem;  // When it does not verify: verify's words.

  // Events (section 3). accepted = routed + blocked.
  int64_t accepted = 0;
  int64_t routed = 0;                // At least one allow.
  int64_t blocked_denied = 0;        // Every candidate sink denied.
  int64_t blocked_no_candidate = 0;  // No candidate sink (no ledger entry; state table seen).
  int64_t quarantined = 0;           // Quarantine entries.
  std::map<std::string, int64_t> quarantine_reasons;

  std::vector<PurposeCoverage> coverage;  // By purpose name.
  std::vector<DenialCount> denials;       // By reason, then sink.

  // Revocations (section 5).
  int64_t revoked_versions = 0;     // Revoked consent versions in the registry.
  int64_t revoked_consents = 0;     // Distinct consent ids among them.
  int64_t revocation_denials = 0;   // Deny entries with reason consent_revoked.
  int64_t revocation_events = 0;    // Events with at least one such denial.
  int64_t revocation_blocked = 0;   // Of those, events no sink received.

  // Measurement releases, by study (section 8). Release entries record no delivery to a sink
  // file, so audit completeness does not look for their lines.
  std::vector<StudyReleases> releases;

  // Audit completeness (section 6).
  std::vector<FileAudit> files;
  std::vector<Gap> gaps;        // At most GovernanceOptions::max_gaps records.
  int64_t total_gaps = 0;       // Gap records, listed or not.
  int64_t unmapped_allows = 0;  // Allows of runs that recorded no output for their sink.

  int64_t blocked() const { return blocked_denied + blocked_no_candidate; }
  int64_t records() const { return accepted + quarantined; }  // Quarantine-rate denominator.
  bool audit_complete() const { return total_gaps == 0; }
  // What `loopgate report governance` exits 0 on: the ledger verifies and nothing is missing.
  bool ok() const { return ledger_verifies && audit_complete(); }

  std::string ToText() const;  // Tables for a terminal.
  std::string ToJson() const;  // One JSON object, kGovernanceFormat.
};

// Computes the report for the state open in `db`. Errors: the store's; DataLoss when a ledger
// row cannot be read back at all; Internal when a sink file exists but cannot be read. A ledger
// that does not verify, or gaps, are findings in the report, not errors.
absl::StatusOr<GovernanceReport> Governance(store::Database& db,
                                            const GovernanceOptions& options);

}  // namespace loopgate::report
