#pragma once
// The run: streams events through intake, identity, decisions, transforms and outputs, and
// records every decision in the ledger. Work is committed in batches: sink outputs are flushed
// first, then one state-store transaction records the ledger entries, seen ids and output
// positions together. A run killed at any moment and started again on the same input ends with
// each event delivered exactly once.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "common/time.h"
#include "store/store.h"
#include "transform/transform.h"

namespace loopgate::router {

struct Options {
  std::string events_path = "-";  // "-" reads stdin.
  std::string out_dir = "out";
  common::Instant as_of;
  std::string as_of_text;
  size_t max_line_bytes = 1 << 20;
  size_t batch_events = 8192;
  // When the input pauses this long (a pipe from a live producer), commit what has arrived.
  int flush_ms = 1000;
  // Records the seen store indexes in memory before it writes an index run (docs/state.md
  // section 7); 0 for its default. Small values are for tests.
  size_t seen_memtable_limit = 0;
  // A consent registry of at most this many versions is read whole at the start (about 200
  // bytes each, 50 MB at the limit); a larger one is read per subject with a bounded cache. 0
  // always reads per subject.
  int64_t consent_preload_limit = 250'000;
  // Called now and then with (lines read, bytes read, done); for progress display. The last
  // call, after the final commit, has done = true.
  std::function<void(uint64_t, uint64_t, bool)> progress;
};

struct Summary {
  int64_t run_id = 0;
  std::string policy_version;
  std::string as_of;
  int64_t events_read = 0;  // Non-blank input lines.
  int64_t routed = 0;       // Valid events delivered to at least one sink.
  int64_t blocked = 0;      // Valid events no candidate sink allowed.
  int64_t quarantined = 0;
  int64_t duplicates = 0;
  std::vector<std::pair<std::string, int64_t>> deliveries;  // Per sink, in catalog order.
  std::map<std::string, int64_t> denials;                   // Per reason.
  std::map<std::string, int64_t> quarantine_reasons;
  int64_t ledger_entries = 0;  // Appended by this run.
  int64_t ledger_size = 0;     // Entries in the whole ledger after the run.
  std::string ledger_head;
  std::string ledger_root;     // The Merkle root of the whole ledger after the run (hex).

  // The summary as JSON (formats.md "Run summary" plus the extra facts above).
  std::string ToJson() const;
  // A short table for people.
  std::string ToText() const;
};

// Checks that no two outputs (sinks, quarantine) resolve to the same file under `out_dir`.
// Touches nothing. Errors: InvalidArgument naming both.
absl::Status CheckOutputs(const catalog::Catalog& catalog, const std::string& out_dir);

// Runs the router. Errors: the input cannot be read, an output cannot be written (the batch in
// flight is not committed), or the state store fails. Decisions are never errors.
absl::StatusOr<Summary> Run(const catalog::Catalog& catalog, const transform::KeyStore& keys,
                            store::Database& db, const Options& options);

}  // namespace loopgate::router
