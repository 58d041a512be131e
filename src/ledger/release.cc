// Measurement releases in the audit ledger (docs/ledger-format.md section 10): AppendRelease,
// PolicyVersionsForSink and ListReleases. The entry itself is built by ledger.cc like any other.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"
#include "common/time.h"
#include "ledger/ledger.h"
#include "simdjson.h"

namespace loopgate::ledger {
namespace {

// Printable ASCII (0x20-0x7e), 1 to `max` bytes: no control characters, nothing a terminal or
// a log line could be fooled by.
bool Printable(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool IsSha256Digest(std::string_view s) {
  constexpr std::string_view kPrefix = "sha256:";
  if (s.size() != kPrefix.size() + 64 || s.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : s.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(common::StrCat("a release ", what));
}

// The rules of ReleaseFacts (ledger.h). An empty release id passes (AppendRelease makes one),
// and so do empty policy versions unless `complete` (AppendRelease fills them in).
absl::Status Validate(const ReleaseFacts& r, bool complete) {
  if (!r.release_id.empty() && !common::IsPrintableName(r.release_id)) {
    return Invalid("id must be 1-64 characters of [A-Za-z0-9_.:-]");
  }
  if (!Printable(r.actor, 256)) {
    return Invalid("needs an actor (who released it) of 1-256 printable ASCII characters");
  }
  if (!common::IsPrintableName(r.study)) {
    return Invalid("needs a study id of 1-64 characters of [A-Za-z0-9_.:-]");
  }
  if (!IsSha256Digest(r.study_sha256)) {
    return Invalid("needs the study file's digest as sha256:<64 lowercase hex digits>");
  }
  if (!IsSha256Digest(r.result_sha256)) {
    return Invalid("needs the released result's digest as sha256:<64 lowercase hex digits>");
  }
  if (r.mode == DisclosureMode::kDifferentialPrivacy) {
    if (!r.epsilon_nano || *r.epsilon_nano <= 0) {
      return Invalid("in differential_privacy mode needs the epsilon it spent (> 0 nano-epsilon)");
    }
  } else if (r.epsilon_nano) {
    return Invalid("in suppression mode spends no epsilon (epsilon_nano must be absent)");
  }
  if (r.k && *r.k < 1) return Invalid("minimum cell size k must be at least 1");
  // Integers in an entry stay below 2^53, where every JSON reader (and RFC 8785's number form)
  // agrees on them (docs/ledger-format.md section 7).
  constexpr int64_t kMaxInt = (int64_t{1} << 53) - 1;
  for (int64_t n : {r.cells_released, r.cells_suppressed_primary,
                    r.cells_suppressed_complementary, r.rows_read, r.k.value_or(1),
                    r.epsilon_nano.value_or(1)}) {
    if (n < 0 || n > kMaxInt) return Invalid("count is below 0 or not below 2^53");
  }
  if (!r.sink.empty() && !Printable(r.sink, 256)) {
    return Invalid("sink must be 1-256 printable ASCII characters, or empty");
  }
  if (complete && r.policy_versions.empty()) {
    return Invalid("needs the policy versions of the runs it read");
  }
  for (std::string_view v : r.policy_versions) {
    if (!Printable(v, 256)) return Invalid("policy version is empty or not printable ASCII");
  }
  if (!common::ParseRfc3339(r.time)) return Invalid("time must be an RFC 3339 date-time");
  return absl::OkStatus();
}

absl::StatusOr<AppendedRelease> AppendInTransaction(store::Database& db, ReleaseFacts& facts,
                                                    const ReleaseOptions& options) {
  std::vector<std::string> derived;
  if (facts.policy_versions.empty()) {
    ASSIGN_OR_RETURN(derived, PolicyVersionsForSink(db, facts.sink));
    if (derived.empty()) {
      return absl::FailedPreconditionError(
          facts.sink.empty()
              ? common::StrCat("no run has written to the state in ", db.dir(),
                               "; a release cites the policy versions of the runs it read")
              : common::StrCat("no run has delivered to sink ", common::QuoteName(facts.sink),
                               " in ", db.dir(),
                               "; a release cites the policy versions of the runs it read"));
    }
    facts.policy_versions.assign(derived.begin(), derived.end());
  }
  // The entry's policy_version: the newest its data was routed under. Validated below; Open
  // refuses an empty one.
  ASSIGN_OR_RETURN(auto writer, Writer::Open(db, std::string(facts.policy_versions.back())));
  if (options.in_transaction) RETURN_IF_ERROR(options.in_transaction(facts, writer->size() + 1));
  const std::string made_id = common::StrCat("release-", writer->size() + 1);
  if (facts.release_id.empty()) facts.release_id = made_id;
  RETURN_IF_ERROR(Validate(facts, /*complete=*/true));
  {
    ASSIGN_OR_RETURN(auto used, db.Prepare("SELECT seq FROM releases WHERE release_id = ?"));
    used.Bind(1, facts.release_id);
    ASSIGN_OR_RETURN(bool found, used.Step());
    if (found) {
      return absl::AlreadyExistsError(common::StrCat("release id '", facts.release_id,
                                                     "' is already in the ledger (entry ",
                                                     used.Int(0), ")"));
    }
  }
  EntryFacts entry;
  entry.event_id = facts.release_id;
  entry.sink = facts.sink;
  entry.outcome = Outcome::kRelease;
  entry.delivered = facts.result_sha256;
  entry.time = facts.time;
  entry.release = &facts;
  ASSIGN_OR_RETURN(const int64_t seq, writer->Append(entry));
  RETURN_IF_ERROR(writer->Flush());
  RETURN_IF_ERROR(writer->SaveHead());
  ASSIGN_OR_RETURN(auto index,
                   db.Prepare("INSERT INTO releases (release_id, seq, study) VALUES (?, ?, ?)"));
  index.Bind(1, facts.release_id).Bind(2, seq).Bind(3, facts.study);
  RETURN_IF_ERROR(index.Run());
  AppendedRelease out;
  out.seq = seq;
  out.release_id = std::string(facts.release_id);
  out.hash = writer->head_hash();
  return out;
}

std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view s;
  return e[key].get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}

int64_t Int(simdjson::dom::element e, const char* key) {
  int64_t v = 0;
  return e[key].get_int64().get(v) == simdjson::SUCCESS ? v : 0;
}

std::optional<int64_t> OptionalInt(simdjson::dom::element e, const char* key) {
  int64_t v = 0;
  if (e[key].get_int64().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

}  // namespace

std::string FormatEpsilon(int64_t nano) {
  const bool negative = nano < 0;
  const uint64_t n = negative ? 0 - static_cast<uint64_t>(nano) : static_cast<uint64_t>(nano);
  std::string out = common::StrCat(negative ? "-" : "", n / 1000000000u);
  std::string frac = std::to_string(n % 1000000000u);
  frac.insert(0, 9 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) common::StrAppend(&out, ".", frac);
  return out;
}

absl::StatusOr<std::vector<std::string>> PolicyVersionsForSink(store::Database& db,
                                                               std::string_view sink) {
  ASSIGN_OR_RETURN(auto q, db.Prepare(
                               sink.empty()
                                   ? std::string_view("SELECT policy_version FROM runs GROUP BY "
                                                      "policy_version ORDER BY min(run_id)")
                                   : std::string_view(
                                         "SELECT r.policy_version FROM runs r JOIN run_sinks s "
                                         "ON s.run_id = r.run_id WHERE s.sink = ? GROUP BY "
                                         "r.policy_version ORDER BY min(r.run_id)")));
  if (!sink.empty()) q.Bind(1, sink);
  std::vector<std::string> out;
  while (true) {
    ASSIGN_OR_RETURN(bool more, q.Step());
    if (!more) break;
    out.emplace_back(q.Text(0));
  }
  return out;
}

absl::StatusOr<AppendedRelease> AppendRelease(store::Database& db, const ReleaseFacts& facts,
                                              const ReleaseOptions& options) {
  // Checked before taking anything, so a malformed release fails fast (and exit 2 in a CLI);
  // checked again after in_transaction, which may fill facts in.
  if (!options.in_transaction) RETURN_IF_ERROR(Validate(facts, /*complete=*/false));
  std::unique_ptr<store::DirLock> lock;
  if (!options.lock_held) {
    ASSIGN_OR_RETURN(lock, store::DirLock::Acquire(db.dir()));
  }
  RETURN_IF_ERROR(db.Begin());
  ReleaseFacts mutable_facts = facts;
  auto appended = AppendInTransaction(db, mutable_facts, options);
  if (!appended.ok()) {
    (void)db.Rollback();
    return appended.status();
  }
  if (auto s = db.Commit(); !s.ok()) {
    (void)db.Rollback();
    return s;
  }
  return appended;
}

absl::StatusOr<std::vector<ReleaseRecord>> ListReleases(store::Database& db,
                                                        std::string_view study) {
  std::vector<std::pair<int64_t, std::string>> index;
  {
    ASSIGN_OR_RETURN(auto q, db.Prepare(study.empty()
                                            ? std::string_view("SELECT seq, release_id FROM "
                                                               "releases ORDER BY seq")
                                            : std::string_view("SELECT seq, release_id FROM "
                                                               "releases WHERE study = ? "
                                                               "ORDER BY seq")));
    if (!study.empty()) q.Bind(1, study);
    while (true) {
      ASSIGN_OR_RETURN(bool more, q.Step());
      if (!more) break;
      index.emplace_back(q.Int(0), std::string(q.Text(1)));
    }
  }
  std::vector<ReleaseRecord> out;
  simdjson::dom::parser parser;
  for (const auto& [seq, id] : index) {
    ASSIGN_OR_RETURN(std::vector<std::string> entries, EntriesForEvent(db, id));
    bool found = false;
    for (const std::string& text : entries) {
      simdjson::dom::element e;
      if (parser.parse(text).get(e) != simdjson::SUCCESS) continue;
      if (Int(e, "seq") != seq || Str(e, "decision") != "release") continue;
      simdjson::dom::element r;
      if (e["release"].get(r) != simdjson::SUCCESS) continue;
      ReleaseRecord rec;
      rec.seq = seq;
      rec.release_id = Str(e, "event_id");
      rec.time = Str(e, "time");
      rec.sink = Str(e, "sink");
      rec.result_sha256 = Str(e, "delivered");
      rec.policy_version = Str(e, "policy_version");
      rec.actor = Str(r, "actor");
      rec.study = Str(r, "study");
      rec.study_sha256 = Str(r, "study_sha256");
      rec.mode = Str(r, "mode") == DisclosureModeName(DisclosureMode::kDifferentialPrivacy)
                     ? DisclosureMode::kDifferentialPrivacy
                     : DisclosureMode::kSuppression;
      rec.epsilon_nano = OptionalInt(r, "epsilon_nano");
      rec.k = OptionalInt(r, "k");
      rec.cells_released = Int(r, "cells_released");
      rec.cells_suppressed_primary = Int(r, "cells_suppressed_primary");
      rec.cells_suppressed_complementary = Int(r, "cells_suppressed_complementary");
      rec.rows_read = Int(r, "rows_read");
      simdjson::dom::array versions;
      if (r["policy_versions"].get_array().get(versions) == simdjson::SUCCESS) {
        for (auto v : versions) {
          std::string_view s;
          if (v.get_string().get(s) == simdjson::SUCCESS) rec.policy_versions.emplace_back(s);
        }
      }
      if (!study.empty() && rec.study != study) break;  // The index was edited: not found.
      out.push_back(std::move(rec));
      found = true;
      break;
    }
    if (!found) {
      return absl::DataLossError(common::StrCat(
          "the releases index names entry ", seq, " as release '", id,
          "', but the ledger holds no such release there; the state was edited: run "
          "`loopgate ledger verify`"));
    }
  }
  return out;
}

}  // namespace loopgate::ledger
