#pragma once
// The audit ledger (docs/ledger-format.md): one entry per decision, per quarantine and per
// measurement release (section 10), each a
// canonical JSON object (RFC 8785) that names the hash of the entry before it. An entry's hash is
// an RFC 6962 leaf hash: in v3, of the event's facts digest, the previous hash, its seq and its
// decision tuple (EntryHash; docs/ledger-format.md section 5); in v2, of the entry's text.
// Entries hold ids, reasons, policy version,
// consent citations, transform notes and a digest of what was delivered; never a payload value.
//
// Storage (docs/state.md): append-only files in <state>/ledger/ (one line per event, a row index
// and the entries' hashes), whose committed lengths the state store records in the same
// transaction as the outputs' positions and the seen ids. Readers read only the committed part.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/append_file.h"
#include "common/time.h"
#include "consent/consent.h"
#include "crypto/crypto.h"
#include "crypto/ed25519.h"
#include "merkle/compact_range.h"
#include "merkle/node_store.h"
#include "store/store.h"

namespace loopgate::ledger {

// The format of new entries. A ledger begun before v3 keeps its v2 entries; each entry says
// which it is in its "v" (docs/ledger-format.md section 5).
inline constexpr std::string_view kFormat = "loopgate.ledger/v3";
inline constexpr int kFormatVersion = 3;

enum class Outcome : uint8_t {
  kAllow,       // Delivered to the sink.
  kDeny,        // A candidate sink refused, with a reason.
  kQuarantine,  // The input line failed intake, with a reason.
  kRelease,     // A measurement's aggregate result was released (ReleaseFacts; section 10).
};
std::string_view OutcomeName(Outcome outcome);

// How a measurement release protected its cells (docs/measurement.md sections 5 and 6).
enum class DisclosureMode : uint8_t {
  kSuppression,          // Small cells suppressed (primary and complementary); no noise.
  kDifferentialPrivacy,  // Laplace noise under the study's epsilon budget.
};
std::string_view DisclosureModeName(DisclosureMode mode);  // "suppression" | "differential_privacy"

// What a release entry records (docs/ledger-format.md section 10): who released which study's
// result, how it was protected and what it read. Counts and digests only: never a payload
// value, a cell's value or a person-level value. Views must stay valid until the call that
// takes them returns.
struct ReleaseFacts {
  std::string_view release_id;     // The entry's event_id. 1-64 of [A-Za-z0-9_.:-]; empty:
                                   // AppendRelease makes "release-<seq>".
  std::string_view actor;          // Who released it: 1-256 printable ASCII characters.
  std::string_view study;          // The study's id: 1-64 of [A-Za-z0-9_.:-].
  std::string_view study_sha256;   // "sha256:<64 lowercase hex>" of the study file's bytes.
  std::string_view result_sha256;  // "sha256:<64 lowercase hex>" of the released result JSON;
                                   // the entry's `delivered`.
  DisclosureMode mode = DisclosureMode::kSuppression;
  // Epsilon charged for this release, in nano-epsilon (analytics::kEpsilonUnit, as
  // privacy_spends records it): > 0 with kDifferentialPrivacy, absent with kSuppression.
  std::optional<int64_t> epsilon_nano;
  std::optional<int64_t> k;  // The minimum cell size applied (>= 1), absent when none was.
  // Counts (these three and rows_read), k and epsilon_nano are in [0, 2^53).
  int64_t cells_released = 0;
  int64_t cells_suppressed_primary = 0;
  int64_t cells_suppressed_complementary = 0;
  std::string_view sink;  // The analytics sink the study read (the entry's `sink`); may be empty.
  int64_t rows_read = 0;  // Lines of the sink's output the study read.
  // The policy versions of the runs whose deliveries it read, oldest first. Empty: AppendRelease
  // fills in PolicyVersionsForSink(sink). The last one is the entry's `policy_version`.
  std::vector<std::string_view> policy_versions;
  std::string_view time;  // When it was released, RFC 3339 (common::FormatRfc3339(Now())).
};

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
  const ReleaseFacts* release = nullptr;  // Set exactly for kRelease entries.
};

