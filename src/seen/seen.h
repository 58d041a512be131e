#pragma once
// The seen-id store (docs/state.md section 7): every event id that passed intake, with its
// content digest, its first ledger seq and its subject column, for the identity check
// (duplicate / id_conflict), `explain` and the governance report. It replaced the `seen` table
// of `loopgate.state/v3`.
//
// Layout, LSM-style, under <state>/seen/:
//   records.log   append-only records (`loopgate.seen-record/v1`), in acceptance order;
//   run-<n>       immutable index runs (`loopgate.seen-run/v1`): sorted (hash, record offset)
//                 pairs of the records before `seen_covered`, a blocked bloom filter, SHA-256.
// The records past `seen_covered` are indexed by an in-memory table (the memtable) that the
// writer rebuilds from the log on open. Ids are hashed with SipHash-2-4 under a per-state key;
// a hash match is always confirmed by reading the record, so a 64-bit collision never makes a
// new event a duplicate.
//
// Commit protocol: as for the ledger files. Records are staged in memory, Flush() writes and
// syncs them (and, when the memtable is full, writes a run and merges runs), SaveHead() records
// the committed lengths and the run list in the `meta` table inside the caller's transaction,
// and AfterCommit() removes the runs a merge replaced. Opening a writer cuts away whatever a
// batch that never committed left behind. Readers read only the committed part.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/append_file.h"
#include "crypto/crypto.h"
#include "store/store.h"

namespace loopgate::seen {

inline constexpr std::string_view kRecordFormat = "loopgate.seen-record/v1";
inline constexpr std::string_view kRunFormat = "loopgate.seen-run/v1";

// One accepted event, as the v3 `seen` table held it.
struct Record {
  std::string id;
  crypto::Digest digest{};  // SHA-256 of the event's RFC 8785 content.
  int64_t first_seq = 0;    // Its first ledger entry; 0 when it has none.
  std::string subject;      // The governance report's subject column; empty for NULL.
};

struct Options {
  // Records indexed in memory before they are written out as a run. The memtable's slot array
  // grows by doubling to the power of two above 4/3 of this (plus one batch), 16 bytes per
  // slot: 16 MiB for 2^19.
  size_t memtable_limit = size_t{1} << 19;
  // Test hook: keep only the low `hash_bits` bits of every id hash (1..64), to force
  // collisions. Readers and writers of one state must agree; production uses 64.
  int hash_bits = 64;
};

class RunFile;    // One index run on disk (seen.cc).
class LogCursor;  // Sequential reading of the record log (seen.cc).

// The committed records in acceptance order, read sequentially (1 MiB at a time). Must not
// outlive the Reader that made it.
class RecordCursor {
 public:
  ~RecordCursor();
  // The next record; false at the end. Errors: DataLoss for a damaged record.
  absl::StatusOr<bool> Next(Record* out);

 private:
  friend class Reader;
  explicit RecordCursor(std::unique_ptr<LogCursor> log);
  std::unique_ptr<LogCursor> log_;
};

// Appends records. Not thread-safe; the caller holds the state's DirLock. Migrates a
// `loopgate.state/v3` state (its `seen` table) on open.
class Writer {
 public:
  // Opens the store in `db`'s state directory, creating it when missing, cutting the log back
  // to its committed length and removing run files no commit names. A v3 state is migrated
  // first, in one transaction: call outside a transaction. Errors: DataLoss when a committed
  // file is missing, short or damaged; the store's.
  static absl::StatusOr<std::unique_ptr<Writer>> Open(store::Database& db, Options options = {});
  ~Writer();

  // The identity check and insert in one: if `id` is already recorded (committed, or staged
  // in this batch), returns false and sets `*existing` to its digest; otherwise stages a new
  // record and returns true. Errors: DataLoss when a stored record cannot be read back.
  absl::StatusOr<bool> Insert(std::string_view id, const crypto::Digest& digest, int64_t first_seq,
                              std::string_view subject, crypto::Digest* existing);

  // Asks the CPU to fetch the memory Insert(id, ...) will read first (its memtable slot and,
  // for each run, the bloom filter block), so the cache misses overlap with work done before
  // that Insert. Changes nothing.
  void Prefetch(std::string_view id) const;

