#pragma once
// The consent and agreement registries (formats.md "Consent records", "Agreement records").
// Records are versioned by id and never overwritten; every question is asked "as of" a time:
// a version recorded after that time is not yet known.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/time.h"
#include "store/store.h"

namespace loopgate::consent {

enum class ConsentStatus : uint8_t {
  kGranted,  // The subject agreed to the purpose.
  kRevoked,  // A later version withdrawing it; stops propagation from when it is recorded.
};

struct ConsentRecord {
  std::string consent_id;
  ConsentStatus status = ConsentStatus::kGranted;
  common::Instant effective_from;
  std::optional<common::Instant> expires_at;
  std::optional<std::string> channel;
  std::optional<std::string> jurisdiction;
  common::Instant recorded_at;
  std::string recorded_at_text;  // As written: cited in decisions as the version.
  int64_t seq = 0;               // Import order; breaks ties of equal recorded_at.
};

enum class Granularity : uint8_t {
  kIndividual,     // Person-level data may be shared for the allowed purposes.
  kAggregateOnly,  // Only aggregate-level sinks may receive it.
};

struct AgreementRecord {
  std::string agreement_id;
  std::string institution;
  std::vector<std::string> source_systems;
  std::vector<std::string> allowed_purposes;
  Granularity granularity = Granularity::kIndividual;
  common::Instant effective_from;
  std::optional<common::Instant> expires_at;
  common::Instant recorded_at;
  int64_t seq = 0;
};

// What an import did. `errors` hold "line N: reason" for each rejected record (no values).
struct ImportReport {
  int64_t records = 0;    // Non-blank lines read.
  int64_t added = 0;      // New versions stored.
  int64_t unchanged = 0;  // Identical to a version already stored.
  int64_t rejected = 0;
  std::vector<std::string> errors;
};

enum class RegistryKind : uint8_t { kConsents, kAgreements };
std::string_view RegistryName(RegistryKind kind);

// Imports an NDJSON file (or "-" for stdin) into the registry. Idempotent: importing the same
// file twice adds nothing. A bad record is rejected with its line number and the good ones
// still load. Runs in one transaction. Errors: NotFound for a missing file, Internal for I/O.
absl::StatusOr<ImportReport> Import(store::Database& db, RegistryKind kind,
                                    const std::string& path);

// One stored version of a consent, with what it names (ConsentRecord leaves that to the query).
struct ConsentVersion {
  ConsentRecord record;  // seq set; recorded_at_text as written.
  std::string subject_type, subject_id, purpose;
  std::string effective_from_text;
  std::optional<std::string> expires_at_text;
  std::string canonical;  // The whole stored record, RFC 8785.
};

// Every stored version of every consent that ever named the subject (in any version, for any
// purpose), including versions that name another subject or purpose and versions recorded at
// any time: the full history, for people to read. Ordered by consent_id, then recorded_at, then
// import order, so the last version of an id is its newest. Which versions are current as of a
// time is ConsentView's question, not this one's. Errors: only from the store.
absl::StatusOr<std::vector<ConsentVersion>> VersionsForSubject(store::Database& db,
                                                               std::string_view subject_type,
                                                               std::string_view subject_id);

// Copies every consent and agreement version of `from` into `to` (an empty registry, such as an
// in-memory store), keeping their import order, so that records imported into `to` afterwards
// are newer imports, exactly as if they were imported into `from`. Errors: only from the stores.
absl::Status CopyRegistries(store::Database& from, store::Database& to);

// Consent versions current as of a fixed time. Not thread-safe.
//
// Two ways to read the registry, with the same answers: per (subject, purpose) from the store
// as they are asked for, kept in a bounded cache (the default: a view asked a few questions
// reads only what it needs); or, with a `preload_limit`, the whole registry once, on the first
// question, when it holds at most that many versions (a run asks about most subjects, and a
// query per first sight cost about 4.5 µs; docs/performance.md section 16). A larger registry
// is read per subject as by default, so memory stays bounded by the limit.
class ConsentView {
 public:
  ConsentView(store::Database& db, common::Instant as_of, int64_t preload_limit = 0);

  // The current version (latest recorded_at <= as_of, ties to the later import) of every
  // consent for the subject and purpose, ordered by consent_id. The records stay valid until
  // Trim(), so the decisions for all sinks of one event can cite them together.
  absl::StatusOr<const std::vector<ConsentRecord>*> Current(std::string_view subject_type,
                                                            std::string_view subject_id,
                                                            std::string_view purpose);

  // Asks the CPU to fetch the memory a Current() for the same question will read first, so
  // its cache misses overlap with other work. Changes nothing. Does nothing unless the
  // registry is preloaded, which happens at the first Current().
  void Prefetch(std::string_view subject_type, std::string_view subject_id,
                std::string_view purpose);

  // Drops the cache when it holds too many entries; call between events. Invalidates the
  // records Current() returned (unless the registry was preloaded: then they live as long as
  // the view).
  void Trim();

  // Whether the whole registry was loaded (known after the first Current()).
  bool preloaded() const { return mode_ == Mode::kPreloaded; }

 private:
  enum class Mode : uint8_t { kUndecided, kPerSubject, kPreloaded };
  absl::Status Preload();
  // Sets key_ for a (subject, purpose); false when the subject type and purpose were never
  // seen together and `add` is false.
  bool BuildKey(std::string_view subject_type, std::string_view subject_id,
                std::string_view purpose, bool add);

  store::Database& db_;
  common::Instant as_of_;
  int64_t preload_limit_;
  Mode mode_;
  std::optional<store::Statement> query_;
  // Preloaded: every (subject, purpose) that has a current version, with them.
  absl::flat_hash_map<std::string, std::vector<ConsentRecord>> loaded_;
  const std::vector<ConsentRecord> none_;
  // Per (subject, purpose), in two generations: Trim() retires the current one when full and
  // drops the one before, and a key found in the retired generation moves back. Memory stays
  // bounded (two generations) whatever the input, and keys in use survive a change.
  absl::flat_hash_map<std::string, std::vector<ConsentRecord>> cache_;
  absl::flat_hash_map<std::string, std::vector<ConsentRecord>> retired_;
  std::string key_;
  // Each (subject type, purpose) pair met, numbered: a key is the pair's number (4 bytes) and
  // the subject id, short enough for most ids to fit a string's inline buffer.
  absl::flat_hash_map<std::string, uint32_t> pairs_;
  std::string pair_key_;
};

// Agreements current as of a fixed time, held in memory (institutions are few).
class AgreementView {
 public:
  static absl::StatusOr<AgreementView> Load(store::Database& db, common::Instant as_of);

  // Current agreements that list `source`.
  std::vector<const AgreementRecord*> ForSource(std::string_view source) const;

  size_t size() const { return current_.size(); }

 private:
  std::vector<AgreementRecord> current_;
};

}  // namespace loopgate::consent