// Where a stored row's pieces are, as byte offsets [begin, end) into its text: the event's facts
// and each entry's decision tuple, the texts an entry hash covers (docs/ledger-format.md 5).
struct RowSpans {
  size_t facts_begin = 0, facts_end = 0;
  std::vector<std::pair<size_t, size_t>> tuples;
};

// Appends entries. Staged in memory until Flush(); SaveHead() then records the new committed
// lengths in the caller's transaction. Opening cuts the files back to their committed lengths,
// so a batch that was flushed but never committed is discarded. Not thread-safe; the caller
// holds the state's DirLock.
class Writer {
 public:
  // Reads the committed lengths and chain head, opens the files and registers `policy_version`.
  // Errors: DataLoss when the files hold less than was committed, or the head disagrees; the
  // store's.
  static absl::StatusOr<std::unique_ptr<Writer>> Open(store::Database& db,
                                                      std::string policy_version);

  // Appends all entries of one event (its decisions, or one quarantine) as consecutive seqs.
  // The event's facts (id, type, source, time, line, run, consent scope) are taken from the
  // first entry. Returns the first seq.
  absl::StatusOr<int64_t> AppendEvent(const std::vector<EntryFacts>& entries);

  // Appends a single entry (an event of its own).
  absl::StatusOr<int64_t> Append(const EntryFacts& facts);

  // Writes and syncs the staged entries (the three files concurrently). May run concurrently
  // with the outputs' flushes, never with appends. Errors: Internal, naming the file.
  absl::Status Flush();

  // Records the flushed lengths and the chain head; call after Flush() in the transaction that
  // commits the batch.
  absl::Status SaveHead();

  int64_t size() const { return seq_; }
  // The hash of the last entry appended (64 hex digits; GenesisHash() when there is none).
  std::string head_hash() const;
  // The RFC 6962 root of the entries appended so far (docs/ledger-format.md section 9), hex.
  std::string root_hash() const;

 private:
  Writer(store::Database& db, std::string policy_version)
      : db_(db), policy_version_(std::move(policy_version)) {}

  store::Database& db_;
  std::string policy_version_;
  int64_t policy_id_ = 0;
  std::unique_ptr<common::AppendFile> rows_, index_, hashes_;
  // The Merkle tree over the entries: its frontier, and every perfect subtree on disk
  // (<state>/ledger/tree, loopgate.merkle-nodes/v1), for proofs.
  merkle::CompactRange range_;
  std::unique_ptr<merkle::FileNodeStore> nodes_;
  int64_t seq_ = 0;
  int64_t row_count_ = 0;
  crypto::Digest head_{};  // The last entry's hash; zeros before the first.
  std::string body_, hash_bytes_, index_record_;
  RowSpans spans_;
  std::vector<EntryFacts> single_;
  crypto::Sha256Hasher hasher_;
  crypto::Sha256Hasher event_prefix_;  // The domain and policy version: every event digest's.
};

// The hash that precedes the first entry.
std::string GenesisHash();

struct VerifyReport {
  int64_t entries = 0;
  std::string head_hash;
  std::optional<int64_t> first_bad_seq;  // Set when the ledger does not verify.
  std::string problem;                   // What is wrong there.
  std::string root_hash;                 // The Merkle root of the verified entries, hex.
  int64_t checkpoints = 0;               // Signed checkpoints checked.
  // Bytes of rows.log past the committed end: the tail of a batch that never committed (the
  // next run cuts it away), or rows appended outside Loopgate. Never part of the ledger.
  int64_t uncommitted_bytes = 0;
};