  // Writes and syncs the staged records; when the memtable holds memtable_limit records or
  // more, writes them as a new run (synced) and merges runs of similar size. May run
  // concurrently with the outputs' and the ledger's flushes. Errors: Internal, naming the file.
  absl::Status Flush();

  // Records the flushed state (log length, record count, runs) in `meta`; call after Flush() in
  // the transaction that commits the batch.
  absl::Status SaveHead();

  // Call after that transaction committed: makes the commit durable (syncs the WAL) if a merge
  // replaced runs, then removes the replaced files. Best effort; a leftover file is removed by
  // the next Open.
  void AfterCommit();

  int64_t records() const { return records_; }
  size_t runs() const { return runs_.size(); }

 private:
  struct Slot {
    uint64_t hash;
    uint64_t offset;  // kEmpty when free.
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  Writer(store::Database& db, Options options);
  absl::Status Load();
  absl::Status MigrateV3(bool table);  // `table`: the v3 `seen` table exists.
  void Stage(std::string_view id, const crypto::Digest& digest, int64_t first_seq,
             std::string_view subject, uint64_t hash);
  void MemInsert(uint64_t hash, uint64_t offset);
  void MemReset(size_t capacity);
  // Reads the record at `offset` of the log, staged or flushed.
  absl::Status ReadRecord(uint64_t offset, Record* out);
  absl::Status WriteRun();
  absl::Status MergeRuns();

  store::Database& db_;
  Options options_;
  uint64_t key0_ = 0, key1_ = 0;
  std::string dir_;
  std::unique_ptr<common::AppendFile> log_;
  int read_fd_ = -1;
  int64_t records_ = 0;
  uint64_t covered_ = 0;  // Log bytes whose records are in runs.
  uint64_t next_file_ = 1;
  std::vector<std::unique_ptr<RunFile>> runs_;  // Oldest first.
  std::vector<std::string> dropped_;            // Replaced runs, removed after the commit.
  std::vector<Slot> mem_;                       // Open addressing, linear probing.
  // Where the probe for `hash` starts in mem_ (never empty: Open sizes it).
  size_t MemSlot(uint64_t hash) const { return static_cast<size_t>(hash) & (mem_.size() - 1); }
  size_t mem_count_ = 0;
  std::string record_, scratch_;
  Record probe_;
};

// A read-only view of the committed store, as the caller's current read transaction sees it
// (open it inside the transaction that reads the ledger's committed lengths). Works while a
// run writes. Memory: the runs' bloom filters and sparse indexes (about 1.3 MB per million
// ids), never the records.
class Reader {
 public:
  // Errors: FailedPrecondition for a `loopgate.state/v3` state not yet migrated (a `loopgate
  // run` migrates it); Unavailable when a run replaced an index run meanwhile (retry in a new
  // transaction); DataLoss for damaged files.
  static absl::StatusOr<std::unique_ptr<Reader>> Open(store::Database& db, Options options = {});
  ~Reader();

  // The record of `id`; false when it was never accepted (as far as committed).
  absl::StatusOr<bool> Find(std::string_view id, Record* out);

  // The committed records in acceptance order: records with first_seq > 0 come in increasing
  // first_seq (records with first_seq 0 fall between them).
  std::unique_ptr<RecordCursor> Records() const;

  // Every record of Records(). Stops at the first non-OK status `fn` returns and returns it.
  absl::Status ForEach(const std::function<absl::Status(const Record&)>& fn);

 private:
  Reader();
  Options options_;
  uint64_t key0_ = 0, key1_ = 0;
  std::string log_path_;
  int fd_ = -1;
  uint64_t bytes_ = 0, covered_ = 0;
  std::vector<std::unique_ptr<RunFile>> runs_;
};

// SipHash-2-4 (Aumasson and Bernstein, 2012) of `data` under the 128-bit key (k0, k1), as the
// reference implementation computes it. Exposed for tests and other implementations.
uint64_t SipHash24(uint64_t k0, uint64_t k1, std::string_view data);

}  // namespace loopgate::seen
