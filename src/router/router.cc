#include "router/router.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "common/line_reader.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/text.h"
#include "consent/consent.h"
#include "crypto/crypto.h"
#include "event/event.h"
#include "json/json.h"
#include "ledger/ledger.h"
#include "policy/policy.h"
#include "seen/seen.h"
#include "sink/file/file_output.h"
#include "sink/sink.h"

namespace loopgate::router {
namespace {

// Intake parses lines in place inside the reader's buffer; simdjson reads ahead this far.
static_assert(common::kLinePadding >= simdjson::SIMDJSON_PADDING);

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

// The quarantine output's file: beside the sinks' files.
std::string QuarantinePath(const std::string& out_dir) {
  return std::filesystem::absolute(out_dir + "/quarantine.ndjson").lexically_normal().string();
}

// `dir` as an absolute, normalized path without a trailing separator.
std::string AbsoluteDir(const std::string& dir) {
  std::string path = std::filesystem::absolute(dir).lexically_normal().string();
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string WallClockNow() { return common::FormatRfc3339(common::Now()); }

// One run's moving parts, so the per-line code reads as the spec does.
class Pipeline {
 public:
  Pipeline(const catalog::Catalog& catalog, store::Database& db, const Options& options)
      : catalog_(catalog), db_(db), options_(options), intake_(catalog) {}

  absl::Status Init(const transform::KeyStore& keys);
  absl::Status ProcessLine(const common::Line& line);
  absl::Status CommitBatch();
  absl::Status Finish();

  Summary& summary() { return summary_; }
  size_t pending() const { return pending_; }

 private:
  absl::Status Quarantine(const event::Rejection& r, const event::Event* facts,
                          const common::Line& line);
  absl::Status Route(event::Event& ev, uint64_t line);
  // The event's seen-record subject column (docs/state.md section 7), for the governance report's
  // consent coverage; empty when it is NULL.
  const std::string& SubjectColumn(const event::Event& ev);
  absl::Status EnsureTransaction();
  // The `quarantined` key of the `occurrence`-th copy in a run of a line with SHA-256 `digest`,
  // under this run's policy version.
  crypto::Digest QuarantineKey(const crypto::Digest& digest, uint32_t occurrence);

  const catalog::Catalog& catalog_;
  store::Database& db_;
  const Options& options_;
  event::Intake intake_;
  event::Event event_;
  event::Rejection rejection_;
  std::unique_ptr<consent::ConsentView> consents_;
  std::unique_ptr<consent::AgreementView> agreements_;
  std::unique_ptr<policy::Engine> engine_;
  std::unique_ptr<transform::Transformer> transformer_;
  std::unique_ptr<ledger::Writer> ledger_;
  std::unique_ptr<seen::Writer> seen_;
  std::vector<std::unique_ptr<sink::Output>> outputs_;  // Per sink, catalog order.
  std::unique_ptr<sink::Output> quarantine_;
  std::vector<sink::Output*> all_outputs_;  // The sinks' outputs, then the quarantine.
  store::Statement quarantine_index_, save_position_;
  store::Statement quarantined_lookup_, quarantined_insert_;
  // Per distinct quarantined line of this run (its SHA-256): how many copies of it were seen.
  absl::flat_hash_map<crypto::Digest, uint32_t> quarantine_copies_;
  std::string quarantine_key_;
  policy::Decision decision_;
  // Per candidate sink of the current event: text its ledger entry points into.
  struct Scratch {
    std::string reason, digest;
    std::vector<std::string> transforms;
  };
  std::vector<Scratch> scratch_;
  std::vector<ledger::EntryFacts> entries_;
  std::string data_, line_out_;
  bool in_transaction_ = false;
  size_t pending_ = 0;
  int64_t ledger_start_ = 0;
  std::vector<int64_t> delivered_;  // Per sink.
  Summary summary_;
  // Consent coverage (docs/state.md section 7, the subject column): per event type, the bitmap of its
  // candidate sinks that require consent for its subject type (empty: none does), and the key
  // of the subject digests.
  std::vector<std::string> consent_bits_;
  std::unique_ptr<crypto::HmacSha256> subject_mac_;
  std::string subject_scratch_, subject_message_, subject_column_;
};

absl::Status Pipeline::Init(const transform::KeyStore& keys) {
  ASSIGN_OR_RETURN(transformer_, transform::Transformer::Create(catalog_, keys));
  ASSIGN_OR_RETURN(auto agreements, consent::AgreementView::Load(db_, options_.as_of));
  agreements_ = std::make_unique<consent::AgreementView>(std::move(agreements));
  consents_ = std::make_unique<consent::ConsentView>(db_, options_.as_of,
                                                   options_.consent_preload_limit);
  engine_ = std::make_unique<policy::Engine>(catalog_, *consents_, *agreements_, options_.as_of);
  // The seen store first: it migrates a loopgate.state/v3 state in its own transaction.
  seen::Options seen_options;
  if (options_.seen_memtable_limit > 0) seen_options.memtable_limit = options_.seen_memtable_limit;
  ASSIGN_OR_RETURN(seen_, seen::Writer::Open(db_, seen_options));
  ASSIGN_OR_RETURN(ledger_, ledger::Writer::Open(db_, catalog_.policy_version));
  ledger_start_ = ledger_->size();

  for (const auto& s : catalog_.sinks) {
    ASSIGN_OR_RETURN(auto out, sink::CreateOutput(s.output, {options_.out_dir, s.id}));
    outputs_.push_back(std::move(out));
  }
  quarantine_ = sink::file::OpenFile(QuarantinePath(options_.out_dir), true);
  for (auto& o : outputs_) all_outputs_.push_back(o.get());
  all_outputs_.push_back(quarantine_.get());
  delivered_.assign(outputs_.size(), 0);

  ASSIGN_OR_RETURN(quarantine_index_,
                   db_.Prepare("INSERT INTO quarantine_index (event_id, seq) VALUES (?, ?)"));
  ASSIGN_OR_RETURN(quarantined_lookup_, db_.Prepare("SELECT 1 FROM quarantined WHERE digest = ?"));
  ASSIGN_OR_RETURN(quarantined_insert_,
                   db_.Prepare("INSERT INTO quarantined (digest, seq) VALUES (?, ?)"));
  ASSIGN_OR_RETURN(save_position_,
                   db_.Prepare("INSERT INTO outputs (path, committed) VALUES (?, ?) "
                               "ON CONFLICT (path) DO UPDATE SET committed = excluded.committed"));
  ASSIGN_OR_RETURN(auto committed_q, db_.Prepare("SELECT committed FROM outputs WHERE path = ?"));

  // Cut every output back to its committed position (undoing a batch that never committed),
  // then record the positions before anything new is written.
  RETURN_IF_ERROR(db_.Begin());
  // An output that cannot be recovered stops the run, but the others' positions are still
  // recorded, so what Recover did to them (a file begun again) is never left uncommitted.
  absl::Status recovery = absl::OkStatus();
  for (sink::Output* o : all_outputs_) {
    committed_q.Bind(1, o->key());
    ASSIGN_OR_RETURN(bool found, committed_q.Step());
    std::optional<int64_t> committed;
    if (found) committed = committed_q.Int(0);
    committed_q.Reset();
    if (auto s = o->Recover(committed); !s.ok()) {
      if (recovery.ok()) recovery = s;
      continue;
    }
    save_position_.Bind(1, o->key()).Bind(2, o->Position());
    RETURN_IF_ERROR(save_position_.Run());
  }
  if (!recovery.ok()) {
    RETURN_IF_ERROR(db_.Commit());
    return recovery;
  }
  ASSIGN_OR_RETURN(auto run_insert,
                   db_.Prepare("INSERT INTO runs (started_at, as_of, policy_version) "
                               "VALUES (?, ?, ?)"));
  run_insert.Bind(1, WallClockNow()).Bind(2, options_.as_of_text).Bind(3, catalog_.policy_version);
  RETURN_IF_ERROR(run_insert.Run());
  summary_.run_id = sqlite3_last_insert_rowid(db_.raw());
  // What the governance report needs to read this run's ledger entries without the catalog:
  // each sink's purpose and the file it writes.
  ASSIGN_OR_RETURN(auto sink_insert,
                   db_.Prepare("INSERT INTO run_sinks (run_id, sink, purpose, out_dir, output) "
                               "VALUES (?, ?, ?, ?, ?)"));
  const std::string out_dir = AbsoluteDir(options_.out_dir);
  for (size_t i = 0; i < catalog_.sinks.size(); ++i) {
    const catalog::Sink& s = catalog_.sinks[i];
    sink_insert.Bind(1, summary_.run_id)
        .Bind(2, s.id)
        .Bind(3, catalog_.purposes[s.purpose].id)
        .Bind(4, out_dir)
        .Bind(5, outputs_[i]->key());
    RETURN_IF_ERROR(sink_insert.Run());
  }
  // The salt of subject digests: one per state, made on first use.
  ASSIGN_OR_RETURN(auto salt, db_.GetMeta("subject_salt"));
  if (!salt) {
    ASSIGN_OR_RETURN(std::string bytes, crypto::RandomBytes(32));
    salt = common::HexEncode(bytes);
    RETURN_IF_ERROR(db_.SetMeta("subject_salt", *salt));
  }
  ASSIGN_OR_RETURN(subject_mac_, crypto::HmacSha256::Create(*salt));
  for (const catalog::EventType& type : catalog_.event_types) {
    std::string bits((type.candidate_sinks.size() + 7) / 8, '\0');
    bool any = false;
    for (size_t c = 0; c < type.candidate_sinks.size(); ++c) {
      if (catalog_.sinks[type.candidate_sinks[c]].RequiresConsentFor(type.subject_type)) {
        bits[c / 8] = static_cast<char>(bits[c / 8] | (1 << (c % 8)));
        any = true;
      }
    }
    consent_bits_.push_back(any ? std::move(bits) : std::string());
  }
  RETURN_IF_ERROR(db_.Commit());
  summary_.policy_version = catalog_.policy_version;
  summary_.as_of = options_.as_of_text;
  return absl::OkStatus();
}

absl::Status Pipeline::EnsureTransaction() {
  if (!in_transaction_) {
    RETURN_IF_ERROR(db_.Begin());
    in_transaction_ = true;
  }
  return absl::OkStatus();
}

absl::Status Pipeline::ProcessLine(const common::Line& line) {
  if (!line.oversized && IsBlank(line.text)) return absl::OkStatus();
  RETURN_IF_ERROR(EnsureTransaction());
  ++summary_.events_read;
  ++pending_;
  if (line.oversized) {
    event::Rejection r;
    r.reason = event::QuarantineReason::kMalformedJson;
    r.detail = common::StrCat("the line is ", line.length, " bytes, over the ",
                            options_.max_line_bytes, "-byte limit (--max-line-bytes)");
    return Quarantine(r, nullptr, line);
  }
  if (!intake_.Process(line.text, &event_, &rejection_)) {
    const bool envelope_read = rejection_.reason > event::QuarantineReason::kInvalidEnvelope;
    return Quarantine(rejection_, envelope_read ? &event_ : nullptr, line);
  }
  // The identity check and the consent checks below start with cache misses (large tables,
  // random keys); asking for that memory now lets the misses overlap with the subject's HMAC
  // (about -5% CPU per event; docs/performance.md section 18).
  seen_->Prefetch(event_.id);
  engine_->Prefetch(event_);
  // Identity: same id and content is a duplicate; same id, other content a conflict. A new id
  // (the common case) is recorded by the same call that looks it up. Its first ledger entry
  // will be the next one, unless its type has no candidate sink (then 0, no entries).
  const int64_t first_seq = event_.type_def->candidate_sinks.empty() ? 0 : ledger_->size() + 1;
  crypto::Digest existing{};
  ASSIGN_OR_RETURN(bool inserted, seen_->Insert(event_.id, event_.content_digest, first_seq,
                                                SubjectColumn(event_), &existing));
  if (!inserted) {
    if (existing == event_.content_digest) {
      ++summary_.duplicates;
      return absl::OkStatus();
    }
    event::Rejection r;
    r.reason = event::QuarantineReason::kIdConflict;
    r.id = event_.id;
    r.detail = "this event id was already accepted with different content; send a correction "
               "under a new id";
    return Quarantine(r, &event_, line);
  }
  consents_->Trim();  // Between events: the cited records must outlive one event's decisions.
  return Route(event_, line.number);
}

const std::string& Pipeline::SubjectColumn(const event::Event& ev) {
  subject_column_.clear();
  const std::string& bits = consent_bits_[static_cast<size_t>(ev.type_def -
                                                              catalog_.event_types.data())];
  if (bits.empty()) return subject_column_;  // No candidate sink asks for consent.
  const std::string_view id = policy::SubjectId(ev, &subject_scratch_);
  if (id.empty()) return subject_column_;  // Nobody to count: its consent checks deny.
  subject_message_.assign(ev.type_def->subject_type);
  subject_message_.push_back('\0');
  subject_message_.append(id);
  const crypto::Digest mac = subject_mac_->Mac(subject_message_);
  subject_column_.assign(reinterpret_cast<const char*>(mac.data()), 16);
  subject_column_.append(bits);
  return subject_column_;
}

// Empties `f` for the next event but keeps its vectors' memory: an event has a few entries,
// each with a few consent ids and transforms, and reallocating them was measurable.
void ResetFacts(ledger::EntryFacts* f) {
  std::vector<std::string_view> ids = std::move(f->consent_ids);
  std::vector<std::string_view> versions = std::move(f->consent_versions);
  std::vector<std::string_view> transforms = std::move(f->transforms);
  *f = ledger::EntryFacts();
  ids.clear();
  versions.clear();
  transforms.clear();
  f->consent_ids = std::move(ids);
  f->consent_versions = std::move(versions);
  f->transforms = std::move(transforms);
}

absl::Status Pipeline::Route(event::Event& ev, uint64_t line) {
  const catalog::EventType& type = *ev.type_def;
  const size_t n = type.candidate_sinks.size();
  if (scratch_.size() < n) scratch_.resize(n);
  entries_.resize(n);
  bool any_allowed = false;
  for (size_t c = 0; c < n; ++c) {
    const uint32_t si = type.candidate_sinks[c];
    Scratch& x = scratch_[c];
    ledger::EntryFacts& facts = entries_[c];
    RETURN_IF_ERROR(engine_->Decide(ev, c, &decision_));
    ResetFacts(&facts);
    facts.sink = catalog_.sinks[si].id;
    if (decision_.allowed) {
      any_allowed = true;
      x.transforms.clear();
      transformer_->Apply(ev, si, &data_, &x.transforms);
      transform::DeliveryLine(ev, data_, &line_out_);
      outputs_[si]->Append(line_out_);
      ++delivered_[si];
      x.digest.assign("sha256:");
      crypto::AppendHex(crypto::Sha256(line_out_), &x.digest);
      facts.outcome = ledger::Outcome::kAllow;
      facts.delivered = x.digest;
      for (const consent::ConsentRecord* r : decision_.cited) {
        facts.consent_ids.push_back(r->consent_id);
        facts.consent_versions.push_back(r->recorded_at_text);
      }
      for (const std::string& t : x.transforms) facts.transforms.push_back(t);
    } else {
      x.reason = decision_.ReasonText(catalog_);
      ++summary_.denials[x.reason];
      facts.outcome = ledger::Outcome::kDeny;
      facts.reason = x.reason;
    }
  }
  if (any_allowed) {
    ++summary_.routed;
  } else {
    ++summary_.blocked;
  }
  if (n > 0) {
    // The event's facts ride on the first entry; the ledger stores them once per event.
    ledger::EntryFacts& head = entries_[0];
    head.event_id = ev.id;
    head.type = ev.type;
    head.source = ev.source;
    head.time = ev.time_text;
    head.line = line;
    head.run = summary_.run_id;
    head.consent_scope = ev.declared_consent_scope ? &ev.consent_scope : nullptr;
    RETURN_IF_ERROR(ledger_->AppendEvent(entries_).status());
  }
  return absl::OkStatus();
}

crypto::Digest Pipeline::QuarantineKey(const crypto::Digest& digest, uint32_t occurrence) {
  // SHA-256("loopgate.quarantined/v2" 0x00 policy_version 0x00 occurrence (4 bytes, big-endian)
  // digest).
  quarantine_key_.assign("loopgate.quarantined/v2");
  quarantine_key_.push_back('\0');
  quarantine_key_.append(catalog_.policy_version);
  quarantine_key_.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    quarantine_key_.push_back(static_cast<char>((occurrence >> shift) & 0xFF));
  }
  quarantine_key_.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return crypto::Sha256(quarantine_key_);
}

absl::Status Pipeline::Quarantine(const event::Rejection& r, const event::Event* facts_from,
                                  const common::Line& input) {
  const std::string_view reason = event::QuarantineReasonName(r.reason);
  ++summary_.quarantined;
  ++summary_.quarantine_reasons[std::string(reason)];
  // Every bad line of a run is recorded, repeats included (routing.md section 5: each
  // quarantine is a decision). A rerun of the same input under the same policy, or a restart
  // after a kill, records nothing twice: the k-th copy of a line in a run is recorded only if
  // no earlier run on the state recorded a k-th copy under this policy (docs/state.md,
  // `quarantined`). An oversized line is not held in memory, so it has no digest.
  crypto::Digest key{};
  if (!input.oversized) {
    const crypto::Digest digest = crypto::Sha256(input.text);
    const uint32_t occurrence = ++quarantine_copies_[digest];
    key = QuarantineKey(digest, occurrence);
    quarantined_lookup_.BindBlob(1, key.data(), key.size());
    ASSIGN_OR_RETURN(bool repeat, quarantined_lookup_.Step());
    quarantined_lookup_.Reset();
    if (repeat) return absl::OkStatus();
  }
  const uint64_t line = input.number;
  line_out_.clear();
  if (!r.id.empty()) {
    line_out_.append("{\"id\":");
    json::AppendString(r.id, &line_out_);
    line_out_.append(",\"reason\":");
  } else {
    line_out_.append("{\"reason\":");
  }
  json::AppendString(reason, &line_out_);
  line_out_.append(",\"detail\":");
  json::AppendString(r.detail, &line_out_);
  common::StrAppend(&line_out_, ",\"line\":", line, "}");
  quarantine_->Append(line_out_);

  ledger::EntryFacts facts;
  facts.event_id = r.id;
  facts.outcome = ledger::Outcome::kQuarantine;
  facts.reason = reason;
  facts.detail = r.detail;
  facts.line = line;
  facts.run = summary_.run_id;
  if (facts_from != nullptr) {
    // A rejected line's type and source are producer text, not catalog names: they reach the
    // ledger only when they are plain identifiers, so no data smuggled into them is kept.
    facts.type = common::IsPrintableName(facts_from->type) ? facts_from->type : "";
    facts.source = common::IsPrintableName(facts_from->source) ? facts_from->source : "";
    facts.time = facts_from->time_text;
  }
  ASSIGN_OR_RETURN(int64_t seq, ledger_->Append(facts));
  if (!input.oversized) {
    quarantined_insert_.BindBlob(1, key.data(), key.size()).Bind(2, seq);
    RETURN_IF_ERROR(quarantined_insert_.Run());
  }
  if (!r.id.empty()) {
    quarantine_index_.Bind(1, r.id).Bind(2, seq);
    RETURN_IF_ERROR(quarantine_index_.Run());
  }
  return absl::OkStatus();
}

absl::Status Pipeline::CommitBatch() {
  if (!in_transaction_) return absl::OkStatus();
  // Outputs first: if we die after this but before COMMIT, the next run cuts them back.
  const std::vector<sink::Output*>& all = all_outputs_;
  // Flushed concurrently: each output syncs its own file, so the batch waits for the slowest
  // sync rather than for the sum of them.
  // The ledger's files are flushed alongside, in this thread.
  std::vector<std::string> errors(all.size());
  std::vector<sink::FlushStatus> statuses(all.size());
  absl::Status ledger_flushed, seen_flushed;
  {
    std::vector<std::thread> flushers;
    for (size_t i = 0; i < all.size(); ++i) {
      flushers.emplace_back([&, i] {
        statuses[i] = all[i]->Flush(&errors[i]);
        for (int attempt = 0; statuses[i] == sink::FlushStatus::kRetry && attempt < 5; ++attempt) {
          statuses[i] = all[i]->Flush(&errors[i]);
        }
      });
    }
    flushers.emplace_back([&] { seen_flushed = seen_->Flush(); });
    ledger_flushed = ledger_->Flush();
    for (auto& t : flushers) t.join();
  }
  auto abandon = [&](std::string_view why) {
    (void)db_.Rollback();
    in_transaction_ = false;
    return absl::UnavailableError(common::StrCat(why, "; the batch was not committed and will be "
                                                      "redone by the next run"));
  };
  if (!ledger_flushed.ok()) return abandon(std::string(ledger_flushed.message()));
  if (!seen_flushed.ok()) return abandon(std::string(seen_flushed.message()));
  for (size_t i = 0; i < all.size(); ++i) {
    if (statuses[i] != sink::FlushStatus::kDelivered) return abandon(errors[i]);
    save_position_.Bind(1, all[i]->key()).Bind(2, all[i]->Position());
    RETURN_IF_ERROR(save_position_.Run());
  }
  RETURN_IF_ERROR(ledger_->SaveHead());
  RETURN_IF_ERROR(seen_->SaveHead());
  RETURN_IF_ERROR(db_.Commit());
  seen_->AfterCommit();
  in_transaction_ = false;
  pending_ = 0;
  return absl::OkStatus();
}

absl::Status Pipeline::Finish() {
  RETURN_IF_ERROR(CommitBatch());
  for (size_t i = 0; i < catalog_.sinks.size(); ++i) {
    summary_.deliveries.emplace_back(catalog_.sinks[i].id, delivered_[i]);
  }
  summary_.ledger_entries = ledger_->size() - ledger_start_;
  summary_.ledger_head = ledger_->head_hash();
  summary_.ledger_size = ledger_->size();
  summary_.ledger_root = ledger_->root_hash();
  ASSIGN_OR_RETURN(auto done, db_.Prepare("UPDATE runs SET finished_at = ?, summary = ? "
                                          "WHERE run_id = ?"));
  done.Bind(1, WallClockNow()).Bind(2, summary_.ToJson()).Bind(3, summary_.run_id);
  return done.Run();
}

void AppendCounts(const std::vector<std::pair<std::string, int64_t>>& counts, std::string* out) {
  out->push_back('{');
  for (size_t i = 0; i < counts.size(); ++i) {
    if (i > 0) out->push_back(',');
    json::AppendString(counts[i].first, out);
    common::StrAppend(out, ":", counts[i].second);
  }
  out->push_back('}');
}

}  // namespace

std::string Summary::ToJson() const {
  std::string o = "{";
  common::StrAppend(&o, "\"events_read\":", events_read, ",\"routed\":", routed,
                  ",\"blocked\":", blocked, ",\"quarantined\":", quarantined,
                  ",\"duplicates\":", duplicates, ",\"deliveries\":");
  AppendCounts(deliveries, &o);
  o.append(",\"denials\":");
  AppendCounts({denials.begin(), denials.end()}, &o);
  o.append(",\"quarantine_reasons\":");
  AppendCounts({quarantine_reasons.begin(), quarantine_reasons.end()}, &o);
  common::StrAppend(&o, ",\"run_id\":", run_id, ",\"as_of\":");
  json::AppendString(as_of, &o);
  o.append(",\"policy_version\":");
  json::AppendString(policy_version, &o);
  common::StrAppend(&o, ",\"ledger_entries\":", ledger_entries, ",\"ledger_head\":");
  json::AppendString(ledger_head, &o);
  common::StrAppend(&o, ",\"ledger_size\":", ledger_size, ",\"ledger_root\":");
  json::AppendString(ledger_root, &o);
  o.push_back('}');
  return o;
}

std::string Summary::ToText() const {
  std::string o;
  common::StrAppend(&o, "run ", run_id, " as of ", as_of, ", policy ", policy_version, "\n");
  common::StrAppend(&o, "  events read   ", events_read, "\n  routed        ", routed,
                  "\n  blocked       ", blocked, "\n  quarantined   ", quarantined,
                  "\n  duplicates    ", duplicates, "\n");
  o.append("deliveries\n");
  for (const auto& [sink, n] : deliveries) common::StrAppend(&o, "  ", sink, "  ", n, "\n");
  if (!denials.empty()) o.append("denials\n");
  for (const auto& [reason, n] : denials) common::StrAppend(&o, "  ", reason, "  ", n, "\n");
  if (!quarantine_reasons.empty()) o.append("quarantine\n");
  for (const auto& [reason, n] : quarantine_reasons) {
    common::StrAppend(&o, "  ", reason, "  ", n, "\n");
  }
  common::StrAppend(&o, "ledger: ", ledger_entries, " new entries, head ", ledger_head, "\n");
  common::StrAppend(&o, "ledger: ", ledger_size, " entries in all, merkle root ", ledger_root,
                    "\n");
  return o;
}

absl::Status CheckOutputs(const catalog::Catalog& catalog, const std::string& out_dir) {
  std::vector<std::pair<std::string, std::string>> paths;  // (file, who writes it)
  paths.emplace_back(QuarantinePath(out_dir), "the quarantine");
  for (const auto& s : catalog.sinks) {
    ASSIGN_OR_RETURN(auto out, sink::CreateOutput(s.output, {out_dir, s.id}));
    for (const auto& [path, who] : paths) {
      if (path == out->key()) {
        return absl::InvalidArgumentError(common::StrCat(
            "sink '", s.id, "' and ", who, " would both write ", path,
            "; give each sink its own output path"));
      }
    }
    paths.emplace_back(out->key(), common::StrCat("sink '", s.id, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Summary> Run(const catalog::Catalog& catalog, const transform::KeyStore& keys,
                            store::Database& db, const Options& options) {
  RETURN_IF_ERROR(CheckOutputs(catalog, options.out_dir));
  const bool from_stdin = options.events_path == "-";
  const int fd = from_stdin ? STDIN_FILENO
                            : ::open(options.events_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(common::StrCat(options.events_path, ": cannot open the events file"));
  }
  struct Closer {
    int fd;
    bool owned;
    ~Closer() {
      if (owned) ::close(fd);
    }
  } closer{fd, !from_stdin};

  Pipeline pipeline(catalog, db, options);
  RETURN_IF_ERROR(pipeline.Init(keys));
  common::LineReader reader(fd, options.max_line_bytes, options.flush_ms);
  common::Line line;
  uint64_t lines = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader.Next(&line));
    if (!more && reader.idle()) {
      // A live producer paused: deliver and commit what it sent, then wait again.
      RETURN_IF_ERROR(pipeline.CommitBatch());
      continue;
    }
    if (!more) break;
    RETURN_IF_ERROR(pipeline.ProcessLine(line));
    if (pipeline.pending() >= options.batch_events) RETURN_IF_ERROR(pipeline.CommitBatch());
    if (options.progress && (++lines & 0x3FFF) == 0) {
      options.progress(lines, reader.bytes_read(), false);
    }
  }
  RETURN_IF_ERROR(pipeline.Finish());
  if (options.progress) options.progress(lines, reader.bytes_read(), true);
  return pipeline.summary();
}

}  // namespace loopgate::router
