#pragma once
// Dry runs: the same events decided under two catalogs side by side, with nothing delivered and
// nothing recorded (`loopgate policy diff`, docs/policy-diff.md). Each side decides with the
// router's own parts, event::Intake, policy::Engine and transform::Transformer, over registries
// read as of one time, so a dry run's decisions are the decisions `loopgate run` would make.
//
// Two things differ from a run, by design. Identity is tracked in memory over the input alone:
// the ids a state has already seen are not consulted, so events a state has routed are decided
// again instead of being skipped as duplicates. And earlier quarantines are not consulted:
// every bad line is counted, where a run would not record again copies a state already
// recorded; that changes no decision.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "common/line_reader.h"
#include "common/time.h"
#include "consent/consent.h"
#include "crypto/crypto.h"
#include "event/event.h"
#include "policy/policy.h"
#include "store/store.h"
#include "transform/transform.h"

namespace loopgate::dryrun {

// What one side made of one input line.
enum class LineOutcome : uint8_t {
  kAccepted,     // Passed intake and identity: each candidate sink has a decision.
  kDuplicate,    // Same id and content as an earlier line of the input: skipped, nothing decided.
  kQuarantined,  // Failed intake or identity (`quarantine_reason`): nothing decided.
};

// One candidate sink's decision, with what its ledger entry would record.
struct SinkDecision {
  uint32_t sink = 0;  // Into the side's Catalog::sinks.
  bool allowed = false;
  std::string reason;                   // When denied: "rule:<id>" or the reason code.
  std::vector<std::string> transforms;  // When allowed: the ledger's transform notes.
  crypto::Digest delivered{};           // When allowed: SHA-256 of the line the sink would receive.
};

struct LineResult {
  LineOutcome outcome = LineOutcome::kQuarantined;
  std::string id;    // The event id where one could be read or derived, else empty.
  std::string type;  // The event type when it could be read and is a plain identifier
                     // (common::IsPrintableName), else empty: as the ledger records it.
  std::string quarantine_reason;        // With kQuarantined.
  std::vector<SinkDecision> decisions;  // With kAccepted: candidate sinks in catalog order.
};

// One catalog's side of a dry run. Not thread-safe. The catalog, keys and registry views must
// outlive it; views may be shared by several sides (they answer per subject and purpose).
class Side {
 public:
  // Errors: FailedPrecondition when a sink tokenizes under a domain `keys` lacks (as for run).
  static absl::StatusOr<std::unique_ptr<Side>> Create(const catalog::Catalog& catalog,
                                                      const transform::KeyStore& keys,
                                                      consent::ConsentView& consents,
                                                      const consent::AgreementView& agreements,
                                                      common::Instant as_of);

  // Decides one non-blank input line as the router would, identity included (ids of earlier
  // lines given to this side). Errors: only from the registry store.
  absl::Status Decide(const common::Line& line, LineResult* out);

  const catalog::Catalog& catalog() const { return catalog_; }

 private:
  Side(const catalog::Catalog& catalog, consent::ConsentView& consents,
       const consent::AgreementView& agreements, common::Instant as_of)
      : catalog_(catalog), intake_(catalog), engine_(catalog, consents, agreements, as_of) {}

  const catalog::Catalog& catalog_;
  event::Intake intake_;
  policy::Engine engine_;
  std::unique_ptr<transform::Transformer> transformer_;
  event::Event event_;
  event::Rejection rejection_;
  policy::Decision decision_;
  absl::flat_hash_map<std::string, crypto::Digest> seen_;  // Accepted ids and their content.
  std::string data_, line_;
};

struct Options {
  std::string events_path = "-";  // "-" reads stdin.
  common::Instant as_of;
  std::string as_of_text;
  size_t max_line_bytes = 1 << 20;
  size_t examples = 3;  // Example event ids kept per group.
};

// An event named in a report: its id (empty when none could be read) and input line.
struct Example {
  std::string id;
  uint64_t line = 0;
};

// Lines whose outcome changed the same way. For decision changes `from` and `to` are "allow",
// "deny:<reason>", "not_candidate" (the sink exists but the event type permits no purpose it
// serves) or "no_sink" (the catalog has no such sink). For intake changes they are "accepted",
// "duplicate" or "quarantine:<reason>" and `sink` is empty. For delivery changes they are the
// transform notes joined by ", " ("" for none); equal notes mean the same fields were treated
// the same way but the delivered line still differs (another token key, for example).
struct Group {
  std::string type;  // As LineResult::type; empty when unreadable.
  std::string sink;
  std::string from, to;
  int64_t count = 0;
  std::vector<Example> examples;  // The first Options::examples lines, in input order.
};

struct Report {
  std::string old_path, new_path;
  std::string old_version, new_version;  // Policy versions.
  std::string as_of;
  int64_t events_read = 0;  // Non-blank input lines.
  int64_t accepted_old = 0, accepted_new = 0;
  int64_t quarantined_old = 0, quarantined_new = 0;
  int64_t duplicates_old = 0, duplicates_new = 0;
  // Over events accepted under both: (event, sink) pairs where either side decided, those whose
  // decision changed, and the events with at least one changed decision.
  int64_t decisions_compared = 0, decisions_changed = 0, events_changed = 0;
  int64_t intake_changed = 0;                               // Lines whose intake outcome changed.
  int64_t deliveries_compared = 0, deliveries_changed = 0;  // Allowed under both.
  std::vector<std::string> sinks_only_old, sinks_only_new;  // In catalog order.
  std::vector<Group>
      decision_changes;               // By event type, sink (old catalog's order first), from, to.
  std::vector<Group> intake_changes;  // By event type, from, to.
  std::vector<Group> delivery_changes;  // As decision_changes.

  // True when any decision, intake outcome or delivery changed.
  bool changed() const {
    return decisions_changed > 0 || intake_changed > 0 || deliveries_changed > 0;
  }
  // One JSON object (docs/policy-diff.md), no trailing newline.
  std::string ToJson() const;
  // Tables for people.
  std::string ToText() const;
};

// Reads every line of `options.events_path` and decides it under both catalogs, with the
// consent and agreement registries of `registries` (read only) as of `options.as_of`.
// Delivers nothing and writes nothing. Errors: the events cannot be read (NotFound, Internal),
// a sink tokenizes without a key (FailedPrecondition), or the registry store fails.
absl::StatusOr<Report> Diff(const catalog::Catalog& old_catalog,
                            const catalog::Catalog& new_catalog, const transform::KeyStore& keys,
                            store::Database& registries, const Options& options);

}  // namespace loopgate::dryrun