// Recomputes the whole chain and Merkle tree from the committed files, and checks every stored
// checkpoint: its root against the tree at its size, and its signature with `pinned_key` when
// given, otherwise with the public key the state recorded for its key id. The report says
// whether it all holds and names the first problem; the status is for I/O only.
absl::StatusOr<VerifyReport> Verify(store::Database& db,
                                    const crypto::Ed25519PublicKey* pinned_key = nullptr);

// Signs a checkpoint of the committed ledger (size, root, `now`, `policy_version`) with `key`,
// stores it and the key's public half in the state, and returns its text. Call outside a
// transaction. Errors: DataLoss when the stored tree's root is not the committed one.
absl::StatusOr<std::string> SignCheckpoint(store::Database& db,
                                           const crypto::Ed25519PrivateKey& key,
                                           common::Instant now, std::string_view policy_version);

// The most recent stored checkpoint text; empty when none has been signed.
absl::StatusOr<std::string> LatestCheckpoint(store::Database& db);

// A `loopgate.proof/v1` inclusion proof for every entry of `event_id` in the tree of the latest
// checkpoint (docs/ledger-format.md 9.7). Errors: NotFound when the event has no entries in that
// tree or no checkpoint exists; DataLoss when the stored tree disagrees with the checkpoint.
absl::StatusOr<std::string> ProveEvent(store::Database& db, std::string_view event_id);

// A consistency proof from the tree of `old_size` entries to the stored checkpoint of
// `new_size` entries. Errors: NotFound when no checkpoint of new_size is stored.
absl::StatusOr<std::string> ProveConsistency(store::Database& db, uint64_t old_size,
                                             uint64_t new_size);

// One committed entry, as ForEachEntry hands it over. Views and references are valid during
// the call only.
struct StoredEntry {
  int64_t seq = 0;
  std::string_view policy_version;
  const EntryFacts& facts;  // Every entry carries its event's facts (id, type, run, line, ...).
  std::string_view text;    // The canonical entry: the bytes that are hashed. Empty in kFacts.
  std::string_view hash;    // Its stored hash, 64 hex digits. Empty in kFacts.
};

// What ForEachEntry reads for each entry.
enum class Read : uint8_t {
  kEntries,  // The facts, the canonical text and the stored hash (as `ledger export` writes).
  kFacts,    // The facts only: no text is built and no hash read (reports that count).
};

// Calls `fn` for every committed entry, oldest first (seq 1, 2, ...), from one read snapshot,
// streaming: memory stays flat however long the ledger is. It does not verify the chain (use
// Verify). All entries of one accepted event are consecutive (docs/ledger-format.md section 2).
// Stops at the first non-OK status `fn` returns and returns it. Errors: DataLoss for an entry
// that cannot be read back (`ledger verify` names where); the store's.
absl::Status ForEachEntry(store::Database& db,
                          const std::function<absl::Status(const StoredEntry&)>& fn,
                          Read read = Read::kEntries);

// The hash of an entry's text (as `ledger export` writes it, without its "hash", and as proofs
// carry it), by its format's rule (docs/ledger-format.md section 5): v2 hashes the text itself,
// v3 the event's facts and the entry's decision, read from the text's members. What
// `check-proof` computes for each entry. Errors: InvalidArgument, saying why the text is not
// an entry (a v3 text must be exactly the canonical entry its members make).
absl::StatusOr<crypto::Digest> EntryHash(std::string_view text);

// Writes every entry, oldest first, as one JSON line with its "hash" (formats.md).
absl::Status Export(store::Database& db, std::FILE* out);

// The ledger entries of one event (its acceptance and any quarantines), in ledger order.
absl::StatusOr<std::vector<std::string>> EntriesForEvent(store::Database& db,
                                                         std::string_view event_id);

// ---- Measurement releases (docs/ledger-format.md section 10) ----

// Nano-epsilon as an exact decimal: 500000000 is "0.5", 1 is "0.000000001", 2000000000 is "2".
std::string FormatEpsilon(int64_t nano);

