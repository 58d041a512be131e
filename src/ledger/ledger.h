#pragma once
// The audit ledger (docs/ledger-format.md): one entry per decision and per quarantine, each a
// canonical JSON object (RFC 8785) that names the SHA-256 of the entry before it. Entries hold
// ids, reasons, policy version, consent citations, transform notes and a digest of what was
// delivered; never a payload value.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "consent/consent.h"
#include "crypto/crypto.h"
#include "store/store.h"

namespace loopgate::ledger {

inline constexpr std::string_view kFormat = "loopgate.ledger/v1";
inline constexpr int kFormatVersion = 1;

enum class Outcome : uint8_t {
  kAllow,       // Delivered to the sink.
  kDeny,        // A candidate sink refused, with a reason.
  kQuarantine,  // The input line failed intake, with a reason.
};
std::string_view OutcomeName(Outcome outcome);

// What one entry records. Empty views are written as null. Views must stay valid until the
// Append call returns.
struct EntryFacts {
  std::string_view event_id;
  std::string_view sink;
  Outcome outcome = Outcome::kDeny;
  std::string_view reason;
  std::string_view detail;  // Quarantine detail (never holds payload values).
  // The consent versions cited: ids and their recorded_at, in the same order.
  std::vector<std::string_view> consent_ids;
  std::vector<std::string_view> consent_versions;
  std::vector<std::string_view> transforms;  // "field=action" notes.
  // The producer's declared consent scope: recorded, never granting anything (routing.md 3.2).
  const std::vector<std::string_view>* consent_scope = nullptr;
  std::string_view delivered;  // "sha256:<hex>" of the delivered line, for allows.
  std::string_view type;
  std::string_view source;
  std::string_view time;
  uint64_t line = 0;
  int64_t run = 0;
};

// Appends entries inside the caller's transaction. Storage keeps one row per event
// (docs/state.md, "ledger"); each entry is still hashed and chained on its own, in the
// canonical form of docs/ledger-format.md. Not thread-safe.
class Writer {
 public:
  // Reads the chain head from the store and registers `policy_version`. Errors: the store's.
  static absl::StatusOr<std::unique_ptr<Writer>> Open(store::Database& db,
                                                      std::string policy_version);

  // Appends all entries of one event (its decisions, or one quarantine) as consecutive seqs.
  // The event's facts (id, type, source, time, line, run, consent scope) are taken from the
  // first entry. Returns the first seq.
  absl::StatusOr<int64_t> AppendEvent(const std::vector<EntryFacts>& entries);

  // Appends a single entry (an event of its own).
  absl::StatusOr<int64_t> Append(const EntryFacts& facts);

  // Records the chain head; call in the same transaction as the appends it covers.
  absl::Status SaveHead();

  int64_t size() const { return seq_; }
  const std::string& head_hash() const { return head_hex_; }

 private:
  Writer(store::Database& db, std::string policy_version)
      : db_(db), policy_version_(std::move(policy_version)) {}

  store::Database& db_;
  std::string policy_version_;
  int64_t policy_id_ = 0;
  store::Statement insert_;
  int64_t seq_ = 0;
  std::string head_hex_;
  std::string entry_, body_, hashes_;
  std::vector<EntryFacts> single_;
};

// The hash that precedes the first entry.
std::string GenesisHash();

struct VerifyReport {
  int64_t entries = 0;
  std::string head_hash;
  std::optional<int64_t> first_bad_seq;  // Set when the ledger does not verify.
  std::string problem;                   // What is wrong there.
};

// Recomputes the whole chain. The report says whether it holds; the status is for I/O only.
absl::StatusOr<VerifyReport> Verify(store::Database& db);

// Writes every entry, oldest first, as one JSON line with its "hash" (formats.md).
absl::Status Export(store::Database& db, std::FILE* out);

// One stored entry, as ForEachEntry hands it over. The references are valid only during the
// call.
struct StoredEntry {
  int64_t seq = 0;
  std::string_view policy_version;
  const EntryFacts& facts;  // Every entry carries its event's facts (id, type, run, line, ...).
};

// Calls `fn` for every entry, oldest first (seq 1, 2, ...), streaming: memory stays flat
// however long the ledger is. It is the reading `Export` does, without building the text, so it
// does not verify the chain (use Verify for that). The entries come from one snapshot of the
// state. All entries of one accepted event are consecutive (docs/ledger-format.md section 2).
// Stops at the first non-OK status `fn` returns and returns it. Errors: DataLoss for an entry
// that cannot be read back (as Export); the store's.
absl::Status ForEachEntry(store::Database& db,
                          const std::function<absl::Status(const StoredEntry&)>& fn);

// The ledger entries of one event (its acceptance and any quarantines), in ledger order.
absl::StatusOr<std::vector<std::string>> EntriesForEvent(store::Database& db,
                                                         std::string_view event_id);

}  // namespace loopgate::ledger