// What AppendRelease appended.
struct AppendedRelease {
  int64_t seq = 0;         // The release entry's seq.
  std::string release_id;  // As given, or the one made.
  std::string hash;        // The entry's hash (64 hex), the ledger's new head.
};

struct ReleaseOptions {
  // Whether the caller already holds the state's DirLock (store::DirLock::Acquire(db.dir())),
  // for instance for the whole of a measurement so no run appends to the sink it reads. When
  // false, AppendRelease takes the lock itself and releases it before returning.
  bool lock_held = false;
  // Runs inside the release's transaction, after the lock and the ledger writer are taken
  // and before the release id is made, the facts are checked and the entry is built; it may
  // fill in or change `facts` (the views it sets must outlive the AppendRelease call). `seq` is
  // the seq the entry will have if it commits, so a result can name its own ledger entry
  // before its digest is taken. Meant for the epsilon spend
  // (analytics::PrivacyBudget::Spend on the same Database: its savepoint nests in this
  // transaction) and what depends on it (the noisy result and its digest), so the spend and the
  // entry commit together or not at all. A non-OK status rolls everything back (the spend too)
  // and is returned as is.
  std::function<absl::Status(ReleaseFacts& facts, int64_t seq)> in_transaction;
};

// Appends one release entry and commits it. In order: checks the facts it was given (unless
// in_transaction is set, which may still fill them in), takes the state's lock (unless
// options.lock_held), BEGIN IMMEDIATE, fills in empty policy versions, opens the ledger writer
// (cutting off any uncommitted tail), runs options.in_transaction, makes the release id if it
// is empty, checks the facts in full, refuses a release id already used, appends the entry,
// writes and syncs the ledger files, records the new committed head and the `releases` index
// row, COMMIT. Call it outside any transaction on `db`; publish the result only once it
// returned OK.
//
// Crash semantics: before COMMIT nothing is committed, neither the entry nor a spend made in
// in_transaction (SQLite rolls both back; bytes already written to the ledger files are an
// uncommitted tail the next writer cuts off, and `ledger verify` notes them meanwhile). After
// COMMIT both are. So epsilon is never spent without its ledger entry, nor the reverse.
//
// Errors: FailedPrecondition when another process holds the state's lock (a run: it does not
// wait), or when no run delivered to `sink` and no policy version was given; InvalidArgument
// for facts that break ReleaseFacts' rules (nothing is written); AlreadyExists for a release id
// already in the ledger; DataLoss for a damaged ledger (as Writer::Open); whatever
// in_transaction returns; Internal for I/O and the store.
absl::StatusOr<AppendedRelease> AppendRelease(store::Database& db, const ReleaseFacts& facts,
                                              const ReleaseOptions& options = {});

// The policy versions of the runs that delivered to `sink` (state table run_sinks; every run
// when `sink` is empty), each once, in the order of the first run that used it.
absl::StatusOr<std::vector<std::string>> PolicyVersionsForSink(store::Database& db,
                                                               std::string_view sink);

// A committed release entry, read back (ListReleases).
struct ReleaseRecord {
  int64_t seq = 0;
  std::string release_id, time, actor, study, study_sha256, result_sha256, sink;
  DisclosureMode mode = DisclosureMode::kSuppression;
  std::optional<int64_t> epsilon_nano, k;
  int64_t cells_released = 0, cells_suppressed_primary = 0, cells_suppressed_complementary = 0;
  int64_t rows_read = 0;
  std::vector<std::string> policy_versions;
  std::string policy_version;  // The entry's.
};

// The committed release entries, oldest first; only `study`'s when it is not empty. Finds them
// through the `releases` index and reads each entry from the ledger, checking that it is the
// release the index names (the index is not hash-chained; `ledger verify` checks the entries).
// Errors: DataLoss when the index names an entry that is not that release; the store's.
absl::StatusOr<std::vector<ReleaseRecord>> ListReleases(store::Database& db,
                                                        std::string_view study = {});

}  // namespace loopgate::ledger
